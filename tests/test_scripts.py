"""Every script in scripts/ run as a user runs it (`python scripts/X.py ...` in
a subprocess, the environment's PYTHONPATH passed on) on a tiny copy of the
corpora and a tiny budget, so that a refactor or a missing dependency cannot
break one unseen. The tests assert what each script promises (its figures'
keys, the files it writes), never its speed.

The converters, evaluate.py, fetch_assets.py, make_synthetic_task.py and
render_attention.py are run by test_convert.py, test_user_data.py,
test_project.py, test_hostile.py and test_render.py; build_plugin.py and
pretrain.py by the workflow in test_project.py and test_pretraining.py;
make_pretraining_text.py by test_pretraining_text.py; benchmarking.py is the
benchmarks' helper module, imported by those run here.
"""

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
import srsly
from spacy.util import load_config

from spacy_seq2seq.research.experiments import DATA_ROOT_VARIABLE
from spacy_seq2seq.research.variants import get_variant

# Each test starts Python with spaCy and torch in a subprocess (seconds even
# for the quick ones): the whole module is in the slow tier.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
SUMMARIZER_CFG = ROOT / "configs" / "summarizer.cfg"
# Pairs of each split in the tiny corpora: enough for a batch, a dev
# evaluation and a test split, in seconds.
TINY = {"train": 40, "dev": 12, "test": 12}
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def data_root(tmp_path_factory, reuters_dir: Path, cmu_dog_dir: Path) -> Path:
    """A data root ($SPACY_SEQ2SEQ_DATA) with the first lines of each split of
    the real corpora."""
    root = tmp_path_factory.mktemp("data")
    for corpus in (reuters_dir, cmu_dog_dir):
        (root / corpus.name).mkdir()
        for split, n_lines in TINY.items():
            with gzip.open(corpus / f"{split}.jsonl.gz", "rt", encoding="utf8") as f:
                lines = [line for _, line in zip(range(n_lines), f)]
            with gzip.open(root / corpus.name / f"{split}.jsonl.gz", "wt") as f:
                f.writelines(lines)
    return root


@pytest.fixture(scope="module")
def summarizer_dir(tmp_path_factory, trained) -> Path:
    """A trained summarizer saved to disk, as the benchmarks of a trained
    pipeline read it."""
    path = tmp_path_factory.mktemp("summarizer") / "model"
    trained.nlp.to_disk(path)
    return path


def run_script(
    script: str,
    *args: Any,
    data_root: Optional[Path] = None,
    check: bool = True,
    **env: str,
) -> subprocess.CompletedProcess:
    """Run scripts/SCRIPT from the project root, with the tiny data root if
    one is given; the environment (PYTHONPATH above all) is passed on."""
    environment = {**os.environ, **env}
    if data_root is not None:
        environment[DATA_ROOT_VARIABLE] = str(data_root)
    environment.setdefault("OMP_NUM_THREADS", "1")
    command = [sys.executable, str(SCRIPTS / script), *map(str, args)]
    if script.endswith(".sh"):
        command = ["bash", str(SCRIPTS / script), *map(str, args)]
    result = subprocess.run(
        command, capture_output=True, text=True, env=environment, cwd=ROOT, timeout=600
    )
    if check:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result


