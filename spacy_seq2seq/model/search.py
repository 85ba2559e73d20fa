"""Batched decoding in torch over a whole batch at once: greedy and beam
search, top-k / top-p / temperature sampling, and samples reranked by
mutual information (MMI).

The search reads a model through `StepModel`: its start, its next step's
probabilities, and the rows it carries (the encoded sources and the decoder
state), which follow the hypotheses through their `select(rows)`.

With `unfaithful_penalty`, `decode` wraps the model and its sources
(`UnfaithfulPenalty`), so every search ranks as the penalised probabilities
say: the model's own code is unchanged.

Each search returns (ids, scores): B×K×L generated ids (PAD after EOS) and
B×K length-normalised log-probabilities (in beam search plus the coverage
penalty; with MMI the MMI scores), best candidate first (K = 1 for greedy,
beam_size for beam search, n_best for sampling, candidates for MMI).
"""

import dataclasses
import math
from typing import Any, Iterable, List, NamedTuple, Optional, Protocol, Tuple

import torch
from torch import Tensor

from .decoding import BeamSearch, Decoding, DecodingSettings, MMIRerank, Sampling
from .vocab import BOS_ID, EOS_ID, PAD_ID, UNK_ID

NEG_INF = float("-inf")
# Coverage below this counts as this: a source position never attended costs
# log(MIN_COVERAGE) instead of -inf, which would tie every hypothesis.
MIN_COVERAGE = 1e-6


class DecoderRows(Protocol):
    """A model's decoder state, a row per decoded sequence."""

    @property
    def coverage(self) -> Tensor:
        """N×T, the sum of the attention so far."""

    def select(self, rows: Tensor) -> Any:
        """These rows, of the same type."""


class SourceRows(Protocol):
    """A model's encoded sources, a row per decoded sequence."""

    @property
    def source_ids(self) -> Tensor:
        """N×T extended ids, the same id space as the generated ones."""

    @property
    def context_ids(self) -> Tensor:
        """N×T, the ids that context n-gram blocking reads: the source ids
        with PAD at a grounded source's document tokens (`context_ids`)."""

    @property
    def mask(self) -> Tensor:
        """N×T, True at real source tokens."""

    def select(self, rows: Tensor) -> Any:
        """These rows, of the same type."""


class StepModel(Protocol):
    """What the search needs of a model."""

    def start(self, encoded: Any) -> Tuple[Tensor, Any]:
        """N BOS tokens and the decoder's initial state (DecoderRows)."""

    def next_probs(
        self, tokens: Tensor, state: Any, encoded: Any
    ) -> Tuple[Tensor, Any]:
        """N×V' probabilities of the next token and the new state."""

    def empty_source_log_probs(self, target_ids: Tensor) -> Tensor:
        """log p(T): each of the N×L target ids' summed log-probability (PAD
        after EOS) after an empty source -> N. For MMI reranking."""


def take(parts: Iterable[Any], rows: Tensor) -> List[Any]:
    """These rows of each part: of a tensor by indexing, of a model's rows
    through their `select`."""
    return [
        part[rows] if isinstance(part, Tensor) else part.select(rows) for part in parts
    ]


class ContentClasses(NamedTuple):
    """The content-word classes `unfaithful_penalty` reads
    (spacy_seq2seq/faithfulness.py): words of a class share their stemmed
    content words; NO_CLASS (-1) for function words, punctuation, padding."""

    vocab: Tensor  # V int64, each vocabulary id's class
    source: Tensor  # B×T int64, each source token's class


