"""configs/variants/: each config builds, trains and summarizes."""

import importlib.util
from pathlib import Path

import pytest
from spacy.util import load_config, load_model_from_config, registry
from thinc.api import fix_random_seed

from .conftest import read_examples

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = sorted((ROOT / "configs" / "variants").glob("*.cfg"))


def load_generator():
    path = ROOT / "scripts" / "make_variant_configs.py"
    spec = importlib.util.spec_from_file_location("make_variant_configs", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_variant_configs_are_up_to_date():
    generator = load_generator()
    assert [path.stem for path in VARIANTS] == sorted(generator.VARIANTS)
    for name, (description, overrides) in generator.VARIANTS.items():
        expected = generator.variant_config(name, description, overrides)
        path = ROOT / "configs" / "variants" / f"{name}.cfg"
        assert (
            path.read_text(encoding="utf8") == expected
        ), f"{path} is out of date: run python scripts/make_variant_configs.py"


@pytest.mark.slow
@pytest.mark.parametrize("path", VARIANTS, ids=lambda path: path.stem)
def test_variant_trains_and_summarizes(path, reuters_dir):
    config = load_config(path)
    assert (
        Path(config["paths"]["train"]).resolve()
        == (reuters_dir / "train.jsonl.gz").resolve()
    ), "the variant configs read ../shared from the project root"
    nlp = load_model_from_config(config, auto_fill=True, validate=True)
    examples = read_examples(nlp, reuters_dir / "train.jsonl.gz", limit=32)
    fix_random_seed(0)
    nlp.initialize(lambda: examples)
    optimizer = registry.resolve({"o": config["training"]["optimizer"]})["o"]
    losses = []
    for _ in range(5):
        losses.append(nlp.update(examples, sgd=optimizer)["summarizer"])
    assert losses[-1] < losses[0]
    component = nlp.get_pipe("summarizer")
    assert component.n_updates == 5 and component.search.beam_size == 4
    docs = list(nlp.pipe(eg.reference.text for eg in examples[:8]))
    assert all(isinstance(doc._.summary, str) for doc in docs)
