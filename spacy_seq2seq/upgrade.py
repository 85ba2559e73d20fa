"""Upgrade a pipeline's config from spacy-seq2seq 0.1, whose components had
their decoding settings flat (`beam_size = 4`, `decoding = "sampling"`, ...),
to the `decoding` block of 0.2 (`@misc = "spacy-seq2seq.BeamSearch.v1"`).
The weights and vocabularies are unchanged, so the upgraded pipeline gives
the same outputs.
"""

import dataclasses
from pathlib import Path
from typing import Any, Dict, List, Union

from thinc.api import Config

from .model.decoding import DECODINGS
from .readers import TURN_SEPARATOR

FACTORIES = ("seq2seq_summarizer", "seq2seq_responder")
# The flat settings of 0.1, and where each kind of decoding keeps them.
FLAT_DECODING_SETTINGS = (
    "decoding",
    "beam_size",
    "n_best",
    "max_length",
    "min_length",
    "length_penalty",
    "no_repeat_ngram_size",
    "no_repeat_context_ngram_size",
    "coverage_penalty",
    "top_k",
    "top_p",
    "temperature",
    "seed",
)
REGISTERED_NAMES = {
    "beam": "spacy-seq2seq.BeamSearch.v1",
    "sampling": "spacy-seq2seq.Sampling.v1",
}


def upgrade_config(config: Config) -> List[str]:
    """Move each seq2seq component's flat decoding settings into its
    `decoding` block, in place; returns the names of the components changed.
    A setting the component's kind of decoding does not have did nothing in
    0.1 (e.g. top_p with beam search) and is dropped. Raises a ValueError for
    a responder whose turns were joined by something other than a line break
    (0.2 joins them with one).
    """
    changed = []
    for name, settings in config.get("components", {}).items():
        if not has_flat_decoding(settings):
            continue
        flat = {
            key: settings.pop(key) for key in FLAT_DECODING_SETTINGS if key in settings
        }
        kind = DECODINGS[flat.pop("decoding", "beam")]
        fields = {field.name for field in dataclasses.fields(kind)}
        block: Dict[str, Any] = {"@misc": REGISTERED_NAMES[kind.name]}
        block.update({key: value for key, value in flat.items() if key in fields})
        settings["decoding"] = block
        settings.setdefault("candidates_field", None)
        separator = settings.pop("turn_separator", TURN_SEPARATOR)
        if separator != TURN_SEPARATOR:
            raise ValueError(
                f"[{name}] turn_separator is {separator!r}: spacy-seq2seq 0.2 joins a "
                "conversation's turns with a line break, so this model would read "
                "other texts than it was trained on. Retrain it with the default."
            )
        changed.append(name)
    return changed


def upgrade_pipeline(path: Path) -> List[str]:
    """Upgrade the config.cfg of a saved pipeline directory in place."""
    config_path = Path(path) / "config.cfg"
    if not config_path.is_file():
        raise ValueError(f"{path} has no config.cfg: is it a saved pipeline?")
    config = Config().from_disk(config_path, interpolate=False)
    changed = upgrade_config(config)
    if changed:
        config.to_disk(config_path)
    return changed


def needs_upgrade(model: Union[str, Path]) -> bool:
    """Whether the pipeline directory's config has 0.1's flat decoding settings."""
    config_path = Path(model) / "config.cfg"
    if not config_path.is_file():
        return False
    try:
        config = Config().from_disk(config_path, interpolate=False)
    except Exception:  # an unreadable config: spaCy's own error says why
        return False
    return any(map(has_flat_decoding, config.get("components", {}).values()))


def has_flat_decoding(settings: Dict[str, Any]) -> bool:
    """Whether a component's settings are a seq2seq component's without the
    `decoding` block (0.1's flat settings)."""
    return settings.get("factory") in FACTORIES and not isinstance(
        settings.get("decoding"), dict
    )
