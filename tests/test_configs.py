"""The shipped configs: add_pipe gives what they give, and spacy train's table
tells their scores apart."""

import io
from pathlib import Path

import numpy
import pytest
import spacy
from spacy.cli.train import train as train_cli
from spacy.tokens import DocBin
from spacy.util import load_config, load_model_from_config, registry
from thinc.api import fix_random_seed

from spacy_seq2seq.loggers import column_titles

from .conftest import read_examples

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = [
    ("configs/summarizer.cfg", "summarizer", "seq2seq_summarizer"),
    ("configs/responder.cfg", "responder", "seq2seq_responder"),
]


@pytest.mark.parametrize("path,name,factory", SHIPPED)
def test_add_pipe_defaults_are_the_shipped_configs(path, name, factory):
    config = load_config(ROOT / path, interpolate=False)
    shipped = dict(config["components"][name])
    assert shipped.pop("factory") == factory
    defaults = spacy.blank("en")
    defaults.add_pipe(factory, name=name)
    configured = spacy.blank("en")
    configured.add_pipe(factory, name=name, config=shipped)
    assert defaults.config["components"] == configured.config["components"]


@pytest.mark.parametrize("path,name,factory", SHIPPED)
def test_training_table_titles_every_score_column_apart(path, name, factory):
    config = load_config(ROOT / path)
    nlp = spacy.blank("en")
    nlp.add_pipe(factory, name=name)
    weights = nlp.config["training"]["score_weights"]
    logger = registry.resolve({"logger": config["training"]["logger"]})["logger"]
    stdout = io.StringIO()
    log_step, finalize = logger(nlp, stdout=stdout)
    scores = {key: 0.25 + i / 100 for i, key in enumerate(weights)}
    log_step(
        {
            "epoch": 0,
            "step": 100,
            "losses": {name: 12.5},
            "other_scores": scores,
            "score": 0.5,
        }
    )
    finalize()
    header, rule, row = stdout.getvalue().splitlines()
    shown = [key for key, weight in weights.items() if weight is not None]
    titles = header.split()[-len(shown) - 1 : -1]
    assert not any(title.endswith("...") for title in titles)
    assert titles == [column_titles(weights)[key].upper() for key in shown]
    assert len(set(titles)) == len(titles)
    # Each score under its own title, times 100 as spaCy shows them, but
    # perplexity, which is no fraction.
    values = row.split()[-len(shown) - 1 : -1]
    scale = {key: 1 if key.endswith("perplexity") else 100 for key in shown}
    assert values == [f"{scores[key] * scale[key]:.2f}" for key in shown]


def test_column_titles_drop_the_prefix_only_where_spacy_would_cut():
    titles = column_titles(
        ["summary_rougeL", "response_bleu", "response_top_reply_share", "tag_acc"]
    )
    assert titles == {
        "summary_rougeL": "rougeL",
        "response_bleu": "response_bleu",
        "response_top_reply_share": "top_reply",  # top_reply_share is too long
        "tag_acc": "tag_acc",
    }
    # Two components with the same score: the full keys, not one title twice.
    clash = column_titles(["summary_perplexity", "response_perplexity"])
    assert clash == {k: k for k in clash}


SHARED_TOK2VEC = ROOT / "configs" / "shared_tok2vec.cfg"
# configs/shared_tok2vec.cfg, small enough to train in seconds.
SMALL_SHARED = {
    "components.tok2vec.model.encode.width": 32,
    "components.tok2vec.model.encode.depth": 1,
    "components.summarizer.model.embed_width": 32,
    "components.summarizer.model.hidden_width": 64,
    "components.summarizer.model.attention_width": 32,
}


def write_labelled_docs(nlp, reuters_dir: Path, path: Path, limit: int) -> None:
    """Reuters pairs as docs with both annotations: the headline in
    doc._.summary and a made-up category, whether it has a number."""
    docbin = DocBin(store_user_data=True)
    for eg in read_examples(nlp, reuters_dir / "dev.jsonl.gz", limit=limit):
        doc = eg.reference
        number = any(ch.isdigit() for ch in doc._.summary)
        doc.cats = {"NUMBER": float(number), "WORDS": float(not number)}
        docbin.add(doc)
    docbin.to_disk(path)