def json_lines(text: str) -> List[Dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


TRAINING_FIGURES = {
    "steps",
    "time_to_first_update_s",
    "dev_score_best",
    "best_step",
    "train_source_tokens_per_s",
    "train_seconds",
}


def test_benchmark_encoder():
    result = run_script(
        "benchmark_encoder.py",
        *("--batch-size", 4, "--max-length", 12, "--width", 8),
        *("--hidden-width", 8, "--repeats", 1),
    )
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    for line, name in zip(lines, ("packed", "reversed_within_length")):
        assert line.strip().startswith(f"{name}:")
        assert line.endswith("s per batch (forward + backward)")


def test_make_big_corpus(data_root, tmp_path):
    output = tmp_path / "big.jsonl.gz"
    # the real pairs come from the data root's training split by default
    result = run_script("make_big_corpus.py", 100, output, data_root=data_root)
    assert f"Wrote 100 pairs to {output}" in result.stdout
    real = list(
        srsly.read_gzip_jsonl(data_root / "reuters21578_headlines" / "train.jsonl.gz")
    )
    written = list(srsly.read_gzip_jsonl(output))
    assert len(written) == 100
    # each pass is the real pairs in a new order
    key = lambda r: (r["text"], r["summary"])  # noqa: E731
    assert sorted(written[: len(real)], key=key) == sorted(real, key=key)
    assert sorted(written[len(real) : 2 * len(real)], key=key) == sorted(real, key=key)
    assert written[: len(real)] != written[len(real) : 2 * len(real)]


def test_make_variant_configs(tmp_path):
    names = ["dot", "no_copy"]
    options = [arg for name in names for arg in ("--variants", name)]
    run_script("make_variant_configs.py", tmp_path, *options)
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "dot.cfg",
        "no_copy.cfg",
    ]
    for name in names:
        path = tmp_path / f"{name}.cfg"
        assert path.read_text().startswith(f"# Model family variant '{name}'")
        config = load_config(path, interpolate=False)
        for dotted, value in get_variant(name).overrides.items():
            *sections, key = dotted.split(".")
            block = config
            for section in sections:
                block = block[section]
            assert block[key] == value
    bad = run_script(
        "make_variant_configs.py",
        tmp_path / "bad",
        *("--variants", "nope"),
        check=False,
    )
    assert bad.returncode == 1 and "nope" in bad.stdout
    assert not (tmp_path / "bad").exists()


def test_package_meta(tmp_path):
    meta = tmp_path / "meta.json"
    srsly.write_json(meta, {"name": "reuters", "description": "Headlines."})
    metrics = tmp_path / "metrics.json"
    scores = {"summary_rougeL": 0.31, "summary_perplexity": 12.34}
    srsly.write_json(
        metrics, {"scores": scores, "docs": 1234, "data": "corpus/test.spacy"}
    )
    output = tmp_path / "out" / "meta.json"
    run_script("package_meta.py", metrics, output, "--meta", meta)
    written = srsly.read_json(output)
    assert written["name"] == "reuters"
    # the perplexity is not a fraction: spaCy's README would show it x 100
    assert written["performance"] == {"summary_rougeL": 0.31}
    assert written["description"] == (
        "Headlines. Scored on 1,234 docs of test.spacy; summary_perplexity 12.3."
    )
    # own data without a meta: a neutral description and no licence claimed
    run_script("package_meta.py", metrics, output, "--data", tmp_path / "mine.csv")
    written = srsly.read_json(output)
    assert written["license"] == "not stated"
    assert written["description"].startswith("A spacy-seq2seq pipeline trained on")


def test_ablation_fails_at_once_without_matplotlib(tmp_path):
    # a matplotlib that cannot be imported, ahead of the installed one
    (tmp_path / "matplotlib").mkdir()
    (tmp_path / "matplotlib" / "__init__.py").write_text("raise ImportError('no')\n")
    path = os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])
    result = run_script(
        "ablation.py",
        *("--task", "reuters", "--max-steps", 2, "--runs", tmp_path / "runs.jsonl"),
        check=False,
        PYTHONPATH=path,
    )
    assert result.returncode == 1
    assert "matplotlib" in result.stdout and ".[research]" in result.stdout
    assert "Training" not in result.stdout  # before any training
    assert not (tmp_path / "runs.jsonl").exists()


# Slow: each of the tests below trains a pipeline, loads one in a fresh
# process or starts a server; a script's start alone (spaCy, torch) takes a
# few seconds.


