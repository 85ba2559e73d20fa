"""What a server does with a trained pipeline, whatever serves it: load it,
describe it, check a request's decoding settings and decode a batch of
texts, each group of texts with the same settings as one `nlp.pipe` batch.

The embedded server (app.py + batcher.py) and the Ray Serve deployment
(ray_deployment.py) both call this code.
"""

import dataclasses
from dataclasses import dataclass
from itertools import groupby
from typing import Any, Dict, List, Optional, Tuple, Union

from spacy.language import Language

from ..component import Seq2SeqComponent
from ..conversation import join_turns
from ..grounding import set_document
from ..model.decoding import Decoding, changed_decoding, settings_of
from ..pipeline import component_name, find_component, load_pipeline
from ..settings import SettingError, check_int

# The decoding settings a request may set, by task. A summary is the best
# beam; a reply may also be sampled, or reranked by MMI, and come with its
# n-best.
SUMMARIZE_SETTINGS = (
    "beam_size",
    "max_length",
    "min_length",
    "length_penalty",
    "no_repeat_ngram_size",
    "unfaithful_penalty",
)
REPLY_SETTINGS = SUMMARIZE_SETTINGS + (
    "decoding",
    "n_best",
    "top_k",
    "top_p",
    "temperature",
    "seed",
    "candidates",
    "mmi_weight",
    "length_bonus",
)


