"""What the decoder reads of the sources at each step: an attention over
the encoder states, global or local (Luong et al. 2015's predictive
window), or a fixed context that does not attend.

Every kind is an `Attention`, called as attention(query, memory, coverage)
-> (context, weights): the decoder state s (B×H), the sources' `Memory`
(computed once per source) and the sum of the previous weights (B×T); the
context is B×C (C = `context_width`, 0 for "none_init") and the weights
B×T (zeros for a fixed context). The encoder states and the decoder state
have the same width H (hidden_width), so the dot-product scores compare
them directly, without a projection. `ATTENTION_KINDS` maps each kind's
name to its class, built as cls(H, AttentionSettings(...)).

Shapes: B batch, T source length, H hidden width, A attention width,
n heads.
"""

from typing import ClassVar, Dict, NamedTuple, Tuple, Type

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..settings import check_text


class Memory(NamedTuple):
    """The sources as the attention reads them, one row per decoded sequence."""

    states: Tensor  # B×T×H, the encoder states h_1..h_T
    keys: Tensor  # B×T×K, the attention's keys of the states
    mask: Tensor  # B×T, True at real source tokens
    summary: Tensor  # B×H, the encoder's final states C

    def select(self, rows: Tensor) -> "Memory":
        """Take these rows: repeat them for beams, or drop finished ones."""
        return Memory(*(tensor[rows] for tensor in self))


class AttentionSettings(NamedTuple):
    """How an attention is built: the width of the additive score or of all
    the multihead attention's heads, the number of heads, Luong's local
    window D (0: global) and whether the coverage enters the score."""

    attention_width: int = 64
    heads: int = 1
    window: int = 0
    coverage: bool = False


class Attention(nn.Module):
    """What every kind of attention offers the decoder: the keys of the
    encoder states, a context of `context_width` at each step, and what it
    adds to each step's RNN input (`step_input`).
    """

    attends: ClassVar[bool] = True
    # whether `step_input` is the encoder's summary C (B×H) rather than
    # nothing (B×0): the decoder sizes its RNN by it before building this
    feeds_summary: ClassVar[bool] = False
    context_width: int

    def keys(self, states: Tensor) -> Tensor:
        """B×T×H encoder states -> B×T×K, computed once per source."""
        return states

    def step_input(self, memory: Memory) -> Tensor:
        """What the RNN reads at each step besides the token: B×0, nothing."""
        return memory.summary[:, :0]

    def forward(
        self, query: Tensor, memory: Memory, coverage: Tensor
    ) -> Tuple[Tensor, Tensor]:
        """B×H query, the memory, B×T coverage -> B×C context, B×T weights."""
        raise NotImplementedError


class FixedContext(Attention):
    """No attention: a context that does not depend on the step, and zero
    weights. Settings that need attention are an error.
    """

    attends = False
    kind: ClassVar[str]

    def __init__(self, width: int, settings: AttentionSettings) -> None:
        super().__init__()
        self.context_width = width if self.feeds_summary else 0

    def forward(
        self, query: Tensor, memory: Memory, coverage: Tensor
    ) -> Tuple[Tensor, Tensor]:
        return self.step_input(memory), torch.zeros_like(coverage)


class InitialContext(FixedContext):
    """The encoder's summary C only starts the decoder, through the bridge
    (Sutskever et al. 2014): the context is empty."""

    kind = "none_init"


class EveryStepContext(FixedContext):
    """C is also read at every step, by the RNN and, as the context, by the
    output layer (Cho et al. 2014)."""

    kind = "none_every_step"
    feeds_summary = True

    def step_input(self, memory: Memory) -> Tensor:
        return memory.summary  # B×H


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


class SoftmaxAttention(Attention):
    """Softmax over the scores of the real (and, if local, in-window) source
    positions and the weighted sum of the encoder states. Subclasses define
    the keys and the scores, one row per head.
    """

    def __init__(self, width: int, settings: AttentionSettings) -> None:
        super().__init__()
        self.context_width = width
        self.locator = (
            LocalWindow(width, settings.window) if settings.window > 0 else None
        )

    def score(self, query: Tensor, keys: Tensor, coverage: Tensor) -> Tensor:
        """B×H query, B×T×K keys, B×T coverage -> B×n×T scores."""
        raise NotImplementedError

    def merge_heads(self, contexts: Tensor) -> Tensor:
        """B×n×H contexts, one per head -> B×H."""
        return contexts.squeeze(1)

    def forward(
        self, query: Tensor, memory: Memory, coverage: Tensor
    ) -> Tuple[Tensor, Tensor]:
        """-> B×H context, B×T weights (averaged over the heads)."""
        scores = self.score(query, memory.keys, coverage)  # B×n×T
        mask = memory.mask
        if self.locator is not None:
            log_prior, mask = self.locator(query, mask)
            scores = scores + log_prior.unsqueeze(1)
        scores = scores.masked_fill(~mask.unsqueeze(1), float("-inf"))
        weights = torch.softmax(scores, dim=-1)  # B×n×T
        context = self.merge_heads(torch.bmm(weights, memory.states))  # B×H
        return context, weights.mean(1)


