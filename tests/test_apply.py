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
    # lines Ray's own JSON reader would fail the whole job on
    with (tmp_path / "in.jsonl").open("ab") as file_:
        file_.write(b'{"id": 100, "text": \n{"id": 101, "text": "\xff"}\n')
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
    assert counts == {"rows": len(lines) + 2, "errors": 3}
    import pyarrow.parquet

    rows = pyarrow.parquet.read_table(tmp_path / "out.parquet").to_pylist()
    by_id = {row["id"]: row for row in rows}
    assert sorted(k for k in by_id if k is not None) == list(range(len(lines)))
    assert "missing" in by_id[len(texts)]["error"]
    malformed, undecodable = sorted(
        (row["error"] for row in rows if row["id"] is None),
        key=lambda error: "Malformed" not in error,
    )
    assert "Malformed JSON" in malformed and "in.jsonl, line 14" in malformed
    assert "not UTF-8" in undecodable and "in.jsonl, line 15" in undecodable
    nlp = spacy.load(summarizer_path)
    expected = [doc._.summary for doc in nlp.pipe(texts)]
    assert [by_id[i]["summary"] for i in range(len(texts))] == expected


# ---------------------------------------------------------------------------
# Hostile input and lost data (issue 21): the output is never the input, an
# existing output is kept unless --overwrite, a stopped run leaves no file at
# OUTPUT and continues with --resume, and every record-level problem is an
# error row naming the file and line.


def apply_cli(model, input_path, output_path, *flags: str):
    return run_cli(
        "spacy_seq2seq", "apply", str(model), str(input_path), str(output_path), *flags
    )


def said(result: subprocess.CompletedProcess) -> str:
    """What the command printed, with wasabi's line wrapping undone."""
    return " ".join((result.stdout + result.stderr).split())


def write_records(path: Path, texts, start: int = 0) -> None:
    srsly.write_jsonl(path, [{"id": start + i, "text": t} for i, t in enumerate(texts)])


@pytest.mark.parametrize(
    "spelling",
    [
        "same",
        # the other spellings: one apply subprocess each, in the whole suite
        pytest.param("relative", marks=pytest.mark.slow),
        pytest.param("symlink", marks=pytest.mark.slow),
        pytest.param("hardlink", marks=pytest.mark.slow),
    ],
)
def test_apply_refuses_to_write_over_its_input(
    summarizer_path, texts, tmp_path, spelling
):
    import os

    source = tmp_path / "in.jsonl"
    write_records(source, texts[:3])
    before = source.read_bytes()
    output = {
        "same": source,
        "relative": tmp_path / "sub" / ".." / "in.jsonl",
        "symlink": tmp_path / "link.jsonl",
        "hardlink": tmp_path / "hard.jsonl",
    }[spelling]
    (tmp_path / "sub").mkdir()
    if spelling == "symlink":
        output.symlink_to(source)
    elif spelling == "hardlink":
        os.link(source, output)
    result = apply_cli(summarizer_path, source, output, "--overwrite")
    assert result.returncode == 1
    assert "is the input" in said(result)
    assert source.read_bytes() == before


@pytest.mark.slow  # two runs of the apply command in subprocesses
def test_an_existing_output_is_kept_unless_overwrite(summarizer_path, texts, tmp_path):
    write_records(tmp_path / "in.jsonl", texts[:3])
    output = tmp_path / "out.jsonl"
    output.write_text("precious\n")
    result = apply_cli(summarizer_path, tmp_path / "in.jsonl", output)
    assert result.returncode == 1 and "--overwrite" in said(result)
    assert output.read_text() == "precious\n"
    result = apply_cli(summarizer_path, tmp_path / "in.jsonl", output, "--overwrite")
    assert result.returncode == 0, result.stdout + result.stderr
    assert [row["id"] for row in srsly.read_jsonl(output)] == [0, 1, 2]
    assert not (tmp_path / "out.jsonl.partial").exists()


