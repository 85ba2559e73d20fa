"""Pipelines saved by spacy-seq2seq 0.1, with flat decoding settings, load
after `python -m spacy_seq2seq upgrade` and decode as before."""

from pathlib import Path

import pytest
import spacy
from thinc.api import Config
from typer.testing import CliRunner

from spacy_seq2seq import cli
from spacy_seq2seq.model.decoding import BeamSearch, Sampling
from spacy_seq2seq.pipeline import load_pipeline
from spacy_seq2seq.upgrade import upgrade_config

FLAT_RESPONDER = {
    "factory": "seq2seq_responder",
    "turn_separator": "\n",
    "decoding": "sampling",
    "beam_size": 5,
    "n_best": 2,
    "max_length": 20,
    "min_length": 3,
    "length_penalty": 1.0,
    "no_repeat_ngram_size": 3,
    "no_repeat_context_ngram_size": 4,
    "coverage_penalty": 0.0,
    "top_k": 0,
    "top_p": 0.9,
    "temperature": 1.0,
    "seed": 3,
}


def flat_config(saved: Path) -> str:
    """The saved pipeline's config.cfg as 0.1 wrote it: decoding settings flat."""
    config = Config().from_disk(saved / "config.cfg", interpolate=False)
    settings = config["components"]["summarizer"]
    block = settings.pop("decoding")
    block.pop("@misc")
    block.pop("unfaithful_penalty")  # a setting added after 0.1
    settings.pop("candidates_field")
    settings.update(block)
    return config.to_str()


@pytest.fixture
def old_pipeline(trained, tmp_path) -> Path:
    path = tmp_path / "old"
    trained.nlp.to_disk(path)
    (path / "config.cfg").write_text(flat_config(path))
    return path


def test_a_0_1_config_is_refused_until_upgraded_then_decodes_the_same(
    old_pipeline, trained
):
    texts = [eg.predicted.text for eg in trained.examples[:8]]
    with pytest.raises(Exception, match="beam_size"):
        spacy.load(old_pipeline)
    result = CliRunner().invoke(cli.app, ["upgrade", str(old_pipeline)])
    assert result.exit_code == 0, result.output
    nlp = spacy.load(old_pipeline)
    component = nlp.get_pipe("summarizer")
    assert component.decoding == trained.nlp.get_pipe("summarizer").decoding
    assert [d._.summary for d in nlp.pipe(texts)] == [
        d._.summary for d in trained.nlp.pipe(texts)
    ]
    again = CliRunner().invoke(cli.app, ["upgrade", str(old_pipeline)])
    assert again.exit_code == 0 and "already up to date" in again.output


def test_upgrade_keeps_the_kind_and_drops_the_settings_it_lacks():
    config = Config({"components": {"responder": dict(FLAT_RESPONDER)}})
    assert upgrade_config(config) == ["responder"]
    settings = config["components"]["responder"]
    block = settings["decoding"]
    assert block.pop("@misc") == "spacy-seq2seq.Sampling.v1"
    # beam_size and coverage_penalty did nothing for sampling in 0.1
    assert Sampling(**block) == Sampling(
        n_best=2,
        max_length=20,
        min_length=3,
        length_penalty=1.0,
        no_repeat_ngram_size=3,
        no_repeat_context_ngram_size=4,
        top_p=0.9,
        seed=3,
    )
    assert "turn_separator" not in settings and settings["candidates_field"] is None
    beam = Config(
        {"components": {"s": {"factory": "seq2seq_summarizer", "beam_size": 2}}}
    )
    upgrade_config(beam)
    block = beam["components"]["s"]["decoding"]
    assert block.pop("@misc") == "spacy-seq2seq.BeamSearch.v1"
    assert BeamSearch(**block) == BeamSearch(beam_size=2)


def test_upgrade_refuses_a_responder_trained_on_other_turn_separators(tmp_path):
    config = Config(
        {"components": {"r": {**FLAT_RESPONDER, "turn_separator": " ||| "}}}
    )
    with pytest.raises(ValueError, match="joins a conversation's turns"):
        upgrade_config(config)
    result = CliRunner().invoke(cli.app, ["upgrade", str(tmp_path)])
    # wasabi wraps long paths: compare the words
    assert result.exit_code == 1 and "no config.cfg" in " ".join(result.output.split())


def test_loading_a_0_1_pipeline_says_to_upgrade_it(old_pipeline):
    with pytest.raises(ValueError, match="spacy_seq2seq upgrade"):
        load_pipeline(old_pipeline)
    result = CliRunner().invoke(cli.app, ["chat", str(old_pipeline)])
    assert result.exit_code == 1
    assert "spacy_seq2seq upgrade" in " ".join(result.output.split())
