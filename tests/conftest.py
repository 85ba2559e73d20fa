from pathlib import Path
from typing import Any, Dict, List

import pytest
import spacy
import torch
from spacy.language import Language
from spacy.training import Example
from thinc.api import Adam, fix_random_seed

from spacy_seq2seq.readers import create_dialogue_reader, create_jsonl_reader
from spacy_seq2seq.research.experiments import data_dir

# the raw archives; the corpora are under the data root ($SPACY_SEQ2SEQ_DATA)
SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
REUTERS = data_dir("reuters21578_headlines")
CMU_DOG = data_dir("cmu_dog")

# A small model, so that overfitting takes seconds.
SMALL_MODEL = {
    "embed_width": 64,
    "hidden_width": 128,
    "attention_width": 64,
    "tok2vec": {
        "embed": {"width": 64, "rows": [2000, 500, 500]},
        "encode": {"width": 64, "depth": 1},
    },
}

# SMALL_MODEL as a Transformer (spacy-seq2seq.TransformerSeq2Seq.v1).
SMALL_TRANSFORMER = {
    "@architectures": "spacy-seq2seq.TransformerSeq2Seq.v1",
    "width": 64,
    "heads": 4,
    "encoder_layers": 2,
    "decoder_layers": 2,
    "ff_width": 128,
    "dropout": 0.1,
    "copy": True,
    "tie_embeddings": True,
    "mixed_precision": False,
    "tok2vec": {
        "@architectures": "spacy.Tok2Vec.v2",
        "embed": {
            "@architectures": "spacy.MultiHashEmbed.v2",
            "width": 64,
            "attrs": ["NORM", "SUFFIX", "SHAPE"],
            "rows": [2000, 500, 500],
            "include_static_vectors": False,
        },
        "encode": {
            "@architectures": "spacy.MaxoutWindowEncoder.v2",
            "width": 64,
            "depth": 1,
            "window_size": 1,
            "maxout_pieces": 2,
        },
    },
}
# The architectures behind the components' boundary: the session's `trained`
# and `trained_responder` pipelines are built with each, so that every test
# of what is built on the boundary (decodings, heatmaps, save/load, apply,
# the server) covers both.
SMALL_MODELS = {"recurrent": SMALL_MODEL, "transformer": SMALL_TRANSFORMER}


def pytest_runtest_setup(item: pytest.Item) -> None:
    if "gpu" in item.keywords and not torch.cuda.is_available():
        pytest.skip("needs CUDA")


@pytest.fixture(scope="session")
def reuters_dir() -> Path:
    if not (REUTERS / "train.jsonl.gz").exists():
        pytest.skip(
            f"the Reuters headline data is not at {REUTERS} (../shared is absent)"
        )
    return REUTERS


@pytest.fixture(scope="session")
def cmu_dog_dir() -> Path:
    if not (CMU_DOG / "train.jsonl.gz").exists():
        pytest.skip(
            f"the CMU_DoG dialogue data is not at {CMU_DOG} (../shared is absent)"
        )
    return CMU_DOG


def read_examples(nlp: Language, path: Path, limit: int) -> List[Example]:
    return list(create_jsonl_reader(path, limit=limit)(nlp))


def beam_search(**settings) -> Dict[str, Any]:
    """A component's `decoding` config block: beam search with these settings."""
    return {"@misc": "spacy-seq2seq.BeamSearch.v1", **settings}


def sampling(**settings) -> Dict[str, Any]:
    """A component's `decoding` config block: sampling with these settings."""
    return {"@misc": "spacy-seq2seq.Sampling.v1", **settings}


def make_summarizer_nlp(**config) -> Language:
    nlp = spacy.blank("en")
    nlp.add_pipe(
        "seq2seq_summarizer", name="summarizer", config={"model": SMALL_MODEL, **config}
    )
    return nlp


def make_responder_nlp(**config) -> Language:
    nlp = spacy.blank("en")
    nlp.add_pipe(
        "seq2seq_responder", name="responder", config={"model": SMALL_MODEL, **config}
    )
    return nlp


class Trained:
    def __init__(self, nlp: Language, examples: List[Example], losses: List[float]):
        self.nlp = nlp
        self.examples = examples
        self.losses = losses


# The session's trained pipelines. The fast tier's are trained a few dozen
# updates: enough for what they serve (serialization, batching, truncation,
# attention, search), where the model's quality does not matter. The tests of
# how well training works use the longer runs and are in the slow tier.


# The fast tier (-m "not slow") runs every test of a trained model on the
# recurrent default; the whole suite runs it on the Transformer too.
@pytest.fixture(
    scope="session",
    params=[
        pytest.param(name, marks=[pytest.mark.slow] if name == "transformer" else [])
        for name in SMALL_MODELS
    ],
)
def architecture(request: pytest.FixtureRequest) -> str:
    """The name of a small model of SMALL_MODELS."""
    return request.param


@pytest.fixture(scope="session")
def trained(reuters_dir: Path, architecture: str) -> Trained:
    """The small summarizer, trained 32 updates on 100 real Reuters pairs."""
    nlp = make_summarizer_nlp(min_count=1, model=SMALL_MODELS[architecture])
    examples = read_examples(nlp, reuters_dir / "train.jsonl.gz", limit=100)
    return train(nlp, examples, epochs=8)


@pytest.fixture(scope="session")
def overfitted(reuters_dir: Path) -> Trained:
    """The small summarizer, overfitted on 200 real Reuters pairs."""
    nlp = make_summarizer_nlp(min_count=1)
    examples = read_examples(nlp, reuters_dir / "train.jsonl.gz", limit=200)
    return train(nlp, examples, epochs=40)


@pytest.fixture(scope="session")
def trained_responder(cmu_dog_dir: Path, architecture: str) -> Trained:
    """The small responder, trained 24 updates on 100 real CMU_DoG pairs."""
    nlp = make_responder_nlp(min_count=1, model=SMALL_MODELS[architecture])
    read = create_dialogue_reader(cmu_dog_dir / "train.jsonl.gz", limit=100)
    return train(nlp, list(read(nlp)), epochs=6)


@pytest.fixture(scope="session")
def trained_responder_longer(cmu_dog_dir: Path) -> Trained:
    """The small responder, trained on 200 real CMU_DoG pairs."""
    nlp = make_responder_nlp(min_count=1)
    read = create_dialogue_reader(cmu_dog_dir / "train.jsonl.gz", limit=200)
    return train(nlp, list(read(nlp)), epochs=20)


def train(nlp: Language, examples: List[Example], epochs: int) -> Trained:
    """Initialize and train the pipeline's one component on the examples
    (batches of 25, Adam), recording the mean loss of each epoch."""
    fix_random_seed(0)
    nlp.initialize(lambda: examples)
    optimizer = Adam(0.003, L2=0.0, grad_clip=0.0)
    (name,) = nlp.pipe_names
    epoch_losses = []
    for epoch in range(epochs):
        losses: Dict[str, float] = {}
        batches = range(0, len(examples), 25)
        for start in batches:
            nlp.update(examples[start : start + 25], sgd=optimizer, losses=losses)
        epoch_losses.append(losses[name] / len(batches))
    return Trained(nlp, examples, epoch_losses)
