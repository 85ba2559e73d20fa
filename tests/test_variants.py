"""The model family's settings: each changes what the model computes."""

import pytest
import spacy
import torch
from thinc.api import Model

from spacy_seq2seq.model.architectures import AttentionalSeq2Seq
from spacy_seq2seq.model.attention import ATTENTION_KINDS, FIXED_CONTEXTS
from spacy_seq2seq.model.decoding import BeamSearch
from spacy_seq2seq.model.schedules import (
    ExponentialDecay,
    InverseSigmoidDecay,
    LinearDecay,
    TeacherForcing,
)
from spacy_seq2seq.model.search import coverage_penalty
from spacy_seq2seq.model.torch_model import (
    GenerationInputs,
    LossInputs,
    RNNEncoder,
    scheduled_sample,
)

from .test_model import TARGET_IDS, tiny_module, tiny_sources

ATTENTIONS = [
    {"attention": "additive"},
    {"attention": "dot"},
    {"attention": "general"},
    {"attention": "scaled_dot"},
    {"attention": "cosine"},
    {"attention": "multihead", "attention_heads": 2, "attention_width": 6},
]
NO_ATTENTION = {"copy": False, "input_feeding": False}


def losses(module, source, **kwargs):
    torch.manual_seed(1)
    return module(LossInputs(tiny_sources(source), TARGET_IDS, **kwargs))


def with_baseline_weights(**settings):
    """A module with these settings and, where their shapes agree, the
    default module's weights: what differs comes from the settings."""
    module = tiny_module(**settings)
    baseline = tiny_module().state_dict()
    own = module.state_dict()
    shared = {k: v for k, v in baseline.items() if k in own and own[k].shape == v.shape}
    module.load_state_dict(shared, strict=False)
    return module


@pytest.mark.parametrize("window", [0, 1])
@pytest.mark.parametrize("settings", ATTENTIONS, ids=lambda s: s["attention"])
def test_attention_weights_are_a_distribution_over_real_tokens(settings, window):
    module = tiny_module(**settings, attention_window=window, coverage=True)
    encoded = module.encode(tiny_sources(torch.randn(2, 5, 8)))
    tokens, state = module.start(encoded)
    for token in TARGET_IDS.T:
        state, _, attention = module.decoder.step(tokens, state, encoded.memory)
        assert (attention[1, 3:] == 0).all()  # padding
        assert torch.allclose(attention.sum(-1), torch.ones(2))
        if window:  # at most 2D + 1 positions
            assert ((attention > 0).sum(-1) <= 3).all()
        tokens = token
    assert torch.allclose(state.coverage.sum(-1), torch.full((2,), 4.0))


SETTINGS = [
    *ATTENTIONS[1:],
    {"attention_window": 2},
    {"attention": "dot", "attention_window": 2},
    {"attention": "none_init", **NO_ATTENTION},
    {"attention": "none_every_step", **NO_ATTENTION},
    {"bidirectional": False},
    {"encoder_layers": 1},
    {"input_feeding": False},
    {"coverage": True},
    {"copy": False},
    {"tie_embeddings": False},
]


@pytest.mark.parametrize("settings", SETTINGS, ids=str)
def test_every_setting_changes_the_losses(settings):
    source = torch.randn(2, 5, 8)
    with torch.no_grad():
        expected = losses(tiny_module().eval(), source)
        got = losses(with_baseline_weights(**settings).eval(), source)
    assert torch.isfinite(got).all()
    assert not torch.allclose(got, expected)


def test_coverage_in_a_dot_score_starts_at_zero_weight():
    module = with_baseline_weights(attention="dot", coverage=True).eval()
    source = torch.randn(2, 5, 8)
    with torch.no_grad():
        before = losses(module, source)
        module.decoder.attention.coverage_weight.fill_(-1.0)
        after = losses(module, source)
    assert torch.allclose(
        before, losses(with_baseline_weights(attention="dot"), source)
    )
    assert not torch.allclose(before, after)


@pytest.mark.parametrize("attention", ["none_init", "none_every_step", "additive"])
def test_fixed_contexts_do_not_read_the_encoder_states(attention):
    settings = NO_ATTENTION if attention != "additive" else {}
    module = tiny_module(attention=attention, **settings).eval()
    with torch.no_grad():
        encoded = module.encode(tiny_sources(torch.randn(2, 5, 8)))
        noise = torch.randn_like(encoded.memory.states)
        keys = module.decoder.attention.keys(noise)
        scrambled = encoded._replace(
            memory=encoded.memory._replace(states=noise, keys=keys)
        )
        outputs, _, weights = module.read_targets(encoded, TARGET_IDS)
        scrambled_outputs, _, _ = module.read_targets(scrambled, TARGET_IDS)
    assert torch.equal(outputs, scrambled_outputs) == (attention != "additive")
    assert (weights == 0).all() == (attention != "additive")


