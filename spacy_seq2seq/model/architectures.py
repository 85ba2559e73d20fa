"""Thinc wrappers: the source tok2vec sub-layer feeding the torch seq2seq module."""

from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import (
    Any,
    Callable,
    Dict,
    Iterator,
    List,
    NamedTuple,
    Optional,
    Tuple,
    Union,
)

import torch
from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import (
    ArgsKwargs,
    CupyOps,
    Model,
    PyTorchWrapper_v2,
    get_current_ops,
    normal_init,
    torch2xp,
    xp2torch,
)
from thinc.types import Floats1d, Floats2d, Floats3d, Ints1d, Ints2d

from ..faithfulness import NO_CLASS
from ..settings import check_bool, check_int, check_number, check_text
from .attention import (
    ATTENTION_KINDS,
    FIXED_CONTEXTS,
    AttentionSettings,
    attention_kind,
)
from .decoding import Decoding, Sampling, sampling_uniforms
from .initialization import INIT_SCHEMES
from .torch_model import (
    RNN_TYPES,
    AlignmentInputs,
    AttentionalSeq2SeqModule,
    ContentClasses,
    GenerationInputs,
    LossInputs,
    Sources,
)
from .vocab import PAD_ID

ARCHITECTURE_CHOICES = {
    "rnn_type": RNN_TYPES,
    "attention": tuple(ATTENTION_KINDS),
    "init": INIT_SCHEMES,
}

# Sources decoded or aligned at once: bounds the memory of a search (each
# source has beam_size rows there) and of an alignment.
SOURCES_PER_CHUNK = 64

# One candidate of a search: generated ids and normalised log-probability.
Candidate = Tuple[List[int], float]

# What the decoder attended to while producing a text: the U×T attention
# over the source tokens and the U probabilities that each word was copied.
Alignment = Tuple[Floats2d, Floats1d]


@dataclass(frozen=True)
class DocSources:
    """What the model reads of each doc: the extended ids of a span of it,
    from `starts` (a doc with no ids has nothing to encode). With
    `document_lengths`, each source's first tokens (that many) are a
    document's and the rest the conversation's: a model built with
    `segments` adds its document segment's vector to them."""

    docs: List[Doc]
    ids: List[List[int]]
    starts: List[int]
    document_lengths: Optional[List[int]] = None


@dataclass(frozen=True)
class TrainingBatch:
    """Sources and their target ids: the model returns each doc's summed
    loss, trained with this label smoothing, teacher forcing ratio and
    coverage loss weight."""

    sources: DocSources
    target_ids: List[List[int]]
    label_smoothing: float = 0.0
    teacher_forcing: float = 1.0
    coverage_loss_weight: float = 0.0


@dataclass(frozen=True)
class GenerationBatch:
    """Sources to decode: the model returns each doc's candidates (prediction
    only). unfaithful_penalty needs `content_classes`: each vocabulary id's
    content-word class and each doc's source tokens' (faithfulness.py)."""

    sources: DocSources
    decoding: Decoding
    content_classes: Optional[Tuple[List[int], List[List[int]]]] = None


@dataclass(frozen=True)
class AlignmentBatch:
    """Sources and generated target ids: the model returns what it attended
    to while producing each (prediction only)."""

    sources: DocSources
    target_ids: List[List[int]]


Seq2SeqBatch = Union[TrainingBatch, GenerationBatch, AlignmentBatch]


