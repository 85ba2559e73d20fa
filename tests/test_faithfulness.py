"""Faithfulness: the score of content words found in the source, and the
search's unfaithful_penalty that keeps content words the source lacks out."""

from typing import NamedTuple, Tuple

import pytest
import torch
from spacy.training import Example
from spacy.util import registry

from spacy_seq2seq.component import best_ids
from spacy_seq2seq.faithfulness import (
    NO_CLASS,
    ContentClasses,
    content_words,
    faithfulness,
    mean_faithfulness,
)
from spacy_seq2seq.model.architectures import torch_module
from spacy_seq2seq.model.decoding import (
    BeamSearch,
    Sampling,
    changed_decoding,
    sampling_uniforms,
)
from spacy_seq2seq.model.search import ContentClasses as SearchClasses
from spacy_seq2seq.model.search import decode
from spacy_seq2seq.model.vocab import BOS_ID, EOS_ID
from spacy_seq2seq.settings import SettingError

from .conftest import make_summarizer_nlp, read_examples


def test_content_words_are_stemmed_and_leave_function_words_out():
    text = "The U.S. Fed's chairman said rates were cut by 1,000 points, says Reuters"
    # the, were, by, says (say), 's: stop words; "said" too; numbers stay
    assert content_words(text) == [
        "u.s",
        "fed",
        "chairman",
        "rate",
        "cut",
        "1000",
        "point",
        "reuter",
    ]
    assert content_words("a . , - of the") == []


@pytest.mark.parametrize(
    "generated,source,share",
    [
        # "cuts" is found as "cutting"; "germany" is not in the source
        ("germany cuts rates", "Spain is cutting its interest rates", 2 / 3),
        # "holds" is found as "held"; "u.s." is not in the source
        (
            "u.s. central bank holds rates",
            "the european central bank held rates",
            4 / 5,
        ),
        # an invented number is unfaithful
        ("tax up 10 pct", "the tax rises by 12 pct", 2 / 3),
        ("the and of", "anything", None),  # no content word: not scored
        ("Exactly These Words", "exactly these words", 1.0),
    ],
)
def test_faithfulness_is_the_share_of_content_words_found(generated, source, share):
    assert faithfulness(generated, source) == pytest.approx(share)


def test_mean_faithfulness_skips_texts_without_content_words():
    pairs = [("rates cut", "rates were cut"), ("of the", "x"), ("oil", "gold")]
    assert mean_faithfulness(pairs) == pytest.approx(0.5)
    assert mean_faithfulness([("of", "x")]) is None


def example(nlp, source, summary, reference):
    eg = Example(nlp.make_doc(source), nlp.make_doc(source))
    eg.predicted._.summary = summary
    eg.reference._.summary = reference
    return eg


def test_rouge_scorer_v2_adds_faithfulness_and_v1_keeps_its_keys():
    nlp = make_summarizer_nlp()  # registers doc._.summary
    examples = [
        example(
            nlp,
            "the european central bank held rates",
            "u.s. bank holds rates",
            "ecb holds",
        ),
        example(nlp, "oil prices rose", "oil rises", "oil up"),
        example(nlp, "no reference here", "gold falls", None),  # not scored
    ]
    v1 = registry.scorers.get("spacy-seq2seq.RougeScorer.v1")()
    v2 = registry.scorers.get("spacy-seq2seq.RougeScorer.v2")()
    rouge = ["summary_rouge1", "summary_rouge2", "summary_rougeL"]
    assert sorted(v1(examples, field="summary")) == sorted(rouge)
    scores = v2(examples, field="summary")
    assert sorted(scores) == sorted(rouge + ["summary_faithfulness"])
    # u.s. bank holds rates: 3 of 4; oil rises: 2 of 2
    assert scores["summary_faithfulness"] == pytest.approx((3 / 4 + 1) / 2)
    for key in rouge:
        assert scores[key] == pytest.approx(v1(examples, field="summary")[key])


def test_the_summarizer_scores_faithfulness_by_default():
    nlp = make_summarizer_nlp()
    weights = nlp.config["training"]["score_weights"]
    assert weights["summary_faithfulness"] == 0.0  # a column, not the objective
    scorer = nlp.config["components"]["summarizer"]["scorer"]
    assert scorer["@scorers"] == "spacy-seq2seq.RougeScorer.v2"


def test_content_classes_join_the_forms_of_a_word():
    classes = ContentClasses(["<pad>", "the", "cut", "cuts", "rates", "."])
    cut, cuts, rates = classes.vocab_classes[2:5]
    assert cut == cuts != rates
    assert classes.vocab_classes[1] == classes.vocab_classes[5] == NO_CLASS
    # a source word outside the vocabulary, capitalised, supports "cut"
    assert classes.source_classes(["Cutting", "of", "Rates", "gold"]) == [
        cut,
        NO_CLASS,
        rates,
        NO_CLASS,
    ]


# A vocabulary after the specials: "rates" (4), "cut" (5), "bank" (6), "the" (7).
VOCAB_CLASSES = torch.tensor([NO_CLASS] * 4 + [0, 1, 2, NO_CLASS])
# The model's next-token probabilities, whatever came before: "bank" first.
PROBS = torch.tensor([0.0, 0.0, 0.001, 0.0, 0.2, 0.3, 0.4, 0.08])


