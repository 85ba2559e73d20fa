"""Thinc wrappers: the source tok2vec sub-layer feeding the torch seq2seq module."""

from dataclasses import dataclass, replace
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import (
    ArgsKwargs,
    CupyOps,
    Model,
    PyTorchWrapper_v2,
    get_current_ops,
    torch2xp,
    xp2torch,
)
from thinc.types import Floats1d, Floats2d, Ints2d

from .attention import ATTENTION_TYPES
from .initialization import INIT_SCHEMES
from .search import SearchSettings, sampling_uniforms
from .settings import check_bool, check_int, check_number, check_text
from .torch_model import FIXED_CONTEXTS, RNN_TYPES, AttentionalSeq2SeqModule
from .vocab import PAD_ID

ARCHITECTURE_CHOICES = {
    "rnn_type": RNN_TYPES,
    "attention": ATTENTION_TYPES + FIXED_CONTEXTS,
    "init": INIT_SCHEMES,
}

# Sources searched at once (each with beam_size rows).
SEARCH_CHUNK_SIZE = 64

# One candidate of a search: generated ids and normalised log-probability.
Candidate = Tuple[List[int], float]

# What the decoder attended to while producing a text: the U×T attention
# over the source tokens and the U probabilities that each word was copied.
Alignment = Tuple[Floats2d, Floats1d]


@dataclass
class Seq2SeqBatch:
    """What the model reads. `source_ids` holds each doc's extended ids of the
    tokens to encode, a span of the doc from `source_starts` (default 0);
    empty = nothing to encode. With `target_ids` the model returns each doc's
    summed loss, trained with the given label smoothing, teacher forcing
    ratio and coverage loss weight; with `search` (prediction only) it
    returns the candidates of each doc.
    """

    docs: List[Doc]
    source_ids: List[List[int]]
    source_starts: Optional[List[int]] = None
    target_ids: Optional[List[List[int]]] = None
    search: Optional[SearchSettings] = None
    label_smoothing: float = 0.0
    teacher_forcing: float = 1.0
    coverage_loss_weight: float = 0.0
    align: bool = False


@registry.architectures("spacy-seq2seq.AttentionalSeq2Seq.v1")
def AttentionalSeq2Seq(
    tok2vec: Model[List[Doc], List[Floats2d]],
    *,
    embed_width: int = 128,
    hidden_width: int = 256,
    attention_width: int = 256,
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
    ):
        check_bool(name, value)
    if bidirectional and hidden_width % 2:
        raise ValueError(
            f"hidden_width must be even when bidirectional (two directions), "
            f"not {hidden_width}"
        )
    if attention_heads > 1 and attention != "multihead":
        raise ValueError('attention_heads > 1 needs attention = "multihead".')
    if attention == "multihead" and attention_width % attention_heads:
        raise ValueError(
            f"attention_width ({attention_width}) must be divisible by "
            f"attention_heads ({attention_heads})."
        )
    if attention in FIXED_CONTEXTS:
        needs_attention = {
            "copy": copy,
            "coverage": coverage,
            "attention_window": attention_window,
        }
        for name, value in needs_attention.items():
            if value:
                raise ValueError(
                    f'{name} needs attention; with attention = "{attention}" '
                    f"set it to {0 if name == 'attention_window' else 'false'}."
                )
    return Model(
        "attentional_seq2seq",
        forward,
        init=init_model,
        layers=[tok2vec],
        refs={"tok2vec": tok2vec},
        dims={"nO": nO},
        attrs={
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
        },
    )


