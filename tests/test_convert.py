"""The corpus converters of the project workflow (scripts/convert_*.py): the
raw archives in ../shared/raw give the data in ../shared/data byte for byte,
and small hand-made archives show each rule."""

import gzip
import importlib.util
import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path
from types import ModuleType
from typing import Dict, List

import pytest
import spacy
from spacy.tokens import Doc, DocBin

from .conftest import CMU_DOG, REUTERS, SHARED

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
REUTERS_SCRIPT = SCRIPTS / "convert_reuters.py"
CMU_DOG_SCRIPT = SCRIPTS / "convert_cmu_dog.py"
REUTERS_ARCHIVE = SHARED / "raw" / "reuters21578.tar.gz"
CMU_DOG_ARCHIVE = SHARED / "raw" / "datasets-CMU_DoG-master.tar.gz"
SPLITS = ["train", "dev", "test"]


def load_script(path: Path) -> ModuleType:
    """A script as a module, with its folder on sys.path for `from corpus`."""
    sys.path.insert(0, str(path.parent))
    try:
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    return module


@pytest.fixture(scope="module")
def reuters_script() -> ModuleType:
    return load_script(REUTERS_SCRIPT)


@pytest.fixture(scope="module")
def cmu_dog_script() -> ModuleType:
    return load_script(CMU_DOG_SCRIPT)


@pytest.fixture(scope="module")
def corpus(cmu_dog_script) -> ModuleType:
    """scripts/corpus.py, as the scripts import it."""
    return sys.modules["corpus"]