def decode(
    model: StepModel,
    encoded: SourceRows,
    decoding: Decoding,
    uniforms: Optional[Tensor] = None,
    content_classes: Optional[ContentClasses] = None,
) -> Tuple[Tensor, Tensor]:
    """Run the search `decoding` asks for. Sampling (MMI's too) reads its
    randomness from `uniforms` (B×n_samples×max_length, see
    `decoding.sampling_uniforms`); `unfaithful_penalty` reads `content_classes`.
    """
    if decoding.unfaithful_penalty > 0:
        if content_classes is None:
            raise ValueError(
                "unfaithful_penalty needs the content-word classes of the "
                "vocabulary and of the sources: this model does not pass them."
            )
        model = UnfaithfulPenalty(
            model, content_classes.vocab, decoding.unfaithful_penalty
        )
        encoded = ClassedSources(encoded, content_classes.source)
    if isinstance(decoding, Sampling):
        expected = (
            encoded.source_ids.shape[0],
            decoding.n_samples,
            decoding.max_length,
        )
        if uniforms is None or tuple(uniforms.shape) != expected:
            got = "none" if uniforms is None else tuple(uniforms.shape)
            raise ValueError(
                f"{decoding.name} needs B×n_samples×max_length uniforms {expected}, "
                f"not {got}."
            )
        if isinstance(decoding, MMIRerank):
            return mmi_rerank(model, encoded, decoding, uniforms)
        return sample_search(model, encoded, decoding, uniforms)
    if decoding.beam_size == 1:
        return single_path_search(model, encoded, decoding)
    return beam_search(model, encoded, decoding)


class ClassedSources(NamedTuple):
    """A model's encoded sources with each token's content-word class, both
    following the hypotheses (SourceRows)."""

    encoded: Any  # the model's SourceRows
    classes: Tensor  # N×T, each source token's class

    @property
    def source_ids(self) -> Tensor:
        return self.encoded.source_ids

    @property
    def context_ids(self) -> Tensor:
        return self.encoded.context_ids

    @property
    def mask(self) -> Tensor:
        return self.encoded.mask

    def select(self, rows: Tensor) -> "ClassedSources":
        return ClassedSources(self.encoded.select(rows), self.classes[rows])


class UnfaithfulPenalty:
    """A StepModel whose next-token probability of each vocabulary word
    that is a content word its row's source lacks is multiplied by
    exp(-weight): `weight` off its log-probability. Copy-only ids are in
    the source by construction. Reads ClassedSources."""

    def __init__(self, model: StepModel, vocab_classes: Tensor, weight: float):
        self.model = model
        self.vocab_classes = vocab_classes  # V
        self.n_classes = (
            int(vocab_classes.max().item()) + 1 if len(vocab_classes) else 0
        )
        self.factor = math.exp(-weight)

    def start(self, encoded: ClassedSources) -> Tuple[Tensor, Any]:
        return self.model.start(encoded.encoded)

    def next_probs(
        self, tokens: Tensor, state: Any, encoded: ClassedSources
    ) -> Tuple[Tensor, Any]:
        probs, state = self.model.next_probs(tokens, state, encoded.encoded)
        unfaithful = self.unfaithful(encoded.classes)  # N×V
        vocab_size = unfaithful.shape[1]
        probs[:, :vocab_size] *= torch.where(unfaithful, self.factor, 1.0).to(probs)
        return probs, state

    def unfaithful(self, source_classes: Tensor) -> Tensor:
        """N×V: whether each vocabulary word is a content word that each
        row's source (N×T classes) lacks."""
        n_rows = source_classes.shape[0]
        # slot 0 stands for NO_CLASS, so the function words are "present"
        present = source_classes.new_zeros(
            (n_rows, self.n_classes + 1), dtype=torch.bool
        )
        present.scatter_(1, source_classes + 1, True)
        present[:, 0] = True
        slots = (self.vocab_classes + 1).unsqueeze(0).expand(n_rows, -1)  # N×V
        return ~present.gather(1, slots)

    def empty_source_log_probs(self, target_ids: Tensor) -> Tensor:
        # MMI's p(T) is the model's own, unpenalised
        return self.model.empty_source_log_probs(target_ids)


def length_normalizer(lengths: Tensor, alpha: float) -> Tensor:
    """GNMT's length penalty ((5 + |Y|) / 6) ** alpha; 1 when alpha = 0."""
    return ((5.0 + lengths.float()) / 6.0) ** alpha


