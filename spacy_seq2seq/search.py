"""Batched decoding in torch over a whole batch at once: greedy and beam
search, and top-k / top-p / temperature sampling.

Each returns (ids, scores): B×K×L generated ids (PAD after EOS) and B×K
length-normalised log-probabilities (in beam search plus the coverage
penalty), best candidate first (K = 1 for greedy, beam_size for beam search,
n_best for sampling).
"""

import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, List, Optional, Tuple

import numpy
import torch
from torch import Tensor

from .settings import check_int, check_number, check_text
from .vocab import BOS_ID, EOS_ID, PAD_ID, UNK_ID

if TYPE_CHECKING:
    from .torch_model import AttentionalSeq2SeqModule, Encoded

NEG_INF = float("-inf")
DECODINGS = ("beam", "sampling")
# Coverage below this counts as this: a source position never attended costs
# log(MIN_COVERAGE) instead of -inf, which would tie every hypothesis.
MIN_COVERAGE = 1e-6


@dataclass
class SearchSettings:
    """How to decode. `decoding` is "beam" (greedy when beam_size = 1) or
    "sampling" (n_best samples per source, reproducible with `seed`).
    `no_repeat_ngram_size` blocks repeats of the output's own n-grams,
    `no_repeat_context_ngram_size` the n-grams of the source.
    """

    decoding: str = "beam"
    beam_size: int = 4
    n_best: int = 1
    max_length: int = 30
    min_length: int = 1
    length_penalty: float = 0.0
    no_repeat_ngram_size: int = 0
    no_repeat_context_ngram_size: int = 0
    top_k: int = 0
    top_p: float = 1.0
    temperature: float = 1.0
    seed: int = 0
    coverage_penalty: float = 0.0

    def validate(self) -> None:
        """Raise a ValueError naming the first setting of the wrong type or
        out of range."""
        check_text("decoding", self.decoding, choices=DECODINGS)
        check_int("beam_size", self.beam_size, minimum=1)
        check_int("n_best", self.n_best, minimum=1)
        if self.decoding == "beam" and self.n_best > self.beam_size:
            raise ValueError(
                f"n_best ({self.n_best}) must not exceed beam_size "
                f"({self.beam_size}) with beam search"
            )
        check_int("max_length", self.max_length, minimum=1)
        check_int("min_length", self.min_length, minimum=0)
        if self.min_length > self.max_length:
            raise ValueError(
                f"min_length ({self.min_length}) must not exceed max_length "
                f"({self.max_length})"
            )
        check_number("length_penalty", self.length_penalty, minimum=0.0)
        check_int("no_repeat_ngram_size", self.no_repeat_ngram_size, minimum=0)
        check_int(
            "no_repeat_context_ngram_size", self.no_repeat_context_ngram_size, minimum=0
        )
        check_int("top_k", self.top_k, minimum=0)
        check_number("top_p", self.top_p, above=0.0, maximum=1.0)
        check_number("temperature", self.temperature, above=0.0)
        check_int("seed", self.seed, minimum=0)
        check_number("coverage_penalty", self.coverage_penalty, minimum=0.0)


def decode(
    model: "AttentionalSeq2SeqModule",
    encoded: "Encoded",
    source_ids: Tensor,
    n_extended: int,
    settings: SearchSettings,
    uniforms: Optional[Tensor] = None,
) -> Tuple[Tensor, Tensor]:
    """Run the search the settings ask for. Sampling reads its randomness
    from `uniforms` (B×n_best×max_length, see `sampling_uniforms`).
    """
    if settings.decoding == "sampling":
        if uniforms is None:
            raise ValueError("Sampling needs the uniforms of each source.")
        return sample_search(model, encoded, source_ids, n_extended, settings, uniforms)
    if settings.beam_size == 1:
        return single_path_search(model, encoded, source_ids, n_extended, settings)
    return beam_search(model, encoded, source_ids, n_extended, settings)


def sampling_uniforms(
    source_ids: List[List[int]], settings: SearchSettings
) -> numpy.ndarray:
    """One uniform number per source, sample and step: B×n_best×max_length.
    Each source's numbers depend only on the seed and the source's ids, so
    a source gets the same samples whatever batch it is decoded in.
    """
    shape = (settings.n_best, settings.max_length)
    return numpy.stack(
        [
            numpy.random.default_rng(
                [settings.seed, zlib.crc32(numpy.asarray(ids, dtype="int64").tobytes())]
            ).random(shape, dtype=numpy.float32)
            for ids in source_ids
        ]
    )


