"""The model family variants (spacy_seq2seq/research/variants.py): each override set
applies to configs/summarizer.cfg, builds a pipeline, and trains."""

import shlex
from pathlib import Path

import pytest
from spacy.cli._util import parse_config_overrides
from spacy.util import load_model_from_config, registry
from thinc.api import fix_random_seed

from spacy_seq2seq.research.variants import VARIANTS, get_variant, variant_config

from .conftest import read_examples

BASE = Path(__file__).resolve().parent.parent / "configs" / "summarizer.cfg"


def setting(config, path):
    node = config
    for key in path.split("."):
        node = node[key]
    return node


@pytest.mark.parametrize("name", VARIANTS)
def test_variant_applies_and_builds(name):
    variant = VARIANTS[name]
    config = variant_config(BASE, name)
    for path, value in variant.overrides.items():
        assert setting(config, path) == value
    nlp = load_model_from_config(config, auto_fill=True, validate=True)
    for path, value in variant.overrides.items():
        reached = setting(nlp.config, path)
        if isinstance(value, dict):  # spaCy fills in the block's other defaults
            reached = {key: reached[key] for key in value}
        assert reached == value, f"{path} did not reach the pipeline"
    registry.resolve(nlp.config["training"])


@pytest.mark.parametrize("name", VARIANTS)
def test_command_line_gives_the_same_overrides(name):
    """What the docs tell a user to pass to `spacy train`."""
    options = shlex.split(VARIANTS[name].command_line())
    # spaCy's JSON reader may read a float's last bit differently
    assert flat(parse_config_overrides(options)) == pytest.approx(
        flat(VARIANTS[name].overrides)
    )


def flat(settings, prefix=""):
    """Dotted paths to values, the blocks' contents included."""
    out = {}
    for key, value in settings.items():
        if isinstance(value, dict):
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def test_unknown_variant_names_the_known_ones():
    with pytest.raises(ValueError, match="additive, dot"):
        get_variant("dott")


@pytest.mark.slow
@pytest.mark.parametrize("name", VARIANTS)
def test_variant_trains_and_summarizes(name, reuters_dir):
    config = variant_config(BASE, name)
    nlp = load_model_from_config(config, auto_fill=True, validate=True)
    examples = read_examples(nlp, reuters_dir / "train.jsonl.gz", limit=32)
    fix_random_seed(0)
    nlp.initialize(lambda: examples)
    optimizer = registry.resolve({"o": config["training"]["optimizer"]})["o"]
    losses = []
    for _ in range(5):
        losses.append(nlp.update(examples, sgd=optimizer)["summarizer"])
    assert losses[-1] < losses[0]
    assert nlp.get_pipe("summarizer").n_updates == 5
    docs = list(nlp.pipe(eg.reference.text for eg in examples[:8]))
    assert all(isinstance(doc._.summary, str) for doc in docs)
