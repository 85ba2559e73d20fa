"""Bad input and damaged models, as a hostile user would try them: each gets
a clear error that says what and where, or is handled correctly."""

import asyncio
import gzip
import json
import pickle
import shutil
import threading
import time
from pathlib import Path
from typing import List, Tuple

import pytest
import spacy
import srsly
from spacy.language import Language
from spacy.tokens import DocBin
from thinc.api import Adam, fix_random_seed
from typer.testing import CliRunner

from spacy_seq2seq import cli
from spacy_seq2seq.conversation import Conversation, printable
from spacy_seq2seq.readers import (
    create_dialogue_reader,
    create_jsonl_reader,
    make_example,
)

from .conftest import beam_search, sampling

CONFIGS = Path(__file__).resolve().parent.parent / "configs"

# A model small enough that a few updates take well under a second.
TINY_MODEL = {
    "embed_width": 8,
    "hidden_width": 8,
    "attention_width": 8,
    "tok2vec": {
        "embed": {"width": 8, "rows": [50, 20, 20]},
        "encode": {"width": 8, "depth": 1},
    },
}
PAIRS = [
    ("the bank of japan kept its discount rate unchanged", "bank keeps rate"),
    ("oil prices rose sharply in early trade today", "oil prices rise"),
    ("the dollar fell against the yen in tokyo", "dollar falls in tokyo"),
]
TEXTS = [source for source, _ in PAIRS]


def tiny_nlp(factory: str = "seq2seq_summarizer", **config) -> Language:
    nlp = spacy.blank("en")
    name = "summarizer" if factory == "seq2seq_summarizer" else "responder"
    config = {
        "model": TINY_MODEL,
        "min_count": 1,
        "decoding": beam_search(beam_size=2),
        **config,
    }
    nlp.add_pipe(factory, name=name, config=config)
    return nlp


def train_tiny(n_updates: int = 3, **config) -> Language:
    """The tiny summarizer, seeded, after a few updates on PAIRS."""
    fix_random_seed(0)
    nlp = tiny_nlp(**config)
    examples = [make_example(nlp, s, t, "summary") for s, t in PAIRS]
    nlp.initialize(lambda: examples)
    optimizer = Adam(0.01)
    for _ in range(n_updates):
        nlp.update(examples, sgd=optimizer)
    return nlp


def summaries(nlp: Language) -> List[str]:
    return [doc._.summary for doc in nlp.pipe(TEXTS)]


@pytest.fixture(scope="module")
def trained() -> Tuple[Language, List[str]]:
    nlp = train_tiny()
    return nlp, summaries(nlp)


