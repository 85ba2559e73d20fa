"""Write configs/variants/*.cfg: configs/summarizer.cfg with one choice of the
model family changed per file and the Reuters data paths filled in, so that
each is a complete `spacy train` config.

    python scripts/make_variant_configs.py

tests/test_variant_configs.py checks that the files are up to date.
"""

from pathlib import Path
from typing import Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
BASE = ROOT / "configs" / "summarizer.cfg"
VARIANTS_DIR = ROOT / "configs" / "variants"
DATA = "../shared/data/reuters21578_headlines"

COMPONENT = "components.summarizer"
MODEL = "components.summarizer.model"
TEACHER_FORCING = "components.summarizer.teacher_forcing"

# {section: {key: value as written in the config, or None to remove the key}}
Overrides = Dict[str, Dict[str, Optional[str]]]


def decay(name: str, **params: float) -> Overrides:
    settings: Dict[str, Optional[str]] = {"@misc": f'"spacy-seq2seq.{name}.v1"'}
    settings["ratio"] = None
    settings.update({key: repr(value) for key, value in params.items()})
    return {TEACHER_FORCING: settings}


NO_ATTENTION = {"copy": "false", "input_feeding": "false"}

# name: (what it tries, its overrides of configs/summarizer.cfg)
VARIANTS: Dict[str, Tuple[str, Overrides]] = {
    "additive": (
        "Bahdanau's additive score v^T tanh(W_s s + W_h h_i); the baseline, "
        "configs/summarizer.cfg",
        {},
    ),
    "dot": ("Luong's dot score s^T h_i", {MODEL: {"attention": '"dot"'}}),
    "general": ("Luong's general score s^T W h_i", {MODEL: {"attention": '"general"'}}),
    "scaled_dot": (
        "scaled dot score s^T h_i / sqrt(H)",
        {MODEL: {"attention": '"scaled_dot"'}},
    ),
    "cosine": (
        "cosine score times a learned strength",
        {MODEL: {"attention": '"cosine"'}},
    ),
    "multihead": (
        "multi-head attention, 4 heads of 16 dimensions",
        {MODEL: {"attention": '"multihead"', "attention_heads": "4"}},
    ),
    "local": (
        "Luong's local-p attention: a predicted position, window D = 5",
        {MODEL: {"attention_window": "5"}},
    ),
    "no_attention_init": (
        "no attention: the encoder's final states only start the decoder "
        "(Sutskever et al. 2014); no copy, which needs attention",
        {MODEL: {"attention": '"none_init"', **NO_ATTENTION}},
    ),
    "no_attention_every_step": (
        "no attention: the encoder's final states C start the decoder and are "
        "fed to every step (Cho et al. 2014); no copy, which needs attention",
        {MODEL: {"attention": '"none_every_step"', **NO_ATTENTION}},
    ),
    "unidirectional": ("a left-to-right encoder", {MODEL: {"bidirectional": "false"}}),
    "two_layers": (
        "two encoder layers, dropout 0.2 between them",
        {MODEL: {"encoder_layers": "2"}},
    ),
    "gru": ("GRU encoder and decoder", {MODEL: {"rnn_type": '"gru"'}}),
    "no_input_feeding": (
        "the attentional output is not fed back to the decoder",
        {MODEL: {"input_feeding": "false"}},
    ),
    "no_copy": ("no pointer-generator copying", {MODEL: {"copy": "false"}}),
    "coverage": (
        "coverage in the attention score and See et al.'s coverage loss",
        {MODEL: {"coverage": "true"}, COMPONENT: {"coverage_loss_weight": "1.0"}},
    ),
    "coverage_penalty": (
        "coverage as in coverage.cfg, and GNMT's coverage penalty (beta = 0.2) "
        "in beam search",
        {
            MODEL: {"coverage": "true"},
            COMPONENT: {"coverage_loss_weight": "1.0", "coverage_penalty": "0.2"},
        },
    ),
    "teacher_forcing": (
        "teacher forcing ratio 0.75: a quarter of the decoder's inputs are its "
        "own samples",
        {TEACHER_FORCING: {"ratio": "0.75"}},
    ),
    "scheduled_sampling_linear": (
        "scheduled sampling, eps_i = max(0.5, 1 - 0.0003 i)",
        decay("LinearDecay", k=1.0, c=0.0003, eps_min=0.5),
    ),
    "scheduled_sampling_exponential": (
        "scheduled sampling, eps_i = 0.9996 ** i",
        decay("ExponentialDecay", k=0.9996),
    ),
    "scheduled_sampling_inverse_sigmoid": (
        "scheduled sampling, eps_i = 200 / (200 + exp(i / 200))",
        decay("InverseSigmoidDecay", k=200.0),
    ),
    "label_smoothing": ("label smoothing 0.1", {COMPONENT: {"label_smoothing": "0.1"}}),
    "no_grad_clip": ("no gradient clipping", {COMPONENT: {"grad_clip": "0.0"}}),
    "xavier_init": ("Xavier (Glorot) initialisation", {MODEL: {"init": '"xavier"'}}),
    "he_init": ("He initialisation", {MODEL: {"init": '"he"'}}),
    "orthogonal_init": (
        "orthogonal recurrent weights",
        {MODEL: {"init": '"orthogonal"'}},
    ),
}


def variant_config(name: str, description: str, overrides: Overrides) -> str:
    """The text of configs/summarizer.cfg with these overrides, its comments
    kept, under a header saying what the variant tries."""
    overrides = {
        "paths": {
            "train": f'"{DATA}/train.jsonl.gz"',
            "dev": f'"{DATA}/dev.jsonl.gz"',
        },
        **overrides,
    }
    lines = BASE.read_text(encoding="utf8").splitlines()
    while lines and lines[0].startswith("#"):  # the base's own header
        lines.pop(0)
    header = [
        f"# Model family variant '{name}': {description}.",
        "# Generated by scripts/make_variant_configs.py from configs/summarizer.cfg;",
        "# edit those and rerun the script. From the project root:",
        f"#   spacy train configs/variants/{name}.cfg --output training/{name}",
    ]
    return "\n".join(header + apply_overrides(lines, overrides)) + "\n"


def apply_overrides(lines: List[str], overrides: Overrides) -> List[str]:
    pending = {section: dict(settings) for section, settings in overrides.items()}
    out: List[str] = []
    section = None
    for line in lines + ["[end]"]:
        if line.startswith("["):
            if section in pending:  # keys the base doesn't have yet
                end = len(out)  # before the comments of the next section
                while end and (not out[end - 1].strip() or out[end - 1][0] == "#"):
                    end -= 1
                added = pending.pop(section).items()
                out[end:end] = [f"{k} = {v}" for k, v in added if v is not None]
            section = line.strip("[]")
        elif section in pending and " = " in line:
            key = line.split(" = ")[0]
            if key in pending[section]:
                value = pending[section].pop(key)
                if value is not None:
                    out.append(f"{key} = {value}")
                continue
        out.append(line)
    if pending:
        raise ValueError(f"No such sections in {BASE.name}: {sorted(pending)}")
    return out[:-1]


def main() -> None:
    VARIANTS_DIR.mkdir(exist_ok=True)
    for stale in set(VARIANTS_DIR.glob("*.cfg")):
        if stale.stem not in VARIANTS:
            stale.unlink()
    for name, (description, overrides) in VARIANTS.items():
        text = variant_config(name, description, overrides)
        (VARIANTS_DIR / f"{name}.cfg").write_text(text, encoding="utf8")
    print(f"Wrote {len(VARIANTS)} configs to {VARIANTS_DIR}")


if __name__ == "__main__":
    main()
