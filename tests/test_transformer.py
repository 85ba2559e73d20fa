"""The Transformer encoder-decoder (spacy-seq2seq.TransformerSeq2Seq.v1).
What is built on the models' boundary (decodings, heatmaps, save/load,
apply, the server) is tested for it through the `architecture` fixture of
conftest.py; here: its search, its cache and its learning."""

from pathlib import Path
from typing import NamedTuple, Tuple

import pytest
import torch
from spacy.training import Example
from spacy.util import load_config, load_model_from_config, registry
from thinc.api import Adam, fix_random_seed

from spacy_seq2seq.model import search
from spacy_seq2seq.model.decoding import (
    BeamSearch,
    Sampling,
    changed_decoding,
    sampling_uniforms,
)
from spacy_seq2seq.model.search import decode
from spacy_seq2seq.model.torch_model import (
    AlignmentInputs,
    GenerationInputs,
    LossInputs,
    Sources,
)
from spacy_seq2seq.model.transformer import (
    TransformerEncoded,
    TransformerSeq2SeqModule,
)
from spacy_seq2seq.model.vocab import PAD_ID
from spacy_seq2seq.readers import create_dialogue_reader
from spacy_seq2seq.research.variants import variant_config

from .conftest import (
    SMALL_TRANSFORMER,
    beam_search,
    make_summarizer_nlp,
    read_examples,
)
from .test_convert import load_script
from .test_search import (
    LENGTHS,
    MAX_LENGTH,
    N_HYPOTHESES,
    N_WORDS,
    SOURCE_IDS,
    exhaustive_best,
)

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def tiny_transformer(vocab_size: int = 20, **settings) -> TransformerSeq2SeqModule:
    torch.manual_seed(0)
    defaults = dict(
        width=16,
        heads=2,
        encoder_layers=2,
        decoder_layers=2,
        ff_width=24,
        dropout=0.0,
        copy=True,
        tie_embeddings=True,
    )
    return TransformerSeq2SeqModule(8, vocab_size, **{**defaults, **settings}).eval()


# Three sources of different lengths with copy-only ids (20-22).
BATCH = Sources(
    torch.randn(3, 6, 8, generator=torch.Generator().manual_seed(1)),
    torch.tensor([6, 2, 4]),
    torch.tensor([[4, 20, 21, 7, 20, 9], [22, 5, 0, 0, 0, 0], [8, 8, 21, 4, 0, 0]]),
    3,
)


class UncachedState(NamedTuple):
    """The decoder's state without a cache: the tokens read so far."""

    tokens: torch.Tensor  # N×t
    coverage: torch.Tensor  # N×T

    def select(self, rows: torch.Tensor) -> "UncachedState":
        return UncachedState(self.tokens[rows], self.coverage[rows])


class Uncached:
    """The module's search protocol without the key/value cache: each step
    runs the decoder over the whole prefix again and reads its last
    position."""

    def __init__(self, module: TransformerSeq2SeqModule) -> None:
        self.module = module

    def start(self, encoded: TransformerEncoded) -> Tuple[torch.Tensor, UncachedState]:
        tokens, state = self.module.start(encoded)
        return tokens, UncachedState(tokens.new_zeros((len(tokens), 0)), state.coverage)

    def next_probs(
        self, tokens: torch.Tensor, state: UncachedState, encoded: TransformerEncoded
    ) -> Tuple[torch.Tensor, UncachedState]:
        prefix = torch.cat([state.tokens, tokens.unsqueeze(1)], 1)  # N×(t+1)
        decoded = self.module.decode(prefix, encoded)
        probs = self.module.probs(
            decoded, encoded.source_ids.unsqueeze(1), encoded.n_copy_only
        )
        coverage = state.coverage + decoded.attention[:, -1]
        return probs[:, -1], UncachedState(prefix, coverage)

    def empty_source_log_probs(self, target_ids: torch.Tensor) -> torch.Tensor:
        return self.module.empty_source_log_probs(target_ids)


@pytest.mark.parametrize("length_penalty", [0.0, 1.0])
def test_a_beam_of_every_hypothesis_finds_the_exhaustive_best(length_penalty):
    """test_search's brute-force check, on the Transformer: a beam as wide
    as the number of hypotheses finds the best sequence, with the beam
    reordering the key/value cache at every step."""
    decoding = BeamSearch(
        beam_size=N_HYPOTHESES, max_length=MAX_LENGTH, length_penalty=length_penalty
    )
    # copy-only ids widen the distribution so that each row's top K holds
    # every continuation (never generated without copy)
    n_copy_only = N_HYPOTHESES - (4 + N_WORDS)
    module = tiny_transformer(4 + N_WORDS, copy=False)
    sources = Sources(torch.randn(4, 4, 8), LENGTHS, SOURCE_IDS, n_copy_only)
    with torch.no_grad():
        encoded = module.encode(sources)
        expected = exhaustive_best(module, encoded, decoding)
        ids, scores = search.beam_search(module, encoded, decoding)
    for row, (sequence, score) in enumerate(expected):
        best = ids[row, 0]
        assert best[best != PAD_ID].tolist() == sequence
        assert scores[row, 0].item() == pytest.approx(score, abs=1e-5)