@pytest.fixture(scope="module")
def saved(trained, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("saved") / "pipeline"
    trained[0].to_disk(path)
    return path


@pytest.fixture
def copy(saved, tmp_path) -> Path:
    """A copy of the saved pipeline to damage."""
    return Path(shutil.copytree(saved, tmp_path / "pipeline"))


# 1. Training and evaluation data


def write_gzip(path: Path, data: bytes) -> None:
    path.write_bytes(gzip.compress(data))


GOOD_LINES = b'{"text": "a b c", "summary": "a"}\n{"text": "d e", "summary": "d"}\n'
BAD_FILES = {
    "empty": ("train.jsonl", lambda p: p.write_bytes(b""), "has no records"),
    "blank lines": ("train.jsonl", lambda p: p.write_bytes(b"\n \n"), "has no records"),
    "empty gzip": ("train.jsonl.gz", lambda p: write_gzip(p, b""), "has no records"),
    "truncated gzip": (
        "train.jsonl.gz",
        lambda p: p.write_bytes(gzip.compress(GOOD_LINES * 50)[:-30]),
        "truncated",
    ),
    "plain file named .gz": (
        "train.jsonl.gz",
        lambda p: p.write_bytes(GOOD_LINES),
        "is named .gz but is not gzip-compressed",
    ),
    "gzip file named .jsonl": (
        "train.jsonl",
        lambda p: write_gzip(p, GOOD_LINES),
        "is gzip-compressed but its name doesn't end in .gz",
    ),
    "invalid UTF-8": (
        "train.jsonl",
        lambda p: p.write_bytes(GOOD_LINES + b'{"text": "\xff", "summary": "x"}\n'),
        "line 3 is not valid UTF-8",
    ),
    "a directory": ("train.jsonl", lambda p: p.mkdir(), "Can't read"),
    "missing": ("train.jsonl", lambda p: None, "Can't find the JSONL file"),
}


@pytest.mark.parametrize("case", BAD_FILES, ids=list(BAD_FILES))
def test_bad_data_files_name_the_file(tmp_path, case):
    name, write, message = BAD_FILES[case]
    path = tmp_path / name
    write(path)
    with pytest.raises(ValueError, match=message) as error:
        list(create_jsonl_reader(path)(spacy.blank("en")))
    assert str(path) in str(error.value)


@pytest.mark.parametrize("name", ["train.jsonl", "train.jsonl.gz"])
def test_a_byte_order_mark_is_read(tmp_path, name):
    path = tmp_path / name
    data = b"\xef\xbb\xbf" + GOOD_LINES
    write_gzip(path, data) if name.endswith(".gz") else path.write_bytes(data)
    examples = list(create_jsonl_reader(path)(spacy.blank("en")))
    assert [eg.reference._.summary for eg in examples] == ["a", "d"]


def test_a_null_corpus_path_is_a_clear_error_when_read():
    with pytest.raises(ValueError, match="--paths.train"):
        list(create_jsonl_reader(None)(spacy.blank("en")))


@pytest.mark.parametrize(
    "reader,settings,message",
    [
        (create_jsonl_reader, {"limit": "3"}, "limit must be an integer"),
        (create_jsonl_reader, {"limit": -1}, "limit must be at least 0"),
        (create_jsonl_reader, {"shuffle": "yes"}, "shuffle must be true or false"),
        (create_jsonl_reader, {"target_field": ""}, "field name must not be empty"),
        (create_dialogue_reader, {"max_turns": 1.5}, "max_turns must be an integer"),
    ],
)
def test_bad_reader_settings_name_the_setting(tmp_path, reader, settings, message):
    with pytest.raises(ValueError, match=message):
        reader(tmp_path / "train.jsonl", **settings)


def test_spacy_train_on_a_truncated_file_names_it(tmp_path):
    # click turned the reader's EOFError into a bare "Aborted!"
    path = tmp_path / "train.jsonl.gz"
    path.write_bytes(gzip.compress(GOOD_LINES * 50)[:-30])
    args = ["train", str(CONFIGS / "summarizer.cfg"), "--paths.train", str(path)]
    args += ["--paths.dev", str(path)]
    result = CliRunner().invoke(spacy.cli.app, args)
    assert result.exit_code != 0
    assert isinstance(result.exception, ValueError)
    assert str(path) in str(result.exception) and "truncated" in str(result.exception)


def test_an_empty_training_corpus_is_a_clear_error():
    nlp = tiny_nlp()
    with pytest.raises(ValueError, match="no training examples"):
        nlp.initialize(lambda: [])


def test_every_target_empty_is_a_clear_error():
    nlp = tiny_nlp()
    examples = [make_example(nlp, source, "", "summary") for source in TEXTS]
    with pytest.raises(ValueError, match="Every target text .* is empty"):
        nlp.initialize(lambda: examples)


def test_a_vocabulary_of_specials_only_warns():
    nlp = tiny_nlp(min_count=5)
    examples = [make_example(nlp, s, t, "summary") for s, t in PAIRS]
    with pytest.warns(UserWarning, match="can only copy"):
        nlp.initialize(lambda: examples)


def test_an_empty_dev_set_is_a_clear_error(trained):
    with pytest.raises(ValueError, match="None of the 0 evaluation examples"):
        trained[0].evaluate([])


def test_spacy_evaluate_without_reference_texts_is_a_clear_error(saved, tmp_path):
    # a .spacy file saved without user data: the scores were null, exit 0
    from spacy.cli.evaluate import evaluate

    docs = [spacy.blank("en").make_doc(text) for text in TEXTS]
    DocBin(docs=docs).to_disk(tmp_path / "dev.spacy")
    with pytest.raises(ValueError, match="saved without user data"):
        evaluate(str(saved), tmp_path / "dev.spacy", silent=True)


def test_missing_reference_texts_warn(trained):
    nlp = trained[0]
    examples = [make_example(nlp, s, t, "summary") for s, t in PAIRS]
    examples[0].reference._.summary = None
    with pytest.warns(UserWarning, match="1 of the 3 evaluation examples"):
        scores = nlp.evaluate(examples)
    assert scores["summary_rougeL"] is not None


def test_spacy_evaluate_writes_the_scores_per_component(saved, tmp_path):
    # spacy evaluate prints only spaCy's own metrics; --per-component with
    # --output writes ours (README: "Evaluating with spacy evaluate")
    from spacy.cli.evaluate import evaluate

    nlp = spacy.load(saved)
    docs = []
    for source, target in PAIRS:
        doc = nlp.make_doc(source)
        doc._.summary = target
        docs.append(doc)
    DocBin(docs=docs, store_user_data=True).to_disk(tmp_path / "dev.spacy")
    evaluate(
        str(saved),
        tmp_path / "dev.spacy",
        tmp_path / "scores.json",
        per_component=True,
        silent=True,
    )
    scores = srsly.read_json(tmp_path / "scores.json")["summarizer"]
    assert set(scores) >= {"summary_rouge1", "summary_rouge2", "summary_rougeL"}
    assert scores["summary_rougeL"] is not None


# 2. Settings: checked for type and range when the component is made


# Where spaCy's own config validation rejects the type first (2.5 for an int,
# "yes" for a bool), its error names the setting too.
BAD_SETTINGS = [
    (
        "seq2seq_summarizer",
        {"decoding": beam_search(beam_size="4")},
        "beam_size must be an integer",
    ),
    ("seq2seq_summarizer", {"vocab_size": 4}, "vocab_size must be at least 5"),
    (
        "seq2seq_summarizer",
        {"max_source_length": 0},
        "max_source_length must be at least 1",
    ),
    (
        "seq2seq_summarizer",
        {"max_target_length": "40"},
        "max_target_length must be an integer",
    ),
    ("seq2seq_summarizer", {"min_count": 0}, "min_count must be at least 1"),
    (
        "seq2seq_summarizer",
        {"label_smoothing": 1.0},
        "label_smoothing must be >= 0.0 and < 1.0",
    ),
    ("seq2seq_summarizer", {"grad_clip": -1.0}, "grad_clip must be >= 0.0"),
    (
        "seq2seq_summarizer",
        {"coverage_loss_weight": "0.5"},
        "coverage_loss_weight must be a number",
    ),
    (
        "seq2seq_summarizer",
        {"decoding": beam_search(length_penalty="1.0")},
        "length_penalty must be a number",
    ),
    (
        "seq2seq_summarizer",
        {"decoding": beam_search(no_repeat_ngram_size=2.5)},
        "no_repeat_ngram_size",
    ),
    (
        "seq2seq_summarizer",
        {"decoding": beam_search(max_length=0)},
        "max_length must be at least 1",
    ),
    (
        "seq2seq_summarizer",
        {"decoding": beam_search(min_length=9, max_length=5)},
        "min_length .* must not exceed max_length",
    ),
    (
        "seq2seq_summarizer",
        {"store_attention": "yes"},
        "store_attention",
    ),
    ("seq2seq_summarizer", {"target_field": ""}, "target_field must not be empty"),
    (
        "seq2seq_summarizer",
        {"teacher_forcing": {"@misc": "spacy-seq2seq.TeacherForcing.v1", "ratio": 1.5}},
        "teacher_forcing.ratio must be >= 0.0 and <= 1.0",
    ),
    (
        "seq2seq_summarizer",
        {"teacher_forcing": {"@misc": "spacy-seq2seq.ExponentialDecay.v1", "k": 0.0}},
        "teacher_forcing.k must be <= 1.0 and > 0.0",
    ),
    (
        "seq2seq_summarizer",
        {"model": {**TINY_MODEL, "hidden_width": "8"}},
        "hidden_width must be an integer",
    ),
    (
        "seq2seq_summarizer",
        {"model": {**TINY_MODEL, "dropout": 1.0}},
        "dropout must be >= 0.0 and < 1.0",
    ),
    (
        "seq2seq_summarizer",
        {"model": {**TINY_MODEL, "rnn_type": "rnn"}},
        "rnn_type must be one of",
    ),
    (
        "seq2seq_summarizer",
        {"model": {**TINY_MODEL, "copy": "true"}},
        "copy",
    ),
    ("seq2seq_responder", {"decoding": "greedy"}, "decoding"),
    ("seq2seq_responder", {"decoding": sampling(top_p=0.0)}, "top_p must be <= 1.0"),
    ("seq2seq_responder", {"decoding": sampling(temperature=0)}, "temperature must"),
    ("seq2seq_responder", {"decoding": sampling(top_k=-1)}, "top_k must be at least"),
    ("seq2seq_responder", {"decoding": sampling(seed=-1)}, "seed must be at least 0"),
    (
        "seq2seq_responder",
        {"decoding": beam_search(n_best=6, beam_size=5)},
        "n_best .* must not exceed beam_size",
    ),
    (
        "seq2seq_summarizer",
        {
            "model": {**TINY_MODEL, "attention": "none_init", "copy": False},
            "coverage_loss_weight": 1.0,
        },
        "coverage_loss_weight needs a model with attention",
    ),
    (
        "seq2seq_summarizer",
        {
            "model": {**TINY_MODEL, "attention": "none_every_step", "copy": False},
            "decoding": beam_search(coverage_penalty=0.5),
        },
        "coverage_penalty needs a model with attention",
    ),
]


@pytest.mark.parametrize(
    "factory,config,message", BAD_SETTINGS, ids=[str(c) for _, c, _ in BAD_SETTINGS]
)
def test_bad_settings_name_the_setting_at_add_pipe(factory, config, message):
    with pytest.raises(ValueError, match=message):
        tiny_nlp(factory, **config)


def test_bad_settings_name_the_setting_at_load(saved, tmp_path):
    path = Path(shutil.copytree(saved, tmp_path / "pipeline"))
    config = (path / "config.cfg").read_text()
    (path / "config.cfg").write_text(config.replace("beam_size = 2", 'beam_size = "4"'))
    with pytest.raises(ValueError, match=r"beam_size must be an integer"):
        spacy.load(path)


# 3. Model directories: checked on load; weights as safetensors


def edit_json(path: Path, edit) -> None:
    path.write_text(json.dumps(edit(json.loads(path.read_text()))))


def swap_two(vocab):
    words = vocab["words"]
    words[4], words[5] = words[5], words[4]
    return vocab


def edit_tensors(path: Path, edit) -> None:
    """Rewrite the safetensors file with `edit(tensors)` applied, its metadata kept."""
    import safetensors.torch

    from spacy_seq2seq.serialization import read_metadata

    data = path.read_bytes()
    tensors = safetensors.torch.load(data)
    edit(tensors)
    path.write_bytes(safetensors.torch.save(tensors, read_metadata(data, "")))


def first_tensor(tensors, shim: bool) -> str:
    return next(name for name in sorted(tensors) if (".shim" in name) == shim)


def hash_embed_rows_cut(tensors):
    name = next(name for name in sorted(tensors) if name.endswith(".E"))
    tensors[name] = tensors[name][:-1].clone()


def torch_weight_nan(tensors):
    name = first_tensor(tensors, shim=True)
    tensors[name] = tensors[name].clone().fill_(float("nan"))


def thinc_weight_infinite(tensors):
    name = first_tensor(tensors, shim=False)
    tensors[name] = tensors[name].clone().fill_(float("inf"))


def thinc_weights_half(tensors):
    for name in [name for name in tensors if ".shim" not in name]:
        tensors[name] = tensors[name].half()


def torch_weights_half(tensors):
    for name in [name for name in tensors if ".shim" in name]:
        tensors[name] = tensors[name].half()


DAMAGES = {
    "tensor of the wrong shape": (
        "model.safetensors",
        lambda p: edit_tensors(p, hash_embed_rows_cut),
        r"The tensor node\d+\.E in .*model.safetensors has shape \[\d+, \d+\] .* needs",
    ),
    "torch tensor of NaN": (
        "model.safetensors",
        lambda p: edit_tensors(p, torch_weight_nan),
        r"The tensor node\d+\.shim0\..* in .*model.safetensors has NaN",
    ),
    "thinc tensor of infinities": (
        "model.safetensors",
        lambda p: edit_tensors(p, thinc_weight_infinite),
        "has NaN or infinite values",
    ),
    "thinc weights in float16": (
        "model.safetensors",
        lambda p: edit_tensors(p, thinc_weights_half),
        "dtype float16, but the model the config describes needs",
    ),
    "torch weights in float16": (
        "model.safetensors",
        lambda p: edit_tensors(p, torch_weights_half),
        r"dtype torch.float16, but .* needs .* and torch.float32",
    ),
    "vocab not JSON": (
        "target_vocab.json",
        lambda p: p.write_text("{words: oops"),
        "target_vocab.json is not valid JSON",
    ),
    "vocab null": (
        "target_vocab.json",
        lambda p: p.write_text("null"),
        "target_vocab.json is null",
    ),
    "vocab has a number": (
        "target_vocab.json",
        lambda p: edit_json(p, lambda v: {**v, "words": v["words"] + [7]}),
        "must be non-blank strings, not 7",
    ),
    "vocab repeats a word": (
        "target_vocab.json",
        lambda p: edit_json(p, lambda v: {**v, "words": v["words"] + v["words"][-1:]}),
        "more than once",
    ),
    "vocab too short": (
        "target_vocab.json",
        lambda p: edit_json(p, lambda v: {**v, "words": v["words"][:-1]}),
        "has .* words but the weights in .*model.safetensors were trained with",
    ),
    "vocab permuted": (
        "target_vocab.json",
        lambda p: edit_json(p, swap_two),
        "checksum differs",
    ),
    "vocab missing": (
        "target_vocab.json",
        lambda p: p.unlink(),
        "has no 'target_vocab.json'",
    ),
    "weights truncated": (
        "model.safetensors",
        lambda p: p.write_bytes(p.read_bytes()[:-100]),
        "Can't load the model weights",
    ),
    "weights garbage": (
        "model.safetensors",
        lambda p: p.write_bytes(b"not a model"),
        "not a safetensors file",
    ),
    "weights missing": (
        "model.safetensors",
        lambda p: p.unlink(),
        "has no 'model.safetensors'",
    ),
    "cfg not JSON": ("cfg", lambda p: p.write_text("{"), "cfg is not valid JSON"),
    "cfg missing": ("cfg", lambda p: p.unlink(), "has no 'cfg'"),
    "cfg of another kind": (
        "cfg",
        lambda p: edit_json(p, lambda c: {**c, "kind": "seq2seq_responder"}),
        "is a 'seq2seq_responder' component's, not a 'seq2seq_summarizer'",
    ),
    "cfg update count": (
        "cfg",
        lambda p: edit_json(p, lambda c: {**c, "n_updates": "3"}),
        "no valid update count",
    ),
}


@pytest.mark.parametrize("case", DAMAGES, ids=list(DAMAGES))
def test_damaged_model_directories_are_clear_errors(copy, case):
    name, damage, message = DAMAGES[case]
    damage(copy / "summarizer" / name)
    with pytest.raises(ValueError, match=message):
        spacy.load(copy)


def test_a_summarizer_in_a_responders_place_is_an_error(copy):
    config = (copy / "config.cfg").read_text()
    config = config.replace(
        'factory = "seq2seq_summarizer"', 'factory = "seq2seq_responder"'
    )
    (copy / "config.cfg").write_text(config)
    with pytest.raises(ValueError, match="is a 'seq2seq_summarizer' component's"):
        spacy.load(copy)


def test_weights_of_another_architecture_are_an_error(copy):
    other = tiny_nlp(model={**TINY_MODEL, "hidden_width": 12})
    examples = [make_example(other, s, t, "summary") for s, t in PAIRS]
    other.initialize(lambda: examples)
    other.get_pipe("summarizer").to_disk(copy / "summarizer")
    with pytest.raises(ValueError, match="but the model the config describes needs"):
        spacy.load(copy)


def test_weights_are_saved_as_safetensors_with_their_vocabulary(saved):
    from safetensors import safe_open

    component = saved / "summarizer"
    assert not (component / "model").exists()
    with safe_open(str(component / "model.safetensors"), "pt") as weights:
        metadata = weights.metadata()
    vocab = srsly.read_json(component / "target_vocab.json")
    assert metadata["target_vocab_size"] == str(len(vocab["words"]))


def test_bytes_round_trip_and_damaged_bytes(trained):
    nlp, expected = trained
    loaded = tiny_nlp()
    loaded.from_bytes(nlp.to_bytes())
    assert summaries(loaded) == expected
    with pytest.raises(ValueError, match="Can't read the component's bytes"):
        tiny_nlp().get_pipe("summarizer").from_bytes(b"\xc1 not msgpack")


def write_legacy(nlp: Language, path: Path) -> None:
    """The layout spacy-seq2seq 0.1 wrote: thinc's msgpack with the torch
    module torch.save'd, no cfg."""
    nlp.to_disk(path)
    component = nlp.get_pipe("summarizer")
    directory = path / "summarizer"
    (directory / "cfg").unlink()
    (directory / "model.safetensors").unlink()
    (directory / "model").write_bytes(component.model.to_bytes())


def test_pipelines_of_version_0_1_still_load(trained, tmp_path):
    nlp, expected = trained
    write_legacy(nlp, tmp_path / "old")
    with pytest.warns(UserWarning, match="Save the pipeline again"):
        loaded = spacy.load(tmp_path / "old")
    assert summaries(loaded) == expected
    loaded.to_disk(tmp_path / "new")
    assert (tmp_path / "new" / "summarizer" / "model.safetensors").exists()
    assert summaries(spacy.load(tmp_path / "new")) == expected


class WritesAFile:
    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (Path.write_text, (Path(self.path), "pwned"))


def test_a_crafted_0_1_file_cannot_run_code(trained, tmp_path, monkeypatch):
    # thinc's torch.load would unpickle this with the variable set
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    write_legacy(trained[0], tmp_path / "old")
    model_file = tmp_path / "old" / "summarizer" / "model"
    msg = srsly.msgpack_loads(model_file.read_bytes())
    marker = tmp_path / "marker"
    for shims in msg["shims"]:
        for i in range(len(shims)):
            evil = pickle.dumps(WritesAFile(str(marker)))
            shims[i] = srsly.msgpack_dumps({"config": {}, "state": evil})
    model_file.write_bytes(srsly.msgpack_dumps(msg))
    with pytest.raises(ValueError, match="Can't load the model weights"):
        spacy.load(tmp_path / "old")
    assert not marker.exists()


def test_bytes_of_version_0_1_still_load(trained):
    nlp, expected = trained
    component = nlp.get_pipe("summarizer")
    legacy = {
        "target_vocab": srsly.json_dumps(component.target_vocab.to_json()),
        "model": component.model.to_bytes(),
    }
    loaded = tiny_nlp()
    with pytest.warns(UserWarning, match="Save the pipeline again"):
        loaded.get_pipe("summarizer").from_bytes(srsly.msgpack_dumps(legacy))
    assert summaries(loaded) == expected


# 4. Training state


def test_the_update_count_is_saved_so_a_schedule_resumes(tmp_path):
    schedule = {"@misc": "spacy-seq2seq.ExponentialDecay.v1", "k": 0.5}
    nlp = train_tiny(n_updates=3, teacher_forcing=schedule)
    nlp.to_disk(tmp_path / "pipeline")
    for loaded in (
        spacy.load(tmp_path / "pipeline"),
        tiny_nlp(teacher_forcing=schedule),
    ):
        if loaded.get_pipe("summarizer").n_updates == 0:
            loaded.from_bytes(nlp.to_bytes())
        component = loaded.get_pipe("summarizer")
        assert component.n_updates == 3
        assert component.teacher_forcing(component.n_updates) == 0.5**3
        examples = [make_example(loaded, s, t, "summary") for s, t in PAIRS]
        loaded.update(examples, sgd=Adam(0.01))
        assert component.n_updates == 4


def test_initialize_starts_the_update_count_again():
    nlp = train_tiny(n_updates=2)
    examples = [make_example(nlp, s, t, "summary") for s, t in PAIRS]
    nlp.initialize(lambda: examples)
    assert nlp.get_pipe("summarizer").n_updates == 0


# 5. The chat CLI


def chat(path: Path, input, *args: str):
    return CliRunner().invoke(cli.app, ["chat", str(path), *args], input=input)


def test_chat_reads_invalid_utf8_with_replacement(saved):
    result = chat(saved, b"caf\xe9 \xff\xfe\nstill here\n", "--component", "summarizer")
    assert result.exit_code == 0, result.output
    assert len(result.output.splitlines()) == 2


@pytest.mark.parametrize(
    "reply,printed",
    [
        ("\x1b[2Jcleared", "cleared"),
        ("\x1b]0;new title\x07hi", "hi"),
        ("\x1b]8;;http://x\x1b\\link", "link"),
        ("bell\x07 and nul\x00", "bell and nul"),
        ("\x9b31mred", "red"),
        ("two\nlines\r", "two lines "),
        ("\u202eevil", "evil"),
        ("plain words, café", "plain words, café"),
    ],
)
def test_printable_replies(reply, printed):
    assert printable(reply) == printed


def test_chat_prints_replies_without_escape_sequences(saved, monkeypatch):
    monkeypatch.setattr(Conversation, "reply", lambda self, m: "\x1b[2J\x1b[31mhi\x07")
    result = chat(saved, "hello\n", "--component", "summarizer")
    assert result.exit_code == 0, result.output
    assert result.output == "hi\n"


def test_chat_without_a_responder_says_to_name_one(saved):
    result = chat(saved, "hello\n")
    output = " ".join(result.output.split())
    assert result.exit_code == 1
    assert "name the component to chat with (one of ['summarizer'])" in output


def test_chat_with_several_responders_takes_the_one_named():
    nlp = spacy.blank("en")
    for name in ("first", "second"):
        nlp.add_pipe("seq2seq_responder", name=name, config={"model": TINY_MODEL})
    with pytest.raises(ValueError, match="found 2: name the component"):
        Conversation(nlp)
    assert Conversation(nlp, component="second").responder is nlp.get_pipe("second")
    with pytest.raises(ValueError, match="no seq2seq component named 'third'"):
        Conversation(nlp, component="third")


# 6. spaCy's commands


@pytest.mark.parametrize("config", ["summarizer.cfg", "responder.cfg"])
def test_spacy_assemble_of_the_untrained_configs_says_why_not(config, tmp_path):
    """No ✔ for a pipeline that would fail on first use: assemble stops
    with the reason and the way out, and writes nothing."""
    args = ["assemble", str(CONFIGS / config), str(tmp_path / "assembled")]
    result = CliRunner().invoke(spacy.cli.app, args)
    assert result.exit_code != 0
    message = str(result.exception)
    assert "Can't initialize without training examples" in message
    assert "spacy train" in message and "target_vocab" in message
    assert not (tmp_path / "assembled").exists()


# 7. Determinism: same seed and machine, same weights and outputs


def test_same_seed_same_weights_and_outputs(trained, tmp_path):
    from safetensors import safe_open

    again = train_tiny()
    assert summaries(again) == trained[1]
    weights = []
    for name, nlp in (("first", trained[0]), ("second", again)):
        nlp.get_pipe("summarizer").to_disk(tmp_path / name)
        with safe_open(str(tmp_path / name / "model.safetensors"), "pt") as file_:
            tensors = {key: file_.get_tensor(key) for key in file_.keys()}
            weights.append((file_.metadata(), tensors))
    (first_metadata, first), (second_metadata, second) = weights
    assert first_metadata == second_metadata and first.keys() == second.keys()
    assert all(first[key].equal(second[key]) for key in first)


# ---------------------------------------------------------------------------
# 8. What a user reads is true (issue 21, item 6): the case of the input,
# the training table


def test_a_model_trained_on_lowercased_text_reads_input_lowercased(tmp_path):
    nlp = train_tiny()  # PAIRS are all lowercase, like the Reuters corpus
    summarizer = nlp.get_pipe("summarizer")
    assert summarizer.cfg["lowercase"] is True
    mixed = "Oil prices rose sharply in early trade today"
    assert nlp(mixed)._.summary == nlp(mixed.lower())._.summary
    nlp.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    assert loaded.get_pipe("summarizer").cfg["lowercase"] is True
    assert loaded(mixed)._.summary == loaded(mixed.lower())._.summary
    assert loaded(mixed)._.summary == nlp(mixed)._.summary
    assert spacy.load(tmp_path / "pipeline")(mixed).text == mixed  # doc untouched


def test_a_model_trained_on_cased_text_keeps_the_case():
    fix_random_seed(0)
    nlp = tiny_nlp()
    pairs = [(s.capitalize(), t) for s, t in PAIRS]
    examples = [make_example(nlp, s, t, "summary") for s, t in pairs]
    nlp.initialize(lambda: examples)
    assert nlp.get_pipe("summarizer").cfg["lowercase"] is False


def test_the_training_tables_loss_column_is_not_cut():
    import io

    from spacy_seq2seq.loggers import console_logger

    nlp = tiny_nlp()
    nlp.config["training"]["score_weights"] = {"summary_rougeL": 1.0}
    out = io.StringIO()
    log_step, finalize = console_logger()(nlp, stdout=out, stderr=out)
    log_step(
        {
            "epoch": 0,
            "step": 10,
            "score": 0.25,
            "other_scores": {"summary_rougeL": 0.25},
            "losses": {"summarizer": 3.5},
            "checkpoints": [],
            "seconds": 1,
            "words": 10,
        }
    )
    finalize()
    header = out.getvalue().splitlines()[0]
    assert "LOSS SUMMARY" in header and "..." not in header
    assert "3.50" in out.getvalue()


# 7. The server: hostile bodies, overload, clients that go away, one
# conversation's messages at once (the summarizer and responder are tiny;
# test_serve.py serves trained ones)

SERVER_LIMITS = dict(max_batch_size=4, max_queue=8, max_wait_ms=20, max_chars=500)


def served(nlp: Language, wrap=None, **limits):
    """A running embedded server of the pipeline: (service, app, server);
    `wrap` wraps its decode_batch."""
    pytest.importorskip("fastapi", reason="the server needs the serve extra")
    from spacy_seq2seq.serve.app import embedded_app
    from spacy_seq2seq.serve.service import Limits, Seq2SeqService

    from .serving import running

    service = Seq2SeqService(nlp, limits=Limits(**{**SERVER_LIMITS, **limits}))
    if wrap is not None:
        service.decode_batch = wrap(service.decode_batch)
    app = embedded_app(service)
    return service, app, running(app)


@pytest.fixture(scope="module")
def summarizer_server(trained):
    service, app, server = served(trained[0])
    with server as url:
        yield service, app, url


def tiny_responder() -> Language:
    fix_random_seed(0)
    nlp = tiny_nlp("seq2seq_responder")
    examples = [make_example(nlp, s, t, "response") for s, t in PAIRS]
    nlp.initialize(lambda: examples)
    optimizer = Adam(0.01)
    for _ in range(3):
        nlp.update(examples, sgd=optimizer)
    return nlp


def post(url: str, path: str, **kwargs):
    import httpx

    return httpx.post(url + path, timeout=60, **kwargs)


JSON = {"content-type": "application/json"}


@pytest.mark.parametrize(
    "body,loc",
    [
        ('{"texts": ["ok", "bad \\ud800 text"]}', ["body", "texts", 1]),
        ('{"texts": ["\\udfff"]}', ["body", "texts", 0]),
        ('{"texts": ["a"], "\\ud800": 1}', ["body", "\\ud800"]),
    ],
    ids=["surrogate-in-text", "low-surrogate", "surrogate-key"],
)
def test_a_lone_surrogate_is_a_422_naming_the_field(summarizer_server, body, loc):
    service, app, url = summarizer_server
    response = post(url, "/v1/summarize", content=body.encode(), headers=JSON)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == loc


@pytest.mark.parametrize(
    "encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "cp1252"]
)
def test_a_body_that_is_not_utf8_is_a_400(summarizer_server, encoding):
    service, app, url = summarizer_server
    body = json.dumps({"texts": ["café prices rose"]}, ensure_ascii=False)
    response = post(url, "/v1/summarize", content=body.encode(encoding), headers=JSON)
    assert response.status_code == 400
    assert "UTF-8" in response.json()["detail"]


@pytest.mark.parametrize(
    "body,field",
    [
        ('{"texts": ["a"], "beam_size": NaN}', "beam_size"),
        ('{"texts": ["a"], "length_penalty": Infinity}', "length_penalty"),
        ('{"texts": ["a"], "length_penalty": -Infinity}', "length_penalty"),
        ('{"texts": NaN}', "texts"),
        ('{"texts": [Infinity]}', "texts"),
        ('{"texts": ["a"], "max_length": 1e400}', "max_length"),
        ('{"texts": ["a"], "beam_size": 100000000000000000000000000}', "beam_size"),
    ],
)
def test_nan_and_infinity_are_a_422_naming_the_field(summarizer_server, body, field):
    service, app, url = summarizer_server
    response = post(url, "/v1/summarize", content=body.encode(), headers=JSON)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][1] == field


