"""The self-supervised readers for pretraining (spacy_seq2seq/pretraining.py)
and the fine-tuning that starts from a pretrained component through spaCy's
`source`."""

import gzip
import json
import random
from pathlib import Path

import pytest
import spacy
import torch
from spacy.training.initialize import init_nlp
from spacy.util import load_config

from spacy_seq2seq.model.architectures import torch_module
from spacy_seq2seq.pretraining import (
    add_noise,
    create_denoising_reader,
    create_gap_sentence_reader,
    create_mixed_reader,
    create_next_turn_reader,
    create_raw_text_reader,
    split_sentences,
)
from spacy_seq2seq.readers import TURN_SEPARATOR
from spacy_seq2seq.settings import SettingError

from .conftest import SMALL_MODEL

CONFIGS = Path(__file__).resolve().parent.parent / "configs"

NEWS = [
    "the central bank kept its key rate unchanged on thursday. inflation eased "
    "to two pct in march, the lowest in a year. analysts had expected no change.",
    "acme inc. said it would cut 300 jobs at its u.s. plants. the company said "
    "demand for its machines fell sharply. shares of acme fell 5 pct.",
    "oil prices rose after the cartel agreed to cut output. brent crude gained "
    "two dlrs a barrel. traders said supplies would tighten.",
]


def write(path: Path, lines) -> Path:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf8") as file_:
        file_.write("\n".join(lines) + "\n")
    return path


def pairs(read, nlp, field="summary"):
    return [(eg.predicted.text, eg.reference._.get(field)) for eg in read(nlp)]


def test_split_sentences_keeps_abbreviations_and_initials_together():
    text = (
        'mr. smith of acme inc. met u.s. officials on jan. 5. he left. "why?" she asked'
    )
    assert split_sentences(text) == [
        "mr. smith of acme inc. met u.s. officials on jan. 5.",
        "he left.",
        '"why?"',
        "she asked",
    ]
    # capitals are never needed: lowercased and cased text split alike
    assert split_sentences("Rates rose. Stocks fell.") == [
        "Rates rose.",
        "Stocks fell.",
    ]
    assert split_sentences("  ") == []


def test_noise_masks_spans_with_one_token_each_and_drops_words():
    words = [f"w{i}" for i in range(40)]
    rng = random.Random(0)
    noisy = add_noise(
        words,
        rng,
        mask_rate=0.3,
        span_mean=3.0,
        drop_rate=0.0,
        shuffle_distance=0.0,
        mask_token="_",
    )
    kept = [word for word in noisy if word != "_"]
    assert len(kept) == 40 - round(0.3 * 40)  # exactly the masked words are gone
    assert kept == sorted(kept, key=lambda w: int(w[1:]))  # no shuffle
    assert "_ _" not in " ".join(noisy)  # a span is one mask token
    dropped = add_noise(
        words,
        random.Random(0),
        mask_rate=0.0,
        span_mean=3.0,
        drop_rate=0.5,
        shuffle_distance=0.0,
        mask_token="_",
    )
    assert "_" not in dropped and 5 < len(dropped) < 35


def test_local_shuffle_moves_words_less_than_the_distance():
    words = [str(i) for i in range(200)]
    noisy = add_noise(
        words,
        random.Random(1),
        mask_rate=0.0,
        span_mean=3.0,
        drop_rate=0.0,
        shuffle_distance=3.0,
        mask_token="_",
    )
    assert sorted(noisy, key=int) == words and noisy != words
    assert all(abs(int(word) - i) < 3 for i, word in enumerate(noisy))


def test_noise_never_leaves_an_empty_source():
    noisy = add_noise(
        ["a"],
        random.Random(0),
        mask_rate=0.0,
        span_mean=1.0,
        drop_rate=0.99,
        shuffle_distance=0.0,
        mask_token="_",
    )
    assert noisy in (["a"], ["_"])


@pytest.mark.parametrize("name", ["news.txt", "news.txt.gz"])
def test_denoising_pairs_restore_each_sentence(tmp_path, name):
    path = write(tmp_path / name, NEWS)
    nlp = spacy.blank("en")
    read = create_denoising_reader(path, seed=3)
    got = pairs(read, nlp)
    sentences = [s for text in NEWS for s in split_sentences(text)]
    assert [target for _, target in got] == sentences
    assert all(source != target for source, target in got)
    # the same seed gives the same pairs; a new pass draws new noise
    assert pairs(create_denoising_reader(path, seed=3), nlp) == got
    assert pairs(read, nlp) != got
    assert pairs(create_denoising_reader(path, seed=4), nlp) != got