def coverage_penalty(coverage: Tensor, mask: Tensor, beta: float) -> Tensor:
    """GNMT's coverage penalty beta * sum_i log(min(c_i, 1)) over the real
    source positions: N×T coverage (summed attention), N×T mask -> N.
    """
    return beta * (coverage.clamp(MIN_COVERAGE, 1.0).log() * mask).sum(-1)


def context_ids(source_ids: Tensor, document_lengths: Optional[Tensor]) -> Tensor:
    """The source ids (B×T) that context n-gram blocking reads: PAD at each
    row's first document_lengths (B) tokens, a grounded source's document,
    so that a reply may repeat the document's phrases (names, titles) but
    not the conversation's. Without document lengths, the source ids."""
    if document_lengths is None:
        return source_ids
    positions = torch.arange(source_ids.shape[1], device=source_ids.device)
    lengths = document_lengths.to(source_ids.device).unsqueeze(1)  # B×1
    in_document = positions.unsqueeze(0) < lengths  # B×T
    return source_ids.masked_fill(in_document, PAD_ID)


def block_tokens(
    probs: Tensor, history: Tensor, context: Tensor, decoding: DecodingSettings
) -> Tensor:
    """Zero, in place, what may not come next: PAD, BOS and UNK always, EOS
    before `min_length`, and any token that would repeat an n-gram of the
    history or of the context. probs: N×V', history: N×t generated ids,
    context: N×T extended ids (the same id space as the generated ones), the
    source's `context_ids`: PAD at a document's tokens, which are never
    blocked (PAD is blocked anyway, and no live hypothesis's history
    holds one).
    """
    probs[:, [PAD_ID, BOS_ID, UNK_ID]] = 0.0
    if history.shape[1] < decoding.min_length:
        probs[:, EOS_ID] = 0.0
    block_ngrams(probs, history, history, decoding.no_repeat_ngram_size)
    block_ngrams(probs, history, context, decoding.no_repeat_context_ngram_size)
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


def truncate_distribution(probs: Tensor, decoding: Sampling) -> Tensor:
    """Apply temperature, top-k and top-p (nucleus) to N×V' probabilities
    (not necessarily normalised); returns a new, unnormalised tensor.
    """
    if decoding.temperature != 1.0:
        # scaled by the row maximum first, so small temperatures can't underflow
        peak = probs.amax(1, keepdim=True).clamp_min(1e-30)
        probs = (probs / peak) ** (1.0 / decoding.temperature)
    if 0 < decoding.top_k < probs.shape[1]:
        kth_best = probs.topk(decoding.top_k, 1).values[:, -1:]  # N×1
        probs = probs.masked_fill(probs < kth_best, 0.0)
    if decoding.top_p < 1.0:
        sorted_probs, order = probs.sort(1, descending=True)
        mass_before = sorted_probs.cumsum(1) - sorted_probs
        total = mass_before[:, -1:] + sorted_probs[:, -1:]
        # the smallest set of best tokens whose mass reaches top_p
        drop_sorted = mass_before >= decoding.top_p * total
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


class Paths(NamedTuple):
    """The sequences of a single-path search still decoded, one row each."""

    rows: Tensor  # N, the output row of each
    tokens: Tensor  # N, the last token
    scores: Tensor  # N, summed log-probabilities
    history: Tensor  # N×t, the tokens so far
    uniforms: Tensor  # N×max_length to sample with (N×0: greedy)
    state: DecoderRows
    encoded: SourceRows

    def select(self, rows: Tensor) -> "Paths":
        return Paths(*take(self, rows))