@pytest.mark.parametrize(
    "path,body",
    [
        ("/v1/summarize", b"[]"),
        ("/v1/summarize", b"null"),
        ("/v1/summarize", b'"texts"'),
        ("/v1/summarize", b'{"texts": [null]}'),
        ("/v1/summarize", b'{"texts": ["a"], "attention": "yes"}'),
        ("/v1/summarize", b'{"texts": ["a"], "decoding": "sampling"}'),
        ("/v1/summarize", b"[" * 100_000 + b"]" * 100_000),
        ("/v1/summarize", b'{"texts": ["a"]}' + b" " * 10 + b"x"),
        ("/v1/summarize", b'{"texts": ["\\u0000\\u001b[2J"]}'),
        (
            "/v1/render/attention",
            b'{"source": ["\\ud800"], "target": [], "weights": [], "copy": []}',
        ),
        (
            "/v1/render/attention",
            b'{"source": ["a"], "target": ["b"], "weights": [[NaN]], "copy": [Infinity]}',
        ),
        (
            "/v1/render/attention",
            b'{"source": ["a"], "target": ["b"], "weights": [[1, 2]], "copy": [1]}',
        ),
        ("/v1/reply", b'{"turns": ["hi"]}'),
        ("/v1/conversations/%ED%A0%80", b""),
    ],
)
def test_no_body_reaches_a_500(summarizer_server, path, body):
    import httpx

    service, app, url = summarizer_server
    method = "DELETE" if "conversations" in path else "POST"
    response = httpx.request(method, url + path, content=body, headers=JSON, timeout=60)
    assert response.status_code < 500, response.text
    if response.status_code != 200:
        assert response.json()["detail"]
    assert httpx.get(url + "/v1/health").status_code == 200


