"""A Transformer encoder-decoder (Vaswani et al. 2017) behind the same
boundary as torch_model.AttentionalSeq2SeqModule: `forward(LossInputs)`
returns the training losses, `generate(GenerationInputs)` the best sequences
of a search (search.py) and `align(AlignmentInputs)` what the decoder
attended to while reading given targets.

- Pre-norm layers (LayerNorm before each sublayer, Xiong et al. 2020): they
  train stably at a constant learning rate without a warmup schedule,
  which spaCy's default optimizer does not have.
- Sinusoidal absolute positions, in the encoder and the decoder: they have
  no maximum length (the module never learns how long the component's
  `max_source_length` is, and a responder's context can be hundreds of
  tokens), no weights to train on a small corpus, and a decoding step only
  needs its own position's row. The tok2vec's window encoder gives local
  order already; the positions give the global one.
- Attention through F.scaled_dot_product_attention (fused kernels on a
  GPU), except the last decoder layer's cross-attention, whose weights are
  needed: averaged over its heads they are the copy distribution of the
  pointer-generator (See et al. 2017), the coverage and the heatmaps.
- Tied embeddings: output words are scored against the target embeddings.
- Incremental decoding: the decoder state is each layer's self-attention
  keys and values so far (OpenNMT-py's layer cache, fairseq's incremental
  state); `select(rows)` reorders them with the beam. The cross-attention's
  keys and values are computed once per source in `encode`. A step runs
  the new position only.

Shapes: B batch, T source length, U target length, t positions decoded so
far, W source vector width, D model width, h heads, d = D / h, F feed-forward
width, V vocabulary, X copy-only words.
"""

import math
from typing import List, NamedTuple, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .search import context_ids
from .search import decode as search_decode
from .torch_model import (
    AlignmentInputs,
    GenerationInputs,
    LossInputs,
    Sources,
    evaluating,
    scheduled_sample,
)
from .vocab import BOS_ID, PAD_ID, UNK_ID

# A layer's keys and values: B×h×S×d each.
KeysValues = Tuple[Tensor, Tensor]


def sinusoids(positions: Tensor, width: int) -> Tensor:
    """Sinusoidal encodings of int positions: ... -> ...×width (even)."""
    half = width // 2
    frequencies = torch.exp(
        torch.arange(half, device=positions.device, dtype=torch.float32)
        * (-math.log(10000.0) / half)
    )  # D/2
    angles = positions.float().unsqueeze(-1) * frequencies  # ...×D/2
    return torch.cat([angles.sin(), angles.cos()], -1)  # ...×D