def test_denoising_reads_a_jsonl_field_and_keeps_the_word_range(tmp_path):
    path = write(
        tmp_path / "docs.jsonl",
        [json.dumps({"body": text}) for text in NEWS] + [json.dumps({"body": "tiny."})],
    )
    got = pairs(
        create_denoising_reader(path, text_field="body", min_words=7, max_words=10),
        spacy.blank("en"),
    )
    assert got and all(7 <= len(target.split()) <= 10 for _, target in got)


@pytest.mark.parametrize(
    "settings",
    [
        {"mask_rate": 1.0},
        {"drop_rate": -0.1},
        {"span_mean": 0},
        {"mask_rate": 0.0, "drop_rate": 0.0, "shuffle_distance": 0.0},
        {"mask_token": "two words"},
        {"min_words": 10, "max_words": 5},
        {"shuffle_buffer": -1},
    ],
)
def test_denoising_settings_are_checked(tmp_path, settings):
    with pytest.raises(SettingError, match=next(iter(settings))):
        create_denoising_reader(tmp_path / "x.txt", **settings)


def test_gap_sentences_take_the_central_sentence_out(tmp_path):
    path = write(
        tmp_path / "news.txt",
        [
            "markets were calm. the bank raised rates to five pct as inflation rose. "
            "rates at five pct surprised traders as inflation rose fast. it rained.",
            "one sentence only.",
        ],
    )
    nlp = spacy.blank("en")
    ((source, target),) = pairs(create_gap_sentence_reader(path, min_words=2), nlp)
    assert target == "the bank raised rates to five pct as inflation rose."
    assert target not in source and source.startswith("markets were calm.")
    ((_, first),) = pairs(
        create_gap_sentence_reader(path, select="first", min_words=2), nlp
    )
    assert first == "markets were calm."
    with pytest.raises(SettingError, match="select"):
        create_gap_sentence_reader(path, select="random")


def test_gap_sentences_cut_long_documents_into_runs(tmp_path):
    text = " ".join(f"sentence number {i} is here." for i in range(12))
    path = write(tmp_path / "news.txt", [text])
    got = pairs(create_gap_sentence_reader(path, max_sentences=5), spacy.blank("en"))
    # runs of 5, 5 and 2 sentences: three pairs, each source four or one
    assert [len(split_sentences(source)) for source, _ in got] == [4, 4, 1]


def test_next_turn_pairs_join_the_context_as_the_responder_reads_it(tmp_path):
    path = write(
        tmp_path / "chats.jsonl",
        [
            json.dumps({"turns": ["hi", "hello there", "seen jaws?", "yes, twice"]}),
            json.dumps({"turns": "a\tb"}),
        ],
    )
    nlp = spacy.blank("en")
    got = pairs(
        create_next_turn_reader(path, text_field="turns", max_context_turns=2),
        nlp,
        "response",
    )
    sep = TURN_SEPARATOR
    assert got == [
        ("hi", "hello there"),
        (f"hi{sep}hello there", "seen jaws?"),
        (f"hello there{sep}seen jaws?", "yes, twice"),
        ("a", "b"),
    ]


def test_next_turn_reads_prose_as_sentences(tmp_path):
    path = write(
        tmp_path / "movies.txt", ["A shark attacks. The mayor waits. Brody acts."]
    )
    got = pairs(
        create_next_turn_reader(path, sentences_as_turns=True),
        spacy.blank("en"),
        "response",
    )
    assert got[-1] == (
        f"A shark attacks.{TURN_SEPARATOR}The mayor waits.",
        "Brody acts.",
    )
    with pytest.raises(SettingError, match="turn_separator"):
        create_next_turn_reader(path, turn_separator="\n")


