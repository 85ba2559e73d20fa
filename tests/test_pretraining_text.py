"""The pretraining text (scripts/make_pretraining_text.py) never holds a dev
or test text: the leak check on hand-made archives, and on the real ones."""

import gzip
import json
from pathlib import Path
from typing import Dict, List

import pytest

from .conftest import CMU_DOG, REUTERS, SHARED
from .test_convert import load_script, write_archive

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "make_pretraining_text.py"
HELD_OUT = "The bank raised its key rate to five pct on Thursday, officials said."


@pytest.fixture(scope="module")
def script():
    return load_script(SCRIPT)


def test_leak_check_finds_repeats_of_held_out_texts(script):
    check = script.LeakCheck([HELD_OUT, "no comment"], ngram=4, max_overlap=0.5)
    # the same words, other case and punctuation
    assert "equals" in check.leak(
        "the BANK raised its key rate to five pct on thursday officials said"
    )
    # a longer story that holds the held-out lead
    story = (
        "Markets were calm before the news came out of the capital. "
        + HELD_OUT
        + " Traders had expected it after the weak figures of last week. More later."
    )
    assert "holds 100%" in check.leak(story)
    # a text made mostly of held-out n-grams
    assert (
        check.leak("the bank raised its key rate to five pct on friday, officials said")
        is not None
    )
    # other texts are kept, and a short held-out text never drops one that uses its words
    assert check.leak("The central bank of Chile cut its rate on Monday.") is None
    assert (
        check.leak("He said he had no comment on the bank's plans for the week.")
        is None
    )


def story(new_id: int, split: str, body: str, title: str = "") -> str:
    title_tag = f"<TITLE>{title}</TITLE>" if title else ""
    return (
        f'<REUTERS LEWISSPLIT="{split}" NEWID="{new_id}">\n<TEXT>{title_tag}'
        f"<BODY>{body}\n Reuter\n&#3;</BODY></TEXT>\n</REUTERS>\n"
    )


TEST_LEAD = "Acme Corp said it agreed to buy Widget Makers Inc for 12 mln dlrs in cash."
STORIES = [
    story(
        1,
        "TRAIN",
        "Oil prices rose on Monday.\n    Traders said supplies were tight.",
        "OIL RISES",
    ),
    story(
        2, "NOT-USED", "Gold fell two dlrs an ounce in quiet trade, dealers said."
    ),  # no title
    story(3, "TEST", TEST_LEAD + "\n    The deal closes in May.", "ACME TO BUY WIDGET"),
    story(4, "TRAIN", "A dev story: md5 of its NEWID ends the split.", "DEV"),
    # the test story sent again under a training NEWID, with a new ending
    story(5, "TRAIN", TEST_LEAD + "\n    Acme shares rose 5 pct.", "ACME BUYS WIDGET"),
]


def read_lines(path: Path) -> List[str]:
    with gzip.open(path, "rt", encoding="utf8") as file_:
        return file_.read().splitlines()


def test_news_text_keeps_training_stories_only(script, tmp_path):
    sgml = "".join(STORIES).encode("latin-1")
    archive = write_archive(tmp_path / "reuters.tar.gz", {"reut2-000.sgm": sgml})
    report = script.make_text(tmp_path / "out", reuters_archive=archive)
    lines = read_lines(tmp_path / "out" / "news.txt.gz")
    assert lines == [
        "oil prices rose on monday. traders said supplies were tight.",
        "gold fell two dlrs an ounce in quiet trade, dealers said.",
    ]
    assert report["files"]["news.txt.gz"] == {"kept": 2, "dropped": 1}
    (dropped,) = report["dropped"]
    assert dropped["text"].startswith("acme corp said")
    assert json.loads((tmp_path / "out" / "report_news.json").read_text()) == report


def message(uid: str, text: str) -> Dict[str, str]:
    return {"uid": uid, "text": text}


def conversation(*turns: str) -> bytes:
    history = [message(f"user{i % 2}", turn) for i, turn in enumerate(turns)]
    return json.dumps({"history": history}).encode("utf8")


