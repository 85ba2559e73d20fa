import dataclasses
from typing import Any, List, NamedTuple, Optional, Tuple

import pytest
import torch

from spacy_seq2seq.model.decoding import (
    BeamSearch,
    MMIRerank,
    Sampling,
    sampling_uniforms,
)
from spacy_seq2seq.model.search import (
    DecoderRows,
    SourceRows,
    StepModel,
    beam_search,
    block_tokens,
    context_ids,
    decode,
    draw,
    length_normalizer,
    truncate_distribution,
)
from spacy_seq2seq.model.torch_model import Sources
from spacy_seq2seq.model.vocab import BOS_ID, EOS_ID, PAD_ID

from .test_model import tiny_module

NO_SOURCE = torch.zeros((1, 0), dtype=torch.long)


def test_no_repeat_ngram_blocking():
    settings = BeamSearch(no_repeat_ngram_size=2, min_length=0)
    history = torch.tensor([[5, 6, 5, 7, 5]])
    blocked = block_tokens(torch.ones(1, 10), history, NO_SOURCE, settings)
    assert blocked[0, 5] == 1
    # after "5", both 6 and 7 would repeat a bigram
    assert blocked[0, 6] == 0 and blocked[0, 7] == 0
    assert blocked[0, 8] == 1 and blocked[0, EOS_ID] == 1


def test_context_ngram_blocking_stops_copying_the_source():
    settings = BeamSearch(no_repeat_context_ngram_size=3, min_length=0)
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
    settings = BeamSearch(min_length=3)
    blocked = block_tokens(
        torch.ones(1, 10), torch.tensor([[5, 6]]), NO_SOURCE, settings
    )
    assert blocked[0, EOS_ID] == 0 and blocked[0, 8] == 1


def test_top_k_and_top_p_keep_the_best_tokens():
    probs = torch.tensor([[0.1, 0.4, 0.2, 0.3]])

    def kept(**settings) -> list:
        return (truncate_distribution(probs, Sampling(**settings)) > 0).tolist()

    assert kept(top_k=2) == [[False, True, False, True]]
    # 0.4 + 0.3 reaches 0.65: the nucleus is those two
    assert kept(top_p=0.65) == [[False, True, False, True]]
    assert kept(top_p=0.75) == [[False, True, True, True]]
    assert kept(top_k=2, top_p=0.3) == [[False, True, False, False]]


def test_temperature_sharpens_or_flattens():
    probs = torch.tensor([[0.2, 0.8]])
    cold = truncate_distribution(probs, Sampling(temperature=0.5))
    hot = truncate_distribution(probs, Sampling(temperature=2.0))
    cold, hot = cold / cold.sum(), hot / hot.sum()
    assert cold[0, 1] > 0.8 > hot[0, 1] > 0.5
    # tiny temperatures do not underflow to all zeros
    frozen = truncate_distribution(probs, Sampling(temperature=0.01))
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
    decoding = Sampling(n_best=2, max_length=5, seed=1)
    first = sampling_uniforms([[5, 6, 7], [8]], decoding)
    again = sampling_uniforms([[8], [5, 6, 7]], decoding)
    assert first.shape == (2, 2, 5)
    assert (first[0] == again[1]).all()
    reseeded = dataclasses.replace(decoding, seed=2)
    assert not (sampling_uniforms([[5, 6, 7]], reseeded)[0] == first[0]).all()


# Three words (ids 4-6) after PAD, BOS, EOS and UNK, which the search never
# generates; sequences of up to four tokens.
N_WORDS, MAX_LENGTH = 3, 4
# every hypothesis a beam holds at the last step, finished ones included
N_HYPOTHESES = sum(N_WORDS**n for n in range(1, MAX_LENGTH + 1))
LENGTHS = torch.tensor([4, 2, 3, 1])
SOURCE_IDS = torch.tensor([[4, 5, 6, 4], [6, 6, 0, 0], [6, 4, 5, 0], [5, 0, 0, 0]])


class TableRows(NamedTuple):
    """The rows of a `TableModel`: its state and its encoded sources."""

    sources: torch.Tensor  # N, the source each row decodes
    source_ids: torch.Tensor  # N×T
    context_ids: torch.Tensor  # N×T, here the source ids (no documents)
    mask: torch.Tensor  # N×T
    coverage: torch.Tensor  # N×T, zeros

    def select(self, rows: torch.Tensor) -> "TableRows":
        return TableRows(*(tensor[rows] for tensor in self))


class TableModel:
    """A model for the search (search.StepModel) whose next-token
    probabilities are looked up by source and previous token; EOS gets
    likelier from one source to the next, so that sources finish at
    different steps and leave the search early."""

    def __init__(self, n_sources: int, width: int) -> None:
        logits = torch.randn(n_sources, width, N_WORDS + 1)  # EOS, words
        logits[:, :, 0] += torch.linspace(-2.0, 2.0, n_sources).unsqueeze(1)
        self.table = torch.zeros(n_sources, width, width)
        self.table[:, :, EOS_ID] = logits.softmax(-1)[:, :, 0]
        self.table[:, :, 4 : 4 + N_WORDS] = logits.softmax(-1)[:, :, 1:]

    def start(self, encoded: TableRows) -> Tuple[torch.Tensor, TableRows]:
        return torch.full_like(encoded.sources, BOS_ID), encoded

    def next_probs(
        self, tokens: torch.Tensor, state: TableRows, encoded: TableRows
    ) -> Tuple[torch.Tensor, TableRows]:
        return self.table[encoded.sources, tokens].clone(), state


