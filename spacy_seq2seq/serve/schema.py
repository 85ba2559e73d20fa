"""The API's request and response bodies. The decoding settings a request
may change are not written here: they are the fields of the decoding blocks
(`BeamSearch`, `Sampling`, `MMIRerank` in model/decoding.py), read from the
dataclasses, so a setting added there is a request field (and in /docs)
without an edit here.

A summary is the best beam search text, so /v1/summarize takes BeamSearch's
settings but n_best; a reply may also be sampled or reranked by MMI
("decoding": "beam", "sampling" or "mmi"), so /v1/reply takes every kind's
settings, each checked against the kind the request ends up with.
"""

import dataclasses
import typing
from typing import Any, ClassVar, Dict, List, Literal, Optional, Tuple, Type

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    create_model,
    model_validator,
)
from typing_extensions import Annotated, NotRequired, TypedDict

from ..model.decoding import DECODINGS, BeamSearch

TASKS = ("summarize", "reply")
# Settings of a kind that a task does not take from a request, and why.
NOT_REQUEST_SETTINGS: Dict[str, Tuple[str, ...]] = {
    "summarize": ("n_best",),  # the response has the best summary only
    "reply": (),
}
# The decoding blocks whose settings each task takes.
TASK_DECODINGS: Dict[str, Tuple[type, ...]] = {
    "summarize": (BeamSearch,),
    "reply": tuple(DECODINGS.values()),
}
# A reply's setting that is not a field of any block: the kind itself.
KIND_SETTING = "decoding"


def request_settings(task: str) -> Dict[str, Any]:
    """The decoding settings a request of the task may change, by name, with
    their types (int, float; "decoding": the kinds' names), in the order the
    blocks declare them."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, not {task!r}")
    settings: Dict[str, Any] = {}
    if len(TASK_DECODINGS[task]) > 1:
        settings[KIND_SETTING] = Literal[tuple(DECODINGS)]  # type: ignore[misc]
    for kind in TASK_DECODINGS[task]:
        hints = typing.get_type_hints(kind)
        for field in dataclasses.fields(kind):
            if field.name not in NOT_REQUEST_SETTINGS[task]:
                settings.setdefault(field.name, hints[field.name])
    return settings


def kinds_with(task: str, name: str) -> List[str]:
    """The kinds of decoding (of those the task takes) with this setting."""
    return [
        kind.name
        for kind in TASK_DECODINGS[task]
        if name in {f.name for f in dataclasses.fields(kind)}
    ]


def encodable(text: str) -> str:
    """A text that UTF-8 can encode: JSON's "\\ud800" (a lone surrogate) is
    valid JSON but no text, and would fail its whole batch."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(
            f"character {e.start} is a lone surrogate ({text[e.start]!a}), "
            "which is not text: send UTF-8 text"
        )
    return text


# A text a request sends: a str that is valid Unicode.
Text = Annotated[str, AfterValidator(encodable)]


class DecodingRequest(BaseModel):
    """What every request that decodes has: the decoding settings (those
    left out are the component's own), and whether to return attention."""

    model_config = ConfigDict(extra="forbid", strict=True)
    settings: ClassVar[Tuple[str, ...]] = ()

    attention: bool = Field(
        False,
        description="Return what the decoder attended to (/v1/render/attention draws it)",
    )

    def overrides(self) -> Dict[str, Any]:
        """The settings the request changes."""
        return {
            name: getattr(self, name)
            for name in self.settings
            if getattr(self, name) is not None
        }


def settings_model(task: str) -> Type[DecodingRequest]:
    """A DecodingRequest with the task's settings as optional fields."""
    settings = request_settings(task)
    fields: Dict[str, Any] = {}
    for name, annotation in settings.items():
        if name == KIND_SETTING:
            description = "The kind of decoding; default: the component's"
        else:
            kinds = kinds_with(task, name)
            description = (
                f"Default: the component's. A setting of {', '.join(kinds)} decoding"
            )
        fields[name] = (Optional[annotation], Field(None, description=description))
    model = create_model(  # type: ignore[call-overload]
        f"{task.capitalize()}Settings", __base__=DecodingRequest, **fields
    )
    model.settings = tuple(settings)
    return model


SummarizeSettings = settings_model("summarize")
ReplySettings = settings_model("reply")


class SummarizeRequest(SummarizeSettings):  # type: ignore[misc, valid-type]
    texts: List[Text]


class ReplyRequest(ReplySettings):  # type: ignore[misc, valid-type]
    """Either the turns of a conversation, oldest first (stateless), or a
    message, in the conversation `conversation_id` or a new one. A
    `document` is what a grounded responder reads beside the turns; given
    with a message, the conversation keeps it for its next messages ("":
    none from now on)."""

    turns: Optional[List[Text]] = None
    message: Optional[Text] = None
    conversation_id: Optional[Text] = None
    document: Optional[Text] = None

    @model_validator(mode="after")
    def one_way_in(self) -> "ReplyRequest":
        if (self.turns is None) == (self.message is None):
            raise ValueError(
                'give "turns" (a stateless reply) or "message" (with '
                '"conversation_id" to continue a conversation), not both'
            )
        if self.turns is not None and self.conversation_id is not None:
            raise ValueError('"conversation_id" goes with "message", not "turns"')
        return self


class Attention(TypedDict):
    """What the decoder attended to: target × source weights, and at each
    generated token the copy gate (1 - p_gen: the weight the decoder gave
    copying from the source; 0 without copy)."""

    source: List[Text]
    target: List[Text]
    weights: List[List[float]]
    copy: List[float]
    # a grounded reply's: the first source words that are the document's
    document_length: NotRequired[int]


class SummarizeResponse(BaseModel):
    summaries: List[str]
    attention: Optional[List[Optional[Attention]]] = None


class ReplyResponse(BaseModel):
    reply: str
    candidates: List[Tuple[str, Optional[float]]]
    conversation_id: Optional[str] = None
    attention: Optional[Attention] = None