@registry.architectures("spacy-seq2seq.AttentionalSeq2Seq.v1")
def AttentionalSeq2Seq(
    tok2vec: Model[List[Doc], List[Floats2d]],
    *,
    embed_width: int = 128,
    hidden_width: int = 256,
    attention_width: int = 64,
    encoder_layers: int = 1,
    bidirectional: bool = True,
    rnn_type: str = "lstm",
    attention: str = "additive",
    attention_heads: int = 1,
    attention_window: int = 0,
    input_feeding: bool = True,
    coverage: bool = False,
    dropout: float = 0.2,
    copy: bool = True,
    tie_embeddings: bool = True,
    init: str = "default",
    mixed_precision: bool = False,
    segments: int = 0,
    init_target_from_vectors: bool = False,
    nO: Optional[int] = None,
) -> Model[Seq2SeqBatch, Any]:
    """Build an attentional encoder-decoder over the vectors of `tok2vec`.
    The torch module is created at initialization, when the size of the
    target vocabulary (nO) is known.

    tok2vec: embeds the source tokens, e.g. spacy.Tok2Vec.v2 or a listener.
    hidden_width: width of the encoder states (both directions together) and
        of the decoder, so that dot-product scores compare them directly.
    encoder_layers: stacked encoder layers, with `dropout` between them.
    bidirectional: read the source both ways (each direction hidden_width / 2).
    rnn_type: "lstm" or "gru", for the encoder and the decoder.
    attention: the score, "additive" (v^T tanh(W_s s + W_h h)), "dot",
        "general" (s^T W h), "scaled_dot", "cosine" or "multihead"; or no
        attention: "none_init" (the encoder's final states C only start the
        decoder) or "none_every_step" (C is also fed to every step).
    attention_width: hidden width of the additive score, total width of the
        multi-head projections; the other scores do not use it.
    attention_heads: heads of the "multihead" attention.
    attention_window: 0 for global attention; D > 0 for Luong's local-p
        attention over [p_t - D, p_t + D] around a predicted position p_t.
    input_feeding: feed the attentional output back with the next token.
    coverage: feed the sum of the previous attention into the score.
    dropout: on the source vectors, between the encoder layers and in the
        decoder (spaCy's [training] dropout does not reach the torch module).
    copy: mix in a pointer-generator copy distribution over the source.
    tie_embeddings: score output words against the target embeddings.
    init: "default" (torch's), "xavier", "he" or "orthogonal" (recurrent
        weights).
    mixed_precision: run the torch module under CUDA autocast (GPU only).
    segments: 0 for a model that reads one text; 2 for a grounded responder
        that reads a document before the conversation: a learned vector is
        added to the document tokens' tok2vec vectors (segment 1), none to
        the conversation's (segment 0), so attention and copy tell them
        apart and a conversation without a document reads as before.
    init_target_from_vectors: start the decoder's target embeddings (tied to
        its output layer) from the pipeline's static vectors ([initialize]
        vectors) when the component is initialized; embed_width must be the
        vectors' width (spacy_seq2seq/vectors.py).
    """
    for name, value in (
        ("rnn_type", rnn_type),
        ("attention", attention),
        ("init", init),
    ):
        check_text(name, value, choices=ARCHITECTURE_CHOICES[name])
    for name, value in (
        ("embed_width", embed_width),
        ("hidden_width", hidden_width),
        ("attention_width", attention_width),
        ("encoder_layers", encoder_layers),
        ("attention_heads", attention_heads),
    ):
        check_int(name, value, minimum=1)
    check_int("attention_window", attention_window, minimum=0)
    check_segments(segments, tok2vec)
    if nO is not None:
        check_int("nO", nO, minimum=1)
    check_number("dropout", dropout, minimum=0.0, below=1.0)
    for name, value in (
        ("bidirectional", bidirectional),
        ("input_feeding", input_feeding),
        ("coverage", coverage),
        ("copy", copy),
        ("tie_embeddings", tie_embeddings),
        ("mixed_precision", mixed_precision),
        ("init_target_from_vectors", init_target_from_vectors),
    ):
        check_bool(name, value)
    if bidirectional and hidden_width % 2:
        raise ValueError(
            f"hidden_width must be even when bidirectional (two directions), "
            f"not {hidden_width}"
        )
    attention_kind(
        attention,
        AttentionSettings(attention_width, attention_heads, attention_window, coverage),
        copy=copy,
    )
    return seq2seq_model(
        "attentional_seq2seq",
        tok2vec,
        nO,
        {
            "embed_width": embed_width,
            "hidden_width": hidden_width,
            "attention_width": attention_width,
            "encoder_layers": encoder_layers,
            "bidirectional": bidirectional,
            "rnn_type": rnn_type,
            "attention": attention,
            "attention_heads": attention_heads,
            "attention_window": attention_window,
            "input_feeding": input_feeding,
            "coverage": coverage,
            "dropout": dropout,
            "copy": copy,
            "tie_embeddings": tie_embeddings,
            "init": init,
            "mixed_precision": mixed_precision,
            "segments": segments,
            "init_target_from_vectors": init_target_from_vectors,
        },
    )


# The learned vectors of the segments after the first: (segments - 1) × W.
SEGMENT_PARAM = "segment_embed"


