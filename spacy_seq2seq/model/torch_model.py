"""The PyTorch encoder-decoder: a (bi)directional RNN encoder, and a decoder with
attention (or a fixed context), input feeding, coverage and a
pointer-generator copy distribution.

One input type per purpose: `forward(LossInputs)` returns the training
losses, `generate(GenerationInputs)` the best sequences of a search and
`align(AlignmentInputs)` what the decoder attended to for given targets.

Shapes: B batch, T source length, U target length, W source vector width,
H hidden width, E target embedding width, V vocabulary, X copy-only words.
"""

import os
from contextlib import contextmanager
from typing import Iterator, NamedTuple, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..settings import check_text
from .attention import AttentionSettings, Memory, attention_kind
from .decoding import BeamSearch, Decoding
from .initialization import initialize_weights
from .search import ContentClasses, context_ids, decode
from .vocab import BOS_ID, PAD_ID, UNK_ID

# A forked process (nlp.pipe(n_process=N)) inherits torch's thread pool in a
# state that deadlocks its next parallel op: run torch single-threaded there,
# as torch's own DataLoader workers do.
os.register_at_fork(after_in_child=lambda: torch.set_num_threads(1))

RNN_TYPES = {"lstm": (nn.LSTM, nn.LSTMCell), "gru": (nn.GRU, nn.GRUCell)}


class Sources(NamedTuple):
    """The padded sources of a batch."""

    vectors: Tensor  # B×T×W, the source tokens' vectors
    lengths: Tensor  # B int64, each source's real length
    ids: Tensor  # B×T int64, extended ids (>= V: copy-only words), PAD-padded
    n_copy_only: int  # X, the copy-only ids the batch needs beyond V
    # B int64: a grounded source's first tokens that are its document's (the
    # search's context n-gram blocking skips them); None: no documents
    document_lengths: Optional[Tensor] = None


class LossInputs(NamedTuple):
    """What the training losses read: B×U target ids, EOS-terminated and
    PAD-padded, the label smoothing, the chance of reading the gold previous
    token (else the model's own sample) and the coverage loss's weight."""

    sources: Sources
    target_ids: Tensor
    label_smoothing: float = 0.0
    teacher_forcing: float = 1.0
    coverage_loss_weight: float = 0.0


class GenerationInputs(NamedTuple):
    """What a search reads: sampling needs B×n_best×max_length uniforms
    (`decoding.sampling_uniforms`), unfaithful_penalty the content classes."""

    sources: Sources
    decoding: Decoding
    uniforms: Optional[Tensor] = None
    content_classes: Optional[ContentClasses] = None


class AlignmentInputs(NamedTuple):
    """The B×U target ids (a generated text) to align with the sources."""

    sources: Sources
    target_ids: Tensor


class DecoderState(NamedTuple):
    """What the decoder carries from one step to the next, a row per sequence."""

    hidden: Tuple[Tensor, ...]  # (h, c) for an LSTM, (h,) for a GRU, each B×H
    feed: Tensor  # B×H, the last attentional output (input feeding)
    coverage: Tensor  # B×T, the sum of the attention so far

    def select(self, rows: Tensor) -> "DecoderState":
        """Take these rows: follow the beams, or drop finished ones."""
        return DecoderState(
            tuple(h[rows] for h in self.hidden), self.feed[rows], self.coverage[rows]
        )