@pytest.mark.parametrize(
    "decoding",
    [
        BeamSearch(beam_size=1, max_length=8),
        BeamSearch(beam_size=4, max_length=8, length_penalty=1.0, coverage_penalty=0.2),
        BeamSearch(beam_size=3, max_length=8, n_best=3, no_repeat_ngram_size=2),
        Sampling(top_p=0.9, n_best=2, max_length=8, seed=3),
    ],
    ids=["greedy", "beam", "beam-blocking", "sampling"],
)
def test_cached_decoding_equals_recomputing_the_prefix(decoding):
    """Decoding one new position per step with the key/value cache gives
    the ids and scores of running the decoder over the whole prefix at
    every step."""
    module = tiny_transformer()
    uniforms = None
    if isinstance(decoding, Sampling):
        uniforms = torch.from_numpy(sampling_uniforms(BATCH.ids.tolist(), decoding))
    with torch.no_grad():
        encoded = module.encode(BATCH)
        cached = decode(module, encoded, decoding, uniforms)
        uncached = decode(Uncached(module), encoded, decoding, uniforms)
    assert cached[0].tolist() == uncached[0].tolist()
    assert torch.allclose(cached[1], uncached[1], atol=1e-5)


def test_a_step_reads_only_the_new_position():
    """The cache grows by one position a step, and the step's
    probabilities are those of the full prefix's last position."""
    module = tiny_transformer()
    prefix = torch.tensor([[5, 9, 20], [7, 4, 22], [6, 6, 6]])
    with torch.no_grad():
        encoded = module.encode(BATCH)
        tokens, state = module.start(encoded)
        for t in range(prefix.shape[1]):
            probs, state = module.next_probs(tokens, state, encoded)
            assert state.length == t + 1
            tokens = prefix[:, t]
        full = module.decode(
            torch.cat([torch.full((3, 1), 1), prefix[:, :-1]], 1), encoded
        )
        expected = module.probs(full, encoded.source_ids.unsqueeze(1), 3)[:, -1]
    assert torch.allclose(probs, expected, atol=1e-6)


def test_outputs_do_not_depend_on_the_batch():
    """A source decoded, scored or aligned alone gives what it gets within
    a padded batch of longer and shorter sources."""
    module = tiny_transformer()
    decoding = BeamSearch(beam_size=4, max_length=8, n_best=2)
    targets = torch.tensor([[4, 20, 2, 0], [22, 2, 0, 0], [8, 21, 9, 2]])
    with torch.no_grad():
        ids, scores = module.generate(GenerationInputs(BATCH, decoding))
        losses = module(LossInputs(BATCH, targets, label_smoothing=0.1))
        attention, copied = module.align(AlignmentInputs(BATCH, targets))
        for row in range(3):
            length = int(BATCH.lengths[row])
            alone = Sources(
                BATCH.vectors[row : row + 1, :length],
                BATCH.lengths[row : row + 1],
                BATCH.ids[row : row + 1, :length],
                BATCH.n_copy_only,
            )
            one_ids, one_scores = module.generate(GenerationInputs(alone, decoding))
            assert one_ids[0].tolist() == ids[row, :, : one_ids.shape[2]].tolist()
            assert (ids[row, :, one_ids.shape[2] :] == PAD_ID).all()
            assert torch.allclose(one_scores[0], scores[row], atol=1e-5)
            target = targets[row : row + 1]
            loss = module(LossInputs(alone, target, label_smoothing=0.1))
            assert loss.item() == pytest.approx(losses[row].item(), abs=1e-4)
            one_attention, one_copied = module.align(AlignmentInputs(alone, target))
            assert torch.allclose(
                one_attention[0], attention[row, :, :length], atol=1e-6
            )
            assert torch.allclose(one_copied[0], copied[row], atol=1e-6)
    assert (attention.sum(-1) - 1.0).abs().max() < 1e-5  # a distribution per word
    assert (attention[1, :, 2:] == 0).all()  # never on padding


