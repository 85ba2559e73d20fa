"""Convert the Reuters-21578 archive into headline-generation pairs.

    python scripts/convert_reuters.py assets/reuters21578.tar.gz corpus/reuters
    python scripts/convert_reuters.py assets/reuters21578.tar.gz corpus/reuters_body \
        --text body --max-text-tokens 400
    python scripts/convert_reuters.py assets/reuters21578.tar.gz corpus/reuters_lead \
        --text rest --max-text-tokens 400

Reads the `reut2-*.sgm` files straight from the archive (UCI's layout) and
writes train/dev/test as JSONL.gz records {"text": ..., "summary": ...} and as
.spacy files (the summary in `doc._.summary`). The rules, Gigaword style:

- a document needs a <TITLE> and a <BODY>; the text is the body's first
  paragraph (up to a line break followed by an indent), or with `--text
  body` the whole body, without the "Reuter" sign-off; the summary is the
  title. With `--text rest` (a second summarization task: write a story's
  lead from the rest of it) the text is the body after its first paragraph
  and the summary is that first paragraph, kept by the text's rules below
  (8 to 80 tokens, a sentence, few numbers) instead of the title's;
- HTML entities are unescaped; stock tickers are removed: an upper-case code
  of at most 8 characters in angle brackets (<OXY>, <WBAT.O>, <NVA.A.TO>) or
  an exchange code in parentheses ((KFL.TO)); the brackets of other
  <Company Name>s are dropped and stray brackets become spaces; whitespace is
  collapsed, the space before punctuation removed, and both sides lowercased;
- a pair is kept when the text has 8 to `--max-text-tokens` tokens (80 by
  default; a longer text is dropped, never cut) and ends with sentence
  punctuation (a closing quote or parenthesis may follow), at most 30 % of its
  tokens are numbers (digits with .,/% signs; this drops earnings tables),
  and the summary has 2-20 tokens and is mostly letters (at least half its
  characters, spaces included);
- test is LEWISSPLIT="TEST" (the ModApte test documents); the TRAIN and
  NOT-USED documents are train, but for dev: md5(NEWID) % 20 == 0;
- duplicate texts are dropped, test first, so no train or dev text is in test;
  each split is in NEWID order.

Tokens are whitespace tokens. On the archive in ../shared/raw these rules give
../shared/data/reuters21578_headlines byte for byte (tests/test_convert.py).
With `--text body --max-text-tokens 400` they give a corpus whose texts vary
from 8 to 400 tokens (docs/ablation.md has its figures), for measuring how
a model copes with length; the splits are the same documents' where both
conversions keep them. Every output file is gzip with mtime 0: a re-run
writes the same bytes.
"""

import hashlib
import html
import re
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import typer
from wasabi import msg

from corpus import ASSETS_HINT, write_split
from spacy_seq2seq.readers import create_jsonl_reader

DOCUMENT = re.compile(r"<REUTERS\b([^>]*)>(.*?)</REUTERS>", re.DOTALL)
ATTRIBUTE = re.compile(r'(\w+)="([^"]*)"')
TICKER = re.compile(
    r"""<\s*(?=[A-Z0-9.-]{1,8}\s*>)[A-Z0-9]+(?:[.-][A-Z0-9]+)*\.?\s*>  # <WBAT.O>
    |\([A-Z0-9]+\.[A-Z]+\)  # (KFL.TO)""",
    re.VERBOSE,
)
BRACKETS = re.compile(r"<([^<>]*)>")
PARAGRAPH_BREAK = re.compile(r"\n {2,}")
SIGN_OFF = re.compile(r"\s*Reuter\s*(&#3;)?\s*$")
SPACE_BEFORE_PUNCTUATION = re.compile(r" ([,.;:!?])")
SENTENCE_END = re.compile(r"[.!?][\"')]?$")
NUMBER = re.compile(r"^[-+]?[\d.,/%]*\d[\d.,/%]*$")
SGML_FILE = re.compile(r"reut2-\d+\.sgm$")
SPLITS = ("train", "dev", "test")
TEXTS = ("lead", "body", "rest")


@dataclass
class Story:
    new_id: int
    lewis_split: str
    title: str
    body: str


def main(
    archive: Path = typer.Argument(..., help="reuters21578.tar.gz"),
    output_dir: Path = typer.Argument(..., file_okay=False),
    text: str = typer.Option(
        "lead",
        help="The text: the lead paragraph or the body (-> the title), or the "
        "rest of the body (-> the lead paragraph)",
    ),
    max_text_tokens: int = typer.Option(80, help="Drop pairs with longer texts"),
) -> None:
    if text not in TEXTS:
        msg.fail(f"--text must be one of {', '.join(TEXTS)}, not {text!r}", exits=1)
    if max_text_tokens < 8:
        msg.fail(
            f"--max-text-tokens must be at least 8, not {max_text_tokens}", exits=1
        )
    for split, records in convert(archive, text, max_text_tokens).items():
        write_split(records, output_dir, split, create_jsonl_reader)


