"""Batch runs: `spacy apply` and `python -m spacy_seq2seq apply` (and --ray)."""

import subprocess
import sys
from pathlib import Path

import pytest
import spacy
import srsly
from spacy.tokens import DocBin

from spacy_seq2seq.batch.apply import ApplyJob, apply_file
from spacy_seq2seq.batch.local_ray import init_ray
from spacy_seq2seq.readers import create_dialogue_reader

from .conftest import (
    SMALL_MODELS,
    beam_search,
    make_responder_nlp,
    make_summarizer_nlp,
    read_examples,
    sampling,
)


@pytest.fixture(scope="module")
def summarizer_path(reuters_dir, tmp_path_factory, architecture) -> Path:
    """A small summarizer initialized (not trained) on real pairs: applying
    it needs no quality, only the same texts as nlp.pipe."""
    nlp = make_summarizer_nlp(
        min_count=1,
        decoding=beam_search(beam_size=2, max_length=8),
        model=SMALL_MODELS[architecture],
    )
    examples = read_examples(nlp, reuters_dir / "dev.jsonl.gz", limit=50)
    nlp.initialize(lambda: examples)
    path = tmp_path_factory.mktemp("apply") / "summarizer"
    nlp.to_disk(path)
    return path


@pytest.fixture(scope="module")
def texts(reuters_dir):
    return [
        r["text"]
        for _, r in zip(range(12), srsly.read_gzip_jsonl(reuters_dir / "test.jsonl.gz"))
    ]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", *args], capture_output=True, text=True, check=False
    )


def test_spacy_apply_keeps_the_summary_and_the_response(
    summarizer_path, texts, cmu_dog_dir, tmp_path
):
    responder = make_responder_nlp(min_count=1, decoding=sampling(max_length=8))
    read = create_dialogue_reader(cmu_dog_dir / "dev.jsonl.gz", limit=30)
    pairs = list(read(responder))
    responder.initialize(lambda: pairs)
    responder.to_disk(tmp_path / "responder")
    srsly.write_jsonl(tmp_path / "in.jsonl", [{"text": t} for t in texts])
    for path, field in [
        (summarizer_path, "summary"),
        (tmp_path / "responder", "response"),
    ]:
        out = tmp_path / f"{field}.spacy"
        result = run_cli(
            "spacy", "apply", str(path), str(tmp_path / "in.jsonl"), str(out)
        )
        assert result.returncode == 0, result.stderr
        nlp = spacy.load(path)
        docs = list(DocBin().from_disk(out).get_docs(nlp.vocab))
        expected = [doc._.get(field) for doc in nlp.pipe(texts)]
        assert [doc._.get(field) for doc in docs] == expected
        assert all(isinstance(text, str) for text in expected)


def test_apply_writes_a_row_per_record_with_errors_in_their_rows(
    summarizer_path, texts, tmp_path
):
    lines = [srsly.json_dumps({"doc_id": i, "body": t}) for i, t in enumerate(texts)]
    lines.insert(3, '{"doc_id": 99, "body": ')  # malformed
    lines.insert(5, srsly.json_dumps({"doc_id": 100}))  # no text
    lines.insert(7, srsly.json_dumps({"doc_id": 101, "body": ["not", "text"]}))
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\n", encoding="utf8")
    result = run_cli(
        "spacy_seq2seq",
        "apply",
        str(summarizer_path),
        str(tmp_path / "in.jsonl"),
        str(tmp_path / "out.jsonl"),
        "--text-field",
        "body",
        "--id-field",
        "doc_id",
        "--batch-size",
        "4",
    )
    assert result.returncode == 0, result.stderr
    rows = list(srsly.read_jsonl(tmp_path / "out.jsonl"))
    assert len(rows) == len(lines)
    errors = {row["doc_id"]: row["error"] for row in rows if row["error"]}
    assert "Malformed JSON" in errors[None] and "line 4" in errors[None]
    assert "missing" in errors[100] and "list" in errors[101]
    good = [row for row in rows if not row["error"]]
    assert [row["doc_id"] for row in good] == list(range(len(texts)))
    nlp = spacy.load(summarizer_path)
    assert [row["summary"] for row in good] == [d._.summary for d in nlp.pipe(texts)]


