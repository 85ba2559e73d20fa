"""MMI reranking: the settings, the ranking on a tiny model, and the
responder decoding with it."""

import dataclasses

import pytest
import torch
from spacy.util import registry

from spacy_seq2seq.model.decoding import (
    MMIRerank,
    Sampling,
    changed_decoding,
    sampling_uniforms,
)
from spacy_seq2seq.model.search import mmi_scores
from spacy_seq2seq.model.torch_model import GenerationInputs, LossInputs, Sources
from spacy_seq2seq.model.vocab import PAD_ID, UNK_ID

from .conftest import SMALL_MODELS, make_responder_nlp
from .test_model import SOURCE_IDS, SOURCE_LENGTHS, tiny_module

VOCAB_SIZE = 20  # tiny_module's; SOURCE_IDS has copy-only ids 20-22


def test_mmi_settings_are_checked():
    decoding = MMIRerank(candidates=4, n_best=2, mmi_weight=0.3, length_bonus=-1.0)
    assert decoding.n_samples == 4 and Sampling(n_best=3).n_samples == 3
    for bad, field in [
        (dict(candidates=2, n_best=3), "n_best"),
        (dict(candidates=0), "candidates"),
        (dict(mmi_weight=-0.1), "mmi_weight"),
        (dict(length_bonus=float("nan")), "length_bonus"),
        (dict(length_bonus="1"), "length_bonus"),
    ]:
        with pytest.raises(ValueError, match=field):
            MMIRerank(**bad)
    # switching kinds keeps the shared settings; back to sampling drops MMI's
    mmi = changed_decoding(Sampling(top_p=0.8, seed=3), "mmi", candidates=5)
    assert (mmi.top_p, mmi.seed, mmi.candidates) == (0.8, 3, 5)
    assert changed_decoding(mmi, "sampling") == Sampling(top_p=0.8, seed=3)
    block = {"@misc": "spacy-seq2seq.MMIRerank.v1", "candidates": 6}
    assert registry.resolve({"d": block})["d"] == MMIRerank(candidates=6)


def test_mmi_scores_worked_out_by_hand():
    conditional = torch.tensor([-2.0, -3.0])  # log p(T|S)
    unconditional = torch.tensor([-1.0, -6.0])  # log p(T): the first is generic
    lengths = torch.tensor([2, 4])

    def scores(**settings):
        decoding = MMIRerank(**settings)
        return mmi_scores(conditional, unconditional, lengths, decoding).tolist()

    assert scores(mmi_weight=0.0) == [-2.0, -3.0]
    assert scores(mmi_weight=0.5) == [-1.5, 0.0]
    assert scores(mmi_weight=0.0, length_bonus=1.0) == [0.0, 1.0]
    # over GNMT's ((5 + |T|) / 6): 7/6 and 9/6
    assert scores(mmi_weight=0.5, length_penalty=1.0) == pytest.approx(
        [-1.5 * 6 / 7, 0.0]
    )


def generate(module, decoding):
    sources = Sources(torch.randn(2, 5, 8), SOURCE_LENGTHS, SOURCE_IDS, 3)
    uniforms = sampling_uniforms(
        [ids[:n].tolist() for ids, n in zip(SOURCE_IDS, SOURCE_LENGTHS)], decoding
    )
    inputs = GenerationInputs(sources, decoding, torch.from_numpy(uniforms))
    return sources, module.generate(inputs)


def test_mmi_ranks_the_samples_by_their_mmi_scores():
    """Each candidate's score, worked out alone from the model's training
    loss: log p(T|S) given its source, log p(T) given a blank source (one
    UNK with a zero vector; copy-only words read as UNK)."""
    module = tiny_module(VOCAB_SIZE).eval()
    decoding = MMIRerank(
        candidates=6, max_length=6, mmi_weight=0.7, length_bonus=0.3, seed=1
    )
    torch.manual_seed(1)
    sources, (ids, scores) = generate(module, decoding)
    assert ids.shape[:2] == scores.shape == (2, 6)
    blank = Sources(
        torch.zeros(1, 1, 8), torch.tensor([1]), torch.tensor([[UNK_ID]]), 0
    )
    copied = 0
    with torch.no_grad():
        for row in range(2):
            source = Sources(
                sources.vectors[row : row + 1],
                sources.lengths[row : row + 1],
                sources.ids[row : row + 1],
                3,
            )
            expected = []
            for candidate in ids[row]:
                target = candidate[candidate != PAD_ID].unsqueeze(0)
                copied += int((target >= VOCAB_SIZE).sum())
                in_vocab = target.masked_fill(target >= VOCAB_SIZE, UNK_ID)
                log_p_given_s = -module(LossInputs(source, target)).item()
                log_p = -module(LossInputs(blank, in_vocab)).item()
                expected.append(log_p_given_s - 0.7 * log_p + 0.3 * target.shape[1])
            assert scores[row].tolist() == pytest.approx(expected, abs=1e-4)
            assert expected == sorted(expected, reverse=True)  # best first
    assert copied  # the blank source's UNK reading was exercised


def test_mmi_without_weights_keeps_the_samples_own_order():
    """With mmi_weight = length_bonus = 0 the ranking is the sampling's:
    log p(T|S), over the length normaliser."""
    module = tiny_module(VOCAB_SIZE).eval()
    mmi = MMIRerank(
        candidates=5, max_length=6, length_penalty=1.0, mmi_weight=0.0, seed=2
    )
    sampling = Sampling(
        **{
            f.name: getattr(mmi, f.name)
            for f in dataclasses.fields(Sampling)
            if f.name != "n_best"
        },
        n_best=5
    )
    torch.manual_seed(1)
    _, (mmi_ids, mmi_scores_) = generate(module, mmi)
    torch.manual_seed(1)
    _, (sampled_ids, sampled_scores) = generate(module, sampling)
    assert torch.equal(mmi_ids, sampled_ids)
    assert torch.allclose(mmi_scores_, sampled_scores, atol=1e-5)
    # the samples differ, so the order was something to keep
    assert len({tuple(c.tolist()) for c in mmi_ids[0]}) > 1


def test_responder_answers_with_mmi(trained_responder, architecture):
    nlp = make_responder_nlp(min_count=1, model=SMALL_MODELS[architecture])
    nlp.from_bytes(trained_responder.nlp.to_bytes())
    responder = nlp.get_pipe("responder")
    responder.decoding = changed_decoding(
        responder.decoding, "mmi", candidates=6, n_best=3, mmi_weight=0.5
    )
    texts = [eg.predicted.text for eg in trained_responder.examples[:8]] + [""]
    docs = list(nlp.pipe(texts))
    for doc in docs:
        replies = [reply for reply, _ in doc._.responses]
        scores = [score for _, score in doc._.responses]
        assert 1 <= len(replies) <= 3 and len(set(replies)) == len(replies)
        assert scores == sorted(scores, reverse=True)
        assert replies[0] == doc._.response != ""
    # the same reply alone as in a batch
    assert nlp(texts[3])._.response == docs[3]._.response
    # the anti-language-model weight changes what comes first
    responder.decoding = dataclasses.replace(responder.decoding, mmi_weight=0.0)
    assert [d._.response for d in nlp.pipe(texts)] != [d._.response for d in docs]
