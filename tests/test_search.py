import pytest
import torch

from spacy_seq2seq.search import (
    SearchSettings,
    block_tokens,
    draw,
    sampling_uniforms,
    truncate_distribution,
)
from spacy_seq2seq.vocab import EOS_ID, PAD_ID

NO_SOURCE = torch.zeros((1, 0), dtype=torch.long)


def test_no_repeat_ngram_blocking():
    settings = SearchSettings(no_repeat_ngram_size=2, min_length=0)
    history = torch.tensor([[5, 6, 5, 7, 5]])
    blocked = block_tokens(torch.ones(1, 10), history, NO_SOURCE, settings)
    assert blocked[0, 5] == 1
    # after "5", both 6 and 7 would repeat a bigram
    assert blocked[0, 6] == 0 and blocked[0, 7] == 0
    assert blocked[0, 8] == 1 and blocked[0, EOS_ID] == 1


def test_context_ngram_blocking_stops_copying_the_source():
    settings = SearchSettings(no_repeat_context_ngram_size=3, min_length=0)
    source = torch.tensor([[5, 6, 7, 8, 6, 9, PAD_ID]])
    # "5 6" was said in the source, followed by 7: 7 would repeat a trigram
    blocked = block_tokens(torch.ones(1, 12), torch.tensor([[5, 6]]), source, settings)
    assert blocked[0, 7] == 0
    assert blocked[0, 9] == 1 and blocked[0, 8] == 1
    # "8 6" was followed by 9
    blocked = block_tokens(torch.ones(1, 12), torch.tensor([[8, 6]]), source, settings)
    assert blocked[0, 9] == 0 and blocked[0, 7] == 1
    # too short a history blocks nothing
    blocked = block_tokens(torch.ones(1, 12), torch.tensor([[6]]), source, settings)
    assert blocked[0, 4:].eq(1).all()


def test_min_length_blocks_eos():
    settings = SearchSettings(min_length=3)
    blocked = block_tokens(
        torch.ones(1, 10), torch.tensor([[5, 6]]), NO_SOURCE, settings
    )
    assert blocked[0, EOS_ID] == 0 and blocked[0, 8] == 1


def test_top_k_and_top_p_keep_the_best_tokens():
    probs = torch.tensor([[0.1, 0.4, 0.2, 0.3]])

    def kept(**settings) -> list:
        return (truncate_distribution(probs, SearchSettings(**settings)) > 0).tolist()

    assert kept(top_k=2) == [[False, True, False, True]]
    # 0.4 + 0.3 reaches 0.65: the nucleus is those two
    assert kept(top_p=0.65) == [[False, True, False, True]]
    assert kept(top_p=0.75) == [[False, True, True, True]]
    assert kept(top_k=2, top_p=0.3) == [[False, True, False, False]]


def test_temperature_sharpens_or_flattens():
    probs = torch.tensor([[0.2, 0.8]])
    cold = truncate_distribution(probs, SearchSettings(temperature=0.5))
    hot = truncate_distribution(probs, SearchSettings(temperature=2.0))
    cold, hot = cold / cold.sum(), hot / hot.sum()
    assert cold[0, 1] > 0.8 > hot[0, 1] > 0.5
    # tiny temperatures do not underflow to all zeros
    frozen = truncate_distribution(probs, SearchSettings(temperature=0.01))
    assert frozen[0, 1] == 1.0


def test_draw_follows_the_distribution_and_skips_zeros():
    probs = torch.tensor([[0.0, 0.25, 0.0, 0.75]]).repeat(4, 1)
    uniforms = torch.tensor([0.0, 0.2, 0.3, 0.99])
    assert draw(probs, uniforms).tolist() == [1, 1, 3, 3]
    torch.manual_seed(0)
    counts = torch.bincount(draw(probs.repeat(1000, 1), torch.rand(4000)), minlength=4)
    assert counts[0] == counts[2] == 0
    assert 0.7 < counts[3] / 4000 < 0.8


def test_sampling_uniforms_depend_on_seed_and_source_only():
    settings = SearchSettings(decoding="sampling", n_best=2, max_length=5, seed=1)
    first = sampling_uniforms([[5, 6, 7], [8]], settings)
    again = sampling_uniforms([[8], [5, 6, 7]], settings)
    assert first.shape == (2, 2, 5)
    assert (first[0] == again[1]).all()
    settings.seed = 2
    assert not (sampling_uniforms([[5, 6, 7]], settings)[0] == first[0]).all()


@pytest.mark.parametrize(
    "settings",
    [
        SearchSettings(decoding="greedy"),
        SearchSettings(beam_size=2, n_best=3),
        SearchSettings(decoding="sampling", top_p=0.0),
        SearchSettings(decoding="sampling", temperature=0.0),
        SearchSettings(min_length=40, max_length=30),
    ],
)
def test_bad_search_settings_are_clear_errors(settings):
    with pytest.raises(ValueError, match="must"):
        settings.validate()
