"""Batched decoding in torch: greedy and beam search over a whole batch at once.

Both return (ids, scores): B×K×L generated ids (PAD after EOS) and B×K
length-normalised log-probabilities, best candidate first (K = 1 for greedy).
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Tuple

import torch
from torch import Tensor

from .vocab import BOS_ID, EOS_ID, PAD_ID, UNK_ID

if TYPE_CHECKING:
    from .torch_model import AttentionalSeq2SeqModule, Encoded

NEG_INF = float("-inf")


@dataclass
class SearchSettings:
    beam_size: int = 4
    max_length: int = 30
    min_length: int = 1
    length_penalty: float = 0.0
    no_repeat_ngram_size: int = 0


def length_normalizer(lengths: Tensor, alpha: float) -> Tensor:
    """GNMT's length penalty ((5 + |Y|) / 6) ** alpha; 1 when alpha = 0."""
    return ((5.0 + lengths.float()) / 6.0) ** alpha


def block_tokens(
    log_probs: Tensor, history: Tensor, settings: SearchSettings
) -> Tensor:
    """Forbid what may not come next: PAD, BOS and UNK always, EOS before
    `min_length`, and any token that would repeat an n-gram of the history.
    log_probs: N×V', history: N×t generated ids.
    """
    log_probs = log_probs.clone()
    log_probs[:, [PAD_ID, BOS_ID, UNK_ID]] = NEG_INF
    step = history.shape[1]
    if step < settings.min_length:
        log_probs[:, EOS_ID] = NEG_INF
    n = settings.no_repeat_ngram_size
    if n > 0 and step >= n:
        if n == 1:
            banned_ids, seen = history, torch.ones_like(history, dtype=torch.bool)
        else:
            prefix = history[:, step - n + 1 :]  # N×(n-1), the last n-1 tokens
            windows = history.unfold(1, n - 1, 1)[:, : step - n + 1]  # N×(t-n+1)×(n-1)
            seen = (windows == prefix.unsqueeze(1)).all(-1)  # N×(t-n+1)
            banned_ids = history[:, n - 1 :]  # the token that followed each window
        counts = torch.zeros_like(log_probs).scatter_add_(1, banned_ids, seen.float())
        log_probs = log_probs.masked_fill(counts > 0, NEG_INF)
    return log_probs


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
        log_probs, state, feed = model.next_log_probs(
            tokens, state, feed, encoded, source_ids, n_extended
        )
        best_log_probs, tokens = block_tokens(log_probs, history, settings).max(-1)
        tokens = tokens.masked_fill(finished, PAD_ID)
        scores += best_log_probs.masked_fill(finished, 0.0)
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
    """All B×K hypotheses advance together. A finished hypothesis stays in
    its beam, continuing with PAD at no cost, so it competes with the live
    ones on its length-normalised score until the search ends.
    """
    batch_size, beam_size = encoded.memory.shape[0], settings.beam_size
    encoded = encoded.repeat(beam_size)
    source_ids = source_ids.repeat_interleave(beam_size, 0)
    tokens, state, feed = model.start(encoded)  # N = B*K rows
    device = tokens.device
    history = tokens.new_zeros((batch_size * beam_size, 0))
    # only the first beam of each source is live at the start
    scores = encoded.memory.new_full((batch_size, beam_size), NEG_INF)
    scores[:, 0] = 0.0
    scores = scores.view(-1)  # N
    lengths = torch.zeros_like(tokens)
    finished = torch.zeros_like(tokens, dtype=torch.bool)
    batch_offsets = (torch.arange(batch_size, device=device) * beam_size).unsqueeze(1)
    for _ in range(settings.max_length):
        log_probs, state, feed = model.next_log_probs(
            tokens, state, feed, encoded, source_ids, n_extended
        )
        log_probs = block_tokens(log_probs, history, settings)  # N×V'
        pad_only = torch.full_like(log_probs[:1], NEG_INF)
        pad_only[:, PAD_ID] = 0.0
        log_probs = torch.where(finished.unsqueeze(1), pad_only, log_probs)
        candidates = scores.unsqueeze(1) + log_probs  # N×V'
        candidate_lengths = (lengths + (~finished).long()).unsqueeze(1)  # N×1
        ranked = candidates / length_normalizer(
            candidate_lengths, settings.length_penalty
        )
        n_words = log_probs.shape[1]
        _, flat = ranked.view(batch_size, -1).topk(beam_size, dim=1)  # B×K
        rows = (batch_offsets + flat // n_words).view(-1)  # N, the beam each extends
        tokens = (flat % n_words).view(-1)  # N
        scores = candidates.view(batch_size, -1).gather(1, flat).view(-1)
        lengths = lengths[rows] + (~finished[rows]).long()
        finished = finished[rows] | (tokens == EOS_ID)
        history = torch.cat([history[rows], tokens.unsqueeze(1)], dim=1)
        state = tuple(s[rows] for s in state)
        feed = feed[rows]
        if finished.all():
            break
    final = (scores / length_normalizer(lengths, settings.length_penalty)).view(
        batch_size, beam_size
    )
    final, order = final.sort(dim=1, descending=True)  # B×K
    history = history.view(batch_size, beam_size, -1)
    history = history.gather(1, order.unsqueeze(-1).expand_as(history))  # B×K×L
    return history, final
