"""The trainable seq2seq pipe that both factories make: the summarizer
(summarizer.py) and the responder (responder.py) differ only in their
defaults and in what they read of a doc."""

import math
import warnings
from contextlib import contextmanager
from itertools import islice
from pathlib import Path
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    Optional,
    Tuple,
    Union,
)

from spacy.errors import Errors
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc, Span
from spacy.training import Example, validate_examples, validate_get_examples
from spacy.util import registry
from spacy.vocab import Vocab
from thinc.api import Config, Model, Optimizer

from . import serialization
from .faithfulness import penalty_classes
from .model.architectures import (
    Alignment,
    AlignmentBatch,
    Candidate,
    DocSources,
    GenerationBatch,
    TrainingBatch,
    attends,
)
from .model.decoding import DECODINGS, BeamSearch, Decoding, MMIRerank, Sampling
from .model.schedules import TeacherForcing
from .model.training import clip_gradients_by_global_norm
from .model.vocab import EOS_ID, PAD_ID, SPECIALS, SourceWords, SpacedWord, TargetVocab
from .settings import check_bool, check_int, check_number, check_text
from .vectors import init_target_embeddings

DEFAULT_MODEL_CONFIG = """
[model]
@architectures = "spacy-seq2seq.AttentionalSeq2Seq.v1"
embed_width = 128
hidden_width = 256
encoder_layers = 1
bidirectional = true
rnn_type = "lstm"
attention = "additive"
attention_width = 64
attention_heads = 1
attention_window = 0
input_feeding = true
coverage = false
dropout = 0.2
copy = true
tie_embeddings = true
init = "default"
mixed_precision = false

[model.tok2vec]
@architectures = "spacy.Tok2Vec.v2"

[model.tok2vec.embed]
@architectures = "spacy.MultiHashEmbed.v2"
width = 96
attrs = ["NORM", "SUFFIX", "SHAPE"]
rows = [5000, 2500, 2500]
include_static_vectors = false

[model.tok2vec.encode]
@architectures = "spacy.MaxoutWindowEncoder.v2"
width = 96
depth = 1
window_size = 1
maxout_pieces = 2
"""
DEFAULT_MODEL = Config().from_str(DEFAULT_MODEL_CONFIG)["model"]

# The decoding config blocks: the frozen settings classes themselves, so a
# config is validated against their fields and checked where it is built.
registry.misc.register("spacy-seq2seq.BeamSearch.v1", func=BeamSearch)
registry.misc.register("spacy-seq2seq.Sampling.v1", func=Sampling)
registry.misc.register("spacy-seq2seq.MMIRerank.v1", func=MMIRerank)

# What both factories share; each adds its target field, source length,
# vocabulary size and decoding.
DEFAULT_CONFIG = {
    "model": DEFAULT_MODEL,
    "candidates_field": None,
    "max_target_length": 40,
    "min_count": 2,
    "label_smoothing": 0.0,
    "grad_clip": 5.0,
    "teacher_forcing": {"@misc": "spacy-seq2seq.TeacherForcing.v1", "ratio": 1.0},
    "coverage_loss_weight": 0.0,
    "store_attention": False,
}

# One prediction per doc: its source words, its candidates, best first, and
# with store_attention the alignment of the best one.
Prediction = Tuple[SourceWords, List[Candidate], Optional[Alignment]]

# Docs per forward pass when scoring the perplexity of reference texts.
PERPLEXITY_BATCH_SIZE = 256


