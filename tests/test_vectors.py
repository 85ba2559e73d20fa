"""Static vectors and pretrained tok2vec weights, the spaCy way: the
decoder's target embeddings start from [initialize] vectors
(init_target_from_vectors), scripts/train_vectors.py writes a table spaCy
loads, and `spacy pretrain` with configs/summarizer_vectors.cfg writes
weights that [initialize] init_tok2vec loads."""

import subprocess
import sys
from pathlib import Path

import numpy
import pytest
import spacy
import srsly
from spacy.training.initialize import init_nlp
from spacy.util import load_config

from spacy_seq2seq.model.architectures import torch_module
from spacy_seq2seq.model.vocab import SPECIALS

from .conftest import SMALL_MODEL, make_summarizer_nlp, read_examples

ROOT = Path(__file__).resolve().parent.parent
PAIRS = [
    {
        "text": "oil prices rose sharply on monday as supplies fell .",
        "summary": "oil prices rise",
    },
    {
        "text": "the central bank cut its key interest rate by half a point .",
        "summary": "bank cuts rates",
    },
    {
        "text": "gold prices fell as the dollar rose against the yen .",
        "summary": "gold falls",
    },
    {
        "text": "the company said its quarterly profit rose ten pct .",
        "summary": "company profit rises",
    },
] * 3


def summarizer_with_vectors(vectors: dict, **model) -> spacy.Language:
    nlp = make_summarizer_nlp(
        min_count=1, model={**SMALL_MODEL, "init_target_from_vectors": True, **model}
    )
    for word, vector in vectors.items():
        nlp.vocab.set_vector(word, numpy.asarray(vector, dtype="float32"))
    return nlp


def pairs(nlp, tmp_path):
    srsly.write_jsonl(tmp_path / "pairs.jsonl", PAIRS)
    return read_examples(nlp, tmp_path / "pairs.jsonl", limit=0)


def test_target_embeddings_start_from_the_vectors(tmp_path):
    rng = numpy.random.default_rng(0)
    words = ["oil", "bank", "prices", "<s>"]  # a special keeps its random row
    vectors = {word: rng.normal(size=64) * 3 for word in words}
    nlp = summarizer_with_vectors(vectors)
    examples = pairs(nlp, tmp_path)
    nlp.initialize(lambda: examples)
    component = nlp.get_pipe("summarizer")
    embed = torch_module(component.model).decoder.embed.weight.detach().numpy()
    index = component.target_vocab.index
    rows = [index[w] for w in words[:3]]
    table = numpy.stack([vectors[w] for w in words[:3]])
    # the same directions, scaled to the random rows' mean norm of 1
    scale = numpy.linalg.norm(table, axis=1).mean()
    numpy.testing.assert_allclose(embed[rows], table / scale, rtol=1e-5)
    assert not numpy.allclose(embed[index["<s>"]], vectors["<s>"] / scale)
    # a word without a vector keeps its random row, of norm about 1
    other = index["gold"]
    assert 0.5 < numpy.linalg.norm(embed[other]) < 1.5
    assert len(SPECIALS) <= min(rows)


def test_target_vectors_need_vectors_of_the_embedding_width(tmp_path):
    nlp = summarizer_with_vectors({"oil": numpy.ones(32)})
    examples = pairs(nlp, tmp_path)
    with pytest.raises(ValueError, match="32 wide .* set embed_width = 32"):
        nlp.initialize(lambda: examples)
    nlp = summarizer_with_vectors({})
    with pytest.raises(
        ValueError, match=r"needs static vectors: set \[initialize\] vectors"
    ):
        nlp.initialize(lambda: examples)


def run(args, cwd: Path, timeout: int = 300) -> str:
    result = subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.slow  # trains floret and converts its table in a subprocess