class MultiHeadAttention(nn.Module):
    """Queries from one sequence, keys and values from another (or the same)."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(width, width)
        self.key_value = nn.Linear(width, 2 * width)
        self.out = nn.Linear(width, width)

    def split(self, x: Tensor) -> Tensor:
        """B×S×D -> B×h×S×d"""
        return x.view(x.shape[0], x.shape[1], self.heads, -1).transpose(1, 2)

    def keys_values(self, x: Tensor) -> KeysValues:
        """B×S×D -> the B×h×S×d keys and values."""
        keys, values = self.key_value(x).chunk(2, dim=-1)
        return self.split(keys), self.split(values)

    def forward(
        self,
        x: Tensor,
        keys_values: KeysValues,
        mask: Optional[Tensor] = None,
        causal: bool = False,
        weights: bool = False,
    ) -> Tuple[Tensor, Optional[Tensor]]:
        """x: B×S×D queries, mask: B×1×1×T (True: attend) -> B×S×D output
        and, with `weights`, the B×S×T attention averaged over the heads."""
        keys, values = keys_values
        queries = self.split(self.query(x))  # B×h×S×d
        if weights:
            scores = queries @ keys.transpose(-1, -2)  # B×h×S×T
            scores = scores / math.sqrt(queries.shape[-1])
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            attention = scores.float().softmax(-1)  # B×h×S×T
            out = attention.to(values.dtype) @ values  # B×h×S×d
            averaged: Optional[Tensor] = attention.mean(1)  # B×S×T
        else:
            out = F.scaled_dot_product_attention(
                queries, keys, values, attn_mask=mask, is_causal=causal
            )  # B×h×S×d
            averaged = None
        out = out.transpose(1, 2).reshape(x.shape)  # B×S×D
        return self.out(out), averaged


class FeedForward(nn.Module):
    def __init__(self, width: int, ff_width: int) -> None:
        super().__init__()
        self.up = nn.Linear(width, ff_width)
        self.out = nn.Linear(ff_width, width)

    def forward(self, x: Tensor) -> Tensor:
        """B×S×D -> B×S×D"""
        return self.out(F.gelu(self.up(x)))


class EncoderLayer(nn.Module):
    def __init__(self, width: int, heads: int, ff_width: int, dropout: float) -> None:
        super().__init__()
        self.attention_norm = nn.LayerNorm(width)
        self.attention = MultiHeadAttention(width, heads)
        self.feed_forward_norm = nn.LayerNorm(width)
        self.feed_forward = FeedForward(width, ff_width)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """B×T×D, B×1×1×T key mask -> B×T×D"""
        normed = self.attention_norm(x)
        attended, _ = self.attention(
            normed, self.attention.keys_values(normed), mask=mask
        )
        x = x + self.dropout(attended)
        return x + self.dropout(self.feed_forward(self.feed_forward_norm(x)))


class DecoderLayer(nn.Module):
    def __init__(self, width: int, heads: int, ff_width: int, dropout: float) -> None:
        super().__init__()
        self.self_attention_norm = nn.LayerNorm(width)
        self.self_attention = MultiHeadAttention(width, heads)
        self.cross_attention_norm = nn.LayerNorm(width)
        self.cross_attention = MultiHeadAttention(width, heads)
        self.feed_forward_norm = nn.LayerNorm(width)
        self.feed_forward = FeedForward(width, ff_width)
        self.dropout = nn.Dropout(dropout)

    def forward(
        self,
        x: Tensor,
        cache: Optional[KeysValues],
        memory: KeysValues,
        mask: Tensor,
        weights: bool,
    ) -> Tuple[Tensor, KeysValues, Optional[Tensor], Tensor]:
        """x: B×S×D new positions after the cached B×h×t×d keys and values
        (None: S positions from the start, causally masked; with a cache, S
        = 1), memory: the sources' B×h×T×d keys and values, mask: B×1×1×T.
        Returns the B×S×D outputs, the B×h×(t+S)×d keys and values, with
        `weights` the B×S×T cross-attention averaged over the heads, and
        the B×S×D cross-attention output."""
        normed = self.self_attention_norm(x)
        keys, values = self.self_attention.keys_values(normed)  # B×h×S×d
        if cache is not None:
            assert x.shape[1] == 1, "a cached step reads one new position"
            keys = torch.cat([cache[0], keys], 2)  # B×h×(t+1)×d
            values = torch.cat([cache[1], values], 2)
        attended, _ = self.self_attention(
            normed, (keys, values), causal=cache is None and x.shape[1] > 1
        )
        x = x + self.dropout(attended)
        context, attention = self.cross_attention(
            self.cross_attention_norm(x), memory, mask=mask, weights=weights
        )  # B×S×D, B×S×T
        x = x + self.dropout(context)
        x = x + self.dropout(self.feed_forward(self.feed_forward_norm(x)))
        return x, (keys, values), attention, context


class TransformerEncoded(NamedTuple):
    """The sources as the decoder reads them, a row per decoded sequence."""

    memory: Tuple[KeysValues, ...]  # each decoder layer's B×h×T×d keys, values
    mask: Tensor  # B×T, True at real source tokens
    source_ids: Tensor  # B×T extended ids
    n_copy_only: int
    context_ids: Tensor  # B×T, what context n-gram blocking reads (search.py)

    def select(self, rows: Tensor) -> "TransformerEncoded":
        """Take these rows: repeat them for beams, or drop finished ones."""
        return TransformerEncoded(
            tuple((k[rows], v[rows]) for k, v in self.memory),
            self.mask[rows],
            self.source_ids[rows],
            self.n_copy_only,
            self.context_ids[rows],
        )


class TransformerState(NamedTuple):
    """What the decoder carries from one step to the next, a row per sequence."""

    cache: Tuple[KeysValues, ...]  # each layer's B×h×t×d self-attention keys, values
    coverage: Tensor  # B×T float32, the sum of the (head-averaged) attention so far

    def select(self, rows: Tensor) -> "TransformerState":
        """Take these rows: follow the beams, or drop finished ones."""
        return TransformerState(
            tuple((k[rows], v[rows]) for k, v in self.cache), self.coverage[rows]
        )

    @property
    def length(self) -> int:
        """t, the positions decoded so far."""
        return self.cache[0][0].shape[2]


class Decoded(NamedTuple):
    """The decoder's outputs at S positions."""

    outputs: Tensor  # B×S×D, after the final LayerNorm
    copy_inputs: Tensor  # B×S×3D, what the copy gate reads
    attention: Tensor  # B×S×T, the last layer's cross-attention, head-averaged
    cache: Tuple[KeysValues, ...]  # each layer's B×h×(t+S)×d keys, values