@Language.component("breaks_on_marker")
def breaks_on_marker(doc):
    """Raises on a text with BREAKS in it, as a model broken by it would."""
    if "BREAKS" in doc.text:
        raise RuntimeError("the model broke")
    return doc


def test_a_failing_text_fails_only_itself(trained):
    """A text that breaks the pipeline fails its own request, not the
    others' decoded in the same batch."""
    import httpx

    nlp = tiny_nlp()
    nlp.from_bytes(trained[0].to_bytes())
    nlp.add_pipe("breaks_on_marker", first=True)
    gate = Gate(open=True)
    service, app, server = served(nlp, wrap=gate, max_wait_ms=500)
    with server as url:

        async def send():
            async with httpx.AsyncClient(base_url=url, timeout=60) as client:
                bodies = [{"texts": [text]} for text in TEXTS]
                bodies.append({"texts": [TEXTS[0], "it BREAKS here"]})
                return await asyncio.gather(
                    *(client.post("/v1/summarize", json=body) for body in bodies)
                )

        responses = asyncio.run(send())
    expected = trained[1]
    assert max(gate.batch_sizes) > 1  # decoded together
    assert [r.json()["summaries"] for r in responses[:-1]] == [[s] for s in expected]
    assert responses[-1].status_code == 500
    detail = responses[-1].json()["detail"]
    assert detail.startswith("texts[1]:") and "the model broke" in detail