def test_mixed_corpora_read_every_corpus_and_follow_the_weights(tmp_path):
    many = write(
        tmp_path / "many.txt", [f"many sentence number {i} here." for i in range(300)]
    )
    few = write(
        tmp_path / "few.txt", [f"few sentence number {i} here." for i in range(10)]
    )
    nlp = spacy.blank("en")
    read = create_mixed_reader(
        {
            "many": create_denoising_reader(many),
            "few": create_denoising_reader(few),
        },
        weights={"many": 3.0, "few": 1.0},
    )
    targets = [eg.reference._.summary for eg in read(nlp)]
    n_many = sum(t.startswith("many") for t in targets)
    n_few = len(targets) - n_many
    # the pass ends once both are read through: the small one repeats
    assert n_many >= 300 and n_few >= 10
    assert {t for t in targets if t.startswith("many")} == {
        f"many sentence number {i} here." for i in range(300)
    }
    assert 2 < n_many / n_few < 4.5
    assert [eg.reference._.summary for eg in read(nlp)] != targets  # new pass
    with pytest.raises(SettingError, match="weights"):
        create_mixed_reader({"a": create_denoising_reader(few)}, weights={"b": 1.0})


def test_bad_input_names_the_file_and_line(tmp_path):
    nlp = spacy.blank("en")
    path = write(
        tmp_path / "docs.jsonl", ['{"text": "fine sentence here ok."}', '{"body": 1}']
    )
    with pytest.raises(
        ValueError, match=r"Missing field 'text' in .*docs.jsonl, line 2"
    ):
        list(create_denoising_reader(path, text_field="text")(nlp))
    with pytest.raises(ValueError, match="Can't find the raw text file"):
        list(create_denoising_reader(tmp_path / "none.txt")(nlp))
    short = write(tmp_path / "short.txt", ["too short."])
    with pytest.raises(ValueError, match="gave no training pairs"):
        list(create_denoising_reader(short)(nlp))
    plain = write(tmp_path / "plain.txt.gz", ["x"])
    plain.write_bytes(b"not gzip")
    with pytest.raises(ValueError, match="not gzip-compressed"):
        list(create_denoising_reader(plain)(nlp))


def pretrain_config(raw: Path, dev: Path):
    config = load_config(CONFIGS / "pretrain_summarizer.cfg")
    config["paths"]["raw"] = str(raw)
    config["paths"]["dev"] = str(dev)
    component = config["components"]["summarizer"]
    component["vocab_size"] = 300
    component["min_count"] = 1
    for key, value in SMALL_MODEL.items():
        if isinstance(value, dict):
            for part, settings in value.items():
                component["model"][key][part].update(settings)
        else:
            component["model"][key] = value
    config["corpora"]["train"]["corpora"]["denoising"]["shuffle_buffer"] = 0
    config["corpora"]["train"]["corpora"]["gap_sentences"]["shuffle_buffer"] = 0
    return config


def test_finetuning_sources_the_pretrained_vocabulary_and_weights(tmp_path):
    """The pretraining config counts the target vocabulary from the raw text;
    the fine-tuning config's `source` brings that vocabulary and the weights
    over, and spacy train's initialization leaves both as they were."""
    raw = write(tmp_path / "news.txt", NEWS * 3)
    dev = write(
        tmp_path / "dev.jsonl",
        [json.dumps({"text": "oil prices rose.", "summary": "oil rises"})],
    )
    nlp = init_nlp(pretrain_config(raw, dev))
    summarizer = nlp.get_pipe("summarizer")
    # counted from the whole raw text, not from the few examples initialize sees
    assert {"inflation", "acme", "brent", "traders"} <= set(
        summarizer.target_vocab.words
    )
    nlp.to_disk(tmp_path / "pretrained")

    config = load_config(CONFIGS / "finetune_summarizer.cfg")
    config["paths"]["pretrained"] = str(tmp_path / "pretrained")
    config["paths"]["train"] = str(dev)
    config["paths"]["dev"] = str(dev)
    finetuned = init_nlp(config).get_pipe("summarizer")
    assert finetuned.target_vocab.words == summarizer.target_vocab.words
    pretrained = torch_module(summarizer.model).state_dict()
    resumed = torch_module(finetuned.model).state_dict()
    assert pretrained.keys() == resumed.keys()
    assert all(torch.equal(pretrained[key], resumed[key]) for key in pretrained)


def test_raw_texts_stream_documents_and_turns(tmp_path):
    path = write(
        tmp_path / "mixed.jsonl",
        [json.dumps({"t": ["hi", "hello"]}), json.dumps({"t": "a text."})],
    )
    assert list(create_raw_text_reader(path, text_field="t")()) == [
        "hi",
        "hello",
        "a text.",
    ]
