"""The dialogue scores against values worked out by hand."""

import pytest
from spacy.training import Example
from spacy.util import registry

from spacy_seq2seq.scorers import (
    distinct,
    normalized_words,
    score_responses,
    unigram_f1,
)

from .conftest import make_responder_nlp


def example(nlp, reply, reference):
    eg = Example(nlp.make_doc("hi"), nlp.make_doc("hi"))
    eg.predicted._.response = reply
    eg.reference._.response = reference
    return eg


def test_words_are_normalized_as_parlai_does():
    # lowercased; punctuation, even inside a word, splits; articles go
    assert normalized_words("The cat's hat, A-OK! An ant.") == [
        "cat",
        "s",
        "hat",
        "ok",
        "ant",
    ]
    assert normalized_words("Theory and an.") == ["theory", "and"]


@pytest.mark.parametrize(
    "prediction,reference,f1",
    [
        # cat sat on mat / cat sat down: P 2/4, R 2/3
        ("The cat sat on the mat.", "A cat sat down!", 4 / 7),
        # multisets: one "no" of three is shared; P 1/3, R 1/2
        ("no no no", "no way", 2 / 5),
        # don t / i don t know: P 2/2, R 2/4
        ("Don't!", "I don't know", 2 / 3),
        ("Same words.", "same WORDS", 1.0),
        ("", "anything", 0.0),
        ("the", "a", 0.0),  # nothing left to match
        ("yes", "no", 0.0),
    ],
)
def test_unigram_f1(prediction, reference, f1):
    assert unigram_f1(prediction, reference) == pytest.approx(f1)


def test_response_f1_is_the_mean_over_replies_with_a_reference():
    nlp = make_responder_nlp()  # registers doc._.response
    examples = [
        example(nlp, "The cat sat on the mat.", "A cat sat down!"),
        example(nlp, "no no no", "no way"),
        example(nlp, "yes", "no"),
        example(nlp, "yes", None),  # no reference: not scored
    ]
    scores = score_responses(examples, field="response")
    assert scores["response_f1"] == pytest.approx((4 / 7 + 2 / 5 + 0) / 3)
    assert scores["response_top_reply_share"] == pytest.approx(1 / 3)


def test_response_scorer_versions_keep_their_keys():
    nlp = make_responder_nlp()  # registers doc._.response
    examples = [example(nlp, "i like it .", "i like that movie .")]
    v1 = registry.scorers.get("spacy-seq2seq.ResponseScorer.v1")()
    v2 = registry.scorers.get("spacy-seq2seq.ResponseScorer.v2")()
    keys = ["bleu", "distinct1", "distinct2", "top_reply_share"]
    assert sorted(v1(examples, field="response")) == [f"response_{k}" for k in keys]
    scores = v2(examples, field="response")
    assert sorted(scores) == sorted([f"response_{k}" for k in keys + ["f1"]])
    # i like it / i like that movie (punctuation dropped): P 2/3, R 2/4
    assert scores["response_f1"] == pytest.approx(4 / 7)
    empty = v2([example(nlp, "hi", None)], field="response")
    assert empty == {key: None for key in scores}


def test_response_scores():
    nlp = make_responder_nlp()
    examples = [
        example(nlp, "i like that movie .", "i like that movie ."),
        example(nlp, "i like it", "no idea"),
        example(nlp, "i like it", "sure"),
        example(nlp, "i like it", None),
    ]
    scores = score_responses(examples, field="response")
    assert scores["response_top_reply_share"] == pytest.approx(2 / 3)
    # the example without a reference is left out: 5 unique bigrams of 8,
    # 6 unique words of 11
    assert scores["response_distinct2"] == pytest.approx(5 / 8)
    assert scores["response_distinct1"] == pytest.approx(6 / 11)
    assert 0.0 < scores["response_bleu"] < 1.0
    assert distinct([["a", "b"], ["a", "b"]], 2) == 0.5