def convert(
    archive: Path, text: str = "lead", max_text_tokens: int = 80
) -> Dict[str, List[Dict[str, str]]]:
    """The records of each split (train, dev, test) of the archive, their
    text the stories' lead paragraph or whole body."""
    splits: Dict[str, List[Dict[str, str]]] = {split: [] for split in SPLITS}
    # Test first, so that a text in test is dropped from train and dev.
    stories = sorted(
        read_stories(archive),
        key=lambda story: (story.lewis_split != "TEST", story.new_id),
    )
    seen = set()
    for story in stories:
        pair = make_pair(story, text, max_text_tokens)
        if pair is None or pair["text"] in seen:
            continue
        seen.add(pair["text"])
        splits[split_of(story)].append(pair)
    return splits


def read_stories(archive: Path) -> Iterator[Story]:
    """Yield every document of the archive's reut2-*.sgm files that has a
    title and a body."""
    for name, sgml in read_sgml_files(archive):
        for attributes, content in DOCUMENT.findall(sgml):
            story = parse_story(dict(ATTRIBUTE.findall(attributes)), content, name)
            if story is not None:
                yield story


def read_sgml_files(archive: Path) -> List[Tuple[str, str]]:
    """The name and text of each reut2-*.sgm file in the archive."""
    if not archive.is_file():
        msg.fail(
            f"Can't find the Reuters-21578 archive {archive}", ASSETS_HINT, exits=1
        )
    files = []
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                if member.isfile() and SGML_FILE.search(member.name):
                    sgml = tar.extractfile(member).read()  # type: ignore[union-attr]
                    files.append((member.name, sgml.decode("latin-1")))
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        msg.fail(f"{archive} is not a readable tar archive: {e}", exits=1)
    if not files:
        msg.fail(f"No reut2-*.sgm files in {archive}", exits=1)
    return files


def parse_story(
    attributes: Dict[str, str], content: str, where: str
) -> Optional[Story]:
    title = re.search(r"<TITLE>(.*?)</TITLE>", content, re.DOTALL)
    body = re.search(r"<BODY>(.*?)</BODY>", content, re.DOTALL)
    if title is None or body is None:
        return None
    if not attributes.get("NEWID", "").isdigit() or "LEWISSPLIT" not in attributes:
        msg.fail(
            f"A <REUTERS> document in {where} lacks a NEWID or LEWISSPLIT", exits=1
        )
    return Story(
        new_id=int(attributes["NEWID"]),
        lewis_split=attributes["LEWISSPLIT"],
        title=title.group(1),
        body=body.group(1),
    )


def make_pair(
    story: Story, text_kind: str = "lead", max_text_tokens: int = 80
) -> Optional[Dict[str, str]]:
    """The (text, summary) pair of a story, or None where the rules drop it."""
    body = SIGN_OFF.sub("", story.body.strip())
    if text_kind == "rest":
        paragraphs = PARAGRAPH_BREAK.split(body, maxsplit=1)
        if len(paragraphs) < 2:
            return None
        lead, text = clean(paragraphs[0]), clean(paragraphs[1])
        if not is_prose(text, max_text_tokens) or not is_prose(lead, 80):
            return None
        return {"text": text, "summary": lead}
    if text_kind == "lead":
        body = PARAGRAPH_BREAK.split(body, maxsplit=1)[0]
    text = clean(body)
    summary = clean(story.title)
    summary_tokens = summary.split()
    if not is_prose(text, max_text_tokens):
        return None
    if not 2 <= len(summary_tokens) <= 20 or not is_mostly_letters(summary):
        return None
    return {"text": text, "summary": summary}


def is_prose(text: str, max_tokens: int) -> bool:
    """Whether a text has 8 to max_tokens tokens, ends a sentence and is not
    a table (at most 30 % of its tokens are numbers)."""
    tokens = text.split()
    n_numbers = sum(1 for token in tokens if NUMBER.match(token))
    return (
        8 <= len(tokens) <= max_tokens
        and SENTENCE_END.search(text) is not None
        and n_numbers <= 0.3 * len(tokens)
    )


def clean(sgml_text: str) -> str:
    text = html.unescape(sgml_text)
    text = TICKER.sub(" ", text)
    text = BRACKETS.sub(r"\1", text).replace("<", " ").replace(">", " ")
    text = " ".join(text.split())
    return SPACE_BEFORE_PUNCTUATION.sub(r"\1", text).lower()


def is_mostly_letters(text: str) -> bool:
    return sum(c.isalpha() for c in text) >= len(text) / 2


def split_of(story: Story) -> str:
    if story.lewis_split == "TEST":
        return "test"
    digest = hashlib.md5(str(story.new_id).encode("utf8")).hexdigest()
    return "dev" if int(digest, 16) % 20 == 0 else "train"


if __name__ == "__main__":
    typer.run(main)