def test_training_losses_backpropagate_and_schedules_apply():
    """Every weight gets a gradient; scheduled sampling, label smoothing
    and the coverage loss change the loss, not its shape."""
    module = tiny_transformer().train()
    targets = torch.tensor([[4, 20, 2, 0], [22, 2, 0, 0], [8, 21, 9, 2]])
    vectors = BATCH.vectors.clone().requires_grad_()
    sources = BATCH._replace(vectors=vectors)
    plain = module(LossInputs(sources, targets))
    plain.sum().backward()
    missing = [n for n, p in module.named_parameters() if p.grad is None]
    assert missing == []
    assert vectors.grad is not None and vectors.grad[1, 2:].abs().sum() == 0
    torch.manual_seed(0)
    for changed in (
        LossInputs(sources, targets, label_smoothing=0.1),
        LossInputs(sources, targets, teacher_forcing=0.0),
        LossInputs(sources, targets, coverage_loss_weight=1.0),
    ):
        losses = module(changed)
        assert losses.shape == (3,) and torch.isfinite(losses).all()
        assert not torch.allclose(losses, plain)


def test_the_builder_checks_its_settings():
    with pytest.raises(ValueError, match="multiple of heads"):
        make_summarizer_nlp(model={**SMALL_TRANSFORMER, "width": 30, "heads": 4})
    with pytest.raises(ValueError, match="heads must be an integer"):
        make_summarizer_nlp(model={**SMALL_TRANSFORMER, "heads": "4"})


@pytest.mark.slow  # about 30 s of CPU: 384 updates
def test_the_transformer_learns_the_synthetic_reversal_task():
    """Reversing random symbols needs the alignment: attention that looks
    each output's symbol up at its mirrored position. After training on
    reversal pairs, most unseen sources are reversed exactly."""
    script = load_script(SCRIPTS / "make_synthetic_task.py")
    pairs = list(script.reversal_pairs(2200, 3, 8, 10, seed=0))
    nlp = make_summarizer_nlp(
        min_count=1,
        model={**SMALL_TRANSFORMER, "dropout": 0.0},
        # symbols repeat: nothing blocked
        decoding=beam_search(beam_size=1, no_repeat_ngram_size=0),
    )
    examples = []
    for pair in pairs:
        reference = nlp.make_doc(pair["text"])
        reference._.summary = pair["summary"]
        examples.append(Example(nlp.make_doc(pair["text"]), reference))
    train, held_out = examples[:2000], examples[2000:]
    fix_random_seed(0)
    nlp.initialize(lambda: train)
    optimizer = Adam(0.002, L2=0.0, grad_clip=0.0)
    for epoch in range(12):
        for start in range(0, len(train), 64):
            nlp.update(train[start : start + 64], sgd=optimizer)
    docs = list(nlp.pipe(eg.reference.text for eg in held_out))
    exact = sum(
        doc._.summary == eg.reference._.summary for doc, eg in zip(docs, held_out)
    )
    assert exact / len(held_out) > 0.8, [doc._.summary for doc in docs[:5]]


def test_the_transformer_variant_is_the_transformer_config():
    """The ablations' `transformer` variant trains what
    configs/summarizer_transformer.cfg describes."""
    configs = Path(__file__).resolve().parent.parent / "configs"
    variant = variant_config(configs / "summarizer.cfg", "transformer")
    config = load_config(configs / "summarizer_transformer.cfg", interpolate=False)
    model = config["components"]["summarizer"]["model"]
    model["nO"] = None  # spaCy fills it in: it is set at initialization
    assert variant["components"] == config["components"]


@pytest.mark.slow  # builds and trains both shipped Transformer configs
@pytest.mark.parametrize("name", ["summarizer", "responder"])
def test_the_shipped_configs_train_and_decode_with_every_decoding(
    name, reuters_dir, cmu_dog_dir
):
    configs = Path(__file__).resolve().parent.parent / "configs"
    config = load_config(configs / f"{name}_transformer.cfg")
    nlp = load_model_from_config(config, auto_fill=True, validate=True)
    component = nlp.get_pipe(name)
    if name == "summarizer":
        examples = read_examples(nlp, reuters_dir / "train.jsonl.gz", limit=32)
    else:
        read = create_dialogue_reader(cmu_dog_dir / "train.jsonl.gz", limit=32)
        examples = list(read(nlp))
    fix_random_seed(0)
    nlp.initialize(lambda: examples)
    optimizer = registry.resolve({"o": config["training"]["optimizer"]})["o"]
    losses = [nlp.update(examples, sgd=optimizer)[name] for _ in range(4)]
    assert losses[-1] < losses[0]
    texts = [eg.predicted.text for eg in examples[:4]]
    for kind, settings in (
        ("beam", {"beam_size": 4, "n_best": 2}),
        ("sampling", {"n_best": 2, "max_length": 10}),
        ("mmi", {"candidates": 4, "n_best": 2, "max_length": 10}),
    ):
        component.decoding = changed_decoding(component.decoding, kind, **settings)
        for doc in nlp.pipe(texts):
            assert isinstance(doc._.get(component.target_field), str)
            if component.candidates_field is not None:
                assert len(doc._.get(component.candidates_field)) == 2