def check_segments(segments: Any, tok2vec: Model) -> None:
    check_int("segments", segments, minimum=0)
    if segments == 1 or segments > 2:
        raise ValueError(
            f"segments must be 0 (one text) or 2 (a document and the "
            f"conversation), not {segments}"
        )
    if segments and is_listener(tok2vec):
        raise ValueError(
            "segments needs the model's own tok2vec, not a listener: the "
            "document is embedded with the conversation, which an upstream "
            "component never sees"
        )


def has_segments(model: Model) -> bool:
    """Whether the model adds segment vectors (reads a document)."""
    return bool(model.attrs.get("segments", 0))


# The torch module of each kind of seq2seq model, by the thinc model's name:
# (source width, vocabulary size, **the model's attrs but mixed_precision).
# transformer_architecture.py adds the Transformer's.
TORCH_MODULES: Dict[str, Callable[..., torch.nn.Module]] = {
    "attentional_seq2seq": AttentionalSeq2SeqModule
}


def seq2seq_model(
    name: str,
    tok2vec: Model[List[Doc], List[Floats2d]],
    nO: Optional[int],
    attrs: Dict[str, Any],
) -> Model[Seq2SeqBatch, Any]:
    """The thinc model around a torch module of TORCH_MODULES[name]: the
    tok2vec, padding, the typed batches and the PyTorchWrapper are shared by
    every kind; `attrs` are the module's settings, `mixed_precision` and
    `segments` (the segment vectors are added here, before the module)."""
    return Model(
        name,
        forward,
        init=init_model,
        layers=[tok2vec],
        refs={"tok2vec": tok2vec},
        dims={"nO": nO},
        # declared only when used: a model without segments has the same
        # arrays, and loads the same weights, as before the setting existed
        params={SEGMENT_PARAM: None} if attrs.get("segments") else {},
        attrs=attrs,
    )


def init_model(model: Model, X: Optional[Seq2SeqBatch] = None, Y: Any = None) -> None:
    docs = X.sources.docs if X is not None else None
    tok2vec = model.get_ref("tok2vec")
    tok2vec.initialize(X=docs)
    if has_segments(model):
        # random (std 1/sqrt(W)): the segments differ from the first update
        shape = (model.attrs["segments"] - 1, tok2vec.get_dim("nO"))
        model.set_param(SEGMENT_PARAM, normal_init(model.ops, shape))
    build_torch_layer(model)


def build_torch_layer(model: Model) -> None:
    """Create the wrapped torch module once nO (the vocabulary size) is set."""
    if model.has_ref("seq2seq"):
        return
    if model.get_dim("nO") is None:
        raise ValueError("The seq2seq model needs nO, the target vocabulary size.")
    mixed_precision = model.attrs["mixed_precision"]
    if mixed_precision and not isinstance(get_current_ops(), CupyOps):
        raise ValueError(
            "mixed_precision = true needs a GPU: train with --gpu-id, or set it to false."
        )
    # what the thinc side does (segment vectors are added before the torch
    # module; target embeddings started from vectors), not the module's settings
    thinc_only = ("mixed_precision", "segments", "init_target_from_vectors")
    settings = {k: v for k, v in model.attrs.items() if k not in thinc_only}
    module = TORCH_MODULES[model.name](
        model.get_ref("tok2vec").get_dim("nO"), model.get_dim("nO"), **settings
    )
    wrapped = PyTorchWrapper_v2(
        module,
        convert_inputs=convert_inputs,
        convert_outputs=convert_outputs,
        mixed_precision=mixed_precision,
    )
    model.layers.append(wrapped)
    model.set_ref("seq2seq", wrapped)


def torch_module(model: Model) -> torch.nn.Module:
    """The initialized torch module inside a seq2seq model."""
    if not model.has_ref("seq2seq"):
        raise ValueError("The seq2seq model is not initialized.")
    return model.get_ref("seq2seq").shims[0]._model


def attends(model: Model) -> bool:
    """Whether the model attends over the source (not a fixed context)."""
    return model.attrs.get("attention") not in FIXED_CONTEXTS