class Seq2SeqComponent(TrainablePipe):
    """Generates a text for each doc and writes it to doc._.{target_field},
    and, with a `candidates_field`, the n-best (text, score) candidates to
    doc._.{candidates_field}. The target text for training is read from the
    reference docs only. The source is the doc's first `max_source_length`
    tokens; an empty doc gets an empty text.
    """

    # The factory that makes it: saved with the component and checked on load.
    kind = "seq2seq_summarizer"
    # What it does, as the server's routes and the lookup of a component name it.
    task = "summarize"
    # Which tokens of a long doc are read, as the truncation warning says it.
    truncation_side = "first"

    @classmethod
    def factory(
        cls,
        nlp: Language,
        name: str,
        model: Model,
        target_field: str,
        candidates_field: Optional[str],
        max_source_length: int,
        max_target_length: int,
        vocab_size: int,
        min_count: int,
        label_smoothing: float,
        grad_clip: float,
        teacher_forcing: Callable[[int], float],
        coverage_loss_weight: float,
        decoding: Decoding,
        store_attention: bool,
        scorer: Optional[Callable],
    ) -> "Seq2SeqComponent":
        """Make the component from its config: the factory both
        seq2seq_summarizer and seq2seq_responder register."""
        return cls(
            nlp.vocab,
            model,
            name,
            tokenizer=nlp.tokenizer,
            target_field=target_field,
            candidates_field=candidates_field,
            max_source_length=max_source_length,
            max_target_length=max_target_length,
            vocab_size=vocab_size,
            min_count=min_count,
            label_smoothing=label_smoothing,
            grad_clip=grad_clip,
            teacher_forcing=teacher_forcing,
            coverage_loss_weight=coverage_loss_weight,
            decoding=decoding,
            store_attention=store_attention,
            scorer=scorer,
        )

    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        name: str,
        *,
        tokenizer: Callable[[str], Doc],
        target_field: str,
        max_source_length: int,
        max_target_length: int,
        vocab_size: int,
        min_count: int,
        decoding: Decoding = BeamSearch(),
        candidates_field: Optional[str] = None,
        label_smoothing: float = 0.0,
        grad_clip: float = 5.0,
        teacher_forcing: Callable[[int], float] = TeacherForcing(1.0),
        coverage_loss_weight: float = 0.0,
        store_attention: bool = False,
        scorer: Optional[Callable] = None,
    ) -> None:
        check_settings(
            name,
            model,
            max_source_length=max_source_length,
            max_target_length=max_target_length,
            vocab_size=vocab_size,
            min_count=min_count,
            label_smoothing=label_smoothing,
            grad_clip=grad_clip,
            coverage_loss_weight=coverage_loss_weight,
            store_attention=store_attention,
            target_field=target_field,
            candidates_field=candidates_field,
            functions={"teacher_forcing": teacher_forcing, "scorer": scorer},
            decoding=decoding,
        )
        self.vocab = vocab
        self.model = model
        self.name = name
        self.tokenizer = tokenizer
        self.target_field = target_field
        self.max_source_length = max_source_length
        self.max_target_length = max_target_length
        self.vocab_size = vocab_size
        self.min_count = min_count
        self.label_smoothing = label_smoothing
        self.grad_clip = grad_clip
        self.teacher_forcing = teacher_forcing
        self.coverage_loss_weight = coverage_loss_weight
        # the updates so far: the teacher forcing schedule's step
        self.n_updates = 0
        self.decoding = decoding
        self.candidates_field = candidates_field
        self.store_attention = store_attention
        self.scorer = scorer
        self.target_vocab: Optional[TargetVocab] = None
        self.cfg: Dict[str, Any] = {}
        install_extensions(target_field)
        if candidates_field is not None:
            install_extensions(candidates_field)

    @property
    def is_initialized(self) -> bool:
        return self.target_vocab is not None and self.model.has_ref("seq2seq")

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
        target_vocab: Optional[Any] = None,
        target_texts: Optional[Callable[[], Iterable[str]]] = None,
    ) -> None:
        """Build the target vocabulary from the training examples, or take
        `target_vocab` (a list of words or a saved vocabulary) from
        [initialize.components.NAME], then initialize the model. With
        `target_texts` (e.g. spacy-seq2seq.JsonlTexts.v1 over the training
        file) the vocabulary is counted from those texts in one streaming
        pass instead: `spacy train` gives initialize only ~100 examples when
        it streams the corpus (max_epochs = -1).
        """
        # before spaCy's check, whose error for no examples blames the callback
        if callable(get_examples) and not any(True for _ in get_examples()):
            raise ValueError(
                f"[{self.name}] initialize() got no training examples: is the "
                "training corpus empty?"
            )
        validate_get_examples(get_examples, "Seq2SeqComponent.initialize")
        examples = list(islice(get_examples(), 10))
        if target_vocab is not None:
            vocab = TargetVocab.from_json(target_vocab, source="target_vocab")
        elif all(eg.reference._.get(self.target_field) is None for eg in examples):
            # spaCy's own placeholder example, as `spacy assemble` passes it:
            # a pipeline saved without a vocabulary would fail on first use
            raise ValueError(
                f"[{self.name}] Can't initialize without training examples: the "
                f"examples have no target text in doc._.{self.target_field}, and "
                "the component builds its target vocabulary from them. Train the "
                "pipeline with spacy train, or give "
                f"[initialize.components.{self.name}] target_vocab (a list of "
                "words or a saved vocabulary) to assemble it untrained."
            )
        seen = CaseSeen()
        for eg in examples:  # the sources that `target_texts` doesn't show
            seen.example(eg, self.target_field)
        if target_vocab is not None:
            for word in vocab.words:
                seen.text(word)
        elif target_texts is not None:
            vocab = build_target_vocab(
                self,
                (self._words_of_target(seen.text(text)) for text in target_texts()),
            )
        else:
            vocab = build_target_vocab(
                self,
                (
                    self._target_words(seen.example(eg, self.target_field))
                    for eg in get_examples()
                ),
            )
        self.set_target_vocab(vocab)
        self.n_updates = 0
        # lowercased training data: read any input lowercased, as trained
        self.cfg["lowercase"] = not seen.cased
        sources, _ = self._read_sources([eg.predicted for eg in examples])
        self.model.initialize(X=GenerationBatch(sources, self.decoding))
        if self.model.attrs.get("init_target_from_vectors"):
            try:
                init_target_embeddings(self.model, vocab, self.vocab)
            except ValueError as e:
                raise ValueError(f"[{self.name}] {e}") from None

    def _require_initialized(self) -> None:
        if not self.is_initialized:
            raise ValueError(
                Errors.E109.format(name=self.name)
                + " The component has no target vocabulary: initialize it with "
                "examples that have target texts, or load a trained pipeline."
            )

    def predict(self, docs: Iterable[Doc]) -> List[Prediction]:
        """Search for the best texts of a whole batch of docs at once."""
        self._require_initialized()
        docs = list(docs)
        if not docs:
            return []
        sources, source_words = self._read_sources(docs)
        classes = None
        if self.decoding.unfaithful_penalty > 0:
            classes = penalty_classes(self.target_vocab.words, source_words)
        candidates = self.model.predict(
            GenerationBatch(sources, self.decoding, classes)
        )
        alignments: List[Optional[Alignment]] = [None] * len(docs)
        if self.store_attention:
            targets = [best_ids(c) for c in candidates]
            alignments = self.model.predict(AlignmentBatch(sources, targets))
        return list(zip(source_words, candidates, alignments))

    def set_annotations(
        self, docs: Iterable[Doc], predictions: List[Prediction]
    ) -> None:
        assert self.target_vocab is not None
        for doc, (source, candidates, alignment) in zip(docs, predictions):
            texts: Dict[str, float] = {}
            for ids, score in candidates:  # best first; two can read the same
                texts.setdefault(self.target_vocab.decode(ids, source), score)
            doc._.set(self.target_field, next(iter(texts), ""))
            if self.candidates_field is not None:
                n_best = list(texts.items())[: self.decoding.n_best]
                doc._.set(self.candidates_field, n_best)
            if self.store_attention:
                attention = stored_attention(
                    self.target_vocab, source, candidates, alignment
                )
                doc._.set(self.attention_field, attention)

    @property
    def decoding(self) -> Decoding:
        """How the component decodes: BeamSearch, Sampling or MMIRerank settings."""
        return self._decoding

    @decoding.setter
    def decoding(self, decoding: Decoding) -> None:
        check_decoding(decoding, self.model)
        self._decoding = decoding

    @contextmanager
    def using_decoding(
        self, decoding: Decoding, *, store_attention: Optional[bool] = None
    ) -> Iterator["Seq2SeqComponent"]:
        """Decode with other settings (and store the attention or not) inside
        the block, then go back to the component's own: how a server decodes
        each batch with its requests' settings. Consume `nlp.pipe` inside the
        block; one block at a time per component (not thread-safe).
        """
        saved = self.decoding, self.store_attention
        self.decoding = decoding
        if store_attention is not None:
            self.store_attention = store_attention
        try:
            yield self
        finally:
            self.decoding, self.store_attention = saved

    @property
    def attention_field(self) -> str:
        return f"{self.target_field}_attention"

    @property
    def store_attention(self) -> bool:
        """Whether doc._.{target_field}_attention gets the best text's attention."""
        return self._store_attention

    @store_attention.setter
    def store_attention(self, value: bool) -> None:
        self._store_attention = value
        if value:
            install_extensions(self.attention_field)

    def update(
        self,
        examples: Iterable[Example],
        *,
        drop: float = 0.0,
        sgd: Optional[Optimizer] = None,
        losses: Optional[Dict[str, float]] = None,
    ) -> Dict[str, float]:
        """Cross-entropy per target token (teacher-forced as the schedule
        says at this update), gradients clipped by their global norm. Returns
        the mean loss per target token.
        """
        if losses is None:
            losses = {}
        losses.setdefault(self.name, 0.0)
        examples = list(examples)
        validate_examples(examples, "Seq2SeqComponent.update")
        self._require_initialized()
        teacher_forcing = self.teacher_forcing(self.n_updates)
        if not 0.0 <= teacher_forcing <= 1.0:
            raise ValueError(
                f"[{self.name}] The teacher forcing schedule gave "
                f"{teacher_forcing} at update {self.n_updates}: not in [0, 1]."
            )
        batch, n_tokens = self._make_training_batch(
            examples,
            label_smoothing=self.label_smoothing,
            teacher_forcing=teacher_forcing,
            coverage_loss_weight=self.coverage_loss_weight,
        )
        if n_tokens == 0:
            return losses
        doc_losses, backprop = self.model.begin_update(batch)
        self.n_updates += 1
        backprop(self.model.ops.alloc1f(len(examples)) + 1.0 / n_tokens)
        if self.grad_clip > 0:
            clip_gradients_by_global_norm(self.model, self.grad_clip)
        if sgd is not None:
            self.finish_update(sgd)
        losses[self.name] += float(doc_losses.sum()) / n_tokens
        return losses

    def score(self, examples: Iterable[Example], **kwargs) -> Dict[str, Any]:
        """The scorer's scores of the predicted texts, and the perplexity of
        the reference texts under the model ({target_field}_perplexity) with
        its inverse, the geometric-mean probability of a reference token
        ({target_field}_token_prob: higher is better, so it can be weighted).
        """
        examples = list(examples)
        validate_examples(examples, "Seq2SeqComponent.score")
        check_references(self.name, self.target_field, examples)
        scores = {}
        if self.scorer is not None:
            scores.update(self.scorer(examples, field=self.target_field, **kwargs))
        if self.is_initialized:
            perplexity = self.perplexity(examples)
            scores[f"{self.target_field}_perplexity"] = perplexity
            scores[f"{self.target_field}_token_prob"] = (
                1.0 / perplexity if perplexity is not None else None
            )
        return scores

    def perplexity(self, examples: List[Example]) -> Optional[float]:
        """exp(mean cross-entropy per target token) of the examples' reference
        texts (target words outside the vocabulary that can't be copied count
        as UNK); None when no example has a target text.
        """
        examples = [
            eg for eg in examples if eg.reference._.get(self.target_field) is not None
        ]
        total_loss, total_tokens = 0.0, 0
        for start in range(0, len(examples), PERPLEXITY_BATCH_SIZE):
            chunk = examples[start : start + PERPLEXITY_BATCH_SIZE]
            batch, n_tokens = self._make_training_batch(chunk)
            if n_tokens:
                total_loss += float(self.model.predict(batch).sum())
                total_tokens += n_tokens
        return math.exp(total_loss / total_tokens) if total_tokens else None

    def _make_training_batch(
        self, examples: List[Example], **objective: float
    ) -> Tuple[TrainingBatch, int]:
        """The batch with target ids and the training objective's settings,
        and the number of target tokens (EOS included) of the docs that have
        a source."""
        assert self.target_vocab is not None
        targets = [self._target_words(eg) for eg in examples]
        sources, source_words = self._read_sources([eg.predicted for eg in examples])
        target_ids = [
            self.target_vocab.encode_target((w for w, _ in words), source)
            for words, source in zip(targets, source_words)
        ]
        n_tokens = sum(len(t) for t, s in zip(target_ids, source_words) if len(s))
        return TrainingBatch(sources, target_ids, **objective), n_tokens

    def _read_sources(self, docs: List[Doc]) -> Tuple[DocSources, List[SourceWords]]:
        """What the model reads of each doc, and the source words that the
        generated ids of copied words point into."""
        assert self.target_vocab is not None
        if any(len(doc) > self.max_source_length for doc in docs):
            # One text for every batch: Python's warning filters show it once
            # per run, not once per batch.
            warnings.warn(
                f"[{self.name}] Docs longer than max_source_length="
                f"{self.max_source_length} tokens: only their {self.truncation_side} "
                f"{self.max_source_length} tokens are read (warned once per run)."
            )
        if self.cfg.get("lowercase") and not self._listens:
            docs = [lowercased(doc) for doc in docs]
        starts, words = zip(*(self._source_span(doc) for doc in docs))
        if self.cfg.get("lowercase"):  # a listener's features stay as they are
            words = tuple([(w.lower(), s) for w, s in span] for span in words)
        source_words = [self.target_vocab.encode_source(w) for w in words]
        ids = [s.ids for s in source_words]
        return DocSources(docs, ids, list(starts)), source_words

    @property
    def _listens(self) -> bool:
        """Whether the model reads another component's features (a listener):
        those come from the doc as given, so the doc can't be replaced."""
        return any(node.name.endswith("listener") for node in self.model.walk())

    def _source_span(self, doc: Doc) -> Tuple[int, List[SpacedWord]]:
        """Where the words the model reads start in the doc, and the words:
        the doc's first tokens; none for a blank doc."""
        if all(token.is_space for token in doc):
            return 0, []
        return 0, spaced_words(doc[: self.max_source_length])

    def _target_words(self, example: Example) -> List[SpacedWord]:
        text = example.reference._.get(self.target_field)
        if not isinstance(text, str):
            raise ValueError(
                f"[{self.name}] The reference doc has no target text in "
                f"doc._.{self.target_field} (got {text!r}); read the training data "
                "with spacy-seq2seq.JsonlPairs.v1 or set it on example.reference."
            )
        return self._words_of_target(text)

    def _words_of_target(self, text: str) -> List[SpacedWord]:
        return target_words(self.tokenizer(text))[: self.max_target_length]

    # Serialization: the pieces and their checks are serialization.py's.

    def to_bytes(self, *, exclude: Iterable[str] = tuple()) -> bytes:
        return serialization.component_to_bytes(self, exclude=exclude)

    def from_bytes(
        self, bytes_data: bytes, *, exclude: Iterable[str] = tuple()
    ) -> "Seq2SeqComponent":
        serialization.component_from_bytes(self, bytes_data, exclude=exclude)
        return self

    def to_disk(self, path: Path, *, exclude: Iterable[str] = tuple()) -> None:
        serialization.component_to_disk(self, Path(path), exclude=exclude)

    def from_disk(
        self, path: Path, *, exclude: Iterable[str] = tuple()
    ) -> "Seq2SeqComponent":
        serialization.component_from_disk(self, Path(path), exclude=exclude)
        return self

    def set_target_vocab(self, target_vocab: TargetVocab) -> None:
        """Take the vocabulary and size the model's output layer to it."""
        if self.model.has_dim("nO") and self.model.get_dim("nO") != len(target_vocab):
            raise ValueError(
                f"[{self.name}] The target vocabulary has {len(target_vocab)} "
                f"words but the model was built for {self.model.get_dim('nO')}."
            )
        self.target_vocab = target_vocab
        if not self.model.has_dim("nO"):
            self.model.set_dim("nO", len(self.target_vocab))


