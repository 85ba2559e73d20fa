"""A long doc costs what the model reads: the tok2vec sees only the source span."""

import warnings

import pytest

import spacy_seq2seq.model.architectures as architectures
from spacy_seq2seq.readers import create_dialogue_reader

from .conftest import Trained, make_responder_nlp, make_summarizer_nlp, read_examples

# Which tokens are embedded does not depend on the weights: initialized
# (untrained) components on real data keep these tests fast.


@pytest.fixture(scope="module")
def initialized(reuters_dir) -> Trained:
    nlp = make_summarizer_nlp(min_count=1)
    examples = read_examples(nlp, reuters_dir / "train.jsonl.gz", limit=60)
    nlp.initialize(lambda: examples)
    return Trained(nlp, examples, [])


@pytest.fixture(scope="module")
def initialized_responder(cmu_dog_dir) -> Trained:
    nlp = make_responder_nlp(min_count=1)
    examples = list(
        create_dialogue_reader(cmu_dog_dir / "train.jsonl.gz", limit=40)(nlp)
    )
    nlp.initialize(lambda: examples)
    return Trained(nlp, examples, [])


def record_tok2vec_inputs(component, monkeypatch):
    """Record the lengths of the docs or spans each tok2vec call gets."""
    tok2vec = component.model.get_ref("tok2vec")
    forward = tok2vec._func
    calls = []

    def recording_forward(model, docs, is_train):
        calls.append([len(doc) for doc in docs])
        return forward(model, docs, is_train)

    monkeypatch.setattr(tok2vec, "_func", recording_forward)
    return calls


def test_tok2vec_reads_the_first_tokens_of_a_long_doc(initialized, monkeypatch):
    component = initialized.nlp.get_pipe("summarizer")
    calls = record_tok2vec_inputs(component, monkeypatch)
    long_text = " ".join(eg.reference.text for eg in initialized.examples[:60])
    short_text = initialized.examples[0].reference.text
    with pytest.warns(UserWarning, match="max_source_length"):
        list(initialized.nlp.pipe([long_text, short_text]))
    short_length = len(initialized.nlp.make_doc(short_text))
    assert calls == [[component.max_source_length, short_length]]


def test_tok2vec_reads_the_last_tokens_of_a_long_conversation(
    initialized_responder, monkeypatch
):
    nlp = initialized_responder.nlp
    responder = nlp.get_pipe("responder")
    calls = record_tok2vec_inputs(responder, monkeypatch)
    turns = [eg.reference.text for eg in initialized_responder.examples[:40]]
    with pytest.warns(UserWarning, match="last 150 tokens"):
        nlp("\n".join(turns))
    assert calls == [[responder.max_source_length]]


def test_docs_within_the_limit_give_what_whole_docs_gave(initialized, monkeypatch):
    """Embedding whole docs (as a listener's upstream does, and as the
    component did before it embedded spans) changes nothing within the limit."""
    nlp, component = initialized.nlp, initialized.nlp.get_pipe("summarizer")
    texts = [eg.reference.text for eg in initialized.examples[:16]] + ["", "oil."]
    examples = initialized.examples[:16]
    summaries = [doc._.summary for doc in nlp.pipe(texts)]
    perplexity = component.perplexity(examples)
    monkeypatch.setattr(architectures, "is_listener", lambda tok2vec: True)
    assert [doc._.summary for doc in nlp.pipe(texts)] == summaries
    assert component.perplexity(examples) == pytest.approx(perplexity, rel=1e-6)


def test_the_truncation_warning_comes_once_per_run(initialized):
    text = " ".join(eg.reference.text for eg in initialized.examples[:30])
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("default")  # Python's default for a UserWarning
        for _ in range(3):
            list(initialized.nlp.pipe([text, text], batch_size=1))
    assert len([w for w in record if "max_source_length" in str(w.message)]) == 1