@dataclass
class Limits:
    """What one request may ask of the server. Texts longer than max_chars
    and requests with more than max_batch_size texts are refused (413)."""

    max_batch_size: int = 32
    max_wait_ms: float = 10.0
    max_chars: int = 20_000
    max_beam_size: int = 16
    max_length: int = 200
    max_turns: int = 3
    max_conversations: int = 1000
    conversation_max_age_s: float = 3600.0

    def __post_init__(self) -> None:
        for name in (
            "max_batch_size",
            "max_chars",
            "max_beam_size",
            "max_length",
            "max_turns",
            "max_conversations",
        ):
            check_int(name, getattr(self, name), minimum=1)
        for name in ("max_wait_ms", "conversation_max_age_s"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, not {getattr(self, name)}")

    @property
    def max_body_bytes(self) -> int:
        """The largest request body read: every text at its longest, in UTF-8
        (at most 4 bytes a character, more with JSON escapes), and headroom."""
        return 6 * self.max_chars * self.max_batch_size + 65536


@dataclass(frozen=True)
class DecodeTask:
    """One text to decode, with the settings of the request it came in."""

    text: str
    decoding: Decoding
    attention: bool = False
    # the document a grounded responder reads beside the text (None: none)
    document: Optional[str] = None

    @property
    def group(self) -> Tuple[Any, ...]:
        """Tasks decoded together share this: their settings."""
        return (self.decoding, self.attention)


@dataclass
class Decoded:
    """A decoded text, its n-best (text, score) candidates when the component
    keeps them, and the attention of the text when asked for (the dict
    `render_attention` draws, in lists)."""

    text: str
    candidates: List[Tuple[str, float]]
    attention: Optional[Dict[str, Any]] = None


class DecodeError(RuntimeError):
    """Decoding a batch failed; every task of the batch gets this."""


@dataclass
class ServingSpec:
    """What the HTTP side needs to know of a served component, without the
    model: its task ("summarize" or "reply"), its own decoding settings, how
    it joins turns, the server's limits, and the pipeline's description."""

    task: str
    target_field: str
    defaults: Decoding
    turn_separator: Optional[str]
    limits: Limits
    pipeline: Dict[str, Any]

    @property
    def settings_names(self) -> Tuple[str, ...]:
        return REPLY_SETTINGS if self.task == "reply" else SUMMARIZE_SETTINGS

    def info(self) -> Dict[str, Any]:
        return {
            **self.pipeline,
            "task": self.task,
            "decoding": {
                name: value
                for name, value in settings_of(self.defaults).items()
                if name in self.settings_names
            },
            "limits": dataclasses.asdict(self.limits),
        }

    def decoding(self, overrides: Dict[str, Any]) -> Decoding:
        """The component's decoding with a request's overrides ("decoding"
        switches between "beam", "sampling" and "mmi"), checked against the
        server's limits. Raises a SettingError naming the setting."""
        for name in overrides:
            if name not in self.settings_names:
                raise SettingError(
                    name, f"not a setting of /v1/{self.task}: {self.settings_names}"
                )
        changes = dict(overrides)
        kind = changes.pop("decoding", None)
        decoding = changed_decoding(self.defaults, kind, **changes)
        limits = self.limits
        for name, cap in (
            ("beam_size", limits.max_beam_size),
            ("n_best", limits.max_beam_size),
            ("candidates", limits.max_beam_size),
            ("max_length", limits.max_length),
        ):
            value = getattr(decoding, name, 0)
            if value > cap:
                raise SettingError(name, f"{name} is at most {cap} on this server")
        return decoding

    def reply_context(self, turns: List[str]) -> str:
        """The text the responder reads for these turns, oldest first."""
        assert self.turn_separator is not None
        return join_turns(turns, self.turn_separator, self.limits.max_turns)


class Seq2SeqService:
    """A loaded pipeline and its seq2seq component, ready to decode batches.

    nlp: the pipeline.
    component: the name of the seq2seq component to serve, if it has several.
    limits: what a request may ask.
    """

    def __init__(
        self, nlp: Language, *, component: Optional[str] = None, limits: Limits
    ) -> None:
        self.nlp = nlp
        self.component: Seq2SeqComponent = find_component(nlp, component)
        self.component_name = component_name(nlp, self.component)
        if not self.component.is_initialized:
            raise ValueError(
                f"The component '{self.component_name}' is not trained: serve a "
                "trained pipeline (the model-best directory of `spacy train`)."
            )
        self.limits = limits

    @classmethod
    def load(
        cls, model: str, *, component: Optional[str] = None, limits: Limits
    ) -> "Seq2SeqService":
        """Load the pipeline from a directory or an installed package."""
        return cls(load_pipeline(model), component=component, limits=limits)

    @property
    def spec(self) -> "ServingSpec":
        component = self.component
        meta = self.nlp.meta
        return ServingSpec(
            task=component.task,
            target_field=component.target_field,
            defaults=component.decoding,
            turn_separator=getattr(component, "turn_separator", None),
            limits=self.limits,
            pipeline={
                "name": f"{meta.get('lang', self.nlp.lang)}_{meta.get('name', 'pipeline')}",
                "version": meta.get("version"),
                "spacy_version": meta.get("spacy_version"),
                "components": list(self.nlp.pipe_names),
                "component": self.component_name,
                "performance": meta.get("performance", {}),
            },
        )

    def decode_batch(
        self, tasks: List[DecodeTask]
    ) -> List[Union[Decoded, DecodeError]]:
        """Decode the tasks, those with the same settings as one batch. A
        group that fails gives each of its tasks a DecodeError; the others
        are unaffected. Call from one thread at a time.
        """
        results: List[Union[Decoded, DecodeError]] = [None] * len(tasks)  # type: ignore
        order = sorted(range(len(tasks)), key=lambda i: repr(tasks[i].group))
        for _, group in groupby(order, key=lambda i: repr(tasks[i].group)):
            indices = list(group)
            first = tasks[indices[0]]
            try:
                with self.component.using_decoding(
                    first.decoding, store_attention=first.attention
                ):
                    docs = list(
                        self.nlp.pipe(
                            [task_doc(self.nlp, tasks[i]) for i in indices],
                            batch_size=len(indices),
                        )
                    )
                decoded: List[Union[Decoded, DecodeError]] = [
                    self._decoded(doc, first.attention) for doc in docs
                ]
            except Exception as e:  # one batch's failure is that batch's only
                error = DecodeError(f"decoding failed: {type(e).__name__}: {e}")
                decoded = [error] * len(indices)
            for i, result in zip(indices, decoded):
                results[i] = result
        return results

    def _decoded(self, doc: Any, attention: bool) -> Decoded:
        component = self.component
        text = doc._.get(component.target_field)
        if component.candidates_field is not None:
            candidates = [
                (candidate, float(score))
                for candidate, score in doc._.get(component.candidates_field) or []
            ]
        else:
            candidates = []
        stored = doc._.get(component.attention_field) if attention else None
        return Decoded(text, candidates, attention_json(stored))


def task_doc(nlp: Any, task: DecodeTask) -> Union[str, Any]:
    """What the pipeline reads of a task: its text, or with a document a doc
    that carries it (doc._.document)."""
    if task.document is None:
        return task.text
    return set_document(nlp.make_doc(task.text), task.document)


def attention_json(attention: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """The stored attention (numpy arrays) as JSON-able lists; a grounded
    responder's has "document_length", the source words that are the
    document's."""
    if attention is None:
        return None
    data = {
        "source": list(attention["source"]),
        "target": list(attention["target"]),
        "weights": [[float(w) for w in row] for row in attention["weights"]],
        "copy": [float(c) for c in attention["copy"]],
    }
    if attention.get("document_length"):
        data["document_length"] = int(attention["document_length"])
    return data
