"""The PyTorch encoder-decoder: a (bi)directional RNN encoder, and a decoder with
attention (or a fixed context), input feeding, coverage and a
pointer-generator copy distribution.

Shapes: B batch, T source length, U target length, W source vector width,
H hidden width, E target embedding width, V vocabulary, X copy-only words.
"""

import os
from typing import NamedTuple, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .attention import make_attention
from .initialization import initialize_weights
from .search import SearchSettings, decode
from .vocab import BOS_ID, PAD_ID, UNK_ID

# A forked process (nlp.pipe(n_process=N)) inherits torch's thread pool in a
# state that deadlocks its next parallel op: run torch single-threaded there,
# as torch's own DataLoader workers do.
os.register_at_fork(after_in_child=lambda: torch.set_num_threads(1))

# The decoding state: (h, c) for an LSTM, (h,) for a GRU, each B×H; when
# the decoder attends, then the coverage, the sum of the attention so far (B×T).
State = Tuple[Tensor, ...]
RNN_TYPES = {"lstm": (nn.LSTM, nn.LSTMCell), "gru": (nn.GRU, nn.GRUCell)}
# No attention: the encoder's summary C as the decoder's initial state only
# (Sutskever et al. 2014), or also fed to the decoder at every step (Cho et al. 2014).
FIXED_CONTEXTS = ("none_init", "none_every_step")


class Encoded(NamedTuple):
    memory: Tensor  # B×T×H, the encoder states h_1..h_T
    keys: Tensor  # B×T×K, the attention's keys, computed once per source
    mask: Tensor  # B×T, True at real source tokens
    summary: Tensor  # B×H, the encoder's final states C
    state: State  # the decoder's initial state

    def select(self, rows: Tensor) -> "Encoded":
        """Take these rows: repeat them for beams, or drop finished ones."""
        return Encoded(
            self.memory[rows],
            self.keys[rows],
            self.mask[rows],
            self.summary[rows],
            tuple(s[rows] for s in self.state),
        )


class RNNEncoder(nn.Module):
    """Stacked LSTM/GRU over padded source vectors, with dropout between the
    layers. Bidirectional, each direction is H/2 wide; its backward direction
    reads each source reversed within its own length, so no state at a real
    position sees padding: the states packing would give, without packing's
    slow per-step backward pass on CPU (scripts/benchmark_encoder.py: 4x
    faster here).
    """

    def __init__(
        self,
        input_width: int,
        hidden_width: int,
        n_layers: int,
        rnn_type: str,
        dropout: float,
        bidirectional: bool = True,
    ) -> None:
        super().__init__()
        rnn_class = RNN_TYPES[rnn_type][0]
        widths = [input_width] + [hidden_width] * (n_layers - 1)
        direction_width = hidden_width // 2 if bidirectional else hidden_width
        self.forward_rnns = nn.ModuleList(
            rnn_class(width, direction_width, batch_first=True) for width in widths
        )
        self.backward_rnns = (
            nn.ModuleList(
                rnn_class(width, direction_width, batch_first=True) for width in widths
            )
            if bidirectional
            else None
        )
        self.dropout = nn.Dropout(dropout)

    def forward(self, source: Tensor, lengths: Tensor) -> Tuple[Tensor, Tensor]:
        """B×T×W source, B lengths -> B×T×H states, B×H final summary (the
        forward direction at the last token, the backward one at the first).
        """
        lengths = lengths.to(source.device)
        reverse = reversal_index(lengths, source.shape[1])
        states = source
        for layer, forward_rnn in enumerate(self.forward_rnns):
            if layer > 0:
                states = self.dropout(states)
            forward_states, _ = forward_rnn(states)  # B×T×H/2, or B×T×H
            if self.backward_rnns is None:
                states = forward_states
                continue
            backward_rnn = self.backward_rnns[layer]
            backward_states, _ = backward_rnn(reverse_within_length(states, reverse))
            states = torch.cat(
                [forward_states, reverse_within_length(backward_states, reverse)], -1
            )  # B×T×H
        last = (lengths - 1).view(-1, 1, 1)
        last = last.expand(-1, 1, forward_states.shape[-1])
        final = forward_states.gather(1, last)  # B×1×H/2, or B×1×H
        if self.backward_rnns is not None:
            final = torch.cat([final, backward_states.gather(1, last)], -1)  # B×1×H
        return states, final.squeeze(1)


