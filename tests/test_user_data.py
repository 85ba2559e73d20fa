"""Your own data: JSONL, CSV or TSV pairs and dialogues into the project's
corpora (scripts/convert_data.py over spacy_seq2seq.user_data)."""

import csv
import gzip
import importlib
import json
import sys
from pathlib import Path

import pytest
import spacy
from spacy.tokens import DocBin

from spacy_seq2seq.readers import create_dialogue_reader, create_jsonl_reader
from spacy_seq2seq.user_data import (
    read_dialogues,
    read_pairs,
    read_splits,
    split_records,
)

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def write_table(path: Path, rows, delimiter=","):
    with path.open("w", encoding="utf8", newline="") as file_:
        csv.writer(file_, delimiter=delimiter).writerows(rows)


def read_jsonl_gz(path: Path):
    with gzip.open(path, "rt", encoding="utf8") as file_:
        return [json.loads(line) for line in file_]


@pytest.fixture(scope="module")
def convert_data():
    sys.path.insert(0, str(SCRIPTS))
    try:
        return importlib.import_module("convert_data").main
    finally:
        sys.path.remove(str(SCRIPTS))


def test_one_csv_becomes_a_seeded_train_dev_test_split(tmp_path, convert_data):
    rows = [("id", "article", "title")]
    rows += [(n, f"story number {n}, with a comma.", f"title {n}") for n in range(40)]
    write_table(tmp_path / "mine.csv", rows)
    out = tmp_path / "corpus"
    convert_data(
        "summarizer", tmp_path / "mine.csv", out, source_field="article",
        target_field="title", context_field="context", response_field="response",
        turn_separator="|||", dev_share=0.1, test_share=0.2, seed=3,
    )  # fmt: skip
    splits = {split: read_jsonl_gz(out / f"{split}.jsonl.gz") for split in ("train", "dev", "test")}  # fmt: skip
    assert [len(splits[s]) for s in ("train", "dev", "test")] == [28, 4, 8]
    everything = sorted(r["text"] for records in splits.values() for r in records)
    assert everything == sorted(f"story number {n}, with a comma." for n in range(40))
    assert all(r["summary"] == f"title {r['text'].split()[2][:-1]}" for r in splits["test"])  # fmt: skip
    # The same seed, the same split; the .spacy file holds the same pairs.
    again = split_records(read_pairs(tmp_path / "mine.csv", "article", "title"), 0.1, 0.2, 3)  # fmt: skip
    assert again["test"] == splits["test"]
    nlp = spacy.blank("en")
    docs = list(DocBin().from_disk(out / "test.spacy").get_docs(nlp.vocab))
    assert [(d.text, d.user_data[("._.", "summary", None, None)]) for d in docs] == [
        (r["text"], r["summary"]) for r in splits["test"]
    ]
    examples = list(create_jsonl_reader(out / "train.jsonl.gz")(nlp))
    assert len(examples) == 28


def test_own_splits_from_a_folder_and_dialogue_turns_in_a_tsv(tmp_path):
    folder = tmp_path / "chats"
    folder.mkdir()
    for split in ("train", "dev", "test"):
        write_table(
            folder / f"{split}.tsv",
            [("history", "reply"), ("hi!|||hello, seen it? ||| yes", f"{split} reply")],
            delimiter="\t",
        )
    read = lambda path: read_dialogues(path, "history", "reply", "|||")
    splits = read_splits(folder, read, 0.1, 0.1, 0)
    assert splits["dev"] == [
        {"context": ["hi!", "hello, seen it?", "yes"], "response": "dev reply"}
    ]
    (tmp_path / "chats.jsonl").write_text(
        json.dumps({"history": ["hi", "hey"], "reply": "ok"}) + "\n", encoding="utf8"
    )
    assert read(tmp_path / "chats.jsonl") == [{"context": ["hi", "hey"], "response": "ok"}]  # fmt: skip
    nlp = spacy.blank("en")
    path = tmp_path / "dev.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf8") as file_:
        file_.write(json.dumps(splits["dev"][0]) + "\n")
    (example,) = create_dialogue_reader(path)(nlp)
    assert example.reference.text == "hi!\nhello, seen it?\nyes"


@pytest.mark.parametrize(
    "name,content,message",
    [
        ("pairs.csv", "text,title\na text,a title\n", "Missing field 'summary' in"),
        (
            "pairs.csv",
            "text,summary\na text,\n",
            "Field 'summary' in .*line 2 is empty",
        ),
        ("pairs.csv", "text,summary\na,b,c\n", "line 2 has another number of cells"),
        ("pairs.tsv", "text\tsummary\na\tb\n", "Can't split 1 records"),
        ("pairs.txt", "a text", "give a .jsonl, .csv or .tsv file"),
        ("pairs.jsonl", '{"text": "a"}\n', "Missing field 'summary' in .*line 1"),
    ],
)
def test_bad_data_is_a_clear_error_naming_file_and_line(tmp_path, name, content, message):  # fmt: skip
    (tmp_path / name).write_text(content, encoding="utf8")
    read = lambda path: read_pairs(path, "text", "summary")
    with pytest.raises(ValueError, match=message):
        read_splits(tmp_path / name, read, 0.1, 0.1, 0)


def test_a_folder_without_its_splits_is_a_clear_error(tmp_path):
    (tmp_path / "train.csv").write_text("text,summary\na,b\n", encoding="utf8")
    with pytest.raises(ValueError, match="should hold one dev file"):
        read_splits(tmp_path, lambda p: read_pairs(p, "text", "summary"), 0.1, 0.1, 0)