def check_settings(
    name: str,
    model: Model,
    *,
    max_source_length: int,
    max_target_length: int,
    vocab_size: int,
    min_count: int,
    label_smoothing: float,
    grad_clip: float,
    coverage_loss_weight: float,
    store_attention: bool,
    target_field: str,
    candidates_field: Optional[str],
    functions: Dict[str, Optional[Callable]],
    decoding: Any,
) -> None:
    """Raise a ValueError naming the component and the first setting of the
    wrong type or out of range, or that the model can't use."""
    try:
        check_int("max_source_length", max_source_length, minimum=1)
        check_int("max_target_length", max_target_length, minimum=1)
        # fewer words than the specials and one more: a copy-only model
        check_int("vocab_size", vocab_size, minimum=len(SPECIALS) + 1)
        check_int("min_count", min_count, minimum=1)
        check_number("label_smoothing", label_smoothing, minimum=0.0, below=1.0)
        check_number("grad_clip", grad_clip, minimum=0.0)
        check_number("coverage_loss_weight", coverage_loss_weight, minimum=0.0)
        check_bool("store_attention", store_attention)
        check_text("target_field", target_field)
        if candidates_field is not None:
            check_text("candidates_field", candidates_field)
        for setting, value in functions.items():
            if value is not None and not callable(value):
                raise ValueError(
                    f"{setting} must be a registered function, not {value!r}"
                )
        if coverage_loss_weight > 0 and not attends(model):
            raise ValueError(
                "coverage_loss_weight needs a model with attention, not "
                f'attention = "{model.attrs["attention"]}"'
            )
        check_decoding(decoding, model)
    except ValueError as e:
        raise ValueError(f"[{name}] {e}") from None


