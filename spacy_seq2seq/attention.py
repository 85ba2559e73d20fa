"""Attention score functions over the encoder states, masked to the real
source tokens, global or local (Luong et al. 2015's predictive window).

Every attention module is called as attention(query, keys, memory, mask,
coverage) -> (context, weights): the decoder state s (B×H), the keys
computed once per source by `attention.keys(memory)`, the encoder states
h_1..h_T (B×T×H), the B×T mask of real tokens and, with coverage, the sum
of the previous weights (B×T). The encoder states and the decoder state
have the same width H (hidden_width), so the dot-product scores compare
them directly, without a projection.

Shapes: B batch, T source length, H hidden width, A attention width,
n heads.
"""

from typing import Dict, Optional, Tuple, Type

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class LocalWindow(nn.Module):
    """Luong's local-p attention: a predicted position p_t = (T - 1) *
    sigmoid(v_p^T tanh(W_p s_t)) within each source's real length T, a
    window [p_t - D, p_t + D] and a Gaussian of sigma = D / 2 around p_t.
    The Gaussian is added to the scores as a log-prior, so the weights are
    Luong's align * Gaussian renormalised over the window: copy and coverage
    read them as a distribution.
    """

    def __init__(self, width: int, window: int) -> None:
        super().__init__()
        self.window = window
        self.position_proj = nn.Linear(width, width, bias=False)
        self.v = nn.Linear(width, 1, bias=False)

    def forward(self, query: Tensor, mask: Tensor) -> Tuple[Tensor, Tensor]:
        """B×H query, B×T mask -> B×T log-prior, B×T mask of the window."""
        last = mask.sum(-1, keepdim=True) - 1  # B×1
        center = last * torch.sigmoid(self.v(torch.tanh(self.position_proj(query))))
        positions = torch.arange(mask.shape[1], device=mask.device)
        distance = positions.unsqueeze(0) - center  # B×T
        sigma = self.window / 2
        log_prior = -(distance**2) / (2 * sigma**2)
        # the nearest real position is always in the window (D >= 1)
        return log_prior, mask & (distance.abs() <= self.window)


class Attention(nn.Module):
    """Softmax over the scores of the real (and, if local, in-window) source
    positions and the weighted sum of the encoder states. Subclasses define
    the keys and the scores, one row per head.
    """

    def __init__(self, width: int, window: int) -> None:
        super().__init__()
        self.locator = LocalWindow(width, window) if window > 0 else None

    def keys(self, memory: Tensor) -> Tensor:
        """B×T×H encoder states -> B×T×K, computed once per source."""
        return memory

    def score(self, query: Tensor, keys: Tensor, coverage: Optional[Tensor]) -> Tensor:
        """B×H query, B×T×K keys, B×T coverage or None -> B×n×T scores."""
        raise NotImplementedError

    def merge_heads(self, contexts: Tensor) -> Tensor:
        """B×n×H contexts, one per head -> B×H."""
        return contexts.squeeze(1)

    def forward(
        self,
        query: Tensor,
        keys: Tensor,
        memory: Tensor,
        mask: Tensor,
        coverage: Optional[Tensor] = None,
    ) -> Tuple[Tensor, Tensor]:
        """-> B×H context, B×T weights (averaged over the heads)."""
        scores = self.score(query, keys, coverage)  # B×n×T
        if self.locator is not None:
            log_prior, mask = self.locator(query, mask)
            scores = scores + log_prior.unsqueeze(1)
        scores = scores.masked_fill(~mask.unsqueeze(1), float("-inf"))
        weights = torch.softmax(scores, dim=-1)  # B×n×T
        context = self.merge_heads(torch.bmm(weights, memory))  # B×H
        return context, weights.mean(1)


class AdditiveAttention(Attention):
    """Bahdanau's score v^T tanh(W_s s + W_h h_i), with coverage See et al.'s
    v^T tanh(W_s s + W_h h_i + w_c c_i).
    """

    def __init__(
        self, width: int, attention_width: int, window: int, coverage: bool
    ) -> None:
        super().__init__(width, window)
        self.memory_proj = nn.Linear(width, attention_width, bias=False)
        self.query_proj = nn.Linear(width, attention_width)
        self.v = nn.Linear(attention_width, 1, bias=False)
        self.coverage_proj = (
            nn.Linear(1, attention_width, bias=False) if coverage else None
        )

    def keys(self, memory: Tensor) -> Tensor:
        return self.memory_proj(memory)  # B×T×A

    def score(self, query: Tensor, keys: Tensor, coverage: Optional[Tensor]) -> Tensor:
        energy = keys + self.query_proj(query).unsqueeze(1)  # B×T×A
        if self.coverage_proj is not None and coverage is not None:
            energy = energy + self.coverage_proj(coverage.unsqueeze(-1))
        return self.v(torch.tanh(energy)).squeeze(-1).unsqueeze(1)  # B×1×T


