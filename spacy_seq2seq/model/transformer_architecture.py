"""The Transformer encoder-decoder as a thinc model: the same glue as the
recurrent model (architectures.py: the tok2vec, padding, typed batches,
PyTorchWrapper), around transformer.TransformerSeq2SeqModule."""

from typing import Any, List, Optional

from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Model
from thinc.types import Floats2d

from ..settings import check_bool, check_int, check_number
from .architectures import TORCH_MODULES, Seq2SeqBatch, check_segments, seq2seq_model
from .transformer import TransformerSeq2SeqModule

TORCH_MODULES["transformer_seq2seq"] = TransformerSeq2SeqModule


@registry.architectures("spacy-seq2seq.TransformerSeq2Seq.v1")
def TransformerSeq2Seq(
    tok2vec: Model[List[Doc], List[Floats2d]],
    *,
    width: int = 256,
    heads: int = 4,
    encoder_layers: int = 2,
    decoder_layers: int = 2,
    ff_width: int = 512,
    dropout: float = 0.1,
    copy: bool = True,
    tie_embeddings: bool = True,
    mixed_precision: bool = False,
    segments: int = 0,
    nO: Optional[int] = None,
) -> Model[Seq2SeqBatch, Any]:
    """Build a pre-norm Transformer encoder-decoder over the vectors of
    `tok2vec`, with sinusoidal positions, a pointer-generator copy
    distribution from the last decoder layer's cross-attention (averaged
    over its heads) and incremental decoding. The torch module is created
    at initialization, when the size of the target vocabulary (nO) is known.

    tok2vec: embeds the source tokens, e.g. spacy.Tok2Vec.v2 or a listener.
    width: the model width D (source vectors are projected to it; target
        embeddings have it), even and a multiple of `heads`.
    heads: attention heads, in self- and cross-attention.
    encoder_layers, decoder_layers: stacked layers on each side.
    ff_width: hidden width of each layer's feed-forward block.
    dropout: on the inputs and on each sublayer's output (spaCy's [training]
        dropout does not reach the torch module).
    copy: mix in a pointer-generator copy distribution over the source.
    tie_embeddings: score output words against the target embeddings.
    mixed_precision: run the torch module under CUDA autocast (GPU only).
    segments: 0 for a model that reads one text; 2 for a grounded responder
        that reads a document before the conversation (a learned vector added
        to the document tokens' vectors, as AttentionalSeq2Seq.v1 does).
    """
    for name, value in (
        ("width", width),
        ("heads", heads),
        ("encoder_layers", encoder_layers),
        ("decoder_layers", decoder_layers),
        ("ff_width", ff_width),
    ):
        check_int(name, value, minimum=1)
    if nO is not None:
        check_int("nO", nO, minimum=1)
    check_number("dropout", dropout, minimum=0.0, below=1.0)
    check_segments(segments, tok2vec)
    for name, value in (
        ("copy", copy),
        ("tie_embeddings", tie_embeddings),
        ("mixed_precision", mixed_precision),
    ):
        check_bool(name, value)
    if width % heads or width % 2:
        raise ValueError(
            f"width must be even (sinusoidal positions) and a multiple of heads, "
            f"not width {width} with heads {heads}"
        )
    return seq2seq_model(
        "transformer_seq2seq",
        tok2vec,
        nO,
        {
            "width": width,
            "heads": heads,
            "encoder_layers": encoder_layers,
            "decoder_layers": decoder_layers,
            "ff_width": ff_width,
            "dropout": dropout,
            "copy": copy,
            "tie_embeddings": tie_embeddings,
            "mixed_precision": mixed_precision,
            "segments": segments,
        },
    )