class TransformerSeq2SeqModule(nn.Module):
    """Encoder and decoder. `forward` returns each sequence's summed
    training loss; `generate` searches for the best sequences and `align`
    tells what the decoder attended to while reading given targets.
    """

    def __init__(
        self,
        source_width: int,
        vocab_size: int,
        *,
        width: int,
        heads: int,
        encoder_layers: int,
        decoder_layers: int,
        ff_width: int,
        dropout: float,
        copy: bool,
        tie_embeddings: bool,
    ) -> None:
        super().__init__()
        if width % heads or width % 2:
            raise ValueError(
                f"width ({width}) must be even and a multiple of heads ({heads})"
            )
        self.vocab_size = vocab_size
        self.width = width
        self.heads = heads
        self.source_projection = nn.Linear(source_width, width)
        self.encoder_layers = nn.ModuleList(
            EncoderLayer(width, heads, ff_width, dropout) for _ in range(encoder_layers)
        )
        self.encoder_norm = nn.LayerNorm(width)
        self.embed = nn.Embedding(vocab_size, width, padding_idx=PAD_ID)
        self.decoder_layers = nn.ModuleList(
            DecoderLayer(width, heads, ff_width, dropout) for _ in range(decoder_layers)
        )
        self.decoder_norm = nn.LayerNorm(width)
        self.generator = None if tie_embeddings else nn.Linear(width, vocab_size)
        self.generator_bias = (
            nn.Parameter(torch.zeros(vocab_size)) if tie_embeddings else None
        )
        self.copy_gate = nn.Linear(3 * width, 1) if copy else None
        self.dropout = nn.Dropout(dropout)
        self.reset_weights(decoder_layers + encoder_layers)

    def reset_weights(self, n_layers: int) -> None:
        """GPT-2's initialisation: N(0, 0.02) weights, zero biases, the
        projections into the residual stream scaled down by the depth so
        that its variance does not grow with the layers. The embeddings
        have unit-norm rows on average (N(0, 1/D)), read scaled by sqrt(D)."""
        for name, param in self.named_parameters():
            if name.startswith("embed."):
                nn.init.normal_(param, std=self.width**-0.5)
            elif param.dim() >= 2:
                std = 0.02
                if name.endswith("out.weight"):
                    std /= math.sqrt(2 * n_layers)
                nn.init.normal_(param, std=std)
            elif name.endswith("bias") and "norm" not in name:
                nn.init.zeros_(param)
        with torch.no_grad():
            self.embed.weight[PAD_ID].zero_()

    @property
    def attends(self) -> bool:
        """The decoder always attends to the encoder states."""
        return True

    # -- encoder and decoder --------------------------------------------------

    def encode(self, sources: Sources) -> TransformerEncoded:
        """The sources' keys and values for each decoder layer."""
        vectors = sources.vectors  # B×T×W
        positions = torch.arange(vectors.shape[1], device=vectors.device)  # T
        mask = positions.unsqueeze(0) < sources.lengths.to(vectors.device).unsqueeze(1)
        x = self.source_projection(vectors) + sinusoids(positions, self.width)
        x = self.dropout(x)  # B×T×D
        key_mask = mask[:, None, None, :]  # B×1×1×T
        for layer in self.encoder_layers:
            x = layer(x, key_mask)
        states = self.encoder_norm(x)  # B×T×D
        memory = tuple(
            layer.cross_attention.keys_values(states) for layer in self.decoder_layers
        )
        return TransformerEncoded(
            memory,
            mask,
            sources.ids,
            sources.n_copy_only,
            context_ids(sources.ids, sources.document_lengths),
        )

    def decode(
        self,
        tokens: Tensor,
        encoded: TransformerEncoded,
        cache: Optional[Tuple[KeysValues, ...]] = None,
    ) -> Decoded:
        """Run the decoder over B×S input tokens: all positions from the
        start without a cache (causally masked), else one position after
        the cached ones. Copy-only ids (>= V) are read as UNK."""
        start = 0 if cache is None else cache[0][0].shape[2]
        tokens = tokens.masked_fill(tokens >= self.vocab_size, UNK_ID)
        embedded = self.embed(tokens) * math.sqrt(self.width)  # B×S×D
        positions = torch.arange(start, start + tokens.shape[1], device=tokens.device)
        x = self.dropout(embedded + sinusoids(positions, self.width))
        mask = encoded.mask[:, None, None, :]  # B×1×1×T
        new_cache: List[KeysValues] = []
        last = len(self.decoder_layers) - 1
        for i, layer in enumerate(self.decoder_layers):
            x, keys_values, attention, context = layer(
                x,
                None if cache is None else cache[i],
                encoded.memory[i],
                mask,
                i == last,
            )
            new_cache.append(keys_values)
        assert attention is not None
        outputs = self.decoder_norm(x)  # B×S×D
        copy_inputs = torch.cat([outputs, context, embedded], -1)  # B×S×3D
        return Decoded(outputs, copy_inputs, attention, tuple(new_cache))

    def shifted(self, target_ids: Tensor) -> Tensor:
        """The decoder's inputs for B×U targets: BOS, then all but the last."""
        bos = torch.full_like(target_ids[:, :1], BOS_ID)
        return torch.cat([bos, target_ids[:, :-1]], 1)  # B×U

    # -- the output distribution ----------------------------------------------

    def vocab_logits(self, outputs: Tensor) -> Tensor:
        """...×D -> ...×V"""
        if self.generator is not None:
            return self.generator(outputs)
        return F.linear(outputs, self.embed.weight, self.generator_bias)

    def generation_probability(self, copy_inputs: Tensor) -> Tensor:
        """p_gen, the weight of the vocabulary distribution against copying:
        ...×3D -> ...×1 (needs copy)."""
        assert self.copy_gate is not None
        return torch.sigmoid(self.copy_gate(copy_inputs).float())

    def probs(self, decoded: Decoded, source_ids: Tensor, n_copy_only: int) -> Tensor:
        """Probabilities over the vocabulary and the copy-only words:
        B×S×D outputs, B×S×T attention, B×1×T source ids -> B×S×(V+X)."""
        generated = self.vocab_logits(decoded.outputs).float().softmax(-1)  # B×S×V
        if self.copy_gate is not None:
            p_gen = self.generation_probability(decoded.copy_inputs)  # B×S×1
            generated = generated * p_gen
        probs = F.pad(generated, (0, n_copy_only))  # B×S×(V+X)
        if self.copy_gate is None:
            return probs
        copied = decoded.attention * (1.0 - p_gen)  # B×S×T
        return probs.scatter_add_(-1, source_ids.expand_as(copied), copied)

    def target_log_probs(
        self, decoded: Decoded, source_ids: Tensor, target_ids: Tensor
    ) -> Tensor:
        """The log-probabilities of the B×U targets only, as `probs` would
        give them (source_ids B×1×T) -> B×U."""
        log_vocab = self.vocab_logits(decoded.outputs).float().log_softmax(-1)
        in_vocab = target_ids < self.vocab_size
        vocab_ids = target_ids.masked_fill(~in_vocab, UNK_ID).unsqueeze(-1)
        generated = log_vocab.gather(-1, vocab_ids).squeeze(-1)  # B×U
        generated = generated.masked_fill(~in_vocab, float("-inf"))
        if self.copy_gate is None:
            return generated
        p_gen = self.generation_probability(decoded.copy_inputs).squeeze(-1)  # B×U
        matches = source_ids == target_ids.unsqueeze(-1)  # B×U×T
        copied = (decoded.attention * matches).sum(-1)  # B×U
        probs = p_gen * generated.exp() + (1.0 - p_gen) * copied
        return probs.clamp_min(1e-12).log()

    # -- the boundary ----------------------------------------------------------

    def forward(self, inputs: LossInputs) -> Tensor:
        """Cross-entropy, summed per sequence over the real target tokens:
        B×U target ids (EOS-terminated, PAD-padded) -> B losses. All target
        positions are decoded at once (teacher forcing). With
        `teacher_forcing` < 1, scheduled sampling in two passes (Mihaylova
        & Liu 2019): a teacher-forced pass without gradient samples each
        position's token, and each input is the gold previous token with
        probability `teacher_forcing`, else that sample. Label smoothing
        and the coverage loss as in torch_model's module.
        """
        encoded = self.encode(inputs.sources)
        target_ids = inputs.target_ids  # B×U
        if self.copy_gate is None:
            target_ids = target_ids.masked_fill(target_ids >= self.vocab_size, UNK_ID)
        source_ids = encoded.source_ids.unsqueeze(1)  # B×1×T
        decoder_inputs = self.shifted(target_ids)
        if inputs.teacher_forcing < 1.0:
            with torch.no_grad():
                probs = self.probs(
                    self.decode(decoder_inputs, encoded),
                    source_ids,
                    encoded.n_copy_only,
                )  # B×U×(V+X)
                mixed = scheduled_sample(
                    target_ids.reshape(-1),
                    probs.reshape(-1, probs.shape[-1]),
                    inputs.teacher_forcing,
                ).view(target_ids.shape)
            decoder_inputs = self.shifted(mixed)
        decoded = self.decode(decoder_inputs, encoded)
        label_smoothing = inputs.label_smoothing
        if label_smoothing > 0.0:
            probs = self.probs(decoded, source_ids, encoded.n_copy_only)
            log_probs = probs.clamp_min(1e-12).log()  # B×U×(V+X)
            losses = -log_probs.gather(-1, target_ids.unsqueeze(-1)).squeeze(-1)
            # spread over the real vocabulary, PAD excluded
            uniform = -log_probs[..., 1 : self.vocab_size].mean(-1)  # B×U
            losses = (1.0 - label_smoothing) * losses + label_smoothing * uniform
        else:
            losses = -self.target_log_probs(decoded, source_ids, target_ids)  # B×U
        if inputs.coverage_loss_weight > 0:
            attention = decoded.attention  # B×U×T
            coverage = attention.cumsum(1) - attention  # before each step
            overlap = torch.minimum(attention, coverage).sum(-1)  # B×U
            losses = losses + inputs.coverage_loss_weight * overlap
        return (losses * (target_ids != PAD_ID)).sum(1)  # B

    @torch.no_grad()
    def generate(self, inputs: GenerationInputs) -> Tuple[Tensor, Tensor]:
        """The best sequences of the search `inputs.decoding` asks for, with
        dropout off: B×K×L ids (PAD after EOS) and their B×K scores."""
        with evaluating(self):
            return search_decode(
                self,
                self.encode(inputs.sources),
                inputs.decoding,
                inputs.uniforms,
                inputs.content_classes,
            )

    def empty_source_log_probs(self, target_ids: Tensor) -> Tensor:
        """log p(T) of each of the N×L target ids after an empty source (one
        UNK token with a zero vector) -> N. For MMI reranking."""
        n_rows, device = target_ids.shape[0], target_ids.device
        width = self.source_projection.in_features
        empty = Sources(
            vectors=self.source_projection.weight.new_zeros((n_rows, 1, width)),
            lengths=torch.ones(n_rows, dtype=torch.long, device=device),
            ids=torch.full((n_rows, 1), UNK_ID, dtype=torch.long, device=device),
            n_copy_only=0,
        )
        in_vocab = target_ids.masked_fill(target_ids >= self.vocab_size, UNK_ID)
        return -self.forward(LossInputs(empty, in_vocab))

    @torch.no_grad()
    def align(self, inputs: AlignmentInputs) -> Tuple[Tensor, Tensor]:
        """What the decoder attended to while reading the B×U target ids,
        with dropout off: the B×U×T last-layer cross-attention averaged over
        the heads, and the B×U probability that each word was copied
        (1 - p_gen; 0 without copy)."""
        with evaluating(self):
            encoded = self.encode(inputs.sources)
            decoded = self.decode(self.shifted(inputs.target_ids), encoded)
            if self.copy_gate is None:
                return decoded.attention, decoded.attention.new_zeros(
                    inputs.target_ids.shape
                )
            p_gen = self.generation_probability(decoded.copy_inputs)  # B×U×1
            return decoded.attention, 1.0 - p_gen.squeeze(-1)

    # -- the search's protocol (search.StepModel) -----------------------------

    def start(self, encoded: TransformerEncoded) -> Tuple[Tensor, TransformerState]:
        """BOS tokens and an empty cache."""
        n_rows, device = encoded.mask.shape[0], encoded.mask.device
        keys = encoded.memory[0][0]  # B×h×T×d
        empty = keys.new_zeros((n_rows, self.heads, 0, keys.shape[-1]))  # B×h×0×d
        state = TransformerState(
            tuple((empty, empty) for _ in self.decoder_layers),
            torch.zeros(encoded.mask.shape, dtype=torch.float32, device=device),
        )
        return torch.full((n_rows,), BOS_ID, dtype=torch.long, device=device), state

    def next_probs(
        self, tokens: Tensor, state: TransformerState, encoded: TransformerEncoded
    ) -> Tuple[Tensor, TransformerState]:
        """One decoding step, the new position only: B×(V+X) probabilities
        and the state with its keys and values appended."""
        decoded = self.decode(tokens.unsqueeze(1), encoded, state.cache)
        probs = self.probs(
            decoded, encoded.source_ids.unsqueeze(1), encoded.n_copy_only
        )
        attention = decoded.attention[:, 0].float()  # B×T
        return probs[:, 0], TransformerState(decoded.cache, state.coverage + attention)
