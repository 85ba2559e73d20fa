"""The model family's variants, for ablations: each is configs/summarizer.cfg
with one choice changed, written as spaCy config overrides (dotted paths to
values), applied by spaCy itself:

    load_config("configs/summarizer.cfg", overrides=VARIANTS["dot"].overrides)
    spacy train configs/summarizer.cfg --components.summarizer.model.attention dot

A value that is a dict replaces the whole block (a teacher forcing schedule
of another kind). `scripts/make_variant_configs.py OUT_DIR` writes them as
config files.
"""

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Union

import srsly
from spacy.util import load_config
from thinc.api import Config

COMPONENT = "components.summarizer"
MODEL = f"{COMPONENT}.model"
DECODING = f"{COMPONENT}.decoding"
TEACHER_FORCING = f"{COMPONENT}.teacher_forcing"

# Copy and input feeding read the attention's context: without attention,
# both are off.
NO_ATTENTION = {f"{MODEL}.copy": False, f"{MODEL}.input_feeding": False}

# configs/summarizer_transformer.cfg's model block, the summarizer's tok2vec
# included (a block given as a dict replaces the base config's whole block).
TRANSFORMER_MODEL = {
    "@architectures": "spacy-seq2seq.TransformerSeq2Seq.v1",
    "width": 256,
    "heads": 4,
    "encoder_layers": 2,
    "decoder_layers": 2,
    "ff_width": 512,
    "dropout": 0.1,
    "copy": True,
    "tie_embeddings": True,
    "mixed_precision": False,
    # set at initialization; spaCy fills it in, and the variants' test
    # checks that every override reaches the pipeline as given
    "nO": None,
    "tok2vec": {
        "@architectures": "spacy.Tok2Vec.v2",
        "embed": {
            "@architectures": "spacy.MultiHashEmbed.v2",
            "width": 96,
            "attrs": ["NORM", "SUFFIX", "SHAPE"],
            "rows": [5000, 2500, 2500],
            "include_static_vectors": False,
        },
        "encode": {
            "@architectures": "spacy.MaxoutWindowEncoder.v2",
            "width": 96,
            "window_size": 1,
            "depth": 1,
            "maxout_pieces": 2,
        },
    },
}


@dataclass(frozen=True)
class Variant:
    """What the variant tries and its overrides of the base config."""

    description: str
    overrides: Dict[str, Any]

    def command_line(self) -> str:
        """The overrides as `spacy train` options, quoted for a shell."""
        options = []
        for path, value in self.overrides.items():
            options += [f"--{path}", srsly.json_dumps(value)]
        return shlex.join(options)


def decay(name: str, **params: float) -> Dict[str, Any]:
    """Scheduled sampling: the teacher forcing block replaced by a schedule."""
    return {TEACHER_FORCING: {"@misc": f"spacy-seq2seq.{name}.v1", **params}}


