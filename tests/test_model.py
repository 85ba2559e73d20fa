import numpy
import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from spacy_seq2seq.model.decoding import BeamSearch, Sampling, sampling_uniforms
from spacy_seq2seq.model.torch_model import (
    AlignmentInputs,
    AttentionalSeq2SeqModule,
    GenerationInputs,
    LossInputs,
    RNNEncoder,
    Sources,
)
from spacy_seq2seq.model.vocab import EOS_ID, TargetVocab


@pytest.mark.parametrize("rnn_type", ["lstm", "gru"])
def test_encoder_states_equal_a_packed_bidirectional_rnn(rnn_type):
    torch.manual_seed(0)
    encoder = RNNEncoder(8, 12, 1, rnn_type, 0.0)
    packed_rnn = getattr(torch.nn, rnn_type.upper())(
        8, 6, bidirectional=True, batch_first=True
    )
    for name, param in encoder.forward_rnns[0].named_parameters():
        getattr(packed_rnn, name).data.copy_(param.data)
    for name, param in encoder.backward_rnns[0].named_parameters():
        getattr(packed_rnn, name + "_reverse").data.copy_(param.data)
    source = torch.randn(3, 7, 8)
    lengths = torch.tensor([7, 2, 5])
    states, final = encoder(source, lengths)
    packed = pack_padded_sequence(
        source, lengths, batch_first=True, enforce_sorted=False
    )
    expected, _ = pad_packed_sequence(packed_rnn(packed)[0], batch_first=True)
    for row, length in enumerate(lengths.tolist()):
        assert torch.allclose(states[row, :length], expected[row, :length], atol=1e-6)
        assert torch.allclose(final[row, :6], expected[row, length - 1, :6], atol=1e-6)
        assert torch.allclose(final[row, 6:], expected[row, 0, 6:], atol=1e-6)


# A tiny batch: vocabulary of 20 words, 3 copy-only words (ids 20-22).
SOURCE_LENGTHS = torch.tensor([5, 3])
SOURCE_IDS = torch.tensor([[4, 20, 21, 7, 20], [22, 5, 6, 0, 0]])
TARGET_IDS = torch.tensor([[20, 4, 21, EOS_ID], [22, 9, EOS_ID, 0]])


def tiny_module(vocab_size: int = 20, **settings) -> AttentionalSeq2SeqModule:
    torch.manual_seed(0)
    defaults = dict(
        embed_width=6,
        hidden_width=10,
        encoder_layers=2,
        bidirectional=True,
        rnn_type="lstm",
        attention="additive",
        attention_width=5,
        attention_heads=1,
        attention_window=0,
        input_feeding=True,
        coverage=False,
        dropout=0.0,
        copy=True,
        tie_embeddings=True,
        init="default",
    )
    return AttentionalSeq2SeqModule(8, vocab_size, **{**defaults, **settings})


def tiny_sources(source: torch.Tensor) -> Sources:
    return Sources(source, SOURCE_LENGTHS, SOURCE_IDS, 3)


def test_training_loss_uses_the_search_distribution():
    """The cheap target-only log-probabilities equal the full distribution's."""
    module = tiny_module().eval()
    sources = tiny_sources(torch.randn(2, 5, 8))
    with torch.no_grad():
        fast = module(LossInputs(sources, TARGET_IDS))
        smoothed_zero = module(LossInputs(sources, TARGET_IDS, label_smoothing=1e-9))
    assert torch.allclose(fast, smoothed_zero, atol=1e-4)


def test_vocab_keeps_spacing_and_copies_source_words():
    texts = [[("profit", False), ("up", False), (",", True), ("u.s.", False)]] * 2
    vocab = TargetVocab.build(texts, max_size=100, min_count=2)
    source = vocab.encode_source([("zenith", False), ("profit", False), ("'s", True)])
    assert source.copy_only_words == ["zenith", "'s"]
    ids = vocab.encode_target(["zenith", "profit", "up", ",", "gone"], source)
    assert ids[0] == len(vocab) and ids[-2] == vocab.index["<unk>"]
    assert (
        vocab.decode(
            [len(vocab), len(vocab) + 1, vocab.index["up"], vocab.index[","]], source
        )
        == "zenith's up,"
    )
    assert TargetVocab.from_json(vocab.to_json()).words == vocab.words


