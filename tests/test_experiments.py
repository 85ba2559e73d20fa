"""spacy_seq2seq.research.experiments: what the scripts share."""

import pytest
import spacy

from spacy_seq2seq.model.decoding import BeamSearch, Sampling
from spacy_seq2seq.pipeline import find_component
from spacy_seq2seq.research.experiments import (
    count_parameters,
    decoding_with,
    scores_by_length,
)

from .conftest import make_summarizer_nlp, read_examples


def test_assignments_are_read_as_the_settings_types():
    decoding = decoding_with(
        BeamSearch(), None, ["beam_size=8", "length_penalty=0.6", " n_best = 2"]
    )
    assert decoding == BeamSearch(beam_size=8, length_penalty=0.6, n_best=2)


def test_switching_kind_keeps_the_shared_settings():
    decoding = decoding_with(BeamSearch(max_length=12), "sampling", ["top_p=0.9"])
    assert decoding == Sampling(max_length=12, top_p=0.9)


@pytest.mark.parametrize(
    "kind,assignment,error",
    [
        (None, "beam_size", "Expected KEY=VALUE"),
        (None, "=3", "Expected KEY=VALUE"),
        (None, "top_p=0.9", "beam decoding has no setting top_p"),
        (None, "beam_size=four", "beam_size must be an integer, not 'four'"),
        (None, "beam_size=0", "beam_size must be at least 1"),
        (None, "n_best=5", "n_best .5. must not exceed beam_size"),
        ("greedy", "beam_size=1", "decoding must be one of 'beam', 'sampling'"),
    ],
)
def test_bad_assignments_say_what_is_wrong(kind, assignment, error):
    with pytest.raises(ValueError, match=error):
        decoding_with(BeamSearch(), kind, [assignment])


def test_component_lookup_names_what_it_found():
    nlp = make_summarizer_nlp()
    assert find_component(nlp) is nlp.get_pipe("summarizer")
    with pytest.raises(ValueError, match="found 0"):
        find_component(spacy.blank("en"))
    with pytest.raises(ValueError, match="no seq2seq component named 'other'"):
        find_component(nlp, "other")


def test_parameters_count_the_tok2vec_and_the_torch_module(reuters_dir):
    nlp = make_summarizer_nlp()
    examples = read_examples(nlp, reuters_dir / "train.jsonl.gz", limit=8)
    nlp.initialize(lambda: examples)
    model = nlp.get_pipe("summarizer").model
    tok2vec = model.get_ref("tok2vec")
    thinc = sum(
        node.get_param(name).size
        for node in tok2vec.walk()
        for name in node.param_names
        if node.has_param(name)
    )
    assert count_parameters(model) > thinc > 0


def test_scores_by_length_puts_each_example_in_its_bucket():
    nlp = spacy.blank("en")
    texts = ["one", "one two three", "one two three four five six"]
    examples = [spacy.training.Example(nlp(t), nlp(t)) for t in texts]
    rows = scores_by_length(
        examples, lambda egs: {"n_seen": len(egs)}, [(0, 3), (4, 5), (6, 9)]
    )
    assert [(row["n"], row.get("n_seen")) for row in rows] == [
        (2, 2),
        (0, None),
        (1, 1),
    ]
    assert rows[0]["mean_length"] == 2.0 and "mean_length" not in rows[1]
