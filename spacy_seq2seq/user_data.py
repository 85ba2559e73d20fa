"""Your own pairs as the project's corpora: (source, target) or (context turns,
reply) records from a JSONL, CSV or TSV file, split into train/dev/test with a
seed, or from your own train, dev and test files.

Records come out in the project's JSONL format: {"text", "summary"} for the
summarizer, {"context": [turns], "response"} for the responder (with
"document" when a document column is named).
"""

import csv
import gzip
import random
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional

from .grounding import DOCUMENT_EXTENSION
from .readers import Located, get_text, get_turns, read_records

SPLITS = ("train", "dev", "test")
TABLE_DELIMITERS = {".csv": ",", ".tsv": "\t"}
SUFFIXES = (".jsonl", ".csv", ".tsv")

Record = Dict[str, object]


def read_located(path: Path) -> Iterator[Located]:
    """Each record of a JSONL, CSV or TSV file (gzipped too) with its
    location ("file, line N"). A table's first row names its columns."""
    kind = file_kind(path)
    if kind == ".jsonl":
        yield from read_records(path)
        return
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf8", newline="") as file_:
        rows = csv.DictReader(file_, delimiter=TABLE_DELIMITERS[kind])
        for row in rows:
            where = f"{path}, line {rows.line_num}"
            # DictReader keys extra cells by None and fills missing ones with None.
            if None in row or None in row.values():
                raise ValueError(
                    f"{where} has another number of cells than the header line"
                )
            yield where, row


def file_kind(path: Path) -> str:
    suffixes = [s for s in path.suffixes if s != ".gz"]
    kind = suffixes[-1].lower() if suffixes else ""
    if kind not in SUFFIXES:
        raise ValueError(
            f"Can't read {path}: give a .jsonl, .csv or .tsv file (gzipped or not)"
        )
    return kind


def read_pairs(path: Path, source_field: str, target_field: str) -> List[Record]:
    """The file's (source, target) pairs as {"text": ..., "summary": ...}."""
    return [
        {
            "text": required_text(record, source_field, where),
            "summary": required_text(record, target_field, where),
        }
        for where, record in read_located(path)
    ]


def read_dialogues(
    path: Path,
    context_field: str,
    response_field: str,
    turn_separator: str,
    document_field: Optional[str] = None,
) -> List[Record]:
    """The file's (context, reply) records as {"context": [turns, oldest
    first], "response": ...}. In JSONL the context is a list of turns or one
    string; in a table it is one cell, its turns joined by `turn_separator`.
    With a `document_field` (a column every record has, empty for none) the
    records keep it as "document": the text a grounded responder reads."""

    def turns(record: Dict, where: str) -> List[str]:
        if isinstance(record.get(context_field), list):
            return get_turns(record, context_field, where)
        text = required_text(record, context_field, where)
        return [turn.strip() for turn in text.split(turn_separator) if turn.strip()]

    def dialogue(record: Dict, where: str) -> Record:
        read: Record = {
            "context": turns(record, where),
            "response": required_text(record, response_field, where),
        }
        if document_field is not None:
            read[DOCUMENT_EXTENSION] = get_text(record, document_field, where).strip()
        return read

    return [dialogue(record, where) for where, record in read_located(path)]


def required_text(record: Dict, field: str, where: str) -> str:
    text = get_text(record, field, where).strip()
    if not text:
        raise ValueError(f"Field '{field}' in {where} is empty")
    return text


def split_records(
    records: List[Record], dev_share: float, test_share: float, seed: int
) -> Dict[str, List[Record]]:
    """Shuffle the records with the seed and cut off dev and test (each at
    least one record)."""
    if not (0 < dev_share < 1 and 0 < test_share < 1 and dev_share + test_share < 1):
        raise ValueError(
            f"dev_share and test_share should be between 0 and 1 and sum to "
            f"less than 1, not {dev_share} and {test_share}"
        )
    if len(records) < 3:
        raise ValueError(f"Can't split {len(records)} records into train, dev and test")
    records = list(records)
    random.Random(seed).shuffle(records)
    n_dev = max(1, round(len(records) * dev_share))
    n_test = max(1, round(len(records) * test_share))
    if n_dev + n_test >= len(records):
        raise ValueError(
            f"Can't split {len(records)} records into train, dev and test with "
            f"dev_share {dev_share} and test_share {test_share}"
        )
    return {
        "dev": records[:n_dev],
        "test": records[n_dev : n_dev + n_test],
        "train": records[n_dev + n_test :],
    }


def read_splits(
    data: Path,
    read: Callable[[Path], List[Record]],
    dev_share: float,
    test_share: float,
    seed: int,
) -> Dict[str, List[Record]]:
    """One file: split with the seed. A folder: its own train, dev and test
    files (train.csv, dev.jsonl.gz, ...)."""
    if not data.exists():
        raise ValueError(f"Can't find the data {data}")
    if data.is_file():
        return split_records(read(data), dev_share, test_share, seed)
    splits = {}
    for split in SPLITS:
        found = [
            path
            for path in sorted(data.iterdir())
            if path.name.split(".")[0] == split and path.is_file()
        ]
        if len(found) != 1:
            raise ValueError(
                f"{data} should hold one {split} file ({split}.jsonl, "
                f"{split}.csv or {split}.tsv, gzipped or not), found {len(found)}"
            )
        splits[split] = read(found[0])
    return splits