def exhaustive_best(
    model: StepModel, encoded: SourceRows, decoding: BeamSearch
) -> List[Tuple[List[int], float]]:
    """Each source's best sequence and its normalised score, found by
    scoring every sequence the search could produce: all continuations of
    every prefix, each ending at EOS or at max_length."""
    best = []
    for row in range(len(encoded.source_ids)):
        source = encoded.select(torch.tensor([row]))
        tokens, state = model.start(source)
        prefixes, scores = [[]], torch.zeros(1)
        complete = []
        for step in range(decoding.max_length):
            probs, state = model.next_probs(tokens, state, source)
            history = torch.tensor(prefixes, dtype=torch.long).view(len(prefixes), -1)
            probs = block_tokens(probs, history, source.context_ids, decoding)
            parents, next_tokens = probs.nonzero(as_tuple=True)
            next_scores = scores[parents] + probs[parents, next_tokens].log()
            live = []
            for i, (parent, token) in enumerate(
                zip(parents.tolist(), next_tokens.tolist())
            ):
                sequence = prefixes[parent] + [token]
                if token == EOS_ID or step == decoding.max_length - 1:
                    normalizer = length_normalizer(
                        torch.tensor(len(sequence)), decoding.length_penalty
                    )
                    complete.append((sequence, float(next_scores[i] / normalizer)))
                else:
                    live.append(i)
            keep = torch.tensor(live, dtype=torch.long)
            prefixes = [prefixes[parents[i]] + [int(next_tokens[i])] for i in live]
            tokens, scores = next_tokens[keep], next_scores[keep]
            state, source = state.select(parents[keep]), source.select(parents[keep])
        best.append(max(complete, key=lambda sequence_score: sequence_score[1]))
    return best


@pytest.mark.parametrize("length_penalty", [0.0, 1.0])
@pytest.mark.parametrize("model_kind", ["module", "table"])
def test_a_beam_of_every_hypothesis_finds_the_exhaustive_best(
    model_kind, length_penalty
):
    """With a beam as wide as the number of hypotheses, beam search finds
    the best sequence. With a length penalty, stopping once the best
    hypothesis has finished is exact as long as no continuation raises a
    normalised score, which takes a next token of probability near 1: the
    models' are far from it."""
    decoding = BeamSearch(
        beam_size=N_HYPOTHESES, max_length=MAX_LENGTH, length_penalty=length_penalty
    )
    torch.manual_seed(0)
    model: StepModel
    if model_kind == "module":
        # copy-only ids, never generated without copy, widen the
        # distribution so that each row's top K holds every continuation
        n_copy_only = N_HYPOTHESES - (4 + N_WORDS)
        module = tiny_module(4 + N_WORDS, copy=False, coverage=True).eval()
        sources = Sources(torch.randn(4, 4, 8), LENGTHS, SOURCE_IDS, n_copy_only)
        model, encoded = module, module.encode(sources)
    else:
        model = TableModel(len(LENGTHS), N_HYPOTHESES)
        positions = torch.arange(SOURCE_IDS.shape[1]).unsqueeze(0)
        mask = positions < LENGTHS.unsqueeze(1)
        encoded = TableRows(
            torch.arange(len(LENGTHS)),
            SOURCE_IDS,
            SOURCE_IDS,
            mask,
            torch.zeros(mask.shape),
        )
    with torch.no_grad():
        expected = exhaustive_best(model, encoded, decoding)
        ids, scores = beam_search(model, encoded, decoding)
    for row, (sequence, score) in enumerate(expected):
        best = ids[row, 0]
        assert best[best != PAD_ID].tolist() == sequence
        assert scores[row, 0].item() == pytest.approx(score, abs=1e-5)
    if model_kind == "table":  # the sources end at different lengths
        assert len({len(sequence) for sequence, _ in expected}) > 1


def test_context_ids_hide_the_document_from_context_blocking():
    source = torch.tensor([[4, 5, 6, 7, 8, 9], [4, 5, 6, 7, 8, 9]])
    hidden = context_ids(source, torch.tensor([4, 0]))
    assert hidden.tolist() == [[PAD_ID] * 4 + [8, 9], [4, 5, 6, 7, 8, 9]]
    # without documents (an ungrounded model) the source itself is read
    assert context_ids(source, None) is source
    settings = BeamSearch(no_repeat_context_ngram_size=3, min_length=0)
    history = torch.tensor([[5, 6], [5, 6]])
    blocked = block_tokens(torch.ones(2, 12), history, hidden, settings)
    # "5 6 7" is the document's in row 0, may be repeated; row 1 has no document
    assert blocked[0, 7] == 1 and blocked[1, 7] == 0
    blocked = block_tokens(
        torch.ones(2, 12), torch.tensor([[7, 8]] * 2), hidden, settings
    )
    # "7 8 9" crosses into the conversation: a conversation trigram it is not
    assert blocked[0, 9] == 1 and blocked[1, 9] == 0