def length_normalizer(lengths: Tensor, alpha: float) -> Tensor:
    """GNMT's length penalty ((5 + |Y|) / 6) ** alpha; 1 when alpha = 0."""
    return ((5.0 + lengths.float()) / 6.0) ** alpha


def coverage_penalty(coverage: Optional[Tensor], mask: Tensor, beta: float) -> Tensor:
    """GNMT's coverage penalty beta * sum_i log(min(c_i, 1)) over the real
    source positions: N×T coverage (summed attention), N×T mask -> N.
    """
    if coverage is None:
        raise ValueError("coverage_penalty needs a model with attention.")
    return beta * (coverage.clamp(MIN_COVERAGE, 1.0).log() * mask).sum(-1)


def block_tokens(
    probs: Tensor, history: Tensor, source_ids: Tensor, settings: SearchSettings
) -> Tensor:
    """Zero, in place, what may not come next: PAD, BOS and UNK always, EOS
    before `min_length`, and any token that would repeat an n-gram of the
    history or of the source. probs: N×V', history: N×t generated ids,
    source_ids: N×T extended ids (the same id space as the generated ones).
    """
    probs[:, [PAD_ID, BOS_ID, UNK_ID]] = 0.0
    if history.shape[1] < settings.min_length:
        probs[:, EOS_ID] = 0.0
    block_ngrams(probs, history, history, settings.no_repeat_ngram_size)
    block_ngrams(probs, history, source_ids, settings.no_repeat_context_ngram_size)
    return probs


def block_ngrams(probs: Tensor, history: Tensor, sequences: Tensor, n: int) -> None:
    """Zero the tokens that would complete an n-gram of `sequences` (N×S)
    after the last n - 1 tokens of the history (N×t). n = 0: no blocking.
    """
    step, length = history.shape[1], sequences.shape[1]
    if n == 1:
        probs.scatter_(1, sequences, 0.0)
    elif n > 1 and step >= n - 1 and length >= n:
        prefix = history[:, step - n + 1 :]  # N×(n-1), the last n-1 tokens
        windows = sequences.unfold(1, n - 1, 1)[:, : length - n + 1]  # N×(S-n+1)×(n-1)
        seen = (windows == prefix.unsqueeze(1)).all(-1)  # N×(S-n+1)
        # the token after each window seen; PAD (always blocked) elsewhere
        banned_ids = sequences[:, n - 1 :].masked_fill(~seen, PAD_ID)
        probs.scatter_(1, banned_ids, 0.0)


def truncate_distribution(probs: Tensor, settings: SearchSettings) -> Tensor:
    """Apply temperature, top-k and top-p (nucleus) to N×V' probabilities
    (not necessarily normalised); returns a new, unnormalised tensor.
    """
    if settings.temperature != 1.0:
        # scaled by the row maximum first, so small temperatures can't underflow
        peak = probs.amax(1, keepdim=True).clamp_min(1e-30)
        probs = (probs / peak) ** (1.0 / settings.temperature)
    if 0 < settings.top_k < probs.shape[1]:
        kth_best = probs.topk(settings.top_k, 1).values[:, -1:]  # N×1
        probs = probs.masked_fill(probs < kth_best, 0.0)
    if settings.top_p < 1.0:
        sorted_probs, order = probs.sort(1, descending=True)
        mass_before = sorted_probs.cumsum(1) - sorted_probs
        total = mass_before[:, -1:] + sorted_probs[:, -1:]
        # the smallest set of best tokens whose mass reaches top_p
        drop_sorted = mass_before >= settings.top_p * total
        probs = probs.masked_fill(drop_sorted.scatter(1, order, drop_sorted), 0.0)
    return probs