VARIANTS: Dict[str, Variant] = {
    "additive": Variant(
        "Bahdanau's additive score v^T tanh(W_s s + W_h h_i); the baseline, "
        "configs/summarizer.cfg",
        {},
    ),
    "dot": Variant("Luong's dot score s^T h_i", {f"{MODEL}.attention": "dot"}),
    "general": Variant(
        "Luong's general score s^T W h_i", {f"{MODEL}.attention": "general"}
    ),
    "scaled_dot": Variant(
        "scaled dot score s^T h_i / sqrt(H)", {f"{MODEL}.attention": "scaled_dot"}
    ),
    "cosine": Variant(
        "cosine score times a learned strength", {f"{MODEL}.attention": "cosine"}
    ),
    "multihead": Variant(
        "multi-head attention, 4 heads of 16 dimensions",
        {f"{MODEL}.attention": "multihead", f"{MODEL}.attention_heads": 4},
    ),
    "local": Variant(
        "Luong's local-p attention: a predicted position, window D = 5",
        {f"{MODEL}.attention_window": 5},
    ),
    "local_no_copy": Variant(
        "local-p attention as in the local variant, without copy",
        {f"{MODEL}.attention_window": 5, f"{MODEL}.copy": False},
    ),
    "no_attention_init": Variant(
        "no attention: the encoder's final states only start the decoder "
        "(Sutskever et al. 2014); no copy, which needs attention",
        {f"{MODEL}.attention": "none_init", **NO_ATTENTION},
    ),
    "no_attention_every_step": Variant(
        "no attention: the encoder's final states C start the decoder and are "
        "fed to every step (Cho et al. 2014); no copy, which needs attention",
        {f"{MODEL}.attention": "none_every_step", **NO_ATTENTION},
    ),
    "unidirectional": Variant(
        "a left-to-right encoder", {f"{MODEL}.bidirectional": False}
    ),
    "two_layers": Variant(
        "two encoder layers, dropout 0.2 between them",
        {f"{MODEL}.encoder_layers": 2},
    ),
    "gru": Variant("GRU encoder and decoder", {f"{MODEL}.rnn_type": "gru"}),
    "no_input_feeding": Variant(
        "the attentional output is not fed back to the decoder",
        {f"{MODEL}.input_feeding": False},
    ),
    "no_copy": Variant("no pointer-generator copying", {f"{MODEL}.copy": False}),
    "coverage": Variant(
        "coverage in the attention score and See et al.'s coverage loss",
        {f"{MODEL}.coverage": True, f"{COMPONENT}.coverage_loss_weight": 1.0},
    ),
    "coverage_penalty": Variant(
        "coverage as in the coverage variant, and GNMT's coverage penalty "
        "(beta = 0.2) in beam search",
        {
            f"{MODEL}.coverage": True,
            f"{COMPONENT}.coverage_loss_weight": 1.0,
            f"{DECODING}.coverage_penalty": 0.2,
        },
    ),
    "teacher_forcing": Variant(
        "teacher forcing ratio 0.75: a quarter of the decoder's inputs are its "
        "own samples",
        {f"{TEACHER_FORCING}.ratio": 0.75},
    ),
    "scheduled_sampling_linear": Variant(
        "scheduled sampling, eps_i = max(0.5, 1 - 0.0003 i)",
        decay("LinearDecay", k=1.0, c=0.0003, eps_min=0.5),
    ),
    "scheduled_sampling_exponential": Variant(
        "scheduled sampling, eps_i = 0.9996 ** i",
        decay("ExponentialDecay", k=0.9996),
    ),
    "scheduled_sampling_inverse_sigmoid": Variant(
        "scheduled sampling, eps_i = 200 / (200 + exp(i / 200))",
        decay("InverseSigmoidDecay", k=200.0),
    ),
    "label_smoothing": Variant(
        "label smoothing 0.1", {f"{COMPONENT}.label_smoothing": 0.1}
    ),
    "no_grad_clip": Variant("no gradient clipping", {f"{COMPONENT}.grad_clip": 0.0}),
    "xavier_init": Variant(
        "Xavier (Glorot) initialisation", {f"{MODEL}.init": "xavier"}
    ),
    "he_init": Variant("He initialisation", {f"{MODEL}.init": "he"}),
    "orthogonal_init": Variant(
        "orthogonal recurrent weights", {f"{MODEL}.init": "orthogonal"}
    ),
    "transformer": Variant(
        "the Transformer encoder-decoder of configs/summarizer_transformer.cfg "
        "(2 + 2 pre-norm layers, width 256, 4 heads), label smoothing 0.1",
        {MODEL: TRANSFORMER_MODEL, f"{COMPONENT}.label_smoothing": 0.1},
    ),
}


def get_variant(name: str) -> Variant:
    """The variant of that name; a ValueError lists the known ones."""
    if name not in VARIANTS:
        raise ValueError(
            f"No model family variant {name!r}; the variants: {', '.join(VARIANTS)}"
        )
    return VARIANTS[name]


def variant_config(
    base: Union[str, Path], name: str, overrides: Dict[str, Any] = {}
) -> Config:
    """The base config (configs/summarizer.cfg or one with the same
    component name) with the variant's overrides, then `overrides` (data
    paths, a seed) applied."""
    return load_config(
        base, overrides={**get_variant(name).overrides, **overrides}, interpolate=False
    )
