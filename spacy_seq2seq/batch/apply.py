"""Batch runs: a generated text for each record of a JSONL, CSV or Parquet file.

Records are read and written in a stream, a batch at a time; each output row
holds the record's id, the generated text of each seq2seq component and an
error (null when the record went through). A record that fails becomes an
error row and the run goes on: count in = count out.
"""

import multiprocessing
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple, Union

from spacy.language import Language
from spacy.tokens import Doc
from tqdm import tqdm

from ..grounding import set_document
from ..pipeline import load_pipeline, output_fields
from .output import PartialOutput
from .records import LOCATION, READ_ERROR, read_text_records

# A record as read, and an output row.
Record = Dict[str, Any]
Row = Dict[str, Any]

ERROR_FIELD = "error"
INPUT_FORMATS = (".jsonl", ".csv", ".parquet")
OUTPUT_FORMATS = (".jsonl", ".parquet")


@dataclass(frozen=True)
class ApplyJob:
    """A batch run: the pipeline, where the records come from and where the
    rows go, the fields of a record's text and id (and of its document, for
    a grounded responder), and the records a batch holds. The one-machine
    and the Ray Data runs both carry it out."""

    model: str
    input_path: str
    output_path: str
    text_field: str = "text"
    id_field: str = "id"
    batch_size: int = 64
    document_field: Optional[str] = None

    def process(self, nlp: Language, records: List[Record]) -> List[Row]:
        return process_records(
            nlp,
            records,
            text_field=self.text_field,
            id_field=self.id_field,
            document_field=self.document_field,
        )


def process_records(
    nlp: Language,
    records: List[Record],
    *,
    text_field: str,
    id_field: str,
    document_field: Optional[str] = None,
) -> List[Row]:
    """One output row per record, in order: the batch goes through nlp.pipe
    at once; when it fails, each record goes alone, and a record that fails
    (or has no text) gets an error row. With `document_field`, each doc gets
    its record's document (doc._.document, which a grounded responder
    reads): a record without the field is an error row, a null or blank one
    has no document (`document_problem`). The one-machine and the Ray Data
    runs both process their batches with this function."""
    fields = output_fields(nlp)
    rows: List[Optional[Row]] = [None] * len(records)
    texts: List[str] = []
    documents: List[Optional[str]] = []
    positions: List[int] = []
    for i, record in enumerate(records):
        text = record.get(text_field)
        if record.get(READ_ERROR):  # unreadable input
            rows[i] = error_row(record, id_field, fields, record[READ_ERROR])
        elif not isinstance(text, str):
            problem = "missing" if text is None else f"a {type(text).__name__}"
            message = f"The text field '{text_field}' is {problem}, not a string"
            rows[i] = error_row(record, id_field, fields, located(message, record))
        elif wrong_document := document_problem(record, document_field):
            rows[i] = error_row(
                record, id_field, fields, located(wrong_document, record)
            )
        else:
            texts.append(text)
            documents.append(record[document_field] if document_field else None)
            positions.append(i)
    try:
        docs = list(nlp.pipe(pipeline_inputs(nlp, texts, documents)))
    except Exception:
        docs = None
    for n, i in enumerate(positions):
        try:
            if docs is not None:
                doc = docs[n]
            else:
                (alone,) = pipeline_inputs(nlp, texts[n : n + 1], documents[n : n + 1])
                doc = nlp(alone)
        except Exception as e:
            message = located(f"{type(e).__name__}: {e}", records[i])
            rows[i] = error_row(records[i], id_field, fields, message)
            continue
        row = {id_field: records[i].get(id_field)}
        row.update({field: doc._.get(field) for field in fields})
        rows[i] = {**row, ERROR_FIELD: None}
    return rows  # type: ignore[return-value]


def document_problem(record: Record, document_field: Optional[str]) -> Optional[str]:
    """What is wrong with the record's document field, or None. The field
    must be there, so that a misspelled field name is an error rather than
    every reply made without its document; null or "" is a record with no
    document (the reply reads the conversation alone)."""
    if document_field is None:
        return None
    if document_field not in record:
        return (
            f"The document field '{document_field}' is missing (null or \"\" "
            "for a record without a document)"
        )
    document = record[document_field]
    if document is not None and not isinstance(document, str):
        return (
            f"The document field '{document_field}' is a "
            f"{type(document).__name__}, not a string"
        )
    return None


def pipeline_inputs(
    nlp: Language, texts: List[str], documents: List[Optional[str]]
) -> List[Union[str, Doc]]:
    """What nlp.pipe reads: the text itself, or where the record has a
    document, the text's doc with doc._.document set."""
    return [
        text if document is None else set_document(nlp.make_doc(text), document)
        for text, document in zip(texts, documents)
    ]


def located(message: str, record: Record) -> str:
    """The message with where the record was read, where known."""
    where = record.get(LOCATION)
    return f"{message} ({where})" if where else message


