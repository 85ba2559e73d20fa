"""Read (source, target) pairs from JSONL files straight into Examples."""

import gzip
import random
from pathlib import Path
from typing import Callable, Iterable, Iterator, Tuple, Union

import srsly
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example
from spacy.util import registry


@registry.readers("spacy-seq2seq.JsonlPairs.v1")
def create_jsonl_reader(
    path: Union[str, Path],
    source_field: str = "text",
    target_field: str = "summary",
    limit: int = 0,
    shuffle: bool = False,
    seed: int = 0,
) -> Callable[[Language], Iterable[Example]]:
    """Read JSONL or JSONL.gz records {source_field: ..., target_field: ...}.
    Each becomes an Example whose reference doc carries the target text as
    doc._.{target_field}. `limit` keeps the first N records (after a seeded
    shuffle, with `shuffle`); 0 keeps all.
    """
    path = Path(path)

    def read(nlp: Language) -> Iterator[Example]:
        if not path.exists():
            raise ValueError(f"Can't find the JSONL file {path}")
        pairs = read_pairs(path, source_field, target_field)
        if shuffle:
            pairs = list(pairs)
            random.Random(seed).shuffle(pairs)
        for n, (source, target) in enumerate(pairs):
            if limit and n >= limit:
                break
            yield make_example(nlp, source, target, target_field)

    return read


def make_example(nlp: Language, source: str, target: str, target_field: str) -> Example:
    if not Doc.has_extension(target_field):
        Doc.set_extension(target_field, default=None)
    reference = nlp.make_doc(source)
    reference._.set(target_field, target)
    return Example(nlp.make_doc(source), reference)


def read_pairs(
    path: Path, source_field: str, target_field: str
) -> Iterator[Tuple[str, str]]:
    """Yield (source, target) strings; a bad line raises an error naming
    the file and line."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf8") as file_:
        for line_number, line in enumerate(file_, start=1):
            if not line.strip():
                continue
            where = f"{path}, line {line_number}"
            try:
                record = srsly.json_loads(line)
            except ValueError as e:
                raise ValueError(f"Malformed JSON in {where}: {e}") from None
            if not isinstance(record, dict):
                raise ValueError(f"Expected a JSON object in {where}")
            for field in (source_field, target_field):
                if field not in record:
                    raise ValueError(f"Missing field '{field}' in {where}")
                if not isinstance(record[field], str):
                    raise ValueError(
                        f"Field '{field}' in {where} should be a string, "
                        f"not {type(record[field]).__name__}"
                    )
            yield record[source_field], record[target_field]
