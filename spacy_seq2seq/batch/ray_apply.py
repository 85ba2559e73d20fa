"""Batch runs past one machine: `apply --ray` on Ray Data (the `ray` extra).

Ray Data reads the input (any path it reads: a local file or folder, s3://,
gs://...), hands batches to an actor pool with one pipeline per actor, and
writes Parquet or JSONL files into the output folder. Each batch is processed
by the same function as a one-machine run, so ids are kept and a record that
fails becomes an error row.
"""

import os
from pathlib import Path
from typing import Any, Dict, Optional

import spacy

from ..pipeline import load_pipeline
from .apply import ERROR_FIELD, INPUT_FORMATS, OUTPUT_FORMATS, ApplyJob, parquet_schema
from .local_ray import init_ray


class PipelineActor:
    """One Ray Data actor: loads the pipeline once, then processes batches."""

    def __init__(self, job: ApplyJob, gpu: bool) -> None:
        if gpu:
            spacy.require_gpu()
        self.job = job
        self.nlp = load_pipeline(job.model)

    def __call__(self, batch):  # Arrow tables in and out
        import pyarrow

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
) -> Dict[str, Any]:
    """Run the pipeline over the input with `workers` actors and write the
    rows into the output folder. The formats come from the paths' suffixes
    unless given ("jsonl", "csv", "parquet"). Returns the counts of rows
    and of error rows. Uses the Ray instance of this process or the cluster
    at RAY_ADDRESS, else starts a local instance."""
    import ray

    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    input_path, output_path = job.input_path, job.output_path
    read_as = input_format or suffix_format(input_path, INPUT_FORMATS, "input")
    write_as = output_format or suffix_format(output_path, OUTPUT_FORMATS, "output")
    readers = {
        "jsonl": lambda path: ray.data.read_json(path, lines=True),
        "csv": ray.data.read_csv,
        "parquet": ray.data.read_parquet,
    }
    writers = {"jsonl": "write_json", "parquet": "write_parquet"}
    if read_as not in readers or write_as not in writers:
        raise ValueError(
            f"Can't read '{read_as}' or write '{write_as}': the input is one of "
            f"{sorted(readers)}, the output one of {sorted(writers)}."
        )
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
    getattr(rows, writers[write_as])(output_path)
    errors = rows.select_columns([ERROR_FIELD]).iter_rows()
    n_errors = sum(row[ERROR_FIELD] is not None for row in errors)
    return {"rows": rows.count(), "errors": n_errors}


def suffix_format(path: str, formats, what: str) -> str:
    """The format named by a path's suffix (a folder: say the format)."""
    suffix = Path(path.rstrip("/")).suffix
    if suffix not in formats:
        raise ValueError(
            f"Can't tell the format of the {what} {path} from its suffix "
            f"({', '.join(formats)}): name it with --{what}-format."
        )
    return suffix.lstrip(".")