def error_row(record: Record, id_field: str, fields: List[str], message: str) -> Row:
    row = {id_field: record.get(id_field)}
    row.update({field: None for field in fields})
    return {**row, ERROR_FIELD: message}


def read_records(
    path: Path, *, id_field: str = "id", batch_size: int = 1024
) -> Iterator[Record]:
    """The records of a JSONL, CSV or Parquet file, in order. A JSONL or CSV
    record that can't be read becomes a record holding only its id (where
    readable) and an error that names the file and line."""
    suffix = check_format(path, INPUT_FORMATS, "input")
    if suffix in (".jsonl", ".csv"):
        with path.open("rb") as file_:
            yield from read_text_records(
                file_, str(path), suffix.lstrip("."), id_field=id_field
            )
    else:
        import pyarrow.parquet

        row = 0
        for batch in pyarrow.parquet.ParquetFile(path).iter_batches(batch_size):
            for record in batch.to_pylist():
                row += 1
                yield {**record, LOCATION: f"{path}, row {row}"}


def count_records(path: Path) -> Optional[int]:
    """The number of records, where it is cheap to know (for the progress bar)."""
    if path.suffix == ".parquet":
        import pyarrow.parquet

        return pyarrow.parquet.ParquetFile(path).metadata.num_rows
    return None


def parquet_schema(rows: List[Row]):
    """Strings for the generated texts and the error; the id keeps the type
    of the first id seen (a string when there is none)."""
    import pyarrow

    if not rows:
        return pyarrow.schema([])
    ids = [
        value
        for value in (next(iter(row.values())) for row in rows)
        if value is not None
    ]
    id_type = pyarrow.array(ids[:1]).type if ids else pyarrow.string()
    fields = [(name, pyarrow.string()) for name in list(rows[0])[1:]]
    return pyarrow.schema([(next(iter(rows[0])), id_type)] + fields)


def check_format(path: Path, formats: Iterable[str], what: str) -> str:
    if path.suffix not in formats:
        raise ValueError(
            f"Can't tell the format of the {what} {path} from its suffix: "
            f"expected one of {', '.join(formats)}."
        )
    return path.suffix


def batched(records: Iterable[Record], size: int) -> Iterator[List[Record]]:
    records = iter(records)
    while batch := list(islice(records, size)):
        yield batch


# The pipeline of a worker process of apply_file(n_process > 1).
_worker_nlp: Optional[Language] = None


def _load_worker_pipeline(model: str) -> None:
    global _worker_nlp
    _worker_nlp = load_pipeline(model)


def _process_in_worker(job_and_records: Tuple[ApplyJob, List[Record]]) -> List[Row]:
    assert _worker_nlp is not None
    job, records = job_and_records
    return job.process(_worker_nlp, records)


def apply_file(
    job: ApplyJob,
    *,
    n_process: int = 1,
    progress: bool = True,
    overwrite: bool = False,
    resume: bool = False,
) -> Dict[str, int]:
    """Run the pipeline over the input file's records and write a row for
    each; with n_process > 1, batches go to that many worker processes, each
    with its own pipeline. An existing output is replaced only with
    `overwrite`; `resume` continues a run that was stopped, from the rows in
    OUTPUT.partial. Returns the counts of rows (all of the output's, resumed
    ones included) and of error rows, and with `resume` of the rows resumed."""
    input_path, output_path = Path(job.input_path), Path(job.output_path)
    check_format(input_path, INPUT_FORMATS, "input")
    check_format(output_path, OUTPUT_FORMATS, "output")
    output = PartialOutput(input_path, output_path, overwrite=overwrite, resume=resume)
    records = read_records(input_path, id_field=job.id_field)
    counts = {"rows": 0, "errors": 0}
    if resume:
        counts.update(output.skip_written(records, job.id_field))
        counts["rows"] = counts["resumed"]
    bar = tqdm(
        total=count_records(input_path),
        initial=counts["rows"],
        unit="records",
        disable=not progress,
    )
    batches = batched(records, job.batch_size)
    pool = None
    if n_process > 1:
        context = multiprocessing.get_context("spawn")  # torch does not survive fork
        pool = context.Pool(n_process, _load_worker_pipeline, (job.model,))
        results = pool.imap(_process_in_worker, ((job, batch) for batch in batches))
    else:
        nlp = load_pipeline(job.model)
        results = (job.process(nlp, batch) for batch in batches)
    try:
        with output.open() as write:
            for rows in results:
                write(rows)
                counts["rows"] += len(rows)
                counts["errors"] += sum(row[ERROR_FIELD] is not None for row in rows)
                bar.update(len(rows))
    finally:
        bar.close()
        if pool is not None:
            pool.terminate()
    output.finish(parquet_schema)
    return counts
