"""What a server does with a trained pipeline, whatever serves it: load it,
describe it, check a request's decoding settings and decode a batch of
texts, each group of texts with the same settings as one `nlp.pipe` batch.

The embedded server (app.py + batcher.py) and the Ray Serve deployment
(ray_deployment.py) both call this code.
"""

import dataclasses
import math
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

from spacy.language import Language

from ..component import Seq2SeqComponent
from ..conversation import join_turns
from ..grounding import set_document
from ..model.decoding import Decoding, changed_decoding, settings_of
from ..pipeline import component_name, find_component, load_pipeline
from ..settings import SettingError
from .limits import Limits
from .schema import request_settings

# spaCy's meta for a pipeline nobody named: the server names it by its
# directory instead.
DEFAULT_META = ("pipeline", "0.0.0")


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
    candidates: List[Tuple[str, Optional[float]]]
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
        """The decoding settings a request may change."""
        return tuple(request_settings(self.task))

    def check(self) -> None:
        """Raise a ValueError if the component's own decoding breaks the
        server's limits: every request that leaves a setting out would be
        refused."""
        try:
            self.decoding({})
        except SettingError as e:
            raise ValueError(
                f"Every request that leaves {e.setting} out would be refused: the "
                f"component's own {e}. Raise the server's limit, or serve a "
                "component whose decoding is within it."
            ) from e

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
    name: what the API and the page call the pipeline instead of its meta's
        lang_name and version.
    """

    def __init__(
        self,
        nlp: Language,
        *,
        component: Optional[str] = None,
        limits: Limits,
        name: Optional[str] = None,
    ) -> None:
        self.nlp = nlp
        meta = nlp.meta
        self.name = (
            name or f"{meta.get('lang', nlp.lang)}_{meta.get('name', 'pipeline')}"
        )
        self.version = None if name else meta.get("version")
        self.component: Seq2SeqComponent = find_component(nlp, component)
        self.component_name = component_name(nlp, self.component)
        if not self.component.is_initialized:
            raise ValueError(
                f"The component '{self.component_name}' is not trained: serve a "
                "trained pipeline (the model-best directory of `spacy train`)."
            )
        self.limits = limits
        self.spec.check()

    @classmethod
    def load(
        cls, model: str, *, component: Optional[str] = None, limits: Limits
    ) -> "Seq2SeqService":
        """Load the pipeline from a directory or an installed package."""
        nlp = load_pipeline(model)
        meta = (nlp.meta.get("name"), nlp.meta.get("version"))
        name = pipeline_directory_name(model) if meta == DEFAULT_META else None
        return cls(nlp, component=component, limits=limits, name=name)

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
                "name": self.name,
                "version": self.version,
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
        batch that fails is decoded again text by text, so that a text that
        fails gets a DecodeError and the others their result. Call from one
        thread at a time.
        """
        results: List[Union[Decoded, DecodeError]] = [None] * len(tasks)  # type: ignore
        order = sorted(range(len(tasks)), key=lambda i: repr(tasks[i].group))
        for _, group in groupby(order, key=lambda i: repr(tasks[i].group)):
            indices = list(group)
            try:
                decoded = self._decode_group([tasks[i] for i in indices])
            except Exception:
                if len(indices) == 1:
                    decoded = [self._decode_alone(tasks[indices[0]])]
                else:  # which text failed it? each on its own
                    decoded = [self._decode_alone(tasks[i]) for i in indices]
            for i, result in zip(indices, decoded):
                results[i] = result
        return results

    def _decode_group(self, tasks: List[DecodeTask]) -> List[Decoded]:
        """Tasks with the same settings as one nlp.pipe batch."""
        first = tasks[0]
        with self.component.using_decoding(
            first.decoding, store_attention=first.attention
        ):
            docs = list(
                self.nlp.pipe(
                    [task_doc(self.nlp, task) for task in tasks],
                    batch_size=len(tasks),
                )
            )
        return [self._decoded(doc, first.attention) for doc in docs]

    def _decode_alone(self, task: DecodeTask) -> Union[Decoded, DecodeError]:
        try:
            return self._decode_group([task])[0]
        except Exception as e:  # this text's failure, nobody else's
            return DecodeError(f"decoding failed: {type(e).__name__}: {e}")

    def _decoded(self, doc: Any, attention: bool) -> Decoded:
        component = self.component
        text = doc._.get(component.target_field)
        if component.candidates_field is not None:
            # JSON has no -inf: a candidate whose score is not finite gets null
            candidates = [
                (candidate, float(score) if math.isfinite(score) else None)
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


def pipeline_directory_name(model: str) -> Optional[str]:
    """A pipeline directory's name ("training/summarizer/model-best":
    "summarizer/model-best", the parent too when the name is spaCy's
    model-best or model-last); None for a package."""
    path = Path(model)
    if not path.is_dir():
        return None
    path = path.resolve()
    if path.name in ("model-best", "model-last") and path.parent.name:
        return f"{path.parent.name}/{path.name}"
    return path.name


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