def forward(model: Model, batch: Seq2SeqBatch, is_train: bool) -> Tuple[Any, Callable]:
    """Dispatch on the batch's type: Floats1d per-doc losses for a
    TrainingBatch; for a GenerationBatch (prediction only) each doc's list of
    candidates, empty for a doc with no source; for an AlignmentBatch
    (prediction only) each doc's alignment, None for a doc with no source.
    """
    if not model.has_ref("seq2seq"):
        raise ValueError("The seq2seq model is not initialized.")
    if isinstance(batch, TrainingBatch):
        return sequence_losses(model, batch, is_train)
    if is_train:
        raise ValueError(f"{type(batch).__name__} is for prediction only.")
    if isinstance(batch, GenerationBatch):
        return generate(model, batch), lambda d_candidates: []
    if isinstance(batch, AlignmentBatch):
        return align(model, batch), lambda d_alignments: []
    raise TypeError(f"The seq2seq model can't read a {type(batch).__name__}.")


def embed_sources(
    model: Model, sources: DocSources, is_train: bool
) -> Tuple[List[Floats2d], Callable, List[int]]:
    """The tok2vec's vectors of what the model reads, with their backprop
    and where each doc's source starts in its vectors. The tok2vec sees each
    doc's source span only, so that a long doc costs what is read. A
    listener gets the whole docs: its upstream component has embedded them
    already, and it checks that it is given the docs it embedded.
    """
    tok2vec = model.get_ref("tok2vec")
    if is_listener(tok2vec):
        vectors, backprop = tok2vec(sources.docs, is_train)
        return vectors, backprop, sources.starts
    spans = [
        source_doc(doc, start, len(ids))
        for doc, ids, start in zip(sources.docs, sources.ids, sources.starts)
    ]
    vectors, backprop = tok2vec(spans, is_train)
    if sources.document_lengths is not None and has_segments(model):
        vectors, backprop = add_segments(model, vectors, backprop, sources)
    return vectors, backprop, [0] * len(spans)


def add_segments(
    model: Model, vectors: List[Floats2d], backprop: Callable, sources: DocSources
) -> Tuple[List[Floats2d], Callable]:
    """Add the document segment's vector to each source's first
    document_lengths tokens (the conversation's segment adds nothing)."""
    assert sources.document_lengths is not None
    table = model.get_param(SEGMENT_PARAM)  # (segments - 1) × W
    lengths = sources.document_lengths
    output = []
    for v, n in zip(vectors, lengths):
        v = v.copy()
        v[:n] += table[0]
        output.append(v)

    def backprop_segments(d_vectors: List[Floats2d]) -> Any:
        d_table = model.ops.alloc2f(*table.shape)
        for d, n in zip(d_vectors, lengths):
            d_table[0] += d[:n].sum(axis=0)
        model.inc_grad(SEGMENT_PARAM, d_table)
        return backprop(d_vectors)

    return output, backprop_segments


def source_doc(doc: Doc, start: int, length: int) -> Doc:
    """The doc itself when the model reads all of it, else a copy of the span
    it reads (a Span's to_array does not take the attribute names that
    spaCy's feature extractors pass, so the tok2vec needs a Doc)."""
    if start == 0 and length >= len(doc):
        return doc
    return doc[start : start + length].as_doc()


def is_listener(tok2vec: Model) -> bool:
    """Whether the layer only passes on an upstream component's vectors
    (spacy.Tok2VecListener.v1, spacy-transformers' listeners)."""
    return tok2vec.name.endswith("-listener")


def generate(model: Model, batch: GenerationBatch) -> List[List[Candidate]]:
    sources = batch.sources
    vectors, _, starts = embed_sources(model, sources, is_train=False)
    candidates: List[List[Candidate]] = [[] for _ in sources.docs]
    device = torch_device(model)
    # Sources of similar length are searched together: attention over
    # padding is most of the cost of a step.
    by_length = sorted(
        (i for i, ids in enumerate(sources.ids) if ids),
        key=lambda i: len(sources.ids[i]),
    )
    for start in range(0, len(by_length), SOURCES_PER_CHUNK):
        rows = by_length[start : start + SOURCES_PER_CHUNK]
        uniforms = None
        if isinstance(batch.decoding, Sampling):
            row_ids = [sources.ids[i] for i in rows]
            uniforms = sampling_uniforms(row_ids, batch.decoding)
        inputs = GenerationInputs(
            to_torch_sources(
                pad_sources(model, sources, vectors, starts, rows), device
            ),
            batch.decoding,
            None if uniforms is None else to_torch(uniforms, device),
            content_classes(model, batch.content_classes, rows, device),
        )
        with inference(model) as module:
            ids, scores = module.generate(inputs)
        ids, scores = ids.cpu().tolist(), scores.float().cpu().tolist()
        for row, i in enumerate(rows):
            candidates[i] = list(zip(ids[row], scores[row]))
    return candidates