def test_a_record_that_fails_in_the_pipeline_becomes_an_error_row(
    summarizer_path, texts, tmp_path, monkeypatch
):
    from spacy_seq2seq.batch import apply as apply_module

    nlp = spacy.load(summarizer_path)
    summarizer = nlp.get_pipe("summarizer")
    predict = summarizer.predict

    def predict_failing_on_poison(docs):
        if any("POISON" in doc.text for doc in docs):
            raise RuntimeError("poisoned")
        return predict(docs)

    monkeypatch.setattr(summarizer, "predict", predict_failing_on_poison)
    records = [{"id": i, "text": t} for i, t in enumerate(texts[:5])]
    records[2]["text"] = "POISON " + records[2]["text"]
    rows = apply_module.process_records(nlp, records, text_field="text", id_field="id")
    assert [row["id"] for row in rows] == [0, 1, 2, 3, 4]
    assert "poisoned" in rows[2]["error"] and rows[2]["summary"] is None
    assert all(row["error"] is None and row["summary"] for row in rows[:2] + rows[3:])


def test_apply_reads_csv_and_writes_parquet(summarizer_path, texts, tmp_path):
    import csv

    import pyarrow.parquet

    with (tmp_path / "in.csv").open("w", newline="", encoding="utf8") as file_:
        writer = csv.DictWriter(file_, ["id", "text"])
        writer.writeheader()
        writer.writerows({"id": f"r{i}", "text": t} for i, t in enumerate(texts))
    paths = (summarizer_path, tmp_path / "in.csv", tmp_path / "out.parquet")
    job = ApplyJob(*map(str, paths))
    counts = apply_file(job, progress=False)
    assert counts == {"rows": len(texts), "errors": 0}
    table = pyarrow.parquet.read_table(tmp_path / "out.parquet").to_pylist()
    assert [row["id"] for row in table] == [f"r{i}" for i in range(len(texts))]
    nlp = spacy.load(summarizer_path)
    assert [row["summary"] for row in table] == [d._.summary for d in nlp.pipe(texts)]


def test_an_unknown_format_is_a_clear_error(summarizer_path, tmp_path):
    (tmp_path / "in.txt").write_text("hello\n")
    result = run_cli(
        "spacy_seq2seq",
        "apply",
        str(summarizer_path),
        str(tmp_path / "in.txt"),
        str(tmp_path / "out.jsonl"),
    )
    assert result.returncode == 1
    assert "Can't tell the format" in result.stdout + result.stderr


@pytest.mark.slow
def test_apply_from_parquet_with_two_processes_equals_one(
    summarizer_path, texts, tmp_path
):
    import pyarrow
    import pyarrow.parquet

    records = [{"id": i, "text": t} for i, t in enumerate(texts)]
    pyarrow.parquet.write_table(
        pyarrow.Table.from_pylist(records), tmp_path / "in.parquet"
    )
    for n_process in (1, 2):
        paths = (
            summarizer_path,
            tmp_path / "in.parquet",
            tmp_path / f"{n_process}.jsonl",
        )
        job = ApplyJob(*map(str, paths), batch_size=5)
        apply_file(job, n_process=n_process, progress=False)
    one, two = (list(srsly.read_jsonl(tmp_path / f"{n}.jsonl")) for n in (1, 2))
    assert len(one) == len(texts) and one == two


@pytest.mark.slow
@pytest.mark.ray
def test_apply_on_ray_data_with_two_workers_equals_nlp_pipe(
    summarizer_path, texts, tmp_path
):
    ray = pytest.importorskip("ray")
    from spacy_seq2seq.batch.ray_apply import apply_with_ray

    lines = [{"id": i, "text": t} for i, t in enumerate(texts)]
    lines.append({"id": len(texts)})  # no text: an error row, not a lost record
    srsly.write_jsonl(tmp_path / "in.jsonl", lines)
    # 2 actors and a slot for the reads and writes
    init_ray(num_cpus=3, include_dashboard=False, log_to_driver=False)
    try:
        job = ApplyJob(
            str(summarizer_path),
            str(tmp_path / "in.jsonl"),
            str(tmp_path / "out.parquet"),
            batch_size=4,
        )
        counts = apply_with_ray(job, workers=2)
    finally:
        ray.shutdown()
    assert counts == {"rows": len(lines), "errors": 1}
    import pyarrow.parquet

    rows = pyarrow.parquet.read_table(tmp_path / "out.parquet").to_pylist()
    by_id = {row["id"]: row for row in rows}
    assert sorted(by_id) == list(range(len(lines)))
    assert "missing" in by_id[len(texts)]["error"]
    nlp = spacy.load(summarizer_path)
    expected = [doc._.summary for doc in nlp.pipe(texts)]
    assert [by_id[i]["summary"] for i in range(len(texts))] == expected
