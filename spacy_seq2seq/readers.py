"""Read (source, target) pairs from JSONL files straight into Examples."""

import gzip
import itertools
import random
import zlib
from pathlib import Path
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    Optional,
    Tuple,
    TypeVar,
    Union,
)

import srsly
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example
from spacy.util import registry

from .grounding import set_document
from .settings import check_bool, check_int, check_text

GZIP_MAGIC = b"\x1f\x8b"

# A record's location for error messages ("file, line N") and the record.
Located = Tuple[str, Dict[str, Any]]
T = TypeVar("T")


@registry.readers("spacy-seq2seq.JsonlPairs.v1")
def create_jsonl_reader(
    path: Optional[Union[str, Path]],
    source_field: str = "text",
    target_field: str = "summary",
    limit: int = 0,
    shuffle: bool = False,
    seed: int = 0,
    shuffle_buffer: int = 0,
) -> Callable[[Language], Iterable[Example]]:
    """Read JSONL or JSONL.gz records {source_field: ..., target_field: ...}.
    Each becomes an Example whose reference doc carries the target text as
    doc._.{target_field}. `limit` keeps the first N records (after a seeded
    shuffle, with `shuffle`); 0 keeps all. `shuffle` holds the whole file in
    memory; `shuffle_buffer = N` instead streams it through a seeded buffer
    of N records (each pass over the file in another order), for corpora
    larger than memory.
    """

    check_reader_settings(limit, shuffle, seed, source_field, target_field)

    def read_pair(where: str, record: Dict[str, Any]) -> Tuple[str, str]:
        return get_text(record, source_field, where), get_text(
            record, target_field, where
        )

    return make_reader(
        path, read_pair, target_field, limit, shuffle, seed, shuffle_buffer
    )


# How seq2seq_responder reads a conversation: its turns, oldest first,
# joined by a line break.
TURN_SEPARATOR = "\n"


@registry.readers("spacy-seq2seq.JsonlDialogues.v1")
def create_dialogue_reader(
    path: Optional[Union[str, Path]],
    context_field: str = "context",
    response_field: str = "response",
    turn_separator: str = TURN_SEPARATOR,
    max_turns: int = 0,
    limit: int = 0,
    shuffle: bool = False,
    seed: int = 0,
    shuffle_buffer: int = 0,
    document_field: Optional[str] = None,
) -> Callable[[Language], Iterable[Example]]:
    """Read JSONL or JSONL.gz records {context_field: [turns, oldest first],
    response_field: ...}. The source text is the last `max_turns` turns (0:
    all) joined by `turn_separator`, as seq2seq_responder reads a doc (keep
    the default: the responder, its server and `apply` join turns with it); the
    reference doc carries the response as doc._.{response_field}. With a
    `document_field`, every record has that field (a string, empty for none):
    the document the conversation is about, set as doc._.document on both
    docs (what a grounded responder reads; knowledge F1 scores against it).
    `limit`, `shuffle`, `seed` and `shuffle_buffer` as in
    spacy-seq2seq.JsonlPairs.v1.
    """

    check_reader_settings(limit, shuffle, seed, context_field, response_field)
    check_int("max_turns", max_turns, minimum=0)
    check_text("turn_separator", turn_separator)
    if document_field is not None:
        check_text("document_field", document_field)

    def read_pair(where: str, record: Dict[str, Any]) -> Tuple[str, ...]:
        turns = get_turns(record, context_field, where)
        if max_turns:
            turns = turns[-max_turns:]
        pair = turn_separator.join(turns), get_text(record, response_field, where)
        if document_field is None:
            return pair
        return pair + (get_text(record, document_field, where),)

    return make_reader(
        path, read_pair, response_field, limit, shuffle, seed, shuffle_buffer
    )


def check_reader_settings(limit: Any, shuffle: Any, seed: Any, *fields: Any) -> None:
    check_int("limit", limit, minimum=0)
    check_bool("shuffle", shuffle)
    check_int("seed", seed, minimum=0)
    for field in fields:
        check_text("field name", field)


def make_reader(
    path: Optional[Union[str, Path]],
    read_pair: Callable[[str, Dict[str, Any]], Tuple[str, ...]],
    target_field: str,
    limit: int,
    shuffle: bool,
    seed: int,
    shuffle_buffer: int,
) -> Callable[[Language], Iterable[Example]]:
    if shuffle_buffer < 0 or (shuffle and shuffle_buffer):
        raise ValueError(
            f"shuffle_buffer must be >= 0, and 0 with shuffle = true (which "
            f"shuffles the whole file), not {shuffle_buffer}"
        )
    passes = itertools.count()

    def read(nlp: Language) -> Iterator[Example]:
        # null until given (spacy assemble never reads the corpora)
        if path is None:
            raise ValueError(
                "The corpus path is null: give it on the command line "
                "(--paths.train, --paths.dev) or in the config's [paths]."
            )
        file_path = Path(path)
        if not file_path.exists():
            raise ValueError(f"Can't find the JSONL file {file_path}")
        pairs: Iterable[Tuple[str, ...]] = (
            read_pair(where, record) for where, record in read_records(file_path)
        )
        if shuffle:
            pairs = list(pairs)
            random.Random(seed).shuffle(pairs)
        elif shuffle_buffer:
            pass_seed = seed + next(passes)
            pairs = buffered_shuffle(pairs, shuffle_buffer, random.Random(pass_seed))
        for n, (source, target, *document) in enumerate(pairs):
            if limit and n >= limit:
                break
            yield make_example(nlp, source, target, target_field, *document)

    return read