class AdditiveAttention(SoftmaxAttention):
    """Bahdanau's score v^T tanh(W_s s + W_h h_i), with coverage See et al.'s
    v^T tanh(W_s s + W_h h_i + w_c c_i).
    """

    def __init__(self, width: int, settings: AttentionSettings) -> None:
        super().__init__(width, settings)
        attention_width = settings.attention_width
        self.memory_proj = nn.Linear(width, attention_width, bias=False)
        self.query_proj = nn.Linear(width, attention_width)
        self.v = nn.Linear(attention_width, 1, bias=False)
        self.coverage_proj = (
            nn.Linear(1, attention_width, bias=False) if settings.coverage else None
        )

    def keys(self, states: Tensor) -> Tensor:
        return self.memory_proj(states)  # B×T×A

    def score(self, query: Tensor, keys: Tensor, coverage: Tensor) -> Tensor:
        energy = keys + self.query_proj(query).unsqueeze(1)  # B×T×A
        if self.coverage_proj is not None:
            energy = energy + self.coverage_proj(coverage.unsqueeze(-1))
        return self.v(torch.tanh(energy)).squeeze(-1).unsqueeze(1)  # B×1×T


class DotAttention(SoftmaxAttention):
    """Luong's dot score s^T h_i; with coverage, plus w_c c_i per head (w_c
    starts at 0: no effect until it is learned).
    """

    def __init__(self, width: int, settings: AttentionSettings) -> None:
        super().__init__(width, settings)
        self.n_heads = settings.heads
        self.coverage_weight = (
            nn.Parameter(torch.zeros(self.n_heads)) if settings.coverage else None
        )

    def dot(self, query: Tensor, keys: Tensor) -> Tensor:
        return torch.bmm(keys, query.unsqueeze(-1)).squeeze(-1).unsqueeze(1)  # B×1×T

    def score(self, query: Tensor, keys: Tensor, coverage: Tensor) -> Tensor:
        scores = self.dot(query, keys)  # B×n×T
        if self.coverage_weight is not None:
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

    def __init__(self, width: int, settings: AttentionSettings) -> None:
        super().__init__(width, settings)
        self.weight = nn.Linear(width, width, bias=False)

    def keys(self, states: Tensor) -> Tensor:
        return self.weight(states)  # B×T×H


class CosineAttention(DotAttention):
    """cos(s, h_i) times a learned strength, as in the Neural Turing
    Machine's content addressing: scores in [-1, 1] alone would keep the
    weights near uniform. The strength starts at sqrt(H), where the scores
    spread as scaled dot products of unit-variance states do.
    """

    def __init__(self, width: int, settings: AttentionSettings) -> None:
        super().__init__(width, settings)
        # 1-d: thinc's optimizers can't update 0-d arrays
        self.strength = nn.Parameter(torch.full((1,), float(width) ** 0.5))

    def keys(self, states: Tensor) -> Tensor:
        return F.normalize(states, dim=-1)

    def dot(self, query: Tensor, keys: Tensor) -> Tensor:
        return self.strength * super().dot(F.normalize(query, dim=-1), keys)


class MultiHeadAttention(DotAttention):
    """n heads of scaled dot products between W_q s and W_k h_i, each head
    A / n wide; the context is W_o [a_1 H; ...; a_n H]. Each head's value
    projection is folded into W_o, so the values are the encoder states and
    need no projection of their own.
    """

    def __init__(self, width: int, settings: AttentionSettings) -> None:
        super().__init__(width, settings)
        attention_width = settings.attention_width
        self.query_proj = nn.Linear(width, attention_width, bias=False)
        self.key_proj = nn.Linear(width, attention_width, bias=False)
        self.output_proj = nn.Linear(self.n_heads * width, width, bias=False)

    def keys(self, states: Tensor) -> Tensor:
        return self.key_proj(states)  # B×T×A

    def dot(self, query: Tensor, keys: Tensor) -> Tensor:
        batch_size, length, attention_width = keys.shape
        head_width = attention_width // self.n_heads
        keys = keys.view(batch_size, length, self.n_heads, head_width)
        queries = self.query_proj(query).view(batch_size, self.n_heads, head_width)
        scores = torch.einsum("btnd,bnd->bnt", keys, queries)  # B×n×T
        return scores / head_width**0.5

    def merge_heads(self, contexts: Tensor) -> Tensor:
        return self.output_proj(contexts.flatten(1))  # B×nH -> B×H


ATTENTION_KINDS: Dict[str, Type[Attention]] = {
    "additive": AdditiveAttention,
    "dot": DotAttention,
    "scaled_dot": ScaledDotAttention,
    "general": GeneralAttention,
    "cosine": CosineAttention,
    "multihead": MultiHeadAttention,
    InitialContext.kind: InitialContext,
    EveryStepContext.kind: EveryStepContext,
}
FIXED_CONTEXTS = tuple(kind for kind, cls in ATTENTION_KINDS.items() if not cls.attends)


def attention_kind(
    kind: str, settings: AttentionSettings, *, copy: bool = False
) -> Type[Attention]:
    """The class of this kind of attention (one of ATTENTION_KINDS), each
    built as cls(width, settings). Raises a ValueError naming a setting that
    conflicts with the kind: the model builder checks the config with it
    before the torch module exists, and the decoder when it builds one.
    `copy` is the decoder's pointer-generator, which reads the attention.
    """
    check_text("attention", kind, choices=tuple(ATTENTION_KINDS))
    if settings.heads > 1 and kind != "multihead":
        raise ValueError('attention_heads > 1 needs attention = "multihead".')
    if kind == "multihead" and settings.attention_width % settings.heads:
        raise ValueError(
            f"attention_width ({settings.attention_width}) must be divisible "
            f"by attention_heads ({settings.heads})."
        )
    attention_class = ATTENTION_KINDS[kind]
    if not attention_class.attends:
        for name, value in (
            ("copy", copy),
            ("coverage", settings.coverage),
            ("attention_window", settings.window),
        ):
            if value:
                raise ValueError(
                    f'{name} needs attention; with attention = "{kind}" set it '
                    f"to {0 if name == 'attention_window' else 'false'}."
                )
    return attention_class
