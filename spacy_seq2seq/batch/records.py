"""Reading a batch run's records so that no record-level problem stops the run.

A JSONL or CSV file is read as bytes, a physical line at a time, and every
problem that concerns one record becomes a record holding only its id (where
it can be read) and an error naming the file and line: a byte that is not
UTF-8, malformed JSON, a value that is not valid Unicode (a lone surrogate
such as "\\ud800", which JSON allows), a CSV row with more or fewer cells than
the header, a CSV field over the csv module's limit. A byte-order mark at the
start of the file is dropped, so the first record keeps its id. The one-
machine run and the Ray Data run (a datasource over the same functions) read
records the same way.
"""

import codecs
import csv
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple

import srsly

Record = Dict[str, Any]

# The key of a record that could not be read: its error message. Not "error",
# which an input may well have as a column of its own.
READ_ERROR = "__spacy_seq2seq_read_error__"
# The key of where a record was read ("in.jsonl, line 7"), for the errors of
# records that are read but fail later (no text, a pipeline error).
LOCATION = "__spacy_seq2seq_location__"
TEXT_FORMATS = ("jsonl", "csv")


def read_text_records(
    lines: Iterable[bytes], name: str, format: str, *, id_field: str = "id"
) -> Iterator[Record]:
    """The records of a JSONL or CSV file given as its physical lines (bytes,
    as iterating a binary file yields them); `name` is how errors name the
    file."""
    if format == "jsonl":
        return jsonl_records(lines, name, id_field=id_field)
    if format == "csv":
        return csv_records(lines, name, id_field=id_field)
    raise ValueError(f"Can't read '{format}' as text records: {TEXT_FORMATS}")


def decoded_lines(
    lines: Iterable[bytes], name: str
) -> Iterator[Tuple[int, str, Optional[str]]]:
    """(line number, text, problem) for each physical line: a line that is
    not UTF-8 is decoded with replacement characters and its problem says
    where the first bad byte is."""
    for number, raw in enumerate(lines, start=1):
        if number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        try:
            yield number, raw.decode("utf8"), None
        except UnicodeDecodeError as e:
            problem = (
                f"{name}, line {number} is not UTF-8: byte 0x{raw[e.start]:02x} "
                f"at column {e.start + 1}"
            )
            yield number, raw.decode("utf8", errors="replace"), problem


def jsonl_records(
    lines: Iterable[bytes], name: str, *, id_field: str = "id"
) -> Iterator[Record]:
    for number, text, problem in decoded_lines(lines, name):
        if not text.strip():
            continue
        if problem is not None:
            yield {READ_ERROR: problem}
            continue
        try:
            record = srsly.json_loads(text)
        except ValueError as e:
            yield {READ_ERROR: f"Malformed JSON in {name}, line {number}: {e}"}
            continue
        if not isinstance(record, dict):
            kind = type(record).__name__
            yield {
                READ_ERROR: f"Expected a JSON object in {name}, line {number}, "
                f"not a {kind}"
            }
            continue
        invalid = invalid_unicode_field(record)
        if invalid is not None:
            yield read_error(
                record,
                id_field,
                f"The field '{invalid}' in {name}, line {number} is not valid "
                "Unicode (a lone surrogate such as \\ud800)",
            )
            continue
        yield {**record, LOCATION: f"{name}, line {number}"}


def csv_records(
    lines: Iterable[bytes], name: str, *, id_field: str = "id"
) -> Iterator[Record]:
    """The rows of a CSV file with a header, as records by column name. A
    record may span several physical lines (a quoted field with newlines):
    its problems name the line it starts on."""
    undecodable: Dict[int, str] = {}

    def texts() -> Iterator[str]:
        for number, text, problem in decoded_lines(lines, name):
            if problem is not None:
                undecodable[number] = problem
            yield text

    reader = csv.reader(texts())
    header: Optional[List[str]] = None
    last_line = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as e:  # e.g. a field over csv.field_size_limit()
            start, last_line = last_line + 1, reader.line_num
            if header is None:
                raise ValueError(f"Can't read the header of {name}: {e}") from None
            yield {
                READ_ERROR: f"Can't read the CSV record at {name}, line {start}: {e}"
            }
            continue
        start, last_line = last_line + 1, reader.line_num
        problems = [
            undecodable.pop(n) for n in range(start, last_line + 1) if n in undecodable
        ]
        if header is None:
            if problems:
                raise ValueError(f"Can't read the header: {problems[0]}")
            header = cells
            continue
        if not cells:  # a blank line
            continue
        record = dict(zip(header, cells))
        if problems:
            yield read_error(record, id_field, problems[0])
        elif len(cells) != len(header):
            yield read_error(
                record,
                id_field,
                f"{name}, line {start} has {len(cells)} cells but the header has "
                f"{len(header)}",
            )
        else:
            yield {**record, LOCATION: f"{name}, line {start}"}


def read_error(record: Record, id_field: str, message: str) -> Record:
    """An unreadable record: its error, with its id where the id itself is
    sound (valid Unicode, no replacement character)."""
    error: Record = {READ_ERROR: message}
    record_id = record.get(id_field)
    if record_id is not None and not (
        isinstance(record_id, str)
        and ("\ufffd" in record_id or not is_valid_unicode(record_id))
    ):
        error[id_field] = record_id
    return error


def invalid_unicode_field(record: Record) -> Optional[str]:
    """The first field whose name or string value (at any depth) can't be
    encoded as UTF-8, or None."""
    for key, value in record.items():
        if not is_valid_unicode(key) or not value_is_valid(value):
            return key
    return None


def value_is_valid(value: Any) -> bool:
    if isinstance(value, str):
        return is_valid_unicode(value)
    if isinstance(value, dict):
        return invalid_unicode_field(value) is None
    if isinstance(value, list):
        return all(value_is_valid(item) for item in value)
    return True


def is_valid_unicode(text: str) -> bool:
    try:
        text.encode("utf8")
    except UnicodeEncodeError:
        return False
    return True