def build_target_vocab(
    component: "Seq2SeqComponent", target_texts: Iterable[List[SpacedWord]]
) -> TargetVocab:
    """Count the target texts' words in one pass, keeping no text."""
    n_texts, n_words = 0, 0

    def texts() -> Iterator[List[SpacedWord]]:
        nonlocal n_texts, n_words
        for words in target_texts:
            n_texts, n_words = n_texts + 1, n_words + len(words)
            yield words

    vocab = TargetVocab.build(
        texts(), max_size=component.vocab_size, min_count=component.min_count
    )
    name, field = component.name, component.target_field
    if not n_words:
        raise ValueError(
            f"[{name}] Every target text (doc._.{field}) of the {n_texts} "
            "training examples is empty: there is nothing to learn."
        )
    if len(vocab) == len(SPECIALS):
        warnings.warn(
            f"[{name}] No target word occurs min_count={component.min_count} "
            "times in the training examples: the target vocabulary has only "
            "the special tokens, so the model can only copy source words."
        )
    return vocab


def check_references(name: str, field: str, examples: List[Example]) -> None:
    """Raise a ValueError if no evaluation example has a reference text in
    doc._.{field}, and warn if some have none."""
    n_references = sum(eg.reference._.get(field) is not None for eg in examples)
    if not n_references:
        raise ValueError(
            f"[{name}] None of the {len(examples)} evaluation examples has "
            f"a reference text in doc._.{field}, so there is nothing "
            "to score: is the dev set empty, or a .spacy file saved without "
            "user data (DocBin(store_user_data=True))?"
        )
    if n_references < len(examples):
        warnings.warn(
            f"[{name}] {len(examples) - n_references} of the {len(examples)} "
            f"evaluation examples have no reference text in "
            f"doc._.{field}: they are not scored."
        )


