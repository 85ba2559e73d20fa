"""The spaCy project workflow, end to end: project.yml's smoke workflow from the
raw archives to a wheel that installs and loads by name."""

import csv
import gzip
import json
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path
from typing import Any, Sequence

import pytest
import spacy
import srsly
from spacy.tokens import DocBin

from .conftest import SHARED, read_examples

ROOT = Path(__file__).resolve().parent.parent
RAW = SHARED / "raw"
ARCHIVES = ("reuters21578.tar.gz", "datasets-CMU_DoG-master.tar.gz")
WHEEL = "en_reuters_headlines-0.1.0/dist/en_reuters_headlines-0.1.0-py3-none-any.whl"
SUMMARIZE = """
import json, spacy
from importlib.metadata import requires
nlp = spacy.load("en_reuters_headlines")
doc = nlp("the bank of japan said it would keep its discount rate unchanged at 2.5 pct.")
print(json.dumps({"summary": doc._.summary, "requires": requires("en_reuters_headlines")}))
"""


def run(args: Sequence[Any], cwd: Path, timeout: int) -> str:
    result = subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    return result.stdout


@pytest.fixture(scope="module")
def smoke_project(tmp_path_factory) -> Path:
    """A copy of the project with the raw archives in assets/, after
    `spacy project run smoke`."""
    if not all((RAW / name).exists() for name in ARCHIVES):
        pytest.skip(f"the raw corpora are not in {RAW} (../shared is absent)")
    project = tmp_path_factory.mktemp("project")
    shutil.copy(ROOT / "project.yml", project)
    for folder in ("configs", "scripts"):
        shutil.copytree(ROOT / folder, project / folder)
    (project / "assets").mkdir()
    for name in ARCHIVES:
        shutil.copy(RAW / name, project / "assets" / name)
    run([sys.executable, "-m", "spacy", "project", "run", "smoke"], project, 1200)
    return project


@pytest.mark.slow
def test_smoke_workflow_converts_trains_scores_and_packages(smoke_project):
    for split in ("train", "dev", "test"):
        corpus = smoke_project / "corpus" / "reuters_headlines"
        assert (corpus / f"{split}.jsonl.gz").exists()
        assert (corpus / f"{split}.spacy").exists()
    metrics = srsly.read_json(smoke_project / "metrics" / "smoke.json")
    assert metrics["docs"] == 200
    assert 0.0 < metrics["scores"]["summary_rougeL"] <= 1.0
    package = smoke_project / "packages" / "smoke" / "en_reuters_headlines-0.1.0"
    meta = srsly.read_json(package / "meta.json")
    assert meta["performance"]["summary_rougeL"] == metrics["scores"]["summary_rougeL"]
    assert any(req.startswith("spacy-seq2seq") for req in meta["requirements"])
    readme = (package / "README.md").read_text(encoding="utf8")
    assert "SUMMARY_ROUGEL" in readme and "summary_perplexity" in readme
    assert (smoke_project / "packages" / "smoke" / WHEEL).exists()
    assert meta["license"].startswith("research use only")  # the Reuters meta
    # the plugin's wheel beside it
    assert list(
        (smoke_project / "packages" / "smoke" / "plugin").glob("spacy_seq2seq-*.whl")
    )
    samples = (smoke_project / "samples" / "smoke" / "index.html").read_text("utf8")
    assert (
        samples.count("<a ") >= 10
        and (smoke_project / "samples/smoke/009.html").exists()
    )
    # a title naming the model, and its test scores
    assert "<h1>Generated summary texts of training/smoke/model-last</h1>" in samples
    assert "summary_rougeL" in samples and "test scores on 200 docs" in samples


@pytest.mark.slow
def test_packaged_wheel_installs_in_a_fresh_venv_and_summarizes(
    smoke_project, tmp_path
):
    """The pipeline's wheel requires spacy-seq2seq, which is not on PyPI: the
    package step builds the plugin's wheel too, and `pip install` of both
    wheels (the command it prints) installs the pipeline; torch is the CPU
    build that `pip install torch==2.13.0` takes on these machines."""
    venv.create(tmp_path / "venv", with_pip=True)
    python = tmp_path / "venv" / "bin" / "python"
    pip = [python, "-m", "pip", "install", "--quiet"]
    run([*pip, "torch==2.13.0"], tmp_path, 900)
    (wheel,) = (smoke_project / "packages" / "smoke" / "plugin").glob(
        "spacy_seq2seq-*.whl"
    )
    names = zipfile.ZipFile(wheel).namelist()
    assert "spacy_seq2seq/py.typed" in names
    # setuptools >= 77 puts it under .dist-info/licenses/ (PEP 639), older ones beside METADATA
    assert any(
        name.endswith((".dist-info/LICENSE", ".dist-info/licenses/LICENSE"))
        for name in names
    ), names
    run([*pip, wheel, smoke_project / "packages" / "smoke" / WHEEL], tmp_path, 900)
    result = json.loads(run([python, "-c", SUMMARIZE], tmp_path, 300))
    assert isinstance(result["summary"], str) and result["summary"].strip()
    assert any(req.startswith("spacy-seq2seq") for req in result["requires"])