def test_jsonl_problems_are_error_rows_with_file_and_line(summarizer_path, tmp_path):
    from spacy_seq2seq.batch.apply import read_records

    lines = [
        b'\xef\xbb\xbf{"id": 1, "text": "oil prices rose"}',  # byte-order mark
        b'{"id": 2, "text": "a \xff byte"}',  # not UTF-8
        b'{"id": 3, "text": "a lone \\ud800 surrogate"}',  # valid JSON
        b'{"id": 4, "text": ',  # malformed
        b"[5]",  # not an object
        b'{"id": 6, "text": "bank rates fell", "error": "a column of mine"}',
        b'{"id": 7}',  # read, but no text
    ]
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    result = apply_cli(summarizer_path, source, tmp_path / "out.jsonl")
    assert result.returncode == 0, result.stdout + result.stderr
    rows = list(srsly.read_jsonl(tmp_path / "out.jsonl"))
    assert len(rows) == len(lines)
    assert rows[0]["id"] == 1 and rows[0]["error"] is None and rows[0]["summary"]
    assert rows[5]["id"] == 6 and rows[5]["error"] is None
    for line, row in zip(range(2, 6), rows[1:5]):
        assert (
            f"{source}, line {line}" in row["error"] or f"line {line}" in row["error"]
        )
        assert str(source) in row["error"]
    assert "not UTF-8" in rows[1]["error"] and "0xff" in rows[1]["error"]
    assert rows[2]["id"] == 3 and "'text'" in rows[2]["error"]
    assert "Malformed JSON" in rows[3]["error"]
    assert "JSON object" in rows[4]["error"]
    assert rows[6]["id"] == 7 and "missing" in rows[6]["error"]
    assert f"{source}, line 7" in rows[6]["error"]
    # the same records, read on their own
    ids = [r.get("id") for r in read_records(source)]
    assert ids == [1, None, 3, None, None, 6, 7]


def test_csv_problems_are_error_rows_with_file_and_line(summarizer_path, tmp_path):
    source = tmp_path / "in.csv"
    source.write_bytes(
        b"\xef\xbb\xbfid,text\n"
        b"r1,oil prices rose\n"
        b'r2,"' + b"x" * (128 * 1024 + 1) + b'"\n'  # over the csv module's limit
        b"r3,a,b\n"  # a cell too many
        b"r4\n"  # a cell too few
        b"r5,bad \xfe byte\n"
        b'r6,"two\nlines"\n'
        b"r7,bank rates fell\n"
    )
    result = apply_cli(summarizer_path, source, tmp_path / "out.jsonl")
    assert result.returncode == 0, result.stdout + result.stderr
    rows = list(srsly.read_jsonl(tmp_path / "out.jsonl"))
    assert [row["id"] for row in rows] == ["r1", None, "r3", "r4", "r5", "r6", "r7"]
    assert [row["error"] is None for row in rows] == [1, 0, 0, 0, 0, 1, 1]
    errors = [row["error"] for row in rows if row["error"]]
    for line, error in zip([3, 4, 5, 6], errors):
        assert f"{source}, line {line}" in error
    assert "field larger than field limit" in errors[0]
    assert "3 cells but the header has 2" in errors[1]
    assert "1 cells but the header has 2" in errors[2]
    assert "not UTF-8" in errors[3]


@pytest.mark.slow  # three runs of the apply command in subprocesses
def test_a_stopped_run_resumes_with_nothing_lost_or_twice(
    summarizer_path, texts, tmp_path
):
    """What a kill leaves (complete rows, then a torn line) is resumed."""
    write_records(tmp_path / "in.jsonl", texts)
    full = apply_cli(summarizer_path, tmp_path / "in.jsonl", tmp_path / "full.jsonl")
    assert full.returncode == 0, full.stdout + full.stderr
    expected = (tmp_path / "full.jsonl").read_bytes().splitlines(keepends=True)
    partial = tmp_path / "out.jsonl.partial"
    partial.write_bytes(b"".join(expected[:5]) + expected[5][:10])
    output = tmp_path / "out.jsonl"
    result = apply_cli(summarizer_path, tmp_path / "in.jsonl", output)
    assert result.returncode == 1 and "--resume" in said(result)
    result = apply_cli(summarizer_path, tmp_path / "in.jsonl", output, "--resume")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 of them resumed" in said(result)
    assert output.read_bytes() == b"".join(expected)
    assert not partial.exists()