class Rows(NamedTuple):
    source_ids: torch.Tensor  # N×T
    mask: torch.Tensor  # N×T
    coverage: torch.Tensor  # N×T

    @property
    def context_ids(self) -> torch.Tensor:
        """No documents: context n-gram blocking reads the whole source."""
        return self.source_ids

    def select(self, rows: torch.Tensor) -> "Rows":
        return Rows(*(tensor[rows] for tensor in self))


class FixedModel:
    """A StepModel that gives every row the same next-token probabilities."""

    def start(self, encoded: Rows) -> Tuple[torch.Tensor, Rows]:
        return torch.full((len(encoded.source_ids),), BOS_ID), encoded

    def next_probs(self, tokens, state, encoded):
        return PROBS.expand(len(tokens), -1).clone(), state


def search(decoding, source_classes):
    # two sources: one says "cut", the other "rates" and "bank"
    source_ids = torch.tensor([[5, 7], [4, 6]])
    rows = Rows(source_ids, torch.ones(2, 2, dtype=torch.bool), torch.zeros(2, 2))
    uniforms = None
    if isinstance(decoding, Sampling):
        uniforms = torch.from_numpy(sampling_uniforms(source_ids.tolist(), decoding))
    classes = SearchClasses(VOCAB_CLASSES, source_classes)
    ids, _ = decode(FixedModel(), rows, decoding, uniforms, classes)
    return ids[:, 0].tolist()


@pytest.mark.parametrize("beam_size", [1, 4])
def test_the_penalty_keeps_content_words_the_source_lacks_out(beam_size):
    decoding = BeamSearch(beam_size=beam_size, max_length=2, no_repeat_ngram_size=1)
    source_classes = torch.tensor([[1, NO_CLASS], [0, 2]])
    # (a fixed distribution ties a pair's two orders: compare sets)
    # without the penalty both read "bank cut"
    assert [set(ids) for ids in search(decoding, source_classes)] == [{6, 5}, {6, 5}]
    penalised = changed_decoding(decoding, unfaithful_penalty=5.0)
    # the first source says "cut", not "bank" (0.4 times e^-5 < 0.08 for
    # "the"); the second says "bank" and "rates" but not "cut"
    assert [set(ids) for ids in search(penalised, source_classes)] == [{5, 7}, {6, 4}]


def test_the_penalty_reweights_sampling_too():
    decoding = Sampling(max_length=1, seed=3, unfaithful_penalty=30.0)
    source_classes = torch.tensor([[1, NO_CLASS], [0, 2]])
    first, second = search(decoding, source_classes)
    assert first[0] in (5, 7, EOS_ID) and second[0] in (4, 6, 7, EOS_ID)


def test_the_penalty_needs_the_classes_and_a_valid_weight():
    rows = Rows(
        torch.tensor([[5]]), torch.ones(1, 1, dtype=torch.bool), torch.zeros(1, 1)
    )
    with pytest.raises(ValueError, match="unfaithful_penalty needs"):
        decode(FixedModel(), rows, BeamSearch(unfaithful_penalty=1.0))
    for bad in (-1.0, float("inf"), "1"):
        with pytest.raises(SettingError, match="unfaithful_penalty"):
            BeamSearch(unfaithful_penalty=bad)


def test_a_summarizer_penalised_writes_only_content_words_of_its_source(
    trained, reuters_dir
):
    """The component passes the content classes through to the search: a
    word the model is made to favour whatever the source says ("oil", its
    output bias raised) is written without the penalty, and with a large one
    only where the source has it."""
    nlp = trained.nlp
    component = nlp.get_pipe("summarizer")
    examples = read_examples(nlp, reuters_dir / "dev.jsonl.gz", 24)
    docs = [eg.predicted for eg in examples]
    oil = component.target_vocab.index["oil"]

    def summaries():
        # each generated word apart: a copied word keeps its source spacing,
        # which can glue it to the word before ("report" "october")
        for source, candidates, _ in component.predict(docs):
            ids = [i for i in best_ids(candidates) if i != EOS_ID]
            yield " ".join(component.target_vocab.word(i, source)[0] for i in ids)

    module = torch_module(component.model)
    # the recurrent model's output layer is its decoder's, the Transformer's its own
    bias = getattr(module, "decoder", module).generator_bias
    saved = bias.detach().clone()
    try:
        with torch.no_grad():
            bias[oil] += 30.0
        plain = list(summaries())
        assert all("oil" in summary.split() for summary in plain)
        penalised = changed_decoding(component.decoding, unfaithful_penalty=50.0)
        with component.using_decoding(penalised):
            faithful = list(summaries())
    finally:
        with torch.no_grad():
            bias.copy_(saved)
    assert mean_faithfulness(zip(plain, (doc.text for doc in docs))) < 1.0
    assert mean_faithfulness(zip(faithful, (doc.text for doc in docs))) == 1.0
    for summary, doc in zip(faithful, docs):
        assert ("oil" in summary.split()) == ("oil" in content_words(doc.text))