def stored_attention(
    target_vocab: TargetVocab,
    source: SourceWords,
    candidates: List[Candidate],
    alignment: Optional[Alignment],
) -> Optional[Dict[str, Any]]:
    """The best text's attention as stored on the doc: its words (EOS
    included) and source words, "weights" (target × source) and "copy"
    (the copy gate, 1 - p_gen, at each generated word)."""
    if alignment is None:
        return None
    weights, copy_probs = alignment
    return {
        "source": source.words,
        "target": [target_vocab.word(i, source)[0] for i in best_ids(candidates)],
        "weights": weights,
        "copy": copy_probs,
    }


def check_decoding(decoding: Any, model: Model) -> None:
    """Raise a ValueError if the decoding is not BeamSearch, Sampling or
    MMIRerank settings, or asks for what the model can't do."""
    if not isinstance(decoding, tuple(DECODINGS.values())):
        raise ValueError(
            'decoding must be a registered decoding ("spacy-seq2seq.BeamSearch.v1", '
            '"spacy-seq2seq.Sampling.v1" or "spacy-seq2seq.MMIRerank.v1"), not '
            f"{decoding!r}"
        )
    if getattr(decoding, "coverage_penalty", 0.0) > 0 and not attends(model):
        raise ValueError(
            "coverage_penalty needs a model with attention, not "
            f'attention = "{model.attrs["attention"]}"'
        )