def init_model(model: Model, X: Optional[Seq2SeqBatch] = None, Y: Any = None) -> None:
    model.get_ref("tok2vec").initialize(X=X.docs if X is not None else None)
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
    settings = {k: v for k, v in model.attrs.items() if k != "mixed_precision"}
    module = AttentionalSeq2SeqModule(
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


def torch_module(model: Model) -> AttentionalSeq2SeqModule:
    """The initialized torch module inside an AttentionalSeq2Seq model."""
    if not model.has_ref("seq2seq"):
        raise ValueError("The seq2seq model is not initialized.")
    return model.get_ref("seq2seq").shims[0]._model


def forward(model: Model, batch: Seq2SeqBatch, is_train: bool) -> Tuple[Any, Callable]:
    """Returns Floats1d per-doc losses given target ids; per-doc lists of
    candidates given search settings (empty for docs with no source); or,
    with `align`, the per-doc alignments of the target ids (None for docs
    with no source).
    """
    if not model.has_ref("seq2seq"):
        raise ValueError("The seq2seq model is not initialized.")
    vectors, backprop_tok2vec, batch = embed_sources(model, batch, is_train)
    if (batch.search is not None or batch.align) and is_train:
        raise ValueError("Search and alignment run at prediction only.")
    if batch.search is not None:
        return search(model, batch, vectors), lambda d_candidates: []
    if batch.target_ids is None:
        raise ValueError("The seq2seq model needs target ids or search settings.")
    if batch.align:
        return align(model, batch, vectors), lambda d_alignments: []
    return sequence_losses(model, batch, vectors, backprop_tok2vec, is_train)


def embed_sources(
    model: Model, batch: Seq2SeqBatch, is_train: bool
) -> Tuple[List[Floats2d], Callable, Seq2SeqBatch]:
    """The tok2vec's vectors of what the model reads, with their backprop and
    the batch as the vectors index it. The tok2vec sees each doc's source
    span only, so that a long doc costs what is read, and the vectors start
    where the spans do. A listener gets the whole docs: its upstream
    component has embedded them already, and it checks that it is given
    the docs it embedded.
    """
    tok2vec = model.get_ref("tok2vec")
    if is_listener(tok2vec):
        vectors, backprop = tok2vec(batch.docs, is_train)
        return vectors, backprop, batch
    sources = [
        source_doc(doc, source_start(batch, i), len(ids))
        for i, (doc, ids) in enumerate(zip(batch.docs, batch.source_ids))
    ]
    vectors, backprop = tok2vec(sources, is_train)
    return vectors, backprop, replace(batch, source_starts=None)


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


def align(
    model: Model, batch: Seq2SeqBatch, vectors: List[Floats2d]
) -> List[Optional[Alignment]]:
    assert batch.target_ids is not None
    alignments: List[Optional[Alignment]] = [None for _ in batch.docs]
    rows = [i for i, ids in enumerate(batch.source_ids) if ids]
    for start in range(0, len(rows), SEARCH_CHUNK_SIZE):
        chunk = rows[start : start + SEARCH_CHUNK_SIZE]
        inputs = pad_inputs(model, batch, vectors, chunk)
        inputs["target_ids"] = pad_ids(model.ops, [batch.target_ids[i] for i in chunk])
        inputs["align"] = True
        weights, copy = model.get_ref("seq2seq").predict(inputs)
        weights, copy = model.ops.to_numpy(weights), model.ops.to_numpy(copy)
        for row, i in enumerate(chunk):
            length = len(batch.target_ids[i])
            alignments[i] = (
                weights[row, :length, : len(batch.source_ids[i])],
                copy[row, :length],
            )
    return alignments


def search(
    model: Model, batch: Seq2SeqBatch, vectors: List[Floats2d]
) -> List[List[Candidate]]:
    assert batch.search is not None
    candidates: List[List[Candidate]] = [[] for _ in batch.docs]
    # Sources of similar length are searched together: attention over
    # padding is most of the cost of a step.
    by_length = sorted(
        (i for i, ids in enumerate(batch.source_ids) if ids),
        key=lambda i: len(batch.source_ids[i]),
    )
    for start in range(0, len(by_length), SEARCH_CHUNK_SIZE):
        rows = by_length[start : start + SEARCH_CHUNK_SIZE]
        inputs = pad_inputs(model, batch, vectors, rows)
        inputs["search"] = batch.search
        if batch.search.decoding == "sampling":
            source_ids = [batch.source_ids[i] for i in rows]
            inputs["uniforms"] = model.ops.asarray(
                sampling_uniforms(source_ids, batch.search)
            )
        ids, scores = model.get_ref("seq2seq").predict(inputs)
        ids, scores = (
            model.ops.to_numpy(ids).tolist(),
            model.ops.to_numpy(scores).tolist(),
        )
        for row, i in enumerate(rows):
            candidates[i] = list(zip(ids[row], scores[row]))
    return candidates


def sequence_losses(
    model: Model,
    batch: Seq2SeqBatch,
    vectors: List[Floats2d],
    backprop_tok2vec: Callable,
    is_train: bool,
) -> Tuple[Floats1d, Callable]:
    ops = model.ops
    assert batch.target_ids is not None
    rows = [i for i, ids in enumerate(batch.source_ids) if ids]
    losses = ops.alloc1f(len(batch.docs))

    def backprop_nothing(d_losses: Floats1d) -> Any:
        return backprop_tok2vec([ops.alloc2f(*v.shape) for v in vectors])

    if not rows:
        return losses, backprop_nothing
    inputs = pad_inputs(model, batch, vectors, rows)
    inputs["target_ids"] = pad_ids(ops, [batch.target_ids[i] for i in rows])
    inputs["label_smoothing"] = batch.label_smoothing
    inputs["teacher_forcing"] = batch.teacher_forcing
    inputs["coverage_loss_weight"] = batch.coverage_loss_weight
    row_losses, backprop_seq2seq = model.get_ref("seq2seq")(inputs, is_train)
    losses[ops.asarray1i(rows)] = row_losses

    def backprop(d_losses: Floats1d) -> Any:
        d_source = backprop_seq2seq(d_losses[ops.asarray1i(rows)])  # B×T×W
        d_vectors = [ops.alloc2f(*v.shape) for v in vectors]
        for row, i in enumerate(rows):
            start = source_start(batch, i)
            length = min(len(batch.source_ids[i]), len(vectors[i]) - start)
            d_vectors[i][start : start + length] = d_source[row, :length]
        return backprop_tok2vec(d_vectors)

    return losses, backprop


def pad_inputs(
    model: Model, batch: Seq2SeqBatch, vectors: List[Floats2d], rows: List[int]
) -> Dict[str, Any]:
    """The torch module's padded inputs for these docs of the batch, each
    with at least one source token (a doc's vectors are cut to its source).
    """
    source_ids = [batch.source_ids[i] for i in rows]
    return {
        "source": model.ops.pad(
            [
                source_vectors(
                    model, vectors[i], source_start(batch, i), len(batch.source_ids[i])
                )
                for i in rows
            ]
        ),
        "source_lengths": model.ops.asarray1i([len(ids) for ids in source_ids]),
        "source_ids": pad_ids(model.ops, source_ids),  # B×T
        "n_extended": count_copy_only_words(source_ids, model.get_dim("nO")),
    }


def source_start(batch: Seq2SeqBatch, i: int) -> int:
    return batch.source_starts[i] if batch.source_starts is not None else 0


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


def convert_inputs(
    model: Model, inputs: dict, is_train: bool
) -> Tuple[ArgsKwargs, Callable]:
    device = model.shims[0].device
    source = xp2torch(inputs["source"], requires_grad=is_train, device=device)
    kwargs = {
        key: xp2torch(value, device=device) if hasattr(value, "shape") else value
        for key, value in inputs.items()
    }
    kwargs["source"] = source
    kwargs["source_lengths"] = kwargs["source_lengths"].cpu()

    def backprop(d_inputs: ArgsKwargs) -> Any:
        return torch2xp(d_inputs.kwargs["source"])

    return ArgsKwargs(args=(), kwargs=kwargs), backprop


def convert_outputs(
    model: Model, inputs_outputs: Tuple[Any, Any], is_train: bool
) -> Tuple[Any, Callable]:
    _, outputs = inputs_outputs
    if isinstance(outputs, tuple):  # search results: no gradient
        return tuple(torch2xp(t.detach()) for t in outputs), lambda d: None

    def backprop(d_outputs: Floats1d) -> ArgsKwargs:
        d_torch = xp2torch(d_outputs, device=outputs.device).to(outputs.dtype)
        return ArgsKwargs(args=(outputs,), kwargs={"grad_tensors": (d_torch,)})

    return torch2xp(outputs.detach()), backprop