def fetch_assets(project: Path, url: str, *options: str) -> subprocess.CompletedProcess:
    """scripts/fetch_assets.py on a project.yml with one asset at `url`."""
    asset = {"dest": "assets/corpus.tar.gz", "url": url}
    srsly.write_yaml(project / "project.yml", {"title": "t", "assets": [asset]})
    script = ROOT / "scripts" / "fetch_assets.py"
    return subprocess.run(
        [sys.executable, str(script), str(project), *options],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_fetching_an_asset_that_cant_be_reached_is_a_clear_error(tmp_path):
    result = fetch_assets(tmp_path, str(tmp_path / "nowhere" / "corpus.tar.gz"))
    assert result.returncode == 1
    out = " ".join(result.stdout.split())
    assert "Can't fetch the assets" in out and "copy them into assets/" in out
    assert "Traceback" not in result.stderr


def test_fetching_keeps_an_asset_that_is_already_there(tmp_path):
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "corpus.tar.gz").write_bytes(b"a local copy")
    result = fetch_assets(tmp_path, "https://example.invalid/corpus.tar.gz")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "assets" / "corpus.tar.gz").read_bytes() == b"a local copy"


def test_fetching_only_the_data_a_workflow_reads(tmp_path):
    # Your own data is not an asset: nothing to fetch, even offline.
    unreachable = str(tmp_path / "nowhere" / "corpus.tar.gz")
    result = fetch_assets(tmp_path, unreachable, "--only", "mine.csv")
    assert result.returncode == 0 and "nothing to fetch" in result.stdout
    result = fetch_assets(tmp_path, unreachable, "--only", "assets/corpus.tar.gz")
    assert result.returncode == 1 and "Can't fetch the assets" in result.stdout


@pytest.mark.slow
def test_all_workflow_trains_on_your_own_csv(tmp_path, reuters_dir):
    """`spacy project run all --vars.data mine.csv` with your own column names,
    in a copy of the project without the raw archives."""
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "project.yml", project)
    for folder in ("configs", "scripts"):
        shutil.copytree(ROOT / folder, project / folder)
    examples = read_examples(spacy.blank("en"), reuters_dir / "dev.jsonl.gz", limit=120)
    with (project / "mine.csv").open("w", encoding="utf8", newline="") as file_:
        writer = csv.writer(file_)
        writer.writerow(["article", "title"])
        for eg in examples:
            writer.writerow([eg.reference.text, eg.reference._.summary])
    meta = {"description": "Headlines of my articles.", "license": "MIT"}
    srsly.write_json(project / "my_meta.json", meta)
    # weasel takes --vars overrides after the project directory only.
    args = [sys.executable, "-m", "spacy", "project", "run", "all", "."]
    args += ["--vars.data", "mine.csv", "--vars.source_field", "article"]
    args += ["--vars.target_field", "title", "--vars.summarizer_steps", "10"]
    args += ["--vars.summarizer_eval_frequency", "10", "--vars.n_samples", "2"]
    args += ["--vars.package_name", "my_headlines"]
    args += ["--vars.summarizer_meta", "my_meta.json"]
    run(args, project, 1200)
    assert not list((project / "assets").glob("*.tar.gz"))
    sizes = [
        len(DocBin().from_disk(project / "corpus" / "my_headlines" / f"{split}.spacy"))
        for split in ("train", "dev", "test")
    ]
    assert sizes == [96, 12, 12]
    metrics = srsly.read_json(project / "metrics" / "my_headlines.json")
    assert metrics["docs"] == 12 and 0.0 <= metrics["scores"]["summary_rougeL"] <= 1.0
    assert (project / "samples" / "my_headlines" / "001.html").exists()
    assert not (project / "training" / "reuters_headlines").exists()
    package = project / "packages" / "en_my_headlines-0.1.0"
    assert srsly.read_json(package / "meta.json")["license"] == "MIT"
    assert list((package / "dist").glob("en_my_headlines-0.1.0-*.whl"))


