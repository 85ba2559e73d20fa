"""The shipped configs: add_pipe gives what they give, and spacy train's table
tells their scores apart."""

import io
from pathlib import Path

import pytest
import spacy
from spacy.util import load_config, registry

from spacy_seq2seq.loggers import column_titles

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
    # Each score under its own title, times 100 as spaCy shows them.
    values = row.split()[-len(shown) - 1 : -1]
    assert values == [f"{scores[key] * 100:.2f}" for key in shown]


def test_column_titles_drop_the_prefix_only_where_spacy_would_cut():
    titles = column_titles(
        ["summary_rougeL", "response_bleu", "response_top_reply_share", "tag_acc"]
    )
    assert titles == {
        "summary_rougeL": "rougeL",
        "response_bleu": "response_bleu",
        "response_top_reply_share": "response_top_reply_share",  # too long either way
        "tag_acc": "tag_acc",
    }
    # Two components with the same score: the full keys, not one title twice.
    clash = column_titles(["summary_perplexity", "response_perplexity"])
    assert clash == {k: k for k in clash}