class Encoded(NamedTuple):
    """The sources as the decoder reads them, a row per decoded sequence."""

    memory: Memory
    source_ids: Tensor  # B×T extended ids
    n_copy_only: int
    state: DecoderState  # the decoder's initial state
    context_ids: Tensor  # B×T, what context n-gram blocking reads (search.py)

    @property
    def mask(self) -> Tensor:
        """B×T, True at real source tokens."""
        return self.memory.mask

    def select(self, rows: Tensor) -> "Encoded":
        """Take these rows: repeat them for beams, or drop finished ones."""
        return Encoded(
            self.memory.select(rows),
            self.source_ids[rows],
            self.n_copy_only,
            self.state.select(rows),
            self.context_ids[rows],
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
        self.input_feeding = input_feeding
        self.embed = nn.Embedding(vocab_size, embed_width, padding_idx=PAD_ID)
        # unit-norm rows on average: N(0, 1) would make tied logits huge
        nn.init.normal_(self.embed.weight, std=embed_width**-0.5)
        with torch.no_grad():
            self.embed.weight[PAD_ID].zero_()
        settings = AttentionSettings(
            attention_width=attention_width,
            heads=attention_heads,
            window=attention_window,
            coverage=coverage,
        )
        attention_class = attention_kind(attention, settings, copy=copy)
        n_fed = int(input_feeding) + int(attention_class.feeds_summary)
        self.cell = RNN_TYPES[rnn_type][1](
            embed_width + n_fed * hidden_width, hidden_width
        )
        self.attention = attention_class(hidden_width, settings)
        combined_width = self.attention.context_width + hidden_width
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
        self, tokens: Tensor, state: DecoderState, memory: Memory
    ) -> Tuple[DecoderState, Tensor, Tensor]:
        """Advance one step: the new state (its feed the attentional
        output), the copy gate's input and the B×T attention weights.
        Copy-only ids (>= V) are read as UNK.
        """
        tokens = tokens.masked_fill(tokens >= self.vocab_size, UNK_ID)
        embedded = self.dropout(self.embed(tokens))  # B×E
        inputs = [embedded]
        if self.input_feeding:
            inputs.append(state.feed)  # B×H
        inputs.append(self.attention.step_input(memory))  # B×H or B×0
        # an LSTM cell reads and returns (h, c), a GRU cell h
        lstm = isinstance(self.cell, nn.LSTMCell)
        hidden = self.cell(
            torch.cat(inputs, dim=-1), state.hidden if lstm else state.hidden[0]
        )
        hidden = hidden if lstm else (hidden,)
        context, attention = self.attention(
            hidden[0], memory, state.coverage
        )  # B×C, B×T (C = H, or 0 for "none_init")
        combined = torch.cat([context, hidden[0]], dim=-1)  # B×(C+H)
        feed = self.dropout(torch.tanh(self.combine(combined)))  # B×H
        copy_input = torch.cat([combined, embedded], dim=-1)  # B×(C+H+E)
        return (
            DecoderState(hidden, feed, state.coverage + attention),
            copy_input,
            attention,
        )

    def generation_probability(self, copy_input: Tensor) -> Tensor:
        """p_gen, the copy gate's weight of the vocabulary distribution
        against copying: ...×(C+H+E) -> ...×1 (needs copy)."""
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
        attention: Tensor,
        source_ids: Tensor,
        n_copy_only: int,
    ) -> Tensor:
        """Probabilities over the vocabulary and the copy-only words, for any
        leading shape (...×H feed, ...×T attention) -> ...×(V+X).
        """
        generated = torch.softmax(self.vocab_logits(feed), dim=-1)  # ...×V
        if self.copy_gate is not None:
            p_gen = self.generation_probability(copy_input)  # ...×1
            generated = generated * p_gen
        probs = F.pad(generated, (0, n_copy_only))  # ...×(V+X), a new tensor
        if self.copy_gate is None:
            return probs
        copied = attention * (1.0 - p_gen)  # ...×T
        return probs.scatter_add_(-1, source_ids.expand_as(copied), copied)

    def target_log_probs(
        self,
        feed: Tensor,
        copy_input: Tensor,
        attention: Tensor,
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
    training loss; `generate` searches for the best sequences and `align`
    tells what the decoder attended to while reading given targets.
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
        check_text("rnn_type", rnn_type, choices=tuple(RNN_TYPES))
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

    @property
    def attends(self) -> bool:
        """Whether the decoder attends to the encoder states (not a fixed
        context)."""
        return self.decoder.attention.attends

    def forward(self, inputs: LossInputs) -> Tensor:
        """Cross-entropy, summed per sequence over the real target tokens:
        B×U target ids (EOS-terminated, PAD-padded) -> B losses.

        1. Encode the sources.
        2. Without copy, read the copy-only target ids as UNK: they can't
           be generated.
        3. Run the decoder over the targets, reading the gold previous
           token with probability `teacher_forcing`, else its own sample.
        4. Take each target's negative log-probability, under the full
           distribution mixed with a uniform one for label smoothing, else
           just the target's.
        5. With `coverage_loss_weight`, add that times See et al.'s coverage
           loss sum_i min(a_t,i, c_t,i) at each step.
        6. Sum over the real target tokens.
        """
        if inputs.coverage_loss_weight > 0 and not self.attends:
            raise ValueError("coverage_loss_weight needs a model with attention.")
        encoded = self.encode(inputs.sources)  # 1
        target_ids = inputs.target_ids  # B×U
        if self.decoder.copy_gate is None:  # 2
            target_ids = target_ids.masked_fill(
                target_ids >= self.decoder.vocab_size, UNK_ID
            )
        feeds, copy_inputs, attentions = self.read_targets(
            encoded, target_ids, inputs.teacher_forcing
        )  # 3: B×U×H, B×U×(C+H+E), B×U×T
        source_ids = encoded.source_ids.unsqueeze(1)  # B×1×T
        label_smoothing = inputs.label_smoothing
        if label_smoothing > 0.0:  # 4
            probs = self.decoder.probs(
                feeds, copy_inputs, attentions, source_ids, encoded.n_copy_only
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
        if inputs.coverage_loss_weight > 0:  # 5
            coverage = attentions.cumsum(1) - attentions  # B×U×T, before each step
            overlap = torch.minimum(attentions, coverage).sum(-1)  # B×U
            losses = losses + inputs.coverage_loss_weight * overlap
        return (losses * (target_ids != PAD_ID)).sum(1)  # 6: B

    @torch.no_grad()
    def generate(self, inputs: GenerationInputs) -> Tuple[Tensor, Tensor]:
        """The best sequences of the search `inputs.decoding` asks for, with
        dropout off: B×K×L ids (PAD after EOS) and their B×K scores, best
        first (K = beam_size for beam search, n_best for sampling,
        candidates for MMI reranking).
        """
        decoding = inputs.decoding
        if isinstance(decoding, BeamSearch) and decoding.coverage_penalty > 0:
            if not self.attends:
                raise ValueError("coverage_penalty needs a model with attention.")
        with evaluating(self):
            return decode(
                self,
                self.encode(inputs.sources),
                decoding,
                inputs.uniforms,
                inputs.content_classes,
            )

    def empty_source_log_probs(self, target_ids: Tensor) -> Tensor:
        """log p(T): the summed log-probability of each of the N×L target ids
        (PAD after EOS) after an empty source, read as the components read an
        empty text, one UNK token with a zero vector -> N. Nothing can be
        copied from it, so copy-only ids count as UNK. For MMI reranking.
        """
        n_rows, device = target_ids.shape[0], target_ids.device
        width = self.encoder.forward_rnns[0].input_size
        empty = Sources(
            vectors=self.bridge[0].weight.new_zeros((n_rows, 1, width)),  # N×1×W
            lengths=torch.ones(n_rows, dtype=torch.long, device=device),
            ids=torch.full((n_rows, 1), UNK_ID, dtype=torch.long, device=device),
            n_copy_only=0,
        )
        in_vocab = target_ids.masked_fill(target_ids >= self.decoder.vocab_size, UNK_ID)
        return -self.forward(LossInputs(empty, in_vocab))

    @torch.no_grad()
    def align(self, inputs: AlignmentInputs) -> Tuple[Tensor, Tensor]:
        """What the decoder attended to while reading the B×U target ids (a
        generated text), with dropout off: the B×U×T attention (zeros for a
        fixed context), and the B×U probability that each word was copied
        (1 - p_gen; 0 without copy).
        """
        with evaluating(self):
            encoded = self.encode(inputs.sources)
            _, copy_inputs, attentions = self.read_targets(encoded, inputs.target_ids)
            if self.decoder.copy_gate is None:
                return attentions, attentions.new_zeros(inputs.target_ids.shape)
            p_gen = self.decoder.generation_probability(copy_inputs)  # B×U×1
            return attentions, 1.0 - p_gen.squeeze(-1)

    def encode(self, sources: Sources) -> Encoded:
        """The encoder states, their keys and the decoder's initial state."""
        vectors = sources.vectors
        states, summary = self.encoder(self.source_dropout(vectors), sources.lengths)
        positions = torch.arange(vectors.shape[1], device=vectors.device)
        mask = positions.unsqueeze(0) < sources.lengths.to(vectors.device).unsqueeze(1)
        hidden = tuple(torch.tanh(layer(summary)) for layer in self.bridge)
        memory = Memory(states, self.decoder.attention.keys(states), mask, summary)
        state = DecoderState(
            hidden,
            feed=states.new_zeros((vectors.shape[0], hidden[0].shape[-1])),  # B×H
            coverage=states.new_zeros(mask.shape),  # B×T
        )
        return Encoded(
            memory,
            sources.ids,
            sources.n_copy_only,
            state,
            context_ids(sources.ids, sources.document_lengths),
        )

    def read_targets(
        self, encoded: Encoded, target_ids: Tensor, teacher_forcing: float = 1.0
    ) -> Tuple[Tensor, Tensor, Tensor]:
        """Run the decoder over B×U target ids, reading the gold previous
        token with probability `teacher_forcing`, else its own sample.
        Returns the B×U×H outputs, B×U×(C+H+E) copy gate inputs and B×U×T
        attention.
        """
        tokens, state = self.start(encoded)
        feeds, copy_inputs, attentions = [], [], []
        for t in range(target_ids.shape[1]):
            state, copy_input, attention = self.decoder.step(
                tokens, state, encoded.memory
            )
            feeds.append(state.feed)
            copy_inputs.append(copy_input)
            attentions.append(attention)
            tokens = target_ids[:, t]
            if teacher_forcing < 1.0:
                with torch.no_grad():
                    probs = self.decoder.probs(
                        state.feed,
                        copy_input,
                        attention,
                        encoded.source_ids,
                        encoded.n_copy_only,
                    )  # B×(V+X)
                tokens = scheduled_sample(tokens, probs, teacher_forcing)
        return (
            torch.stack(feeds, 1),
            torch.stack(copy_inputs, 1),
            torch.stack(attentions, 1),
        )

    def start(self, encoded: Encoded) -> Tuple[Tensor, DecoderState]:
        """BOS tokens and the decoder's initial state."""
        states = encoded.memory.states
        tokens = torch.full(
            states.shape[:1], BOS_ID, dtype=torch.long, device=states.device
        )
        return tokens, encoded.state

    def next_probs(
        self, tokens: Tensor, state: DecoderState, encoded: Encoded
    ) -> Tuple[Tensor, DecoderState]:
        """One decoding step: B×(V+X) probabilities and the new state."""
        state, copy_input, attention = self.decoder.step(tokens, state, encoded.memory)
        probs = self.decoder.probs(
            state.feed, copy_input, attention, encoded.source_ids, encoded.n_copy_only
        )
        return probs, state


@contextmanager
def evaluating(module: nn.Module) -> Iterator[None]:
    """Run the block with the module in eval mode (no dropout), then put it
    back in the mode it was in."""
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)


def scheduled_sample(gold: Tensor, probs: Tensor, teacher_forcing: float) -> Tensor:
    """Scheduled sampling (Bengio et al. 2015): each row's next input is its
    gold token with probability `teacher_forcing`, else a token sampled from
    the model's B×(V+X) distribution `probs` (no gradient flows through it).
    """
    sampled = torch.multinomial(probs.float(), 1).squeeze(1)  # B
    use_gold = torch.rand(gold.shape, device=gold.device) < teacher_forcing
    return torch.where(use_gold, gold, sampled)
