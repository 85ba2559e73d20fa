"""Where a batch run's rows go, so that no data is lost.

- The output may not be the input, however it is spelled (a symlink, another
  relative path, a hard link: the same file on disk), and an existing output
  is replaced only when asked (`--overwrite`).
- The rows are written to OUTPUT.partial in the output's folder, as JSONL
  whatever the output's format, and flushed after each batch. Only when every
  record has its row is it renamed to OUTPUT (a Parquet output is written from
  it, then it is removed): a run that is killed leaves no file at OUTPUT that
  could pass for a complete one.
- `--resume` continues from OUTPUT.partial: its rows are the first records'
  rows, in the input's order, so the run skips as many records, checking that
  each skipped record has the id of its row, and appends the rest. A torn last
  line (a kill in the middle of a write) is cut off and that record is done
  again: nothing is lost and no record gets two rows.
"""

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List

import srsly

Row = Dict[str, Any]
PARTIAL_SUFFIX = ".partial"
# Rows per Parquet row group when the finished run is written as Parquet.
PARQUET_BATCH_SIZE = 1024


class OutputRefused(ValueError):
    """The run would destroy or overwrite data: nothing was written."""


def partial_path(output_path: Path) -> Path:
    """The file a run writes its rows to before they are complete."""
    return output_path.with_name(output_path.name + PARTIAL_SUFFIX)


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file on disk (symlinks and hard links too)."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist
        return False


class PartialOutput:
    """The output of one run: checks the paths when made; open() gives the
    writer of the rows to OUTPUT.partial, finish() puts them at OUTPUT."""

    def __init__(
        self,
        input_path: Path,
        output_path: Path,
        *,
        overwrite: bool = False,
        resume: bool = False,
    ) -> None:
        self.output_path = output_path
        self.partial_path = partial_path(output_path)
        self.overwrite = overwrite
        self.resume = resume
        for path in (output_path, self.partial_path):
            if same_file(input_path, path):
                raise OutputRefused(
                    f"The output {path} is the input {input_path} (the same file "
                    "on disk): the run would destroy its own input. Write the "
                    "rows to another file."
                )
        if not output_path.parent.is_dir():
            raise OutputRefused(
                f"The output's folder {output_path.parent} does not exist."
            )
        if output_path.is_dir():
            raise OutputRefused(f"The output {output_path} is a folder, not a file.")
        if output_path.exists() and not overwrite:
            raise OutputRefused(
                f"The output {output_path} exists: pass --overwrite to replace it."
            )
        if resume and not self.partial_path.is_file():
            raise OutputRefused(
                f"Nothing to resume: there is no {self.partial_path}, the rows "
                f"of an unfinished run writing {output_path}."
            )
        if not resume and self.partial_path.exists() and not overwrite:
            raise OutputRefused(
                f"{self.partial_path} holds the rows of an unfinished run (or of "
                "one still running): pass --resume to continue it, or --overwrite "
                "to start over."
            )

    def skip_written(self, records: Iterator[Row], id_field: str) -> Dict[str, int]:
        """Take from `records` as many records as OUTPUT.partial has rows,
        checking their ids, and cut off a torn last line. Returns the counts
        of rows resumed and of error rows among them."""
        resumed, errors = 0, 0
        with self.partial_path.open("rb+") as file_:
            end = 0  # the end of the last complete row
            for line in file_:
                if not line.endswith(b"\n"):
                    break
                try:
                    row = srsly.json_loads(line)
                except ValueError:
                    break
                record = next(records, None)
                if record is None:
                    raise OutputRefused(
                        f"{self.partial_path} has more rows than the input has "
                        "records: it is not this input's output. Pass --overwrite "
                        "to start over."
                    )
                expected = srsly.json_loads(srsly.json_dumps(record.get(id_field)))
                found = row.get(id_field) if isinstance(row, dict) else None
                if found != expected:
                    raise OutputRefused(
                        f"Row {resumed + 1} of {self.partial_path} has the id "
                        f"{found!r} but record {resumed + 1} of the input has "
                        f"{expected!r}: the partial output is not this input's (or "
                        "not its --id-field's). Pass --overwrite to start over."
                    )
                resumed += 1
                errors += row.get("error") is not None
                end += len(line)
            file_.truncate(end)
        return {"resumed": resumed, "errors": errors}

    @contextmanager
    def open(self) -> Iterator[Callable[[List[Row]], None]]:
        """A function that appends rows to OUTPUT.partial, flushed at each
        call; synced to disk when the block ends."""
        if self.resume:
            mode = "ab"
        else:
            # "x": fail rather than share the file with a run that just began
            mode = "wb" if self.overwrite else "xb"
        try:
            file_ = self.partial_path.open(mode)
        except FileExistsError:
            raise OutputRefused(
                f"{self.partial_path} appeared while this run began: another run "
                "is writing it."
            ) from None
        with file_:

            def write(rows: List[Row]) -> None:
                file_.write(b"".join(row_line(row) for row in rows))
                file_.flush()

            yield write
            os.fsync(file_.fileno())

    def finish(self, parquet_schema: Callable[[List[Row]], Any]) -> None:
        """Put the complete rows at OUTPUT."""
        if self.output_path.suffix == ".parquet":
            converting = self.output_path.with_name(
                self.output_path.name + ".converting"
            )
            write_parquet(self.partial_path, converting, parquet_schema)
            os.replace(converting, self.output_path)
            self.partial_path.unlink()
        else:
            os.replace(self.partial_path, self.output_path)


def row_line(row: Row) -> bytes:
    """A row as a JSON line; a value JSON can't hold (an id of another type,
    a lone surrogate) is written as text rather than failing the run."""
    try:
        line = srsly.json_dumps(row)
    except (TypeError, ValueError, OverflowError):
        line = srsly.json_dumps({key: json_safe(value) for key, value in row.items()})
    return line.encode("utf8") + b"\n"


def json_safe(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf8", errors="backslashreplace").decode("utf8")
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return json_safe(str(value))


def write_parquet(
    rows_path: Path, path: Path, parquet_schema: Callable[[List[Row]], Any]
) -> None:
    """Write the JSONL rows as Parquet, a row group at a time."""
    import pyarrow
    import pyarrow.parquet

    writer = None
    batch: List[Row] = []

    def flush() -> None:
        nonlocal writer
        if writer is None:
            writer = pyarrow.parquet.ParquetWriter(path, parquet_schema(batch))
        writer.write_table(pyarrow.Table.from_pylist(batch, schema=writer.schema))
        batch.clear()

    for row in srsly.read_jsonl(rows_path):
        batch.append(row)
        if len(batch) == PARQUET_BATCH_SIZE:
            flush()
    if batch:
        flush()
    if writer is None:  # no rows: still a valid, empty Parquet file
        pyarrow.parquet.write_table(parquet_schema([]).empty_table(), path)
    else:
        writer.close()