def reversal_index(lengths: Tensor, max_length: int) -> Tensor:
    """B×T positions that reverse each row's first `length` items and keep
    the padding where it is; the index is its own inverse."""
    positions = torch.arange(max_length, device=lengths.device).unsqueeze(0)  # 1×T
    reversed_positions = lengths.unsqueeze(1) - 1 - positions  # B×T
    return torch.where(positions < lengths.unsqueeze(1), reversed_positions, positions)


def reverse_within_length(sequences: Tensor, index: Tensor) -> Tensor:
    return sequences.gather(1, index.unsqueeze(-1).expand_as(sequences))


class AttentionalDecoder(nn.Module):
    """One RNN step per target token, then attention over the encoder states
    (or the encoder's fixed summary C) and the attentional output
    tanh(W[c_t; s_t]). With input feeding that output is fed back with the
    next token (Luong et al. 2015); with copy, a gate p_gen mixes the
    vocabulary distribution with the attention over the source words (See et
    al. 2017). With tied embeddings the output layer scores words against
    their input embeddings (Press & Wolf 2017) after a projection to the
    embedding width.
    """

    def __init__(
        self,
        vocab_size: int,
        embed_width: int,
        hidden_width: int,
        *,
        attention: str,
        attention_width: int,
        attention_heads: int,
        attention_window: int,
        rnn_type: str,
        dropout: float,
        input_feeding: bool,
        coverage: bool,
        copy: bool,
        tie_embeddings: bool,
    ) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.n_hidden = 2 if rnn_type == "lstm" else 1
        self.input_feeding = input_feeding
        self.context_every_step = attention == "none_every_step"
        self.embed = nn.Embedding(vocab_size, embed_width, padding_idx=PAD_ID)
        # unit-norm rows on average: N(0, 1) would make tied logits huge
        nn.init.normal_(self.embed.weight, std=embed_width**-0.5)
        with torch.no_grad():
            self.embed.weight[PAD_ID].zero_()
        n_fed = int(input_feeding) + int(self.context_every_step)
        self.cell = RNN_TYPES[rnn_type][1](
            embed_width + n_fed * hidden_width, hidden_width
        )
        self.attention = (
            None
            if attention in FIXED_CONTEXTS
            else make_attention(
                attention,
                hidden_width,
                attention_width=attention_width,
                heads=attention_heads,
                window=attention_window,
                coverage=coverage,
            )
        )
        has_context = attention != "none_init"
        combined_width = (1 + int(has_context)) * hidden_width
        self.combine = nn.Linear(combined_width, hidden_width, bias=False)
        if tie_embeddings:
            self.generator = nn.Linear(hidden_width, embed_width, bias=False)
            self.generator_bias = nn.Parameter(torch.zeros(vocab_size))
        else:
            self.generator = nn.Linear(hidden_width, vocab_size)
            self.generator_bias = None
        self.copy_gate = nn.Linear(combined_width + embed_width, 1) if copy else None
        self.dropout = nn.Dropout(dropout)

    def step(
        self, tokens: Tensor, state: State, feed: Tensor, encoded: Encoded
    ) -> Tuple[State, Tensor, Tensor, Optional[Tensor]]:
        """Advance one step: the new state, the attentional output, the copy
        gate's input and the B×T attention (None without attention).
        Copy-only ids (>= V) are read as UNK.
        """
        tokens = tokens.masked_fill(tokens >= self.vocab_size, UNK_ID)
        embedded = self.dropout(self.embed(tokens))  # B×E
        inputs = [embedded]
        if self.input_feeding:
            inputs.append(feed)  # B×H
        if self.context_every_step:
            inputs.append(encoded.summary)  # B×H
        hidden = state[: self.n_hidden]
        new_hidden = self.cell(
            torch.cat(inputs, dim=-1), hidden if self.n_hidden > 1 else hidden[0]
        )
        hidden = new_hidden if isinstance(new_hidden, tuple) else (new_hidden,)
        if self.attention is None:
            attention = None
            contexts = [encoded.summary] if self.context_every_step else []
            state = hidden
        else:
            coverage = state[self.n_hidden]
            context, attention = self.attention(
                hidden[0], encoded.keys, encoded.memory, encoded.mask, coverage
            )  # B×H, B×T
            contexts = [context]
            state = hidden + (coverage + attention,)
        combined = torch.cat(contexts + [hidden[0]], dim=-1)  # B×2H (B×H: no context)
        feed = self.dropout(torch.tanh(self.combine(combined)))  # B×H
        copy_input = torch.cat([combined, embedded], dim=-1)  # B×(2H+E)
        return state, feed, copy_input, attention

    def generation_probability(self, copy_input: Tensor) -> Tensor:
        """p_gen, the copy gate's weight of the vocabulary distribution
        against copying: ...×(2H+E) -> ...×1 (needs copy)."""
        assert self.copy_gate is not None
        return torch.sigmoid(self.copy_gate(copy_input))

    def vocab_logits(self, feed: Tensor) -> Tensor:
        """...×H -> ...×V"""
        if self.generator_bias is None:
            return self.generator(feed)
        return F.linear(self.generator(feed), self.embed.weight, self.generator_bias)

    def probs(
        self,
        feed: Tensor,
        copy_input: Tensor,
        attention: Optional[Tensor],
        source_ids: Tensor,
        n_extended: int,
    ) -> Tensor:
        """Probabilities over the vocabulary and the copy-only words, for any
        leading shape (...×H feed, ...×T attention) -> ...×(V+X).
        """
        generated = torch.softmax(self.vocab_logits(feed), dim=-1)  # ...×V
        if self.copy_gate is not None:
            p_gen = self.generation_probability(copy_input)  # ...×1
            generated = generated * p_gen
        probs = F.pad(generated, (0, n_extended))  # ...×(V+X), a new tensor
        if self.copy_gate is None:
            return probs
        copied = attention * (1.0 - p_gen)  # ...×T
        return probs.scatter_add_(-1, source_ids.expand_as(copied), copied)

    def target_log_probs(
        self,
        feed: Tensor,
        copy_input: Tensor,
        attention: Optional[Tensor],
        source_ids: Tensor,
        target_ids: Tensor,
    ) -> Tensor:
        """The log-probabilities of the given targets only, as `probs` would
        give them, without building the extended distribution.
        feed B×U×H, attention B×U×T, source_ids B×1×T, target_ids B×U -> B×U.
        """
        log_vocab = F.log_softmax(self.vocab_logits(feed), dim=-1)  # B×U×V
        in_vocab = target_ids < self.vocab_size
        vocab_ids = target_ids.masked_fill(~in_vocab, UNK_ID).unsqueeze(-1)
        generated = log_vocab.gather(-1, vocab_ids).squeeze(-1)  # B×U
        generated = generated.masked_fill(~in_vocab, float("-inf"))
        if self.copy_gate is None:
            return generated
        p_gen = self.generation_probability(copy_input).squeeze(-1)  # B×U
        matches = source_ids == target_ids.unsqueeze(-1)  # B×U×T
        copied = (attention * matches).sum(-1)  # B×U
        probs = p_gen * generated.exp() + (1.0 - p_gen) * copied
        return probs.clamp_min(1e-12).log()