def best_ids(candidates: List[Candidate]) -> List[int]:
    """The best candidate's ids up to and including EOS; none without one."""
    if not candidates:
        return []
    ids = candidates[0][0]
    return (
        ids[: ids.index(EOS_ID) + 1]
        if EOS_ID in ids
        else [i for i in ids if i != PAD_ID]
    )


class CaseSeen:
    """Whether any source or target text seen at initialize has an
    uppercase letter: if none has, the model is trained on lowercased text
    and reads its input lowercased (cfg["lowercase"])."""

    def __init__(self) -> None:
        self.cased = False

    def text(self, text: str) -> str:
        if not self.cased and isinstance(text, str) and text != text.lower():
            self.cased = True
        return text

    def example(self, example: Example, target_field: str) -> Example:
        self.text(example.predicted.text)
        self.text(example.reference._.get(target_field))
        return example


def lowercased(doc: Doc) -> Doc:
    """The doc with its tokens lowercased, as the model was trained to read
    them (same tokens, same spacing); the doc itself if it has no capital."""
    if doc.text == doc.text.lower():
        return doc
    words = [token.text.lower() for token in doc]
    return Doc(doc.vocab, words=words, spaces=[bool(t.whitespace_) for t in doc])


def spaced_words(tokens: Union[Doc, Span]) -> List[SpacedWord]:
    """The tokens of a doc or span with their spacing."""
    return [
        (token.text, token.i > 0 and not token.doc[token.i - 1].whitespace_)
        for token in tokens
    ]


def target_words(doc: Doc) -> List[SpacedWord]:
    """The target text's tokens with their spacing, whitespace tokens left out."""
    return [word for word, token in zip(spaced_words(doc), doc) if not token.is_space]


def install_extensions(field: str) -> None:
    if not Doc.has_extension(field):
        Doc.set_extension(field, default=None)