def single_path_search(
    model: StepModel,
    encoded: SourceRows,
    decoding: DecodingSettings,
    uniforms: Optional[Tensor] = None,
) -> Tuple[Tensor, Tensor]:
    """One path per row: the likeliest token at each step (greedy), or with
    Sampling a draw from the truncated distribution, reading `uniforms`
    (N×max_length). A row leaves the batch when it ends.
    """
    tokens, state = model.start(encoded)
    n_rows = tokens.shape[0]
    scores = state.coverage.new_zeros(n_rows)
    paths = Paths(
        rows=torch.arange(n_rows, device=tokens.device),
        tokens=tokens,
        scores=scores,
        history=tokens.new_zeros((n_rows, 0)),
        uniforms=uniforms if uniforms is not None else scores.new_zeros((n_rows, 0)),
        state=state,
        encoded=encoded,
    )
    out_ids = tokens.new_full((n_rows, decoding.max_length), PAD_ID)
    out_scores = scores.new_zeros(n_rows)
    for step in range(decoding.max_length):
        probs, state = model.next_probs(paths.tokens, paths.state, paths.encoded)
        probs = block_tokens(probs, paths.history, paths.encoded.context_ids, decoding)
        if isinstance(decoding, Sampling):
            probs_kept = truncate_distribution(probs, decoding)
            tokens = draw(probs_kept, paths.uniforms[:, step])
        else:
            tokens = probs.argmax(-1)
        log_probs = probs.gather(1, tokens.unsqueeze(1)).squeeze(1).log()
        paths = paths._replace(
            tokens=tokens,
            scores=paths.scores + log_probs,
            history=torch.cat([paths.history, tokens.unsqueeze(1)], dim=1),
            state=state,
        )
        done = tokens == EOS_ID
        if step == decoding.max_length - 1:
            done = torch.ones_like(done)
        if done.any():
            normalizer = length_normalizer(
                torch.tensor(step + 1.0), decoding.length_penalty
            )
            out_ids[paths.rows[done], : step + 1] = paths.history[done]
            out_scores[paths.rows[done]] = paths.scores[done] / normalizer
            if done.all():
                break
            paths = paths.select(~done)
    return out_ids[:, : step + 1].unsqueeze(1), out_scores.unsqueeze(1)


def sample_search(
    model: StepModel, encoded: SourceRows, decoding: Sampling, uniforms: Tensor
) -> Tuple[Tensor, Tensor]:
    """n_best samples per source (uniforms: B×n_best×max_length), all
    decoded as rows of one batch, sorted by their score."""
    batch_size, n_samples, max_length = uniforms.shape
    rows = torch.arange(batch_size, device=encoded.source_ids.device)
    rows = rows.repeat_interleave(n_samples)
    ids, scores = single_path_search(
        model,
        encoded.select(rows),
        decoding,
        uniforms.reshape(batch_size * n_samples, max_length),
    )
    ids = ids.view(batch_size, n_samples, -1)
    scores, order = scores.view(batch_size, n_samples).sort(1, descending=True)
    return ids.gather(1, order.unsqueeze(-1).expand_as(ids)), scores


def mmi_rerank(
    model: StepModel, encoded: SourceRows, decoding: MMIRerank, uniforms: Tensor
) -> Tuple[Tensor, Tensor]:
    """The `candidates` samples of each source (uniforms:
    B×candidates×max_length), ranked by their MMI scores (`mmi_scores`).
    The samples are drawn as rows of one batch, and p(T) of them all is
    read in one teacher-forced pass.
    """
    # Unnormalised, the samples' scores are log p(T|S).
    unnormalised = dataclasses.replace(decoding, length_penalty=0.0)
    ids, conditional = sample_search(model, encoded, unnormalised, uniforms)  # B×K×L
    batch_size, n_candidates, length = ids.shape
    targets = ids.view(batch_size * n_candidates, length)
    unconditional = model.empty_source_log_probs(targets)  # B·K
    lengths = (targets != PAD_ID).sum(1)  # B·K, EOS included
    scores = mmi_scores(conditional.view(-1), unconditional, lengths, decoding).view(
        batch_size, n_candidates
    )
    scores, order = scores.sort(1, descending=True)
    return ids.gather(1, order.unsqueeze(-1).expand_as(ids)), scores