class Gate:
    """Wraps a decode_batch to wait until the gate opens, recording the
    size of each batch and the texts decoded."""

    def __init__(self, open: bool = False) -> None:
        self.event = threading.Event()
        if open:
            self.event.set()
        self.texts: List[str] = []
        self.batch_sizes: List[int] = []

    def __call__(self, decode_batch):
        def gated(tasks):
            self.event.wait(60)
            self.batch_sizes.append(len(tasks))
            self.texts.extend(task.text for task in tasks)
            return decode_batch(tasks)

        return gated


def test_a_full_queue_answers_503_with_retry_after(trained):
    import httpx

    gate = Gate()
    service, app, server = served(trained[0], wrap=gate, max_batch_size=2, max_queue=3)
    with server as url:

        async def send():
            async with httpx.AsyncClient(base_url=url, timeout=60) as client:
                waiting = [
                    asyncio.ensure_future(
                        client.post("/v1/summarize", json={"texts": [text]})
                    )
                    for text in TEXTS
                ]
                await until(lambda: app.state.dispatcher.in_flight == 3)
                full = await client.post("/v1/summarize", json={"texts": ["one more"]})
                gate.event.set()
                return full, await asyncio.gather(*waiting)

        full, answered = asyncio.run(send())
    assert full.status_code == 503
    assert int(full.headers["retry-after"]) >= 1
    assert "--max-queue" in full.json()["detail"]
    assert [r.json()["summaries"] for r in answered] == [[s] for s in trained[1]]
    assert "one more" not in gate.texts