class CopierState(NamedTuple):
    """A module's decoder state and the step each row is at."""

    inner: DecoderRows
    step: torch.Tensor  # N

    @property
    def coverage(self) -> torch.Tensor:
        return self.inner.coverage

    def select(self, rows: torch.Tensor) -> "CopierState":
        return CopierState(self.inner.select(rows), self.step[rows])


class Copier:
    """A StepModel over a real module's encoded rows whose next token is,
    with probability 0.9, the row's source token at `offset + step`, and
    EOS after `length` of them: a model that quotes a span of its source.
    It reads the source ids from the rows the search selected, as the
    module's own copy distribution does."""

    def __init__(self, module: Any, offset: int, length: int, width: int) -> None:
        self.module, self.offset, self.length, self.width = (
            module,
            offset,
            length,
            width,
        )

    def start(self, encoded: Any) -> Tuple[torch.Tensor, CopierState]:
        tokens, state = self.module.start(encoded)
        return tokens, CopierState(state, torch.zeros_like(tokens))

    def next_probs(
        self, tokens: torch.Tensor, state: CopierState, encoded: Any
    ) -> Tuple[torch.Tensor, CopierState]:
        _, inner = self.module.next_probs(tokens, state.inner, encoded)
        rows = torch.arange(len(tokens))
        position = self.offset + state.step.clamp(max=self.length - 1)
        quoted = encoded.source_ids[rows, position]
        target = torch.where(state.step < self.length, quoted, EOS_ID)
        probs = torch.full((len(tokens), self.width), 0.1 / self.width)
        probs[rows, target] = 0.9
        return probs, CopierState(inner, state.step + 1)

    def empty_source_log_probs(self, target_ids: torch.Tensor) -> torch.Tensor:
        return self.module.empty_source_log_probs(target_ids)


# A grounded source: the document "4 5 6 7", then the conversation "8 9 10 11".
GROUNDED_IDS = torch.tensor([[4, 5, 6, 7, 8, 9, 10, 11]] * 2)
DECODINGS = {
    "greedy": BeamSearch(beam_size=1),
    "beam": BeamSearch(beam_size=3),
    "sampling": Sampling(top_k=1, n_best=2),
    "mmi": MMIRerank(top_k=1, candidates=2, n_best=1),
}


@pytest.mark.parametrize("decoding_kind", list(DECODINGS))
@pytest.mark.parametrize("module_kind", ["rnn", "transformer"])
def test_context_blocking_lets_a_reply_quote_the_document_only(
    module_kind, decoding_kind
):
    """With each row's document length in the sources, every search (both
    modules, all decodings) lets a reply repeat a 4-gram of the document,
    never one of the conversation; a row without a document (length 0, or
    no document lengths at all: an ungrounded model) has its whole source
    blocked, as before."""
    if module_kind == "rnn":
        module = tiny_module(12).eval()
    else:
        from .test_transformer import tiny_transformer

        module = tiny_transformer(12)
    decoding = dataclasses.replace(
        DECODINGS[decoding_kind],
        max_length=6,
        min_length=0,
        no_repeat_context_ngram_size=4,
    )
    vectors = torch.randn(2, 8, 8, generator=torch.Generator().manual_seed(0))
    lengths = torch.tensor([8, 8])

    def replies(offset: int, document_lengths: Optional[torch.Tensor]) -> List:
        sources = Sources(vectors, lengths, GROUNDED_IDS, 0, document_lengths)
        uniforms = None
        if isinstance(decoding, Sampling):
            uniforms = torch.from_numpy(
                sampling_uniforms(GROUNDED_IDS.tolist(), decoding)
            )
        with torch.no_grad():
            ids, _ = decode(
                Copier(module, offset, 4, 12),
                module.encode(sources),
                decoding,
                uniforms,
            )
        return [row[row != PAD_ID].tolist() for row in ids[:, 0]]

    def quotes(reply: List[int], gram: List[int]) -> bool:
        return any(reply[i : i + 4] == gram for i in range(len(reply)))

    grounded, ungrounded = replies(0, torch.tensor([4, 0]))
    assert grounded == [4, 5, 6, 7, EOS_ID]
    # the search finds another reply (the beam as long a one, at the same cost)
    assert not quotes(ungrounded, [4, 5, 6, 7])
    assert not any(quotes(reply, [4, 5, 6, 7]) for reply in replies(0, None))
    # the conversation's 4-grams stay blocked, with or without a document
    for reply in replies(4, torch.tensor([4, 0])) + replies(4, None):
        assert not quotes(reply, [8, 9, 10, 11])