def test_summarizer_gradients_reach_the_shared_tok2vec(reuters_dir):
    config = load_config(SHARED_TOK2VEC, overrides=SMALL_SHARED)

    def update(disable):
        """The tok2vec's weights before and after two updates, and the losses.
        nlp.update applies a component's gradients right after its own
        update, so what the listeners send back moves the tok2vec in the
        next update."""
        fix_random_seed(0)
        nlp = load_model_from_config(config, auto_fill=True, validate=True)
        examples = read_examples(nlp, reuters_dir / "dev.jsonl.gz", limit=16)
        for eg in examples:
            eg.reference.cats = {"NUMBER": 1.0, "WORDS": 0.0}
        nlp.initialize(lambda: examples)
        tok2vec = nlp.get_pipe("tok2vec")
        assert sorted(tok2vec.listening_components) == ["summarizer", "textcat"]
        before = [param.copy() for param in iter_params(tok2vec.model)]
        optimizer = registry.resolve({"o": config["training"]["optimizer"]})["o"]
        losses: dict = {}
        with nlp.select_pipes(disable=disable):
            for _ in range(2):
                nlp.update(examples, sgd=optimizer, losses=losses)
        return before, list(iter_params(tok2vec.model)), losses

    start, summarizer_only, losses = update(disable=["textcat"])
    assert losses["summarizer"] > 0 and losses["tok2vec"] > 0
    assert not all(numpy.array_equal(a, b) for a, b in zip(start, summarizer_only))
    # With both listeners the summarizer's gradient adds to the textcat's.
    same_start, both, _ = update(disable=[])
    _, textcat_only, _ = update(disable=["summarizer"])
    assert all(numpy.array_equal(a, b) for a, b in zip(start, same_start))
    assert not all(numpy.array_equal(a, b) for a, b in zip(textcat_only, both))


@pytest.mark.slow
def test_shared_tok2vec_config_trains_with_spacy_train(reuters_dir, tmp_path):
    nlp = spacy.blank("en")
    write_labelled_docs(nlp, reuters_dir, tmp_path / "train.spacy", limit=64)
    write_labelled_docs(nlp, reuters_dir, tmp_path / "dev.spacy", limit=16)
    overrides = {
        **SMALL_SHARED,
        "paths.train": str(tmp_path / "train.spacy"),
        "paths.dev": str(tmp_path / "dev.spacy"),
        "training.max_steps": 8,
        "training.max_epochs": 0,
        "training.eval_frequency": 4,
    }
    train_cli(SHARED_TOK2VEC, tmp_path / "out", overrides=overrides)
    trained = spacy.load(tmp_path / "out" / "model-best")
    assert trained.pipe_names == ["tok2vec", "textcat", "summarizer"]
    scores = trained.meta["performance"]
    assert "cats_score" in scores and "summary_rougeL" in scores
    doc = trained("the bank of japan kept its discount rate unchanged at 2.5 pct.")
    assert set(doc.cats) == {"NUMBER", "WORDS"} and isinstance(doc._.summary, str)


def iter_params(model):
    for node in model.walk():
        for name in node.param_names:
            if node.has_param(name):
                yield node.get_param(name)


def test_transformer_listener_config_is_the_summarizer_over_a_transformer():
    """spacy-transformers is not installed here: the structure only."""
    config = load_config(
        ROOT / "configs" / "transformer_listener.cfg", interpolate=False
    )
    base = load_config(ROOT / "configs" / "summarizer.cfg", interpolate=False)
    assert config["nlp"]["pipeline"] == ["transformer", "summarizer"]
    transformer = config["components"]["transformer"]
    assert transformer["factory"] == "transformer"
    assert transformer["model"]["@architectures"].startswith("spacy-transformers.")
    listener = config["components"]["summarizer"]["model"].pop("tok2vec")
    assert listener["@architectures"] == "spacy-transformers.TransformerListener.v1"
    assert listener["upstream"] == "transformer" and listener["grad_factor"] == 1.0
    base["components"]["summarizer"]["model"].pop("tok2vec")
    assert config["components"]["summarizer"] == base["components"]["summarizer"]
    for section in ("paths", "corpora", "training", "initialize"):
        assert config[section] == base[section]