def draw(probs: Tensor, uniforms: Tensor) -> Tensor:
    """Inverse-CDF sampling: the first token whose cumulative probability
    exceeds u times the total. probs: N×V' (unnormalised), uniforms: N in [0, 1).
    """
    cumulative = probs.cumsum(1)
    threshold = uniforms.unsqueeze(1) * cumulative[:, -1:]
    choice = (cumulative <= threshold).sum(1)
    # rounding can leave no token above the threshold: take the likeliest
    return torch.where(choice < probs.shape[1], choice, probs.argmax(1))


def single_path_search(
    model: "AttentionalSeq2SeqModule",
    encoded: "Encoded",
    source_ids: Tensor,
    n_extended: int,
    settings: SearchSettings,
    uniforms: Optional[Tensor] = None,
) -> Tuple[Tensor, Tensor]:
    """One path per row: the likeliest token at each step (greedy), or with
    `uniforms` (N×max_length) a draw from the truncated distribution. A row
    leaves the batch when it ends.
    """
    tokens, state, feed = model.start(encoded)
    n_rows = tokens.shape[0]
    rows = torch.arange(n_rows, device=tokens.device)  # output row of each row left
    history = tokens.new_zeros((n_rows, 0))
    scores = encoded.memory.new_zeros(n_rows)
    out_ids = tokens.new_full((n_rows, settings.max_length), PAD_ID)
    out_scores = encoded.memory.new_zeros(n_rows)
    for step in range(settings.max_length):
        probs, state, feed = model.next_probs(
            tokens, state, feed, encoded, source_ids, n_extended
        )
        probs = block_tokens(probs, history, source_ids, settings)
        if uniforms is None:
            tokens = probs.argmax(-1)
        else:
            tokens = draw(truncate_distribution(probs, settings), uniforms[:, step])
        scores = scores + probs.gather(1, tokens.unsqueeze(1)).squeeze(1).log()
        history = torch.cat([history, tokens.unsqueeze(1)], dim=1)
        done = tokens == EOS_ID
        if step == settings.max_length - 1:
            done = torch.ones_like(done)
        if done.any():
            normalizer = length_normalizer(
                torch.tensor(step + 1.0), settings.length_penalty
            )
            out_ids[rows[done], : step + 1] = history[done]
            out_scores[rows[done]] = scores[done] / normalizer
            keep = ~done
            if not keep.any():
                break
            rows, tokens, scores, history = (
                rows[keep],
                tokens[keep],
                scores[keep],
                history[keep],
            )
            state, feed = tuple(s[keep] for s in state), feed[keep]
            encoded, source_ids = encoded.select(keep), source_ids[keep]
            if uniforms is not None:
                uniforms = uniforms[keep]
    return out_ids[:, : step + 1].unsqueeze(1), out_scores.unsqueeze(1)


def sample_search(
    model: "AttentionalSeq2SeqModule",
    encoded: "Encoded",
    source_ids: Tensor,
    n_extended: int,
    settings: SearchSettings,
    uniforms: Tensor,
) -> Tuple[Tensor, Tensor]:
    """n_best samples per source (uniforms: B×n_best×max_length), all
    decoded as rows of one batch, sorted by their score."""
    batch_size, n_samples, max_length = uniforms.shape
    rows = torch.arange(batch_size, device=source_ids.device)
    rows = rows.repeat_interleave(n_samples)
    ids, scores = single_path_search(
        model,
        encoded.select(rows),
        source_ids[rows],
        n_extended,
        settings,
        uniforms.reshape(batch_size * n_samples, max_length),
    )
    ids = ids.view(batch_size, n_samples, -1)
    scores, order = scores.view(batch_size, n_samples).sort(1, descending=True)
    return ids.gather(1, order.unsqueeze(-1).expand_as(ids)), scores