@pytest.mark.parametrize(
    "attention,settings,message",
    [
        ("none_init", {}, 'copy needs attention; with attention = "none_init"'),
        ("none_every_step", {"copy": False, "coverage": True}, "coverage needs"),
        ("none_init", {"copy": False, "attention_window": 3}, "window needs"),
        ("dot", {"attention_heads": 2}, 'needs attention = "multihead"'),
        ("multihead", {"attention_heads": 3, "attention_width": 5}, "divisible"),
        ("luong", {}, "attention must be one of 'additive', 'dot'"),
    ],
)
def test_conflicting_settings_are_rejected_when_the_module_is_built(
    attention, settings, message
):
    with pytest.raises(ValueError, match=message):
        tiny_module(attention=attention, **settings)


def test_every_attention_kind_is_registered_and_says_whether_it_attends():
    assert set(FIXED_CONTEXTS) == {"none_init", "none_every_step"}
    for kind in ATTENTION_KINDS:
        settings = NO_ATTENTION if kind in FIXED_CONTEXTS else {}
        heads = {"attention_heads": 5} if kind == "multihead" else {}
        module = tiny_module(attention=kind, **settings, **heads)
        assert module.attends == (kind not in FIXED_CONTEXTS)


@pytest.mark.parametrize("rnn_type", ["lstm", "gru"])
def test_unidirectional_encoder_equals_a_torch_rnn(rnn_type):
    torch.manual_seed(0)
    encoder = RNNEncoder(8, 12, 2, rnn_type, 0.0, bidirectional=False)
    rnn = getattr(torch.nn, rnn_type.upper())(8, 12, num_layers=2, batch_first=True)
    for layer, own in enumerate(encoder.forward_rnns):
        for name, param in own.named_parameters():
            getattr(rnn, name.replace("l0", f"l{layer}")).data.copy_(param.data)
    source = torch.randn(3, 7, 8)
    lengths = torch.tensor([7, 2, 5])
    states, final = encoder(source, lengths)
    expected, _ = rnn(source)
    assert states.shape == (3, 7, 12)
    for row, length in enumerate(lengths.tolist()):
        assert torch.allclose(states[row, :length], expected[row, :length], atol=1e-6)
        assert torch.allclose(final[row], expected[row, length - 1], atol=1e-6)


def test_coverage_loss_adds_the_overlap_of_attention_and_coverage():
    module = tiny_module(coverage=True).eval()
    source = torch.randn(2, 5, 8)
    with torch.no_grad():
        plain = losses(module, source)
        weighted = losses(module, source, coverage_loss_weight=0.5)
        encoded = module.encode(tiny_sources(source))
        tokens, state = module.start(encoded)
        overlap = torch.zeros(2)
        for t in range(TARGET_IDS.shape[1]):
            coverage = state.coverage
            state, _, attention = module.decoder.step(tokens, state, encoded.memory)
            real = TARGET_IDS[:, t] != 0
            overlap += torch.minimum(attention, coverage).sum(-1) * real
            tokens = TARGET_IDS[:, t]
    assert (overlap > 0).all()
    assert torch.allclose(weighted - plain, 0.5 * overlap, atol=1e-5)


def test_coverage_penalty_is_gnmts():
    coverage = torch.tensor([[0.5, 2.0, 0.0], [0.0, 1.0, 0.25]])
    mask = torch.tensor([[True, True, False], [True, True, True]])
    penalty = coverage_penalty(coverage, mask, 0.2)
    expected = 0.2 * torch.tensor([0.5, 1e-6 * 0.25]).log()
    assert torch.allclose(penalty, expected)


def test_coverage_penalty_changes_the_beam_scores():
    module = tiny_module(coverage=True).eval()
    sources = tiny_sources(torch.randn(2, 5, 8))
    results = []
    for beta in (0.0, 1.0):
        # two steps can't cover the five source tokens
        decoding = BeamSearch(beam_size=3, max_length=2, coverage_penalty=beta)
        results.append(module.generate(GenerationInputs(sources, decoding)))
    (_, plain), (_, penalised) = results
    assert (penalised[:, :-1] >= penalised[:, 1:]).all()  # best first
    assert not torch.allclose(penalised, plain)