async def until(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def test_a_request_whose_client_has_gone_is_not_decoded(trained):
    import httpx

    gate = Gate()
    service, app, server = served(
        trained[0], wrap=gate, max_batch_size=1, max_wait_ms=0
    )
    dispatcher = app.state.dispatcher
    with server as url:

        async def send():
            async with httpx.AsyncClient(base_url=url, timeout=60) as client:
                # the first request holds the decoder (the gate is shut)
                first = asyncio.ensure_future(
                    client.post("/v1/summarize", json={"texts": [TEXTS[0]]})
                )
                await until(lambda: dispatcher.in_flight == 1)
                # a client of its own, gone while its request waits
                leaving = httpx.AsyncClient(base_url=url, timeout=60)
                gone = asyncio.ensure_future(
                    leaving.post("/v1/summarize", json={"texts": ["abandoned text"]})
                )
                await until(lambda: dispatcher.in_flight == 2)
                gone.cancel()
                await leaving.aclose()
                await until(lambda: dispatcher.in_flight == 1)  # seen going
                gate.event.set()
                return await first

        first = asyncio.run(send())
        again = post(url, "/v1/summarize", json={"texts": [TEXTS[1]]})
    assert first.json()["summaries"] == [trained[1][0]]
    assert again.json()["summaries"] == [trained[1][1]]
    assert "abandoned text" not in gate.texts


def test_messages_to_one_conversation_are_taken_in_turn():
    import httpx

    nlp = tiny_responder()
    service, app, server = served(nlp, max_turns=10, max_wait_ms=200)
    with server as url:
        first = post(url, "/v1/reply", json={"message": TEXTS[0]}).json()
        conversation = first["conversation_id"]

        async def send():
            async with httpx.AsyncClient(base_url=url, timeout=60) as client:
                return await asyncio.gather(
                    *(
                        client.post(
                            "/v1/reply",
                            json={"message": text, "conversation_id": conversation},
                        )
                        for text in TEXTS[1:]
                    )
                )

        replies = {
            text: response.json()["reply"]
            for text, response in zip(TEXTS[1:], asyncio.run(send()))
        }
        stored = app.state.conversations.turns(conversation)
    # the stored order is the order they were answered in; each reply read
    # every exchange before it
    assert stored[:2] == [TEXTS[0], first["reply"]]
    assert sorted(stored[2::2]) == sorted(TEXTS[1:])
    for i in (2, 4):
        message, reply = stored[i], stored[i + 1]
        assert replies[message] == reply
        context = service.spec.reply_context(stored[: i + 1])
        assert nlp(context)._.response == reply


def test_a_configuration_every_request_would_fail_is_refused_at_start(trained):
    pytest.importorskip("fastapi", reason="the server needs the serve extra")
    from spacy_seq2seq.serve.service import Limits, Seq2SeqService

    nlp = trained[0]  # beam_size 2, max_length 30
    with pytest.raises(ValueError, match="beam_size"):
        Seq2SeqService(nlp, limits=Limits(max_beam_size=1))
    with pytest.raises(ValueError, match="max_length"):
        Seq2SeqService(nlp, limits=Limits(max_length=10))
    with pytest.raises(ValueError, match="max_queue"):
        Limits(max_batch_size=8, max_queue=4)