def test_evaluate_script_writes_every_score_with_the_decoding_settings(
    trained, reuters_dir, tmp_path
):
    trained.nlp.to_disk(tmp_path / "model")
    docbin = DocBin(store_user_data=True)
    for example in read_examples(trained.nlp, reuters_dir / "test.jsonl.gz", limit=12):
        docbin.add(example.reference)
    docbin.to_disk(tmp_path / "test.spacy")
    script = ROOT / "scripts" / "evaluate.py"
    args = [sys.executable, script, tmp_path / "model", tmp_path / "test.spacy"]
    args += [tmp_path / "metrics.json", "--limit", "10"]
    run([*args, "--search", "no_repeat_ngram_size=1"], tmp_path, 300)
    metrics = srsly.read_json(tmp_path / "metrics.json")
    assert metrics["docs"] == 10
    assert metrics["decoding"]["no_repeat_ngram_size"] == 1
    scores = metrics["scores"]
    assert set(scores) == {
        "summary_rouge1",
        "summary_rouge2",
        "summary_rougeL",
        "summary_faithfulness",
        "summary_perplexity",
        "summary_token_prob",
    }
    assert 0.0 <= scores["summary_faithfulness"] <= 1.0
    assert 0.0 < scores["summary_rougeL"] <= 1.0 and scores["summary_perplexity"] > 1.0
    bad = subprocess.run(
        [str(arg) for arg in [*args, "--search", "beam_size=0"]],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 1 and "beam_size must be at least 1" in bad.stdout
    assert "Traceback" not in bad.stderr


# ---------------------------------------------------------------------------
# The workflow's traps (issue 21, item 5): a short run evaluates its last
# step, your own data gets its own folders and a neutral meta, the package
# step builds the plugin's wheel too.


def script(name: str, *args: Any, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / name), *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.parametrize(
    "asked,trained",
    [
        ((300, 400), (300, 300)),  # the README's short run: was step 0 only
        ((2000, 400), (2000, 400)),
        ((2500, 1000), (2500, 625)),
        ((1009, 400), (1011, 337)),  # no divisor: a few more steps
        ((20, 20), (20, 20)),
    ],
)
def test_the_last_training_step_is_always_evaluated(asked, trained):
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from train import evaluated_steps
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    steps, frequency = evaluated_steps(*asked)
    assert (steps, frequency) == trained
    assert steps % frequency == 0 and frequency <= asked[1]
    assert asked[0] <= steps < asked[0] + steps // frequency


def test_a_short_training_run_keeps_its_last_step_as_model_best(tmp_path, reuters_dir):
    """spacy train evaluates at multiples of eval_frequency: 6 steps with
    eval_frequency 4 would keep step 0 as model-best; scripts/train.py
    evaluates at step 6."""
    records = [
        {"text": eg.reference.text, "summary": eg.reference._.summary}
        for eg in read_examples(
            spacy.blank("en"), reuters_dir / "dev.jsonl.gz", limit=40
        )
    ]
    for split in ("train", "dev"):
        with gzip.open(tmp_path / f"{split}.jsonl.gz", "wt", encoding="utf8") as file_:
            file_.writelines(json.dumps(r) + "\n" for r in records)
    result = script(
        "train.py",
        ROOT / "configs" / "summarizer.cfg",
        tmp_path / "training",
        "--max-steps",
        "6",
        "--eval-frequency",
        "4",
        "--paths.train",
        tmp_path / "train.jsonl.gz",
        "--paths.dev",
        tmp_path / "dev.jsonl.gz",
        "--training.batcher.size",
        "500",
        "--components.summarizer.decoding.max_length",
        "5",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = " ".join(result.stdout.split())
    assert "a dev evaluation every 3" in out
    steps = [
        line.split()[1]
        for line in result.stdout.splitlines()
        if line.strip()[:1].isdigit()
    ]
    assert steps[-1] == "6", result.stdout
    for model in ("model-best", "model-last"):
        assert (tmp_path / "training" / model / "summarizer" / "cfg").exists()


def test_own_data_needs_its_own_package_name(tmp_path):
    (tmp_path / "mine.csv").write_text("text,summary\na b c,a\n", encoding="utf8")
    result = script(
        "convert_data.py",
        "summarizer",
        "mine.csv",
        "corpus/reuters_headlines",
        "--package-name",
        "reuters_headlines",
        cwd=tmp_path,
    )
    assert result.returncode == 1
    out = " ".join(result.stdout.split())
    assert "--vars.package_name" in out and "overwrite" in out
    assert not (tmp_path / "corpus").exists()


def test_own_data_gets_a_neutral_package_meta_unless_given(tmp_path):
    metrics = {
        "docs": 12,
        "data": "corpus/mine/test.spacy",
        "scores": {"summary_rougeL": 0.3},
    }
    srsly.write_json(tmp_path / "metrics.json", metrics)
    result = script(
        "package_meta.py",
        "metrics.json",
        "meta.json",
        "--meta",
        "",
        "--data",
        "mine.csv",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    meta = srsly.read_json(tmp_path / "meta.json")
    assert meta["license"] == "not stated" and "Reuters" not in meta["description"]
    assert "mine.csv" in meta["description"] and meta["performance"][
        "summary_rougeL"
    ] == pytest.approx(0.3)
    result = script(
        "package_meta.py",
        "metrics.json",
        "meta.json",
        "--meta",
        "",
        "--data",
        "assets/reuters21578.tar.gz",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Reuters" in srsly.read_json(tmp_path / "meta.json")["description"]
    srsly.write_json(tmp_path / "mine.json", {"description": "Mine.", "license": "MIT"})
    result = script(
        "package_meta.py",
        "metrics.json",
        "meta.json",
        "--meta",
        "mine.json",
        "--data",
        "mine.csv",
        cwd=tmp_path,
    )
    assert srsly.read_json(tmp_path / "meta.json")["license"] == "MIT"