def content_classes(
    model: Model,
    classes: Optional[Tuple[List[int], List[List[int]]]],
    rows: List[int],
    device: Any,
) -> Optional[ContentClasses]:
    """The content-word classes of the vocabulary and of these docs' source
    tokens (padded with NO_CLASS) as the search reads them."""
    if classes is None:
        return None
    vocab_classes, source_classes = classes
    padded = model.ops.xp.full(
        (len(rows), max(len(source_classes[i]) for i in rows)), NO_CLASS, dtype="int64"
    )
    for row, i in enumerate(rows):
        padded[row, : len(source_classes[i])] = source_classes[i]
    return ContentClasses(
        to_torch(model.ops.xp.asarray(vocab_classes, dtype="int64"), device),
        to_torch(padded, device),
    )


def align(model: Model, batch: AlignmentBatch) -> List[Optional[Alignment]]:
    sources = batch.sources
    vectors, _, starts = embed_sources(model, sources, is_train=False)
    alignments: List[Optional[Alignment]] = [None for _ in sources.docs]
    device = torch_device(model)
    rows = [i for i, ids in enumerate(sources.ids) if ids]
    for start in range(0, len(rows), SOURCES_PER_CHUNK):
        chunk = rows[start : start + SOURCES_PER_CHUNK]
        inputs = AlignmentInputs(
            to_torch_sources(
                pad_sources(model, sources, vectors, starts, chunk), device
            ),
            to_torch(pad_ids(model.ops, [batch.target_ids[i] for i in chunk]), device),
        )
        with inference(model) as module:
            weights, copy_probs = module.align(inputs)
        weights = weights.float().cpu().numpy()
        copy_probs = copy_probs.float().cpu().numpy()
        for row, i in enumerate(chunk):
            length = len(batch.target_ids[i])
            alignments[i] = (
                weights[row, :length, : len(sources.ids[i])],
                copy_probs[row, :length],
            )
    return alignments


def sequence_losses(
    model: Model, batch: TrainingBatch, is_train: bool
) -> Tuple[Floats1d, Callable]:
    ops = model.ops
    sources = batch.sources
    vectors, backprop_tok2vec, starts = embed_sources(model, sources, is_train)
    rows = [i for i, ids in enumerate(sources.ids) if ids]
    losses = ops.alloc1f(len(sources.docs))

    def backprop_nothing(d_losses: Floats1d) -> Any:
        return backprop_tok2vec([ops.alloc2f(*v.shape) for v in vectors])

    if not rows:
        return losses, backprop_nothing
    inputs = LossBatch(
        pad_sources(model, sources, vectors, starts, rows),
        pad_ids(ops, [batch.target_ids[i] for i in rows]),
        batch.label_smoothing,
        batch.teacher_forcing,
        batch.coverage_loss_weight,
    )
    row_losses, backprop_seq2seq = model.get_ref("seq2seq")(inputs, is_train)
    losses[ops.asarray1i(rows)] = row_losses

    def backprop(d_losses: Floats1d) -> Any:
        d_source = backprop_seq2seq(d_losses[ops.asarray1i(rows)])  # B×T×W
        d_vectors = [ops.alloc2f(*v.shape) for v in vectors]
        for row, i in enumerate(rows):
            start = starts[i]
            length = min(len(sources.ids[i]), len(vectors[i]) - start)
            d_vectors[i][start : start + length] = d_source[row, :length]
        return backprop_tok2vec(d_vectors)

    return losses, backprop


@dataclass(frozen=True)
class PaddedSources:
    """Sources as the torch module reads them, still on the thinc side:
    B×T×W vectors, B lengths, B×T extended ids, the number of copy-only
    ids beyond the vocabulary, and each source's document length (None
    without documents)."""

    vectors: Floats3d
    lengths: Ints1d
    ids: Ints2d
    n_copy_only: int
    document_lengths: Optional[Ints1d] = None


class LossBatch(NamedTuple):
    """The padded inputs of the loss, before convert_inputs makes them the
    torch module's LossInputs."""

    sources: PaddedSources
    target_ids: Ints2d
    label_smoothing: float
    teacher_forcing: float
    coverage_loss_weight: float


