"""Batched decoding in torch: greedy and beam search over a whole batch at once.

Both return (ids, scores): B×K×L generated ids (PAD after EOS) and B×K
length-normalised log-probabilities (in beam search plus the coverage
penalty), best candidate first (K = 1 for greedy).
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Tuple

import torch
from torch import Tensor

from .vocab import BOS_ID, EOS_ID, PAD_ID, UNK_ID

if TYPE_CHECKING:
    from .torch_model import AttentionalSeq2SeqModule, Encoded

NEG_INF = float("-inf")
# Coverage below this counts as this: a source position never attended costs
# log(MIN_COVERAGE) instead of -inf, which would tie every hypothesis.
MIN_COVERAGE = 1e-6


@dataclass
class SearchSettings:
    beam_size: int = 4
    max_length: int = 30
    min_length: int = 1
    length_penalty: float = 0.0
    no_repeat_ngram_size: int = 0
    coverage_penalty: float = 0.0


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


def block_tokens(probs: Tensor, history: Tensor, settings: SearchSettings) -> Tensor:
    """Zero, in place, what may not come next: PAD, BOS and UNK always, EOS
    before `min_length`, and any token that would repeat an n-gram of the
    history. probs: N×V', history: N×t generated ids.
    """
    probs[:, [PAD_ID, BOS_ID, UNK_ID]] = 0.0
    step = history.shape[1]
    if step < settings.min_length:
        probs[:, EOS_ID] = 0.0
    n = settings.no_repeat_ngram_size
    if n == 1:
        probs.scatter_(1, history, 0.0)
    elif n > 1 and step >= n:
        prefix = history[:, step - n + 1 :]  # N×(n-1), the last n-1 tokens
        windows = history.unfold(1, n - 1, 1)[:, : step - n + 1]  # N×(t-n+1)×(n-1)
        seen = (windows == prefix.unsqueeze(1)).all(-1)  # N×(t-n+1)
        # the token after each window seen before; PAD (already zero) elsewhere
        banned_ids = history[:, n - 1 :].masked_fill(~seen, PAD_ID)
        probs.scatter_(1, banned_ids, 0.0)
    return probs


def greedy_search(
    model: "AttentionalSeq2SeqModule",
    encoded: "Encoded",
    source_ids: Tensor,
    n_extended: int,
    settings: SearchSettings,
) -> Tuple[Tensor, Tensor]:
    tokens, state, feed = model.start(encoded)
    batch_size = tokens.shape[0]
    history = tokens.new_zeros((batch_size, 0))
    scores = encoded.memory.new_zeros(batch_size)
    finished = torch.zeros(batch_size, dtype=torch.bool, device=tokens.device)
    for _ in range(settings.max_length):
        probs, state, feed = model.next_probs(
            tokens, state, feed, encoded, source_ids, n_extended
        )
        best_probs, tokens = block_tokens(probs, history, settings).max(-1)
        tokens = tokens.masked_fill(finished, PAD_ID)
        scores += best_probs.log().masked_fill(finished, 0.0)
        history = torch.cat([history, tokens.unsqueeze(1)], dim=1)
        finished |= tokens == EOS_ID
        if finished.all():
            break
    lengths = (history != PAD_ID).sum(1)
    scores = scores / length_normalizer(lengths, settings.length_penalty)
    return history.unsqueeze(1), scores.unsqueeze(1)


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
        top_probs, top_ids = block_tokens(probs, history, settings).topk(beam_size, 1)
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