@pytest.mark.slow
def test_ablation(data_root, tmp_path):
    pytest.importorskip("matplotlib", reason="the research extra")
    runs, doc, plot = (
        tmp_path / "runs.jsonl",
        tmp_path / "ablation.md",
        tmp_path / "a.png",
    )
    run_script(
        "ablation.py",
        *("--task", "reuters", "--variants", "additive,transformer", "--seeds", 0),
        *("--max-steps", 2, "--eval-every", 1, "--limit-test", 8),
        *("--runs", runs, "--doc", doc, "--plot", plot),
        data_root=data_root,
    )
    rows = list(srsly.read_jsonl(runs))
    assert [(row["variant"], row["seed"], row["steps"]) for row in rows] == [
        ("additive", 0, 2),
        ("transformer", 0, 2),
    ]
    for row in rows:
        assert row["task"] == "reuters" and row["n_test"] == 8
        assert set(row["test"]) == {"bleu", "exact", "rouge1", "rouge2", "rougeL"}
        assert sum(bucket["n"] for bucket in row["by_length"]) == 8
        assert [point["step"] for point in row["dev_curve"]] == [1, 2]
        assert row["command"].startswith("python scripts/ablation.py --task reuters")
    # The small Transformer is about the small recurrent model's size.
    recurrent, transformer = (row["parameters"] for row in rows)
    assert 0.5 < transformer / recurrent < 2.0
    text = doc.read_text()
    assert "<!-- ablation reuters -->" in text and "<!-- /ablation reuters -->" in text
    assert "| additive | 0 |" in text and "| transformer | 0 |" in text
    for png in (plot, tmp_path / "a_dev.png"):
        assert png.read_bytes().startswith(PNG)


@pytest.mark.slow
def test_benchmark_summarizer(data_root, tmp_path):
    output, model = tmp_path / "figures.json", tmp_path / "model"
    run_script(
        "benchmark_summarizer.py",
        *(SUMMARIZER_CFG, "--steps", 2, "--beam-size", 2),
        *("--output", output, "--model-out", model),
        data_root=data_root,
    )
    figures = srsly.read_json(output)
    assert figures["steps"] == 2
    assert TRAINING_FIGURES <= set(figures)
    for key in ("test_rouge1", "test_rouge2", "test_rougeL"):
        assert 0.0 <= figures[key] <= 100.0
    assert figures["decode_beam"] == 2
    for key in ("loaded_pipeline", "training_process"):
        assert figures[f"decode_docs_per_s_{key}"] > 0
    assert figures["peak_memory_gb"] > 0
    assert (model / "config.cfg").exists()
    # mixed precision is CUDA autocast: refused on the CPU before any training
    refused = run_script(
        "benchmark_summarizer.py",
        *(SUMMARIZER_CFG, "--steps", 2, "--mixed-precision"),
        data_root=data_root,
        check=False,
    )
    assert refused.returncode == 1 and "--gpu-id" in refused.stdout


@pytest.mark.slow
def test_benchmark_raw_torch(data_root, tmp_path):
    output = tmp_path / "figures.json"
    run_script(
        "benchmark_raw_torch.py",
        *(SUMMARIZER_CFG, "--steps", 2, "--n-batches", 2, "--output", output),
        data_root=data_root,
    )
    figures = srsly.read_json(output)
    assert figures["device"] == "cpu"
    assert figures["plain_torch_source_tokens_per_s"] > 0
    assert figures["ours_source_tokens_per_s"] > 0
    assert figures["ratio_ours_to_plain"] > 0


@pytest.mark.slow
def test_gpu_check_steps_on_the_cpu(data_root, tmp_path):
    out = tmp_path / "gpu_check"
    result = run_script(
        "gpu_check.sh",
        data_root=data_root,
        GPU_ID="-1",
        STEPS="2",
        RAW_STEPS="2",
        DECODE_STEPS="4",
        OUT=str(out),
        PYTHON=sys.executable,
    )
    assert "CPU mode" in result.stdout
    assert sorted(path.name for path in out.iterdir()) == [
        "decoding_steps.json",
        "raw_torch.json",
        "train_summarizer_mixed_precision_false.json",
        "train_summarizer_transformer_mixed_precision_false.json",
    ]
    for name in ("summarizer", "summarizer_transformer"):
        trained = srsly.read_json(out / f"train_{name}_mixed_precision_false.json")
        assert trained["steps"] == 2 and "test_rougeL" in trained
    assert srsly.read_json(out / "raw_torch.json")["device"] == "cpu"