def test_global_norm_clipping_covers_thinc_and_torch_weights():
    from thinc.api import Linear, PyTorchWrapper_v2, chain

    from spacy_seq2seq.model.training import clip_gradients_by_global_norm

    model = chain(Linear(4, 3), PyTorchWrapper_v2(torch.nn.Linear(4, 2)))
    X = numpy.ones((5, 3), dtype="f")
    model.initialize(X=X)
    Y, backprop = model.begin_update(X)
    backprop(numpy.full(Y.shape, 100.0, dtype="f"))
    before = clip_gradients_by_global_norm(model, 1.0)
    after = clip_gradients_by_global_norm(model, 1.0)
    assert before > 10.0
    assert after == pytest.approx(1.0, rel=1e-4)


@pytest.mark.parametrize(
    "rnn_type,copy,tie_embeddings", [("gru", False, False), ("lstm", True, False)]
)
def test_module_variants_train_and_search(rnn_type, copy, tie_embeddings):
    module = tiny_module(
        rnn_type=rnn_type, dropout=0.1, copy=copy, tie_embeddings=tie_embeddings
    )
    source = torch.randn(2, 5, 8, requires_grad=True)
    sources = tiny_sources(source)
    losses = module(LossInputs(sources, TARGET_IDS, label_smoothing=0.1))
    assert losses.shape == (2,) and torch.isfinite(losses).all()
    losses.sum().backward()
    assert source.grad is not None and source.grad[1, 3:].abs().sum() == 0
    ids, scores = module.generate(
        GenerationInputs(sources, BeamSearch(beam_size=3, max_length=6))
    )
    greedy_ids, _ = module.generate(
        GenerationInputs(sources, BeamSearch(beam_size=1, max_length=6))
    )
    assert ids.shape[:2] == (2, 3) and greedy_ids.shape[:2] == (2, 1)
    assert (scores[:, :-1] >= scores[:, 1:]).all()  # best first
    assert not scores.requires_grad
    if not copy:
        assert (ids < 20).all()  # copy-only ids need the copy distribution


def test_generate_and_align_run_without_dropout():
    """Decoding a module left in training mode (as thinc leaves it) gives
    the eval-mode outputs, and leaves the module in training mode."""
    module = tiny_module(dropout=0.5)
    sources = tiny_sources(torch.randn(2, 5, 8))
    decoding = Sampling(n_best=2, max_length=5, seed=3)
    uniforms = torch.from_numpy(sampling_uniforms([[4, 20], [22, 5, 6]], decoding))
    generation = GenerationInputs(sources, decoding, uniforms)
    alignment = AlignmentInputs(sources, TARGET_IDS)
    in_training = module.generate(generation), module.align(alignment)
    assert module.training
    module.eval()
    in_eval = module.generate(generation), module.align(alignment)
    for got, expected in zip(in_training, in_eval):
        assert all(torch.equal(a, b) for a, b in zip(got, expected))


def test_alignment_is_the_attention_and_the_copy_probability():
    module = tiny_module().eval()
    sources = tiny_sources(torch.randn(2, 5, 8))
    attention, copied = module.align(AlignmentInputs(sources, TARGET_IDS))
    assert attention.shape == (2, 4, 5) and copied.shape == (2, 4)
    assert torch.allclose(attention.sum(-1), torch.ones(2, 4))
    assert (attention[1, :, 3:] == 0).all()  # padding
    assert ((copied > 0) & (copied < 1)).all()
    fixed = tiny_module(attention="none_every_step", copy=False)
    attention, copied = fixed.align(AlignmentInputs(sources, TARGET_IDS))
    assert not fixed.attends and module.attends
    assert (attention == 0).all() and (copied == 0).all()


def test_sampling_needs_the_uniforms_of_each_source():
    module = tiny_module()
    sources = tiny_sources(torch.randn(2, 5, 8))
    decoding = Sampling(n_best=2, max_length=5)
    with pytest.raises(ValueError, match="uniforms"):
        module.generate(GenerationInputs(sources, decoding))
    with pytest.raises(ValueError, match=r"uniforms \(2, 2, 5\), not \(2, 1, 5\)"):
        module.generate(GenerationInputs(sources, decoding, torch.rand(2, 1, 5)))