def buffered_shuffle(items: Iterable[T], size: int, rng: random.Random) -> Iterator[T]:
    """The items in a random order, holding at most `size` of them: each
    new item takes the place of a random one in the buffer, which is
    yielded (the buffer is drained in random order at the end)."""
    buffer: List[T] = []
    for item in items:
        if len(buffer) < size:
            buffer.append(item)
            continue
        i = rng.randrange(size)
        yield buffer[i]
        buffer[i] = item
    rng.shuffle(buffer)
    yield from buffer


@registry.readers("spacy-seq2seq.JsonlTexts.v1")
def create_text_reader(
    path: Union[str, Path], field: str = "summary"
) -> Callable[[], Iterator[str]]:
    """Stream one text field of JSONL or JSONL.gz records, e.g. the target
    texts for the target vocabulary's counting pass in initialize
    ([initialize.components.NAME.target_texts]), which reads the corpus
    without keeping it.
    """

    def read() -> Iterator[str]:
        if not Path(path).exists():
            raise ValueError(f"Can't find the JSONL file {path}")
        for where, record in read_records(Path(path)):
            yield get_text(record, field, where)

    return read


def make_example(
    nlp: Language,
    source: str,
    target: str,
    target_field: str,
    document: Optional[str] = None,
) -> Example:
    """The example of a pair; with a document (a grounded dialogue), both
    docs carry it as doc._.document (None when it is empty)."""
    if not Doc.has_extension(target_field):
        Doc.set_extension(target_field, default=None)
    reference = nlp.make_doc(source)
    reference._.set(target_field, target)
    predicted = nlp.make_doc(source)
    if document is not None:
        for doc in (reference, predicted):
            set_document(doc, document)
    return Example(predicted, reference)


def read_records(path: Path) -> Iterator[Located]:
    """Yield each JSON object of the file (gzip-compressed if its name ends
    in .gz, a UTF-8 byte-order mark allowed) with its location. Any problem
    raises an error naming the file, and the line where there is one."""
    n_records = 0
    for where, text in read_text_lines(path):
        try:
            record = srsly.json_loads(text)
        except ValueError as e:
            raise ValueError(f"Malformed JSON in {where}: {e}") from None
        if not isinstance(record, dict):
            raise ValueError(f"Expected a JSON object in {where}")
        n_records += 1
        yield where, record
    if not n_records:
        raise ValueError(f"{path} has no records: the file is empty")


def read_text_lines(path: Path) -> Iterator[Tuple[str, str]]:
    """Yield each non-blank line of a UTF-8 text file (gzip-compressed if its
    name ends in .gz, a byte-order mark allowed), stripped, with its location
    ("PATH, line N"). Any problem raises an error naming the file, and the
    line where there is one."""
    try:
        with path.open("rb") as file_:
            compressed = file_.read(2) == GZIP_MAGIC
    except OSError as e:
        raise ValueError(f"Can't read {path}: {e}") from None
    if compressed != (path.suffix == ".gz"):
        raise ValueError(
            f"{path} is gzip-compressed but its name doesn't end in .gz"
            if compressed
            else f"{path} is named .gz but is not gzip-compressed"
        )
    opener = gzip.open if compressed else open
    line_number = 0
    try:
        with opener(path, "rb") as file_:
            for line_number, line in enumerate(file_, start=1):
                where = f"{path}, line {line_number}"
                try:
                    text = line.decode("utf-8-sig" if line_number == 1 else "utf-8")
                except UnicodeDecodeError as e:
                    raise ValueError(f"{where} is not valid UTF-8: {e}") from None
                if text.strip():
                    yield where, text.strip()
    except (EOFError, OSError, zlib.error) as e:
        raise ValueError(
            f"Can't read {path} after line {line_number}: {e} (is the file "
            "truncated or damaged?)"
        ) from None


def get_field(record: Dict[str, Any], field: str, where: str) -> Any:
    if field not in record:
        raise ValueError(f"Missing field '{field}' in {where}")
    return record[field]


def get_text(record: Dict[str, Any], field: str, where: str) -> str:
    value = get_field(record, field, where)
    if not isinstance(value, str):
        raise ValueError(
            f"Field '{field}' in {where} should be a string, "
            f"not {type(value).__name__}"
        )
    return value


def get_turns(record: Dict[str, Any], field: str, where: str) -> List[str]:
    value = get_field(record, field, where)
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise ValueError(f"Field '{field}' in {where} should be a list of strings")
    return value