def beam_search(
    model: "AttentionalSeq2SeqModule",
    encoded: "Encoded",
    source_ids: Tensor,
    n_extended: int,
    settings: SearchSettings,
) -> Tuple[Tensor, Tensor]:
    """The hypotheses of every source advance together: N = b×r rows for the
    b sources still searched, r = 1 at the first step (all beams would be the
    same) and K after it. A finished hypothesis stays in its beam, continuing
    with PAD at no cost, so it competes with the live ones on its
    length-normalised score. A source is done when its best hypothesis has
    finished (or at max_length); its rows leave the batch once a quarter of
    the batch is done. With a coverage penalty, a hypothesis is ranked by its
    normalised score plus the penalty of its coverage, frozen once it finishes.
    """
    batch_size, beam_size = encoded.memory.shape[0], settings.beam_size
    device = source_ids.device
    tokens, state, feed = model.start(encoded)  # N = B rows
    history = tokens.new_zeros((batch_size, 0))
    scores = encoded.memory.new_zeros(batch_size)  # N, summed log-probabilities
    lengths = torch.zeros_like(tokens)
    finished = torch.zeros_like(tokens, dtype=torch.bool)
    penalty = scores.new_zeros(batch_size)  # N, coverage penalties
    searched = torch.arange(batch_size, device=device)  # the b sources left
    recorded = torch.zeros_like(searched, dtype=torch.bool)
    pad_only = encoded.memory.new_full((1, beam_size), NEG_INF)
    pad_only[0, 0] = 0.0
    out_ids = tokens.new_full((batch_size, beam_size, settings.max_length), PAD_ID)
    out_scores = encoded.memory.new_zeros((batch_size, beam_size))
    for step in range(settings.max_length):
        probs, state, feed = model.next_probs(
            tokens, state, feed, encoded, source_ids, n_extended
        )
        if settings.coverage_penalty:
            live = coverage_penalty(
                model.coverage(state), encoded.mask, settings.coverage_penalty
            )
            penalty = torch.where(finished, penalty, live)
        # each row's K best continuations are all the search can use: N×K
        top_probs, top_ids = block_tokens(probs, history, source_ids, settings).topk(
            beam_size, 1
        )
        top_log_probs = torch.where(finished.unsqueeze(1), pad_only, top_probs.log())
        top_ids = top_ids.masked_fill(finished.unsqueeze(1), PAD_ID)
        candidates = scores.unsqueeze(1) + top_log_probs  # N×K
        candidate_lengths = lengths + (~finished).long()  # N
        normalizer = length_normalizer(candidate_lengths, settings.length_penalty)
        ranked = candidates / normalizer.unsqueeze(1) + penalty.unsqueeze(1)  # N×K
        n_searched = searched.shape[0]
        rows_per_source = tokens.shape[0] // n_searched
        _, best = ranked.view(n_searched, -1).topk(beam_size, 1)  # b×K, sorted
        offsets = torch.arange(n_searched, device=device).unsqueeze(1) * rows_per_source
        rows = (offsets + best // beam_size).view(-1)  # b×K, the row each extends
        tokens = top_ids.view(n_searched, -1).gather(1, best).view(-1)
        scores = candidates.view(n_searched, -1).gather(1, best).view(-1)
        lengths, penalty = candidate_lengths[rows], penalty[rows]
        finished = finished[rows] | (tokens == EOS_ID)
        history = torch.cat([history[rows], tokens.unsqueeze(1)], dim=1)
        state, feed = tuple(s[rows] for s in state), feed[rows]
        if step == 0:
            encoded, source_ids = encoded.select(rows), source_ids[rows]
        done = finished.view(n_searched, beam_size)[:, 0]  # b
        if step == settings.max_length - 1:
            done = torch.ones_like(done)
        new = done & ~recorded
        if new.any():
            final = scores / length_normalizer(lengths, settings.length_penalty)
            final = final + penalty
            final, order = final.view(n_searched, beam_size)[new].sort(
                1, descending=True
            )
            new_history = history.view(n_searched, beam_size, -1)[new]  # d×K×t
            new_history = new_history.gather(
                1, order.unsqueeze(-1).expand_as(new_history)
            )
            out_ids[searched[new], :, : step + 1] = new_history
            out_scores[searched[new]] = final
            recorded |= new
        if recorded.all():
            return out_ids[:, :, : step + 1], out_scores
        if recorded.sum() * 4 >= n_searched:
            keep = (~recorded).repeat_interleave(beam_size)  # N
            searched, recorded = searched[~recorded], recorded[~recorded]
            encoded, source_ids = encoded.select(keep), source_ids[keep]
            tokens, scores, lengths = tokens[keep], scores[keep], lengths[keep]
            penalty = penalty[keep]
            finished, history, feed = finished[keep], history[keep], feed[keep]
            state = tuple(s[keep] for s in state)
    return out_ids, out_scores