def test_conversations_repeated_in_test_are_dropped(script, tmp_path):
    chat = ("Have you seen Jaws?", "Yes, the shark scared me for years after.")
    archive = write_archive(
        tmp_path / "cmu.tar.gz",
        {
            "r/WikiData/Jaws.json": json.dumps(
                {"0": {"introduction": "Jaws is a 1975 film."}, "1": "A shark attacks."}
            ).encode("utf8"),
            "r/Conversations/train/a.json": conversation(*chat),
            "r/Conversations/train/b.json": conversation("Hi", "Hello there"),
            "r/Conversations/valid/c.json": conversation("Any plans?", "None"),
            "r/Conversations/test/d.json": conversation(*chat),
        },
    )
    report = script.make_text(tmp_path / "out", cmu_dog_archive=archive)
    with gzip.open(tmp_path / "out" / "conversations.jsonl.gz", "rt") as file_:
        kept = [json.loads(line)["turns"] for line in file_]
    assert kept == [["Hi", "Hello there"]]
    assert report["files"]["conversations.jsonl.gz"] == {"kept": 1, "dropped": 1}
    assert read_lines(tmp_path / "out" / "movies.txt.gz") == [
        "Jaws is a 1975 film.",
        "A shark attacks.",
    ]


@pytest.mark.slow  # reads both archives and checks 20k documents: ~1 min here
def test_real_pretraining_text_holds_no_dev_or_test_text(script, tmp_path):
    archives = [
        SHARED / "raw" / "reuters21578.tar.gz",
        SHARED / "raw" / "datasets-CMU_DoG-master.tar.gz",
    ]
    if not all(path.exists() for path in archives) or not REUTERS.exists():
        pytest.skip(
            f"the raw archives are not in {SHARED / 'raw'} (../shared is absent)"
        )
    script.make_text(tmp_path, *archives)
    news = "\n".join(read_lines(tmp_path / "news.txt.gz"))
    for split in ("dev", "test"):
        with gzip.open(REUTERS / f"{split}.jsonl.gz", "rt") as file_:
            texts = [json.loads(line)["text"] for line in file_]
        assert texts and not any(text in news for text in texts)
    with gzip.open(tmp_path / "conversations.jsonl.gz", "rt") as file_:
        chats = {tuple(json.loads(line)["turns"]) for line in file_}
    with gzip.open(CMU_DOG / "test.jsonl.gz", "rt") as file_:
        test_turns = [json.loads(line) for line in file_]
    # no test pair's context and long response (short ones such as "Hi" ->
    # "Hello" recur in many chats) follow each other in a kept chat
    pairs = {(turns[i], turns[i + 1]) for turns in chats for i in range(len(turns) - 1)}
    long_pairs = [
        (r["context"][-1], r["response"])
        for r in test_turns
        if len(r["response"].split()) >= 8
    ]
    assert long_pairs and not any(pair in pairs for pair in long_pairs)


PRETRAIN_STEP = SCRIPT.parent / "pretrain.py"


@pytest.mark.parametrize(
    "enabled,config,problem",
    [
        ("false", "configs/summarizer.cfg", None),
        ("false", "configs/finetune_summarizer.cfg", "--vars.pretrain true"),
        ("true", "configs/summarizer.cfg", "configs/finetune_summarizer.cfg"),
        ("true", "configs/responder.cfg", "configs/finetune_summarizer.cfg"),
        ("maybe", "configs/summarizer.cfg", "true or false"),
    ],
)
def test_pretrain_step_checks_the_training_config_agrees(
    enabled, config, problem, capsys, monkeypatch
):
    """The workflow's pretrain step fails before any work when vars.pretrain
    and the training config disagree, and does nothing when it's off."""
    monkeypatch.chdir(SCRIPT.parent.parent)
    step = load_script(PRETRAIN_STEP)
    try:
        step.main("summarizer", enabled, Path("none.tar.gz"), Path(config))
        code = 0
    except SystemExit as e:
        code = e.code
    output = " ".join(capsys.readouterr().out.split())
    if problem is None:
        assert code == 0 and "Pretraining is off" in output
    else:
        assert code == 1 and problem in output