@pytest.mark.slow
def test_benchmark_responder(data_root, tmp_path):
    output, replies, model = (
        tmp_path / "figures.json",
        tmp_path / "replies.jsonl",
        tmp_path / "model",
    )
    config = ROOT / "configs" / "responder.cfg"
    run_script(
        "benchmark_responder.py",
        *(config, "--steps", 2, "--limit", 4, "--n-samples", 2),
        *("--output", output, "--replies", replies, "--model-out", model),
        data_root=data_root,
    )
    record = srsly.read_json(output)
    assert (record["split"], record["pairs"]) == ("test", 4)
    assert len(record["decodings"]) == 3  # beam, sampling, MMI
    for scores in record["decodings"].values():
        assert {"bleu", "f1", "distinct1", "distinct2", "top_reply_share"} <= set(
            scores
        )
        assert {"words_per_reply", "top_reply", "docs_per_s"} <= set(scores)
    assert TRAINING_FIGURES <= set(record["figures"])
    assert len(record["samples"]) == 2
    rows = list(srsly.read_jsonl(replies))
    assert len(rows) == 4
    assert set(rows[0]) == {"context", "reference", *record["decodings"]}
    # the saved pipeline answers again, with a decoding of the command line
    output_dev = tmp_path / "dev.json"
    run_script(
        "benchmark_responder.py",
        *(config, "--decode-only", model, "--split", "dev", "--limit", 3),
        *("--decoding", "beam beam_size=2", "--output", output_dev),
        data_root=data_root,
    )
    record = srsly.read_json(output_dev)
    assert (record["split"], record["pairs"]) == ("dev", 3)
    assert list(record["decodings"]) == ["beam beam_size=2"]


@pytest.mark.slow
def test_benchmark_long_docs(data_root, summarizer_dir):
    result = run_script(
        "benchmark_long_docs.py",
        *(summarizer_dir, "--n-docs", 2, "--lengths", 300, "--lengths", 30),
        data_root=data_root,
    )
    for key in ("docs", "tokens_per_doc", "pipe_seconds", "peak_rss_gb"):
        assert key in result.stdout
    assert "peak_rss_gb: largest / smallest" in result.stdout
    assert "pipe_seconds: largest / smallest" in result.stdout


@pytest.mark.slow
def test_benchmark_streaming(data_root, tmp_path):
    big = tmp_path / "big.jsonl.gz"
    run_script("make_big_corpus.py", 60, big, data_root=data_root)
    train = data_root / "reuters21578_headlines" / "train.jsonl.gz"
    result = run_script(
        "benchmark_streaming.py",
        *("--case", f"streamed:{big}", "--case", f"in_memory:{train}"),
        *("--steps", 2),
        data_root=data_root,
    )
    rows = json_lines(result.stdout)
    assert [row["case"] for row in rows] == [f"streamed:{big}", f"in_memory:{train}"]
    for row in rows:
        assert row["steps"] == 2
        assert TRAINING_FIGURES <= set(row)
        assert row["peak_rss_gb"] > 0


@pytest.mark.slow
def test_benchmark_server(data_root, summarizer_dir, tmp_path):
    for module in ("fastapi", "uvicorn"):
        pytest.importorskip(module, reason="the serve extra")
    for module in ("aiohttp", "httpx"):
        pytest.importorskip(module, reason="the bench extra")
    output = tmp_path / "figures.json"
    data = data_root / "reuters21578_headlines" / "test.jsonl.gz"
    run_script(
        "benchmark_server.py",
        *(summarizer_dir, data, "--requests", 6, "--clients", 2, "--texts", 3),
        *("--time-limit", 60, "--output", output),
        data_root=data_root,
    )
    figures = srsly.read_json(output)
    assert figures["server"] == "embedded"
    assert (figures["requests"], figures["errors"]) == (6, 0)
    assert figures["requests_per_s"] > 0
    assert set(figures["offline_docs_per_s"]) == {"main_thread", "worker_thread"}
    assert {"p50_ms", "p95_ms", "p99_ms", "ratio_to_offline"} <= set(figures)