def mmi_scores(
    conditional: Tensor, unconditional: Tensor, lengths: Tensor, decoding: MMIRerank
) -> Tensor:
    """(log p(T|S) - mmi_weight * log p(T)) / ((5 + |T|) / 6) ** length_penalty
    + length_bonus * |T|, of N log p(T|S), N log p(T) and N lengths |T|."""
    mutual = conditional - decoding.mmi_weight * unconditional
    normalizer = length_normalizer(lengths, decoding.length_penalty)
    return mutual / normalizer + decoding.length_bonus * lengths


class Beams(NamedTuple):
    """The hypotheses of the sources still searched, one row each: N = b×r
    rows for b sources, r = 1 at the first step (all beams would be the
    same) and K after it."""

    tokens: Tensor  # N, the last token
    scores: Tensor  # N, summed log-probabilities
    lengths: Tensor  # N, tokens up to EOS
    finished: Tensor  # N, whether it ended
    penalty: Tensor  # N, the coverage penalty (frozen once it ends)
    history: Tensor  # N×t, the tokens so far
    state: DecoderRows

    @classmethod
    def start(cls, tokens: Tensor, state: DecoderRows) -> "Beams":
        """One empty hypothesis per source."""
        scores = state.coverage.new_zeros(tokens.shape)
        return cls(
            tokens=tokens,
            scores=scores,
            lengths=torch.zeros_like(tokens),
            finished=torch.zeros_like(tokens, dtype=torch.bool),
            penalty=scores.new_zeros(tokens.shape),
            history=tokens.new_zeros((tokens.shape[0], 0)),
            state=state,
        )

    def select(self, rows: Tensor) -> "Beams":
        """These rows: the hypotheses each new one extends, or those of the
        sources kept."""
        return Beams(*take(self, rows))


def beam_search(
    model: StepModel, encoded: SourceRows, decoding: BeamSearch
) -> Tuple[Tensor, Tensor]:
    """The hypotheses of every source advance together (`Beams`). A
    finished hypothesis stays in its beam, continuing with PAD at no cost,
    so it competes with the live ones on its length-normalised score. A
    source is done when its best hypothesis has finished (or at
    max_length); its rows leave the batch once a quarter of the batch is
    done. With a coverage penalty, a hypothesis is ranked by its normalised
    score plus the penalty of its coverage, frozen once it finishes.
    """
    tokens, state = model.start(encoded)
    beams = Beams.start(tokens, state)
    batch_size, beam_size = tokens.shape[0], decoding.beam_size
    searched = torch.arange(batch_size, device=tokens.device)  # b sources left
    recorded = torch.zeros_like(searched, dtype=torch.bool)
    out_ids = tokens.new_full((batch_size, beam_size, decoding.max_length), PAD_ID)
    out_scores = beams.scores.new_zeros((batch_size, beam_size))
    for step in range(decoding.max_length):
        probs, state = model.next_probs(beams.tokens, beams.state, encoded)
        beams = beams._replace(state=state)
        if decoding.coverage_penalty:
            beams = update_coverage_penalty(beams, encoded.mask, decoding)
        probs = block_tokens(probs, beams.history, encoded.context_ids, decoding)
        top_ids, candidates, lengths = expand(beams, probs, beam_size)
        ranked = rank(candidates, lengths, beams.penalty, decoding)  # N×K
        rows, best = choose(ranked, searched.shape[0], beam_size)
        beams = advance(
            beams._replace(lengths=lengths), rows, best, top_ids, candidates
        )
        if step == 0:  # each source's one row becomes K
            encoded = encoded.select(rows)
        done = beams.finished.view(-1, beam_size)[:, 0]  # b
        if step == decoding.max_length - 1:
            done = torch.ones_like(done)
        new = done & ~recorded
        if new.any():
            final, history = best_first(beams, new, decoding)
            out_ids[searched[new], :, : step + 1] = history
            out_scores[searched[new]] = final
            recorded |= new
        if recorded.all():
            return out_ids[:, :, : step + 1], out_scores
        if recorded.sum() * 4 >= searched.shape[0]:
            keep = (~recorded).repeat_interleave(beam_size)  # N
            searched, recorded = searched[~recorded], recorded[~recorded]
            beams, encoded = beams.select(keep), encoded.select(keep)
    return out_ids, out_scores


