"""Batch runs past one machine: `apply --ray` on Ray Data (the `ray` extra).

Ray Data reads the input (any path it reads: a local file or folder, s3://,
gs://...), hands batches to an actor pool with one pipeline per actor, and
writes Parquet or JSONL files into the output folder. Each batch is processed
by the same function as a one-machine run, so ids are kept and a record that
fails becomes an error row.

JSONL and CSV files are not parsed by Ray's own readers, which fail the whole
job on one malformed line: a datasource reads their lines with the
one-machine run's reader (spacy_seq2seq/batch/records.py), so a record that
can't be read is an error row naming the file and line here too. A local
output folder is written as OUTPUT.partial and renamed when the job is done.
"""

import os
import shutil
from pathlib import Path
from typing import Any, Dict, Iterator, Optional

import spacy
import srsly

from ..pipeline import load_pipeline
from .apply import ERROR_FIELD, INPUT_FORMATS, OUTPUT_FORMATS, ApplyJob, parquet_schema
from .local_ray import init_ray
from .output import OutputRefused, partial_path, same_file
from .records import TEXT_FORMATS, read_text_records

# The column of the datasource's blocks: each record as JSON, since records
# of one file may have different fields and types.
RECORD_COLUMN = "record"
READ_CHUNK_BYTES = 1 << 20


class PipelineActor:
    """One Ray Data actor: loads the pipeline once, then processes batches."""

    def __init__(self, job: ApplyJob, gpu: bool) -> None:
        if gpu:
            spacy.require_gpu()
        self.job = job
        self.nlp = load_pipeline(job.model)

    def __call__(self, batch):  # Arrow tables in and out
        import pyarrow

        if batch.column_names == [RECORD_COLUMN]:  # from TextRecordsDatasource
            records = [
                srsly.json_loads(r) for r in batch.column(RECORD_COLUMN).to_pylist()
            ]
        else:
            records = batch.to_pylist()  # a missing field is None (pandas: NaN)
        rows = self.job.process(self.nlp, records)
        # string columns even in a batch without errors, so that the
        # output files share one schema
        return pyarrow.Table.from_pylist(rows, schema=parquet_schema(rows))


def apply_with_ray(
    job: ApplyJob,
    *,
    workers: int = 1,
    num_gpus_per_worker: float = 0.0,
    input_format: Optional[str] = None,
    output_format: Optional[str] = None,
    overwrite: bool = False,
) -> Dict[str, Any]:
    """Run the pipeline over the input with `workers` actors and write the
    rows into the output folder. The formats come from the paths' suffixes
    unless given ("jsonl", "csv", "parquet"). Returns the counts of rows
    and of error rows. Uses the Ray instance of this process or the cluster
    at RAY_ADDRESS, else starts a local instance. An existing local output
    is replaced only with `overwrite`, and never when it is or holds the
    input."""
    import ray

    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    input_path, output_path = job.input_path, job.output_path
    read_as = input_format or suffix_format(input_path, INPUT_FORMATS, "input")
    write_as = output_format or suffix_format(output_path, OUTPUT_FORMATS, "output")
    readers = {
        **{
            format: lambda path, format=format: ray.data.read_datasource(
                text_records_datasource(path, format, job.id_field)
            )
            for format in TEXT_FORMATS
        },
        "parquet": ray.data.read_parquet,
    }
    writers = {"jsonl": "write_json", "parquet": "write_parquet"}
    if read_as not in readers or write_as not in writers:
        raise ValueError(
            f"Can't read '{read_as}' or write '{write_as}': the input is one of "
            f"{sorted(readers)}, the output one of {sorted(writers)}."
        )
    local_output = "://" not in output_path
    if local_output:
        check_output_folder(input_path, Path(output_path), overwrite=overwrite)
    if not ray.is_initialized() and "RAY_ADDRESS" not in os.environ:
        # A local instance: a CPU slot per actor and one for reading and
        # writing, or a 2-core machine with 2 workers leaves the reads none.
        init_ray(num_cpus=max(os.cpu_count() or 1, workers + 1))
    dataset = readers[read_as](input_path)
    rows = dataset.map_batches(
        PipelineActor,
        fn_constructor_args=(job, num_gpus_per_worker > 0),
        batch_size=job.batch_size,
        batch_format="pyarrow",
        concurrency=workers,
        num_gpus=num_gpus_per_worker,
    ).materialize()
    if local_output:
        writing = partial_path(Path(output_path))
        if writing.exists():  # a stopped job's: only ever written by us
            shutil.rmtree(writing)
        getattr(rows, writers[write_as])(str(writing))
        replace_output(writing, Path(output_path))
    else:
        getattr(rows, writers[write_as])(output_path)
    errors = rows.select_columns([ERROR_FIELD]).iter_rows()
    n_errors = sum(row[ERROR_FIELD] is not None for row in errors)
    return {"rows": rows.count(), "errors": n_errors}


def check_output_folder(input_path: str, output: Path, *, overwrite: bool) -> None:
    """Refuse an output that is the input, holds it or is inside it (an input
    folder), and an existing one unless `overwrite`."""
    if "://" not in input_path:
        source = Path(input_path).resolve()
        target = output.resolve()
        if (
            same_file(source, target)
            or target in source.parents
            or source in target.parents
        ):
            raise OutputRefused(
                f"The output {output} is, holds or is inside the input "
                f"{input_path}: the job would destroy or reread its own input. "
                "Write the rows to another folder."
            )
    if output.exists() and not overwrite:
        raise OutputRefused(
            f"The output {output} exists: pass --overwrite to replace it."
        )


def replace_output(written: Path, output: Path) -> None:
    """Put the finished folder at `output`, replacing what was there."""
    if output.is_dir() and not output.is_symlink():
        shutil.rmtree(output)
    elif output.exists() or output.is_symlink():
        output.unlink()
    os.replace(written, output)


def text_records_datasource(path: str, format: str, id_field: str):
    """A Ray Data datasource of the JSONL or CSV records at `path` (a file or
    folder, local or remote; .gz read as such), one JSON string per record,
    read by the one-machine run's tolerant reader."""
    from ray.data.datasource import FileBasedDatasource

    class TextRecordsDatasource(FileBasedDatasource):
        def _read_stream(self, f, path: str) -> Iterator[Any]:
            import pyarrow

            records = read_text_records(
                stream_lines(f), path, format, id_field=id_field
            )
            batch = []
            for record in records:
                batch.append(srsly.json_dumps(record))
                if len(batch) == 1024:
                    yield pyarrow.table({RECORD_COLUMN: batch})
                    batch = []
            if batch:
                yield pyarrow.table({RECORD_COLUMN: batch})

    return TextRecordsDatasource(path)


def stream_lines(f) -> Iterator[bytes]:
    """The lines of a binary stream that has read() but not readline()."""
    rest = b""
    while chunk := f.read(READ_CHUNK_BYTES):
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        yield from (line + b"\n" for line in lines)
    if rest:
        yield rest


def suffix_format(path: str, formats, what: str) -> str:
    """The format named by a path's suffix (a folder: say the format)."""
    suffix = Path(path.rstrip("/")).suffix
    if suffix not in formats:
        raise ValueError(
            f"Can't tell the format of the {what} {path} from its suffix "
            f"({', '.join(formats)}): name it with --{what}-format."
        )
    return suffix.lstrip(".")