def test_train_vectors_writes_a_table_spacy_loads(tmp_path):
    pytest.importorskip("floret")
    srsly.write_jsonl(tmp_path / "raw.jsonl", PAIRS * 10)
    script = ROOT / "scripts" / "train_vectors.py"
    run(
        [
            sys.executable,
            script,
            tmp_path / "raw.jsonl",
            tmp_path / "vectors",
            "--dim",
            "16",
            "--epoch",
            "2",
            "--min-count",
            "1",
            "--bucket",
            "2000",
        ],
        tmp_path,
    )
    nlp = spacy.load(tmp_path / "vectors")
    assert nlp.vocab.vectors.mode == "floret" and nlp.vocab.vectors.shape == (2000, 16)
    # floret gives every word a vector, from its character n-grams
    assert nlp.vocab.has_vector("oil") and nlp.vocab.has_vector("unseenword")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\n{"body": "no text"}\n')
    result = subprocess.run(
        [sys.executable, str(script), str(bad), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = " ".join(result.stdout.split())  # wasabi wraps long lines
    assert result.returncode == 1 and 'bad.jsonl:2: no "text" text field' in output


@pytest.mark.slow  # spacy init vectors and spacy pretrain in subprocesses
def test_spacy_pretrain_writes_weights_that_init_tok2vec_loads(tmp_path):
    """configs/summarizer_vectors.cfg pretrains its summarizer's tok2vec for
    one epoch on a tiny raw corpus; initializing the config with
    init_tok2vec gives the tok2vec those weights."""
    rng = numpy.random.default_rng(0)
    words = sorted({w for pair in PAIRS for w in pair["text"].split()})
    lines = [f"{len(words)} 128"] + [
        " ".join([w] + [f"{x:.4f}" for x in rng.normal(size=128)]) for w in words
    ]
    (tmp_path / "vectors.txt").write_text("\n".join(lines) + "\n")
    spacy_cli = [sys.executable, "-m", "spacy"]
    run(
        [
            *spacy_cli,
            "init",
            "vectors",
            "en",
            tmp_path / "vectors.txt",
            tmp_path / "vectors",
        ],
        tmp_path,
    )
    srsly.write_jsonl(tmp_path / "raw.jsonl", [{"text": p["text"]} for p in PAIRS])
    srsly.write_jsonl(tmp_path / "pairs.jsonl", PAIRS)
    config = ROOT / "configs" / "summarizer_vectors.cfg"
    paths = [
        "--paths.vectors",
        tmp_path / "vectors",
        "--paths.raw_text",
        tmp_path / "raw.jsonl",
    ]
    out = run(
        [
            *spacy_cli,
            "pretrain",
            config,
            tmp_path / "pretrain",
            *paths,
            "--pretraining.max_epochs",
            "1",
        ],
        ROOT,
    )
    weights = tmp_path / "pretrain" / "model0.bin"
    assert weights.exists(), out

    overrides = {
        "paths.vectors": str(tmp_path / "vectors"),
        "paths.train": str(tmp_path / "pairs.jsonl"),
        "paths.dev": str(tmp_path / "pairs.jsonl"),
        "components.summarizer.min_count": 1,
    }

    def tok2vec_params(init_tok2vec, load=None):
        loaded = load_config(
            config, overrides={**overrides, "paths.init_tok2vec": init_tok2vec}
        )
        tok2vec = init_nlp(loaded).get_pipe("summarizer").model.get_ref("tok2vec")
        if load is not None:
            tok2vec.from_bytes(load.read_bytes())
        return [
            node.get_param(name).copy()
            for node in tok2vec.walk()
            for name in node.param_names
            if node.has_param(name)
        ]

    pretrained = tok2vec_params(str(weights))
    fresh = tok2vec_params(None)
    assert any(not numpy.array_equal(p, f) for p, f in zip(pretrained, fresh))
    # the weights spacy pretrain saved, loaded by hand, are the same
    by_hand = tok2vec_params(None, load=weights)
    assert all(numpy.array_equal(p, h) for p, h in zip(pretrained, by_hand))
    assert len(pretrained) == len(fresh) == len(by_hand) > 0
