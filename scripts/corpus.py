"""What the corpus converters share: writing a split as JSONL.gz (read by the
training configs) and as a .spacy file (read by `spacy evaluate` and
scripts/evaluate.py)."""

import gzip
import json
from pathlib import Path
from typing import Callable, Dict, Iterable, List

import spacy
from spacy.language import Language
from spacy.tokens import DocBin
from spacy.training import Example
from wasabi import msg

ASSETS_HINT = (
    "Fetch the raw corpora with `spacy project run assets` or, without "
    "internet, copy them into assets/ by hand (assets/README.md)."
)


def write_jsonl_gz(records: Iterable[Dict], path: Path) -> int:
    """Write one JSON object a line, gzipped with mtime 0 so that a re-run
    writes the same bytes. Returns the number of records."""
    return write_lines_gz(
        (json.dumps(record, ensure_ascii=False) for record in records), path
    )


def write_lines_gz(lines: Iterable[str], path: Path) -> int:
    """Write one text a line, gzipped with mtime 0 so that a re-run writes
    the same bytes. Returns the number of lines."""
    path.parent.mkdir(parents=True, exist_ok=True)
    n_lines = 0
    with path.open("wb") as raw, gzip.GzipFile(
        filename="", mode="wb", fileobj=raw, mtime=0
    ) as file_:
        for line in lines:
            file_.write((line + "\n").encode("utf8"))
            n_lines += 1
    return n_lines


def write_docbin(
    read: Callable[[Language], Iterable[Example]], path: Path, lang: str = "en"
) -> int:
    """Write the reference docs of a corpus reader to a .spacy file, keeping
    the target text (doc._.summary or doc._.response) in the user data.
    Returns the number of docs."""
    nlp = spacy.blank(lang)
    docbin = DocBin(store_user_data=True)
    for example in read(nlp):
        docbin.add(example.reference)
    path.parent.mkdir(parents=True, exist_ok=True)
    docbin.to_disk(path)
    return len(docbin)


def write_split(
    records: List[Dict],
    output_dir: Path,
    split: str,
    make_reader: Callable[[Path], Callable[[Language], Iterable[Example]]],
) -> None:
    """Write a split as OUTPUT_DIR/SPLIT.jsonl.gz and OUTPUT_DIR/SPLIT.spacy;
    the .spacy docs are read back from the JSONL with the training reader,
    so both files hold the same pairs."""
    jsonl_path = output_dir / f"{split}.jsonl.gz"
    n_records = write_jsonl_gz(records, jsonl_path)
    write_docbin(make_reader(jsonl_path), output_dir / f"{split}.spacy")
    msg.good(f"{split}: {n_records:,} pairs -> {jsonl_path} and {split}.spacy")