def update_coverage_penalty(beams: Beams, mask: Tensor, decoding: BeamSearch) -> Beams:
    """The live hypotheses' penalties for their coverage after this step."""
    live = coverage_penalty(beams.state.coverage, mask, decoding.coverage_penalty)
    return beams._replace(penalty=torch.where(beams.finished, beams.penalty, live))


def expand(
    beams: Beams, probs: Tensor, beam_size: int
) -> Tuple[Tensor, Tensor, Tensor]:
    """Each row's K best continuations, all the search can use: N×K ids and
    N×K summed log-probabilities, and each row's N lengths after them. A
    finished hypothesis continues with PAD alone, at no cost.
    """
    top_probs, top_ids = probs.topk(beam_size, 1)  # N×K
    pad_only = torch.full_like(top_probs[:1], NEG_INF)  # 1×K
    pad_only[0, 0] = 0.0
    finished = beams.finished.unsqueeze(1)  # N×1
    top_log_probs = torch.where(finished, pad_only, top_probs.log())
    top_ids = top_ids.masked_fill(finished, PAD_ID)
    candidates = beams.scores.unsqueeze(1) + top_log_probs  # N×K
    return top_ids, candidates, beams.lengths + (~beams.finished).long()


def rank(
    candidates: Tensor, lengths: Tensor, penalty: Tensor, decoding: BeamSearch
) -> Tensor:
    """N×K candidates' ranking scores: normalised by their length, plus
    their row's coverage penalty."""
    normalizer = length_normalizer(lengths, decoding.length_penalty)  # N
    return candidates / normalizer.unsqueeze(1) + penalty.unsqueeze(1)


def choose(ranked: Tensor, n_searched: int, beam_size: int) -> Tuple[Tensor, Tensor]:
    """The K best of each source's r×K ranked candidates (N×K, N = b×r):
    b×K indices into each source's candidates, best first, and the b×K
    (flattened) rows they extend."""
    rows_per_source = ranked.shape[0] // n_searched
    _, best = ranked.view(n_searched, -1).topk(beam_size, 1)  # b×K, sorted
    offsets = torch.arange(n_searched, device=ranked.device).unsqueeze(1)
    rows = (offsets * rows_per_source + best // beam_size).view(-1)
    return rows, best


def advance(
    beams: Beams, rows: Tensor, best: Tensor, top_ids: Tensor, candidates: Tensor
) -> Beams:
    """The chosen hypotheses: the rows they extend, each followed by its
    token. `beams.lengths` are already the candidates' lengths."""
    n_searched = best.shape[0]
    tokens = top_ids.view(n_searched, -1).gather(1, best).view(-1)  # b×K
    beams = beams.select(rows)
    return beams._replace(
        tokens=tokens,
        scores=candidates.view(n_searched, -1).gather(1, best).view(-1),
        finished=beams.finished | (tokens == EOS_ID),
        history=torch.cat([beams.history, tokens.unsqueeze(1)], dim=1),
    )


def best_first(
    beams: Beams, sources: Tensor, decoding: BeamSearch
) -> Tuple[Tensor, Tensor]:
    """The final scores (d×K) and ids (d×K×t) of the hypotheses of the
    sources marked in `sources` (b), best first."""
    final = beams.scores / length_normalizer(beams.lengths, decoding.length_penalty)
    final = final + beams.penalty
    beam_size = decoding.beam_size
    final, order = final.view(-1, beam_size)[sources].sort(1, descending=True)
    history = beams.history.view(-1, beam_size, beams.history.shape[1])[sources]
    return final, history.gather(1, order.unsqueeze(-1).expand_as(history))