@pytest.mark.slow
def test_benchmark_architectures(data_root, tmp_path):
    output = tmp_path / "figures.json"
    run_script(
        "benchmark_architectures.py",
        *(ROOT / "configs" / "summarizer_transformer.cfg", "--steps", 2),
        *("--eval-every", 1, "--output", output),
        data_root=data_root,
    )
    figures = srsly.read_json(output)
    assert figures["parameters"] > 0 and "test_rougeL" in figures
    assert [point["step"] for point in figures["dev_curve"]][-1] == 2


def test_benchmark_decoding_cpu(data_root, summarizer_dir):
    result = run_script(
        "benchmark_decoding_cpu.py",
        *(summarizer_dir, "--limit", 4, "--beam-size", 2),
        data_root=data_root,
    )
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["docs"] == 4 and figures["beam_size"] == 2
    assert figures["docs_per_cpu_s"][str(summarizer_dir)] > 0


@pytest.mark.slow
def test_grounded_dialogue_scripts(tmp_path):
    """compare_replies.py, perplexity.py and knowledge_f1.py on a small
    grounded responder and hand-made chats with their documents."""
    from spacy.util import fix_random_seed

    from spacy_seq2seq.readers import create_dialogue_reader

    from .conftest import train
    from .test_grounded import make_grounded_nlp, make_records, write_jsonl

    data = write_jsonl(tmp_path / "chats.jsonl.gz", make_records(40))
    nlp = make_grounded_nlp()
    fix_random_seed(0)
    examples = list(create_dialogue_reader(data, document_field="document")(nlp))
    model = tmp_path / "model"
    train(nlp, examples, epochs=2).nlp.to_disk(model)
    output = tmp_path / "replies.md"
    run_script(
        "compare_replies.py",
        *(model, model, data, output, "--limit", 3, "--every", 5),
    )
    assert output.read_text().count("Movie :") >= 3
    result = run_script("perplexity.py", model, data, "--limit", 8)
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert any("perplexity" in key and value > 1 for key, value in figures.items())
    result = run_script("knowledge_f1.py", data, "--limit", 8)
    assert "Knowledge F1 of the reference replies" in result.stdout


def test_faithfulness_examples(data_root, summarizer_dir):
    result = run_script(
        "faithfulness_examples.py",
        *(summarizer_dir, data_root / "reuters21578_headlines" / "dev.jsonl.gz"),
        *("--penalty", 50, "--limit", 6, "--show", 6),
        data_root=data_root,
    )
    assert "penalty 50.0:" in result.stdout and "of 6 headlines change" in result.stdout


def test_headlines_for(summarizer_dir, tmp_path):
    texts = tmp_path / "news.jsonl"
    srsly.write_jsonl(
        texts,
        [
            {"text": "The European Central Bank kept its rates unchanged on Thursday."},
            {"text": "Airline cancels 300 flights over the weekend as pilots strike."},
        ],
    )
    output = tmp_path / "headlines.md"
    run_script("headlines_for.py", texts, output, f"small={summarizer_dir}")
    written = output.read_text(encoding="utf8")
    assert "european central bank" in written.lower()
    assert "small" in written


@pytest.mark.slow
def test_lead_baseline_scores_the_first_tokens_or_sentence(tmp_path):
    data = tmp_path / "pairs.jsonl"
    srsly.write_jsonl(
        data,
        [
            {
                "text": "Oil prices rose on Tuesday. Traders were calm.",
                "summary": "oil",
            },
            {"text": "Gold fell sharply. Silver rose.", "summary": "gold fell"},
        ],
    )
    first_sentence = run_script("lead_baseline.py", data, "--tokens", 0).stdout
    # "oil prices rose on tuesday." against "oil": 1 of 5 words (ROUGE-1 F1 1/3);
    # "gold fell sharply." against "gold fell": 2 of 3 (F1 0.8).
    assert f"summary_rouge1\t{100 * (1 / 3 + 0.8) / 2:.2f}" in first_sentence
    assert "summary_faithfulness\t100.00" in first_sentence
    two_tokens = run_script("lead_baseline.py", data, "--tokens", 2).stdout
    # "oil prices" (F1 2/3) and "gold fell" (1.0)
    assert f"summary_rouge1\t{100 * (2 / 3 + 1.0) / 2:.2f}" in two_tokens