def pad_sources(
    model: Model,
    sources: DocSources,
    vectors: List[Floats2d],
    starts: List[int],
    rows: List[int],
) -> PaddedSources:
    """The padded sources of these docs, each with at least one source token
    (a doc's vectors are cut to its source)."""
    ids = [sources.ids[i] for i in rows]
    document_lengths = sources.document_lengths
    return PaddedSources(
        model.ops.pad(
            [
                source_vectors(model, vectors[i], starts[i], len(sources.ids[i]))
                for i in rows
            ]
        ),
        model.ops.asarray1i([len(row_ids) for row_ids in ids]),
        pad_ids(model.ops, ids),
        count_copy_only_words(ids, model.get_dim("nO")),
        (
            None
            if document_lengths is None
            else model.ops.asarray1i([document_lengths[i] for i in rows])
        ),
    )


def source_vectors(
    model: Model, vectors: Floats2d, start: int, length: int
) -> Floats2d:
    """The vectors of the doc's source span; zeros where the source reads
    more tokens than the doc has (an empty context: one UNK token)."""
    span = vectors[start : start + length]
    if span.shape[0] == length:
        return span
    missing = model.ops.alloc2f(length - span.shape[0], vectors.shape[1])
    return model.ops.xp.concatenate([span, missing])


def count_copy_only_words(source_ids: List[List[int]], vocab_size: int) -> int:
    """The number of extended ids the batch needs beyond the vocabulary."""
    highest = max((max(ids) for ids in source_ids if ids), default=0)
    return max(highest + 1 - vocab_size, 0)


def pad_ids(ops, sequences: List[List[int]]) -> Ints2d:
    padded = ops.xp.full(
        (len(sequences), max(len(s) for s in sequences)), PAD_ID, dtype="int64"
    )
    for row, sequence in enumerate(sequences):
        padded[row, : len(sequence)] = ops.xp.asarray(sequence, dtype="int64")
    return padded


def to_torch(array: Any, device: Any, requires_grad: bool = False) -> torch.Tensor:
    return xp2torch(array, requires_grad=requires_grad, device=device)


def to_torch_sources(
    padded: PaddedSources, device: Any, requires_grad: bool = False
) -> Sources:
    return Sources(
        to_torch(padded.vectors, device, requires_grad=requires_grad),
        # the encoder's gathers index with them on the CPU
        to_torch(padded.lengths, device).cpu(),
        to_torch(padded.ids, device),
        padded.n_copy_only,
        (
            None
            if padded.document_lengths is None
            else to_torch(padded.document_lengths, device).long()
        ),
    )


def torch_device(model: Model) -> Any:
    """The device of the torch module inside a seq2seq model."""
    return model.get_ref("seq2seq").shims[0].device


@contextmanager
def inference(model: Model) -> Iterator[torch.nn.Module]:
    """The torch module for generation and alignment, which call it directly
    rather than through the shim: under CUDA autocast with mixed precision,
    as the shim would run it."""
    with torch.autocast("cuda") if model.attrs["mixed_precision"] else nullcontext():
        yield torch_module(model)


def convert_inputs(
    model: Model, batch: LossBatch, is_train: bool
) -> Tuple[ArgsKwargs, Callable]:
    device = model.shims[0].device
    sources = to_torch_sources(batch.sources, device, requires_grad=is_train)
    inputs = LossInputs(
        sources,
        to_torch(batch.target_ids, device),
        batch.label_smoothing,
        batch.teacher_forcing,
        batch.coverage_loss_weight,
    )

    def backprop(d_inputs: ArgsKwargs) -> Floats3d:
        return torch2xp(sources.vectors.grad)

    return ArgsKwargs(args=(inputs,), kwargs={}), backprop


def convert_outputs(
    model: Model, inputs_outputs: Tuple[Any, torch.Tensor], is_train: bool
) -> Tuple[Floats1d, Callable]:
    _, losses = inputs_outputs

    def backprop(d_losses: Floats1d) -> ArgsKwargs:
        d_torch = xp2torch(d_losses, device=losses.device).to(losses.dtype)
        return ArgsKwargs(args=(losses,), kwargs={"grad_tensors": (d_torch,)})

    return torch2xp(losses.detach()), backprop