def run_script(script: Path, *args) -> subprocess.CompletedProcess:
    command = [sys.executable, str(script), *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


def words_of(output: str) -> str:
    """A message's words: wasabi wraps long messages."""
    return " ".join(output.split())


def read_jsonl_gz(path: Path) -> List[Dict]:
    with gzip.open(path, "rt", encoding="utf8") as file_:
        return [json.loads(line) for line in file_]


def read_spacy(path: Path) -> List[Doc]:
    for field in ("summary", "response"):
        if not Doc.has_extension(field):
            Doc.set_extension(field, default=None)
    return list(DocBin().from_disk(path).get_docs(spacy.blank("en").vocab))


def write_archive(path: Path, files: Dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def assert_same_files(splits: Dict[str, List[Dict]], corpus, tmp_path, expected_dir):
    for name, records in splits.items():
        corpus.write_jsonl_gz(records, tmp_path / f"{name}.jsonl.gz")
        expected = (expected_dir / f"{name}.jsonl.gz").read_bytes()
        assert (tmp_path / f"{name}.jsonl.gz").read_bytes() == expected, name


# Reuters-21578


def test_reuters_archive_gives_the_shared_files(reuters_script, corpus, tmp_path):
    """The records as the script writes them (without the .spacy files)."""
    if not REUTERS_ARCHIVE.exists() or not REUTERS.exists():
        pytest.skip(f"{REUTERS_ARCHIVE} or {REUTERS} is absent (../shared is absent)")
    splits = reuters_script.convert(REUTERS_ARCHIVE)
    counts = {name: len(records) for name, records in splits.items()}
    assert counts == {"train": 10280, "dev": 576, "test": 4211}
    assert_same_files(splits, corpus, tmp_path, REUTERS)


def story(new_id: int, split: str, title: str, body: str) -> str:
    return (
        f'<REUTERS TOPICS="YES" LEWISSPLIT="{split}" CGISPLIT="TRAINING-SET" '
        f'OLDID="1" NEWID="{new_id}">\n<DATE>26-FEB-1987</DATE>\n<TEXT>&#2;\n'
        f"<TITLE>{title}</TITLE>\n<DATELINE>    NEW YORK, Feb 26 - </DATELINE>"
        f"<BODY>{body}</BODY></TEXT>\n</REUTERS>\n"
    )


LEAD = "Acme Corp &lt;ACME.O> said it agreed to buy &lt;Widget Makers Inc>\nfor 12 mln dlrs in cash."
STORIES = [
    # Kept, in NEWID order.
    story(
        12,
        "TRAIN",
        "OIL PRICES RISE AS OPEC MEETS",
        "Oil prices rose sharply on Tuesday as OPEC ministers met in Vienna,\ntraders said.",
    ),
    story(
        11,
        "NOT-USED",
        "BANK OF JAPAN KEEPS DISCOUNT RATE",
        "The Bank of Japan said it would keep its discount rate\nunchanged at 2.5 pct.",
    ),
    # Tickers go, company brackets are dropped, the lead paragraph is kept.
    story(
        5,
        "TRAIN",
        "ACME &lt;ACME.O> TO BUY WIDGET MAKERS",
        LEAD + "\n    More.\n Reuter\n&#3;",
    ),
    # The same text in test: test keeps it, train drops it.
    story(9, "TEST", "ACME BUYS WIDGET MAKERS", LEAD + "\n Reuter\n&#3;"),
    # An earnings table: more than 30 % numbers.
    story(
        3, "TRAIN", "ACME EARNINGS", "Shr 1.10 dlrs vs 90 cts Net 5.1 mln vs 4.2 mln."
    ),
    # No sentence punctuation at the end of the lead.
    story(
        2,
        "TRAIN",
        "ACME SHARES UP",
        "Acme Corp shares rose sharply in heavy trading\n    today",
    ),
    # A one-word headline; a headline of mostly numbers.
    story(
        6, "TRAIN", "ACME", "Acme Corp said it would raise its dividend by five cts."
    ),
    story(
        7,
        "TRAIN",
        "1.10 VS 90",
        "Acme Corp said it would raise its dividend by six cts.",
    ),
    # No body.
    '<REUTERS LEWISSPLIT="TRAIN" NEWID="8">\n<TEXT><TITLE>NO BODY</TITLE></TEXT>\n</REUTERS>\n',
    # md5("4") % 20 == 0: dev.
    story(
        4,
        "NOT-USED",
        "WIDGET MAKERS (WID.TO) SEES GAIN",
        'Widget Makers Inc (WID.TO) said it expects higher profits "this year."',
    ),
]


def test_reuters_script_converts_a_small_archive_by_the_rules(tmp_path):
    sgml = '<!DOCTYPE lewis SYSTEM "lewis.dtd">\n' + "".join(STORIES)
    files = {"reut2-000.sgm": sgml.encode("latin-1"), "README.txt": b"Reuters"}
    archive = write_archive(tmp_path / "reuters.tar.gz", files)
    result = run_script(REUTERS_SCRIPT, archive, tmp_path / "out")
    assert result.returncode == 0, result.stdout + result.stderr
    text = "acme corp said it agreed to buy widget makers inc for 12 mln dlrs in cash."
    expected = {
        "train": [
            {
                "text": "the bank of japan said it would keep its discount rate "
                "unchanged at 2.5 pct.",
                "summary": "bank of japan keeps discount rate",
            },
            {
                "text": "oil prices rose sharply on tuesday as opec ministers met in "
                "vienna, traders said.",
                "summary": "oil prices rise as opec meets",
            },
        ],
        "dev": [
            {
                "text": 'widget makers inc said it expects higher profits "this year."',
                "summary": "widget makers sees gain",
            }
        ],
        "test": [{"text": text, "summary": "acme buys widget makers"}],
    }
    for split in SPLITS:
        records = read_jsonl_gz(tmp_path / "out" / f"{split}.jsonl.gz")
        assert records == expected[split], split
        docs = read_spacy(tmp_path / "out" / f"{split}.spacy")
        assert [(d.text, d._.summary) for d in docs] == [
            (r["text"], r["summary"]) for r in records
        ]


BODY = (
    "Oil prices rose sharply on Tuesday as OPEC ministers met in Vienna,\ntraders said."
    "\n    The ministers are expected to agree on &lt;new quotas>.\n Reuter\n&#3;"
)
LONG_BODY = "The ministers met again on Wednesday and talked for hours. " * 5


def test_reuters_body_option_keeps_whole_bodies_up_to_the_limit(
    reuters_script, corpus, tmp_path, capsys
):
    stories = [
        story(1, "TRAIN", "OIL PRICES RISE AS OPEC MEETS", BODY),
        story(2, "TRAIN", "OPEC TALKS GO ON", LONG_BODY),  # 50 tokens: dropped
        story(4, "NOT-USED", "OPEC MEETS AGAIN", BODY.replace("Tuesday", "Monday")),
        story(9, "TEST", "OPEC MEETS", BODY.replace("Tuesday", "Friday")),
    ]
    files = {"reut2-000.sgm": "".join(stories).encode("latin-1")}
    archive = write_archive(tmp_path / "reuters.tar.gz", files)
    args = ["--text", "body", "--max-text-tokens", "40"]
    result = run_script(REUTERS_SCRIPT, archive, tmp_path / "body", *args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert read_jsonl_gz(tmp_path / "body" / "train.jsonl.gz") == [
        {
            "text": "oil prices rose sharply on tuesday as opec ministers met in "
            "vienna, traders said. the ministers are expected to agree on new quotas.",
            "summary": "oil prices rise as opec meets",
        }
    ]
    (test,) = read_jsonl_gz(tmp_path / "body" / "test.jsonl.gz")
    assert test["text"].startswith("oil prices rose sharply on friday")
    # A re-run writes the same bytes.
    again = reuters_script.convert(archive, "body", 40)
    for split, records in again.items():
        corpus.write_jsonl_gz(records, tmp_path / f"{split}.jsonl.gz")
        expected = (tmp_path / "body" / f"{split}.jsonl.gz").read_bytes()
        assert (tmp_path / f"{split}.jsonl.gz").read_bytes() == expected
    lead = reuters_script.convert(archive)
    assert lead["train"][0]["text"] == (
        "oil prices rose sharply on tuesday as opec ministers met in vienna, "
        "traders said."
    )
    with pytest.raises(SystemExit):
        reuters_script.main(archive, tmp_path / "bad", text="title", max_text_tokens=40)
    assert "--text must be one of lead, body, rest" in capsys.readouterr().out


def test_reuters_rest_option_pairs_the_rest_of_a_body_with_its_lead(
    reuters_script, tmp_path
):
    other_rest = BODY.replace("new quotas", "higher output")
    stories = [
        story(1, "TRAIN", "OIL PRICES RISE AS OPEC MEETS", other_rest),
        story(2, "TRAIN", "OPEC TALKS GO ON", LONG_BODY),  # one paragraph: dropped
        story(4, "TRAIN", "OPEC TALKS", BODY.replace("new quotas", "a deal")),  # dev
        # the test story's rest again, under another lead: dropped from train
        story(5, "TRAIN", "OPEC MEETS AGAIN", BODY.replace("Tuesday", "Monday")),
        story(9, "TEST", "OPEC MEETS", BODY.replace("Tuesday", "Friday")),
    ]
    files = {"reut2-000.sgm": "".join(stories).encode("latin-1")}
    archive = write_archive(tmp_path / "reuters.tar.gz", files)
    result = run_script(REUTERS_SCRIPT, archive, tmp_path / "lead", "--text", "rest")
    assert result.returncode == 0, result.stdout + result.stderr
    assert read_jsonl_gz(tmp_path / "lead" / "train.jsonl.gz") == [
        {
            "text": "the ministers are expected to agree on higher output.",
            "summary": "oil prices rose sharply on tuesday as opec ministers met in "
            "vienna, traders said.",
        }
    ]
    assert read_jsonl_gz(tmp_path / "lead" / "test.jsonl.gz") == [
        {
            "text": "the ministers are expected to agree on new quotas.",
            "summary": "oil prices rose sharply on friday as opec ministers met in "
            "vienna, traders said.",
        }
    ]


@pytest.mark.parametrize(
    "files,problem",
    [
        (None, "Can't find the Reuters-21578 archive"),
        ({"README.txt": b"Reuters"}, "No reut2-*.sgm files"),
        (
            {
                "reut2-000.sgm": story(1, "TRAIN", "A B", "C d.")
                .replace(' NEWID="1"', "")
                .encode()
            },
            "A <REUTERS> document in reut2-000.sgm lacks a NEWID or LEWISSPLIT",
        ),
    ],
)
def test_bad_reuters_archives_are_clear_errors(
    reuters_script, tmp_path, capsys, files, problem
):
    archive = tmp_path / "reuters21578.tar.gz"
    if files is not None:
        write_archive(archive, files)
    with pytest.raises(SystemExit) as error:
        list(reuters_script.read_stories(archive))
    assert error.value.code == 1
    assert problem in words_of(capsys.readouterr().out)


def test_a_truncated_reuters_archive_is_a_clear_error(reuters_script, tmp_path, capsys):
    stories = "".join(STORIES).encode("latin-1") * 50
    archive = write_archive(tmp_path / "full.tar.gz", {"reut2-000.sgm": stories})
    truncated = tmp_path / "reuters21578.tar.gz"
    truncated.write_bytes(archive.read_bytes()[:-200])
    with pytest.raises(SystemExit) as error:
        list(reuters_script.read_stories(truncated))
    assert error.value.code == 1
    assert "is not a readable tar archive" in words_of(capsys.readouterr().out)


# CMU_DoG


def test_cmu_dog_archive_gives_the_shared_files(cmu_dog_script, corpus, tmp_path):
    """The records as the script writes them (without the .spacy files,
    which take a minute and a half)."""
    if not CMU_DOG_ARCHIVE.exists() or not CMU_DOG.exists():
        pytest.skip(f"{CMU_DOG_ARCHIVE} or {CMU_DOG} is absent (../shared is absent)")
    splits = cmu_dog_script.convert(CMU_DOG_ARCHIVE)
    counts = {name: len(records) for name, records in splits.items()}
    assert counts == {"train": 72051, "dev": 4806, "test": 13133}
    assert_same_files(splits, corpus, tmp_path, CMU_DOG)


def message(uid: str, text: str) -> Dict:
    return {"docIdx": 0, "text": text, "uid": uid, "utcTimestamp": "2018"}


def words(n: int, prefix: str) -> str:
    return " ".join(f"{prefix}{i}" for i in range(n))


def conversation(*history: Dict) -> bytes:
    return json.dumps({"history": list(history), "rating": 1}).encode("utf8")


# In a.json (turn: tokens): 0 "Hello there how are you?": 5 (two messages);
# 1 "Fine thanks and you?": 4 (the empty user1 message between is dropped);
# 2: 52; 3: 40; 4: 64; 5 "sure": 1; 6: 65; 7: 97; 8 "ok"; 9 "bye".
LONG = {n: words(n, f"t{n}_") for n in (40, 52, 64, 65, 97)}
SMALL_ARCHIVE = {
    "root/README.md": b"# not a conversation",
    "root/WikiData/Movie.json": b'{"not": "a conversation"}',
    # added before a.json, read after it
    "root/Conversations/train/b.json": conversation(
        message("user1", "hi"), message("user2", "yo"), message("user1", "hey")
    ),
    "root/Conversations/train/a.json": conversation(
        message("user1", "Hello  there\n"),
        message("user1", "  how are\tyou?"),
        message("user2", "   "),
        message("user2", "Fine thanks"),
        message("user1", ""),
        message("user2", "and you?"),
        message("user1", LONG[52]),
        message("user2", LONG[40]),
        message("user1", LONG[64]),
        message("user2", "sure"),
        message("user1", LONG[65]),
        message("user2", LONG[97]),
        message("user1", "ok"),
        message("user2", "bye"),
    ),
    "root/Conversations/valid/c.json": conversation(
        message("user2", "Only one turn"), message("user2", "from one worker")
    ),
    "root/Conversations/valid/d.json": conversation(
        message("user1", "Have you seen it?"), message("user2", " No. ")
    ),
    "root/Conversations/test/e.json": conversation(
        message("user1", "a"), message("user2", "b")
    ),
}
HELLO = "Hello there how are you?"
FINE = "Fine thanks and you?"
SMALL_PAIRS = {
    "train": [
        {"context": [HELLO], "response": FINE},
        {"context": [HELLO, FINE], "response": LONG[52]},
        {"context": [HELLO, FINE, LONG[52]], "response": LONG[40]},
        # 4 + 52 + 40 = 96 tokens: just fits
        {"context": [FINE, LONG[52], LONG[40]], "response": LONG[64]},
        # 64 + 40 > 96: the older turn is dropped
        {"context": [LONG[64]], "response": "sure"},
        # responses of 65 and 97 tokens skipped; "ok" follows a 97-token turn
        {"context": ["ok"], "response": "bye"},
        {"context": ["hi"], "response": "yo"},
        {"context": ["hi", "yo"], "response": "hey"},
    ],
    "dev": [{"context": ["Have you seen it?"], "response": "No."}],
    "test": [{"context": ["a"], "response": "b"}],
}


def test_cmu_dog_script_converts_a_small_archive_by_the_rules(tmp_path):
    archive = write_archive(tmp_path / "small.tar.gz", SMALL_ARCHIVE)
    result = run_script(CMU_DOG_SCRIPT, archive, tmp_path / "out")
    assert result.returncode == 0, result.stdout + result.stderr
    for split in SPLITS:
        records = read_jsonl_gz(tmp_path / "out" / f"{split}.jsonl.gz")
        assert records == SMALL_PAIRS[split], split
        docs = read_spacy(tmp_path / "out" / f"{split}.spacy")
        assert len(docs) == len(records)
        assert [d.text for d in docs] == ["\n".join(r["context"]) for r in records]
        assert [d._.response for d in docs] == [r["response"] for r in records]


def test_cmu_dog_pairs_follow_the_limits(cmu_dog_script):
    turns = ["a", "b", "c", "x", "d e f", "g h", "i"]
    pairs = list(
        cmu_dog_script.make_pairs(
            turns, max_context_turns=2, max_context_tokens=4, max_response_tokens=2
        )
    )
    assert pairs == [
        {"context": ["a"], "response": "b"},
        {"context": ["a", "b"], "response": "c"},
        {"context": ["b", "c"], "response": "x"},  # at most 2 turns
        # "d e f": 3 tokens, skipped as a response
        {"context": ["x", "d e f"], "response": "g h"},  # 4 tokens
        {"context": ["g h"], "response": "i"},  # "d e f" + "g h": 5 tokens
    ]
    long_turn = ["a", "b c d e f", "g"]  # the preceding turn alone is too long
    assert list(cmu_dog_script.make_pairs(long_turn, max_context_tokens=4)) == [
        {"context": ["a"], "response": "b c d e f"}
    ]
    assert list(cmu_dog_script.make_pairs(["one"])) == []


@pytest.mark.parametrize(
    "script,problem",
    [
        (REUTERS_SCRIPT, "is not a readable tar archive"),
        (CMU_DOG_SCRIPT, "as a tar.gz archive"),
    ],
)
def test_scripts_fail_clearly_on_a_file_that_is_not_an_archive(
    script, problem, tmp_path
):
    path = tmp_path / "corpus.tar.gz"
    path.write_text("not an archive", encoding="utf8")
    result = run_script(script, path, tmp_path / "out")
    assert result.returncode == 1
    assert problem in words_of(result.stdout)
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "files,problem",
    [
        ({}, "Can't find the archive"),
        ({"Conversations/train/x.json": b"{'history': []}"}, "is not valid JSON"),
        ({"Conversations/train/x.json": b'{"rating": 1}'}, "has no 'history'"),
        (
            {"Conversations/train/x.json": b'{"history": [{"text": "hi"}]}'},
            "should be a list of messages",
        ),
    ],
)
def test_bad_cmu_dog_archives_are_clear_errors(
    cmu_dog_script, tmp_path, capsys, files, problem
):
    archive = tmp_path / "archive.tar.gz"
    if files:
        write_archive(archive, files)
    with pytest.raises(SystemExit) as error:
        cmu_dog_script.read_conversations(archive)
    assert error.value.code == 1
    out = words_of(capsys.readouterr().out)
    assert problem in out
    if files:
        assert "Conversations/train/x.json" in out


def test_a_missing_cmu_dog_split_folder_is_named(cmu_dog_script, tmp_path, capsys):
    files = {
        f"root/Conversations/{split}/x.json": conversation(message("user1", "hi"))
        for split in ("train", "test")
    }
    with pytest.raises(SystemExit) as error:
        cmu_dog_script.read_conversations(write_archive(tmp_path / "a.tar.gz", files))
    assert error.value.code == 1
    assert "in Conversations/valid/:" in words_of(capsys.readouterr().out)


# The synthetic reversal task


def test_synthetic_task_is_seeded_reversals(tmp_path):
    script = load_script(SCRIPTS / "make_synthetic_task.py")
    records = list(script.reversal_pairs(50, 3, 12, 20, seed=7))
    assert records == list(script.reversal_pairs(50, 3, 12, 20, seed=7))
    assert records != list(script.reversal_pairs(50, 3, 12, 20, seed=8))
    lengths = set()
    for record in records:
        source = record["text"].split()
        assert record["summary"].split() == source[::-1]
        assert 3 <= len(source) <= 12 and set(source) <= {
            f"w{i:02d}" for i in range(20)
        }
        lengths.add(len(source))
    assert len(lengths) > 5, "lengths vary"
    script.main(tmp_path, 20, 5, 5, 3, 12, 20, 0)
    nlp = spacy.blank("en")
    read = script.create_jsonl_reader(tmp_path / "dev.jsonl.gz")
    assert [eg.reference._.summary for eg in read(nlp)] == [
        r["summary"] for r in script.reversal_pairs(5, 3, 12, 20, seed=1)
    ]