@pytest.mark.slow  # two runs of the apply command in subprocesses
def test_resume_refuses_another_inputs_partial_output(summarizer_path, texts, tmp_path):
    write_records(tmp_path / "in.jsonl", texts[:4])
    rows = [{"id": 100 + i, "summary": "x", "error": None} for i in range(2)]
    srsly.write_jsonl(tmp_path / "out.jsonl.partial", rows)
    result = apply_cli(
        summarizer_path, tmp_path / "in.jsonl", tmp_path / "out.jsonl", "--resume"
    )
    assert result.returncode == 1 and "not this input's" in said(result)
    result = apply_cli(
        summarizer_path, tmp_path / "in.jsonl", tmp_path / "nothing.jsonl", "--resume"
    )
    assert result.returncode == 1 and "Nothing to resume" in said(result)


@pytest.mark.slow  # a few hundred records decoded twice, ~30 s
@pytest.mark.parametrize(
    "suffix,signal_name", [(".jsonl", "SIGINT"), (".parquet", "SIGKILL")]
)
def test_a_killed_run_leaves_no_output_and_resumes(
    summarizer_path, texts, tmp_path, suffix, signal_name
):
    """Stopped by Ctrl-C (exit code 130) or killed outright, a run leaves its
    rows in OUTPUT.partial only, and --resume completes them."""
    import signal
    import time

    import pyarrow.parquet

    records = [{"id": f"r{i}", "text": texts[i % len(texts)]} for i in range(400)]
    srsly.write_jsonl(tmp_path / "in.jsonl", records)
    output = tmp_path / f"out{suffix}"
    partial = tmp_path / f"out{suffix}.partial"
    args = [sys.executable, "-m", "spacy_seq2seq", "apply", str(summarizer_path)]
    args += [str(tmp_path / "in.jsonl"), str(output), "--batch-size", "2"]
    # Ctrl-C as in a terminal: a test run in the background (CI, nohup) has
    # SIGINT ignored, which the child would inherit
    process = subprocess.Popen(
        args,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        while not (partial.exists() and partial.read_bytes().count(b"\n") >= 20):
            assert process.poll() is None, "the run ended before it could be killed"
            time.sleep(0.01)
        process.send_signal(getattr(signal, signal_name))
        returncode = process.wait()
    finally:
        if process.poll() is None:
            process.kill()
    assert returncode == (130 if signal_name == "SIGINT" else -signal.SIGKILL)
    assert not output.exists()
    n_written = partial.read_bytes().count(b"\n")
    assert 20 <= n_written < len(records)
    result = apply_cli(
        summarizer_path, tmp_path / "in.jsonl", output, "--resume", "--batch-size", "2"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    if suffix == ".jsonl":
        rows = list(srsly.read_jsonl(output))
    else:
        rows = pyarrow.parquet.read_table(output).to_pylist()
    assert [row["id"] for row in rows] == [r["id"] for r in records]
    nlp = spacy.load(summarizer_path)
    summaries = {t: d._.summary for t, d in zip(texts, nlp.pipe(texts))}
    assert [row["summary"] for row in rows] == [summaries[r["text"]] for r in records]


def test_a_ray_output_folder_is_never_the_input_nor_replaced_unasked(tmp_path):
    from spacy_seq2seq.batch.output import OutputRefused
    from spacy_seq2seq.batch.ray_apply import check_output_folder

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "in.jsonl").write_text("{}\n")
    for output in (tmp_path / "data", tmp_path, tmp_path / "data" / "in.jsonl"):
        with pytest.raises(OutputRefused, match="is, holds or is inside the input"):
            check_output_folder(str(tmp_path / "data"), output, overwrite=True)
    with pytest.raises(OutputRefused, match="is, holds or is inside the input"):
        check_output_folder(
            str(tmp_path / "data" / "in.jsonl"), tmp_path, overwrite=True
        )
    (tmp_path / "out").mkdir()
    with pytest.raises(OutputRefused, match="--overwrite"):
        check_output_folder(str(tmp_path / "data"), tmp_path / "out", overwrite=False)
    check_output_folder(str(tmp_path / "data"), tmp_path / "out", overwrite=True)
    check_output_folder(str(tmp_path / "data"), tmp_path / "new", overwrite=False)