class AttentionalSeq2SeqModule(nn.Module):
    """Encoder, bridge and decoder. `forward` returns each sequence's summed
    training loss given target ids, or the best sequences of a search given
    search settings.
    """

    def __init__(
        self,
        source_width: int,
        vocab_size: int,
        *,
        embed_width: int,
        hidden_width: int,
        encoder_layers: int,
        bidirectional: bool,
        rnn_type: str,
        attention: str,
        attention_width: int,
        attention_heads: int,
        attention_window: int,
        input_feeding: bool,
        coverage: bool,
        dropout: float,
        copy: bool,
        tie_embeddings: bool,
        init: str,
    ) -> None:
        super().__init__()
        self.source_dropout = nn.Dropout(dropout)
        self.encoder = RNNEncoder(
            source_width,
            hidden_width,
            encoder_layers,
            rnn_type,
            dropout,
            bidirectional,
        )
        n_state = 2 if rnn_type == "lstm" else 1
        self.bridge = nn.ModuleList(
            nn.Linear(hidden_width, hidden_width) for _ in range(n_state)
        )
        self.decoder = AttentionalDecoder(
            vocab_size,
            embed_width,
            hidden_width,
            attention=attention,
            attention_width=attention_width,
            attention_heads=attention_heads,
            attention_window=attention_window,
            rnn_type=rnn_type,
            dropout=dropout,
            input_feeding=input_feeding,
            coverage=coverage,
            copy=copy,
            tie_embeddings=tie_embeddings,
        )
        initialize_weights(self, init)

    def forward(
        self,
        source: Tensor,
        source_lengths: Tensor,
        source_ids: Tensor,
        n_extended: int,
        target_ids: Optional[Tensor] = None,
        label_smoothing: float = 0.0,
        teacher_forcing: float = 1.0,
        coverage_loss_weight: float = 0.0,
        search: Optional[SearchSettings] = None,
        uniforms: Optional[Tensor] = None,
        align: bool = False,
    ):
        encoded = self.encode(source, source_lengths)
        if align:
            assert target_ids is not None
            return self.align(encoded, source_ids, n_extended, target_ids)
        if search is None:
            assert target_ids is not None
            return self.sequence_losses(
                encoded,
                source_ids,
                n_extended,
                target_ids,
                label_smoothing,
                teacher_forcing,
                coverage_loss_weight,
            )
        return decode(self, encoded, source_ids, n_extended, search, uniforms)

    def encode(self, source: Tensor, source_lengths: Tensor) -> Encoded:
        memory, summary = self.encoder(self.source_dropout(source), source_lengths)
        positions = torch.arange(source.shape[1], device=source.device)
        mask = positions.unsqueeze(0) < source_lengths.to(source.device).unsqueeze(1)
        state = tuple(torch.tanh(layer(summary)) for layer in self.bridge)
        attention = self.decoder.attention
        if attention is None:
            return Encoded(memory, memory, mask, summary, state)
        coverage = memory.new_zeros(mask.shape)  # B×T
        return Encoded(
            memory, attention.keys(memory), mask, summary, state + (coverage,)
        )

    def read_targets(
        self,
        encoded: Encoded,
        source_ids: Tensor,
        n_extended: int,
        target_ids: Tensor,
        teacher_forcing: float = 1.0,
    ) -> Tuple[Tensor, Tensor, Optional[Tensor]]:
        """Run the decoder over B×U target ids, reading the gold previous
        token with probability `teacher_forcing`, else its own sample.
        Returns the B×U×H outputs, B×U×(2H+E) copy gate inputs and B×U×T
        attention (None without attention).
        """
        tokens, state, feed = self.start(encoded)
        feeds, copy_inputs, attentions = [], [], []
        for t in range(target_ids.shape[1]):
            state, feed, copy_input, attention = self.decoder.step(
                tokens, state, feed, encoded
            )
            feeds.append(feed)
            copy_inputs.append(copy_input)
            attentions.append(attention)
            tokens = target_ids[:, t]
            if teacher_forcing < 1.0:
                with torch.no_grad():
                    probs = self.decoder.probs(
                        feed, copy_input, attention, source_ids, n_extended
                    )  # B×(V+X)
                tokens = scheduled_sample(tokens, probs, teacher_forcing)
        return (
            torch.stack(feeds, 1),
            torch.stack(copy_inputs, 1),
            torch.stack(attentions, 1) if self.decoder.attention is not None else None,
        )

    def align(
        self, encoded: Encoded, source_ids: Tensor, n_extended: int, target_ids: Tensor
    ) -> Tuple[Tensor, Tensor]:
        """What the decoder attended to while producing the B×U target ids
        (a generated text): the B×U×T attention, and the B×U probability that
        each word was copied (1 - p_gen; 0 without copy). Without attention
        the weights are 0.
        """
        batch_size, length = target_ids.shape
        _, copy_inputs, attentions = self.read_targets(
            encoded, source_ids, n_extended, target_ids
        )
        if attentions is None:
            attentions = encoded.memory.new_zeros(
                (batch_size, length, encoded.mask.shape[1])
            )
        if self.decoder.copy_gate is None:
            return attentions, attentions.new_zeros((batch_size, length))
        p_gen = self.decoder.generation_probability(copy_inputs).squeeze(-1)  # B×U
        return attentions, 1.0 - p_gen

    def coverage(self, state: State) -> Optional[Tensor]:
        """The B×T sum of the attention so far (None without attention)."""
        if self.decoder.attention is None:
            return None
        return state[self.decoder.n_hidden]

    def start(self, encoded: Encoded) -> Tuple[Tensor, State, Tensor]:
        """BOS tokens, the initial state and an empty input feed."""
        batch_size = encoded.memory.shape[0]
        device = encoded.memory.device
        tokens = torch.full((batch_size,), BOS_ID, dtype=torch.long, device=device)
        feed = encoded.memory.new_zeros((batch_size, encoded.state[0].shape[-1]))
        return tokens, encoded.state, feed

    def next_probs(
        self,
        tokens: Tensor,
        state: State,
        feed: Tensor,
        encoded: Encoded,
        source_ids: Tensor,
        n_extended: int,
    ) -> Tuple[Tensor, State, Tensor]:
        """One decoding step: B×(V+X) probabilities, the new state and feed."""
        state, feed, copy_input, attention = self.decoder.step(
            tokens, state, feed, encoded
        )
        probs = self.decoder.probs(feed, copy_input, attention, source_ids, n_extended)
        return probs, state, feed

    def sequence_losses(
        self,
        encoded: Encoded,
        source_ids: Tensor,
        n_extended: int,
        target_ids: Tensor,
        label_smoothing: float,
        teacher_forcing: float = 1.0,
        coverage_loss_weight: float = 0.0,
    ) -> Tensor:
        """Cross-entropy, summed per sequence over the real target tokens:
        B×U target ids (EOS-terminated, PAD-padded) -> B. The decoder reads
        the gold previous token with probability `teacher_forcing`, else its
        own sample. With `coverage_loss_weight`, plus that times See et al.'s
        coverage loss sum_i min(a_t,i, c_t,i) at each step.
        """
        if coverage_loss_weight > 0 and self.decoder.attention is None:
            raise ValueError("The coverage loss needs a model with attention.")
        if self.decoder.copy_gate is None:
            target_ids = target_ids.masked_fill(
                target_ids >= self.decoder.vocab_size, UNK_ID
            )
        feeds, copy_inputs, attentions = self.read_targets(
            encoded, source_ids, n_extended, target_ids, teacher_forcing
        )
        source_ids = source_ids.unsqueeze(1)  # B×1×T
        if label_smoothing > 0.0:
            probs = self.decoder.probs(
                feeds, copy_inputs, attentions, source_ids, n_extended
            )  # B×U×(V+X)
            log_probs = probs.clamp_min(1e-12).log()
            losses = -log_probs.gather(-1, target_ids.unsqueeze(-1)).squeeze(-1)
            # spread over the real vocabulary, PAD excluded
            uniform = -log_probs[..., 1 : self.decoder.vocab_size].mean(-1)  # B×U
            losses = (1.0 - label_smoothing) * losses + label_smoothing * uniform
        else:
            losses = -self.decoder.target_log_probs(
                feeds, copy_inputs, attentions, source_ids, target_ids
            )  # B×U
        if coverage_loss_weight > 0:
            coverage = attentions.cumsum(1) - attentions  # B×U×T, before each step
            overlap = torch.minimum(attentions, coverage).sum(-1)  # B×U
            losses = losses + coverage_loss_weight * overlap
        return (losses * (target_ids != PAD_ID)).sum(1)  # B


def scheduled_sample(gold: Tensor, probs: Tensor, teacher_forcing: float) -> Tensor:
    """Scheduled sampling (Bengio et al. 2015): each row's next input is its
    gold token with probability `teacher_forcing`, else a token sampled from
    the model's B×(V+X) distribution `probs` (no gradient flows through it).
    """
    sampled = torch.multinomial(probs.float(), 1).squeeze(1)  # B
    use_gold = torch.rand(gold.shape, device=gold.device) < teacher_forcing
    return torch.where(use_gold, gold, sampled)