@pytest.mark.parametrize("attention", FIXED_CONTEXTS)
def test_coverage_settings_need_a_model_with_attention(attention):
    module = tiny_module(attention=attention, **NO_ATTENTION)
    sources = tiny_sources(torch.randn(2, 5, 8))
    decoding = BeamSearch(beam_size=2, max_length=2, coverage_penalty=0.5)
    with pytest.raises(ValueError, match="coverage_penalty needs a model with"):
        module.generate(GenerationInputs(sources, decoding))
    with pytest.raises(ValueError, match="coverage_loss_weight needs a model with"):
        losses(module, sources.vectors, coverage_loss_weight=0.5)


def test_teacher_forcing_below_one_feeds_samples():
    module = tiny_module().eval()
    source = torch.randn(2, 5, 8)
    with torch.no_grad():
        forced = losses(module, source)
        assert torch.equal(losses(module, source, teacher_forcing=1.0), forced)
        free = losses(module, source, teacher_forcing=0.0)
    assert not torch.allclose(free, forced)
    gold = torch.full((1000,), 7)
    probs = torch.zeros(1000, 10)
    probs[:, 3] = 1.0
    torch.manual_seed(0)
    fed = scheduled_sample(gold, probs, 0.25)
    assert set(fed.tolist()) == {3, 7}
    assert 0.2 < (fed == 7).float().mean() < 0.3


def test_teacher_forcing_schedules():
    assert TeacherForcing(0.75)(1000) == 0.75
    linear = LinearDecay(k=1.0, c=0.1, eps_min=0.5)
    assert [linear(i) for i in (0, 2, 10)] == pytest.approx([1.0, 0.8, 0.5])
    assert ExponentialDecay(k=0.9)(2) == pytest.approx(0.81)
    inverse_sigmoid = InverseSigmoidDecay(k=10.0)
    assert inverse_sigmoid(0) == pytest.approx(10 / 11)
    assert inverse_sigmoid(10**9) < 1e-100


def recurrent_weights(module):
    return [p for n, p in module.named_parameters() if "weight_hh" in n]


def test_initialisation_schemes():
    default = tiny_module()
    orthogonal = tiny_module(init="orthogonal")
    for weight in recurrent_weights(orthogonal):
        for gate in weight.split(weight.shape[1]):
            assert torch.allclose(gate @ gate.T, torch.eye(gate.shape[0]), atol=1e-5)
    for scheme in ("xavier", "he"):
        module = tiny_module(init=scheme)
        biases = [
            p
            for n, p in module.named_parameters()
            if n.split(".")[-1].startswith("bias")
        ]
        assert biases and all((b == 0).all() for b in biases)
        assert torch.equal(module.decoder.embed.weight, default.decoder.embed.weight)
        assert not torch.equal(
            module.decoder.combine.weight, default.decoder.combine.weight
        )
    assert torch.equal(
        orthogonal.decoder.combine.weight, default.decoder.combine.weight
    )


@pytest.mark.parametrize(
    "settings,message",
    [
        ({"attention": "luong"}, "attention must be one of 'additive', 'dot'"),
        ({"init": "glorot"}, "init must be one of 'default', 'xavier'"),
        ({"rnn_type": "rnn"}, "rnn_type must be one of"),
        ({"attention_heads": 2}, 'needs attention = "multihead"'),
        ({"attention": "multihead", "attention_heads": 3}, "divisible"),
        ({"attention": "none_init"}, "copy needs attention"),
        (
            {"attention": "none_every_step", "copy": False, "coverage": True},
            "coverage needs",
        ),
        (
            {"attention": "none_init", "copy": False, "attention_window": 3},
            "window needs",
        ),
        ({"hidden_width": 11}, "even when bidirectional"),
    ],
)
def test_builder_names_the_allowed_values(settings, message):
    with pytest.raises(ValueError, match=message):
        AttentionalSeq2Seq(
            Model("tok2vec", lambda m, X, is_train: (X, None)), **settings
        )


def test_unidirectional_encoder_takes_an_odd_width():
    AttentionalSeq2Seq(
        Model("tok2vec", lambda m, X, is_train: (X, None)),
        hidden_width=11,
        bidirectional=False,
    )


@pytest.mark.parametrize(
    "config",
    [
        {"coverage_loss_weight": -0.1},
        {
            "decoding": {
                "@misc": "spacy-seq2seq.BeamSearch.v1",
                "coverage_penalty": -0.1,
            }
        },
    ],
)
def test_negative_coverage_weights_are_an_error(config):
    nlp = spacy.blank("en")
    with pytest.raises(ValueError, match="must be >= 0"):
        nlp.add_pipe("seq2seq_summarizer", config=config)