class DotAttention(Attention):
    """Luong's dot score s^T h_i; with coverage, plus w_c c_i per head (w_c
    starts at 0: no effect until it is learned).
    """

    def __init__(
        self, width: int, window: int, coverage: bool, n_heads: int = 1
    ) -> None:
        super().__init__(width, window)
        self.n_heads = n_heads
        self.coverage_weight = nn.Parameter(torch.zeros(n_heads)) if coverage else None

    def dot(self, query: Tensor, keys: Tensor) -> Tensor:
        return torch.bmm(keys, query.unsqueeze(-1)).squeeze(-1).unsqueeze(1)  # B×1×T

    def score(self, query: Tensor, keys: Tensor, coverage: Optional[Tensor]) -> Tensor:
        scores = self.dot(query, keys)  # B×n×T
        if self.coverage_weight is not None and coverage is not None:
            scores = scores + self.coverage_weight.unsqueeze(1) * coverage.unsqueeze(1)
        return scores


class ScaledDotAttention(DotAttention):
    """s^T h_i / sqrt(H) (Vaswani et al. 2017): the scores keep their spread
    whatever the width, so the softmax does not saturate at large H.
    """

    def dot(self, query: Tensor, keys: Tensor) -> Tensor:
        return super().dot(query, keys) / keys.shape[-1] ** 0.5


class GeneralAttention(DotAttention):
    """Luong's general score s^T W h_i, with W h_i computed once per source."""

    def __init__(self, width: int, window: int, coverage: bool) -> None:
        super().__init__(width, window, coverage)
        self.weight = nn.Linear(width, width, bias=False)

    def keys(self, memory: Tensor) -> Tensor:
        return self.weight(memory)  # B×T×H


class CosineAttention(DotAttention):
    """cos(s, h_i) times a learned strength, as in the Neural Turing
    Machine's content addressing: scores in [-1, 1] alone would keep the
    weights near uniform. The strength starts at sqrt(H), where the scores
    spread as scaled dot products of unit-variance states do.
    """

    def __init__(self, width: int, window: int, coverage: bool) -> None:
        super().__init__(width, window, coverage)
        # 1-d: thinc's optimizers can't update 0-d arrays
        self.strength = nn.Parameter(torch.full((1,), float(width) ** 0.5))

    def keys(self, memory: Tensor) -> Tensor:
        return F.normalize(memory, dim=-1)

    def dot(self, query: Tensor, keys: Tensor) -> Tensor:
        return self.strength * super().dot(F.normalize(query, dim=-1), keys)


class MultiHeadAttention(DotAttention):
    """n heads of scaled dot products between W_q s and W_k h_i, each head
    A / n wide; the context is W_o [a_1 H; ...; a_n H]. Each head's value
    projection is folded into W_o, so the values are the encoder states and
    need no projection of their own.
    """

    def __init__(
        self,
        width: int,
        attention_width: int,
        window: int,
        coverage: bool,
        n_heads: int,
    ) -> None:
        super().__init__(width, window, coverage, n_heads)
        self.query_proj = nn.Linear(width, attention_width, bias=False)
        self.key_proj = nn.Linear(width, attention_width, bias=False)
        self.output_proj = nn.Linear(n_heads * width, width, bias=False)

    def keys(self, memory: Tensor) -> Tensor:
        return self.key_proj(memory)  # B×T×A

    def dot(self, query: Tensor, keys: Tensor) -> Tensor:
        batch_size, length, attention_width = keys.shape
        head_width = attention_width // self.n_heads
        keys = keys.view(batch_size, length, self.n_heads, head_width)
        queries = self.query_proj(query).view(batch_size, self.n_heads, head_width)
        scores = torch.einsum("btnd,bnd->bnt", keys, queries)  # B×n×T
        return scores / head_width**0.5

    def merge_heads(self, contexts: Tensor) -> Tensor:
        return self.output_proj(contexts.flatten(1))  # B×nH -> B×H


SCORES: Dict[str, Type[DotAttention]] = {
    "dot": DotAttention,
    "scaled_dot": ScaledDotAttention,
    "general": GeneralAttention,
    "cosine": CosineAttention,
}
ATTENTION_TYPES = ("additive", *SCORES, "multihead")


def make_attention(
    name: str,
    width: int,
    *,
    attention_width: int,
    heads: int,
    window: int,
    coverage: bool,
) -> Attention:
    """The attention module called `name` (one of ATTENTION_TYPES)."""
    if name == "additive":
        return AdditiveAttention(width, attention_width, window, coverage)
    if name == "multihead":
        return MultiHeadAttention(width, attention_width, window, coverage, heads)
    return SCORES[name](width, window, coverage)
