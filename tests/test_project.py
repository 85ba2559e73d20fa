"""The spaCy project workflow, end to end: project.yml's smoke workflow from the
raw archives to a wheel that installs and loads by name."""

import csv
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
        assert (smoke_project / "corpus" / "summarizer" / f"{split}.jsonl.gz").exists()
        assert (smoke_project / "corpus" / "summarizer" / f"{split}.spacy").exists()
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
    samples = (smoke_project / "samples" / "smoke" / "index.html").read_text("utf8")
    assert (
        samples.count("<a ") >= 10
        and (smoke_project / "samples/smoke/009.html").exists()
    )


@pytest.mark.slow
def test_packaged_wheel_installs_in_a_fresh_venv_and_summarizes(
    smoke_project, tmp_path
):
    """The pipeline's wheel requires spacy-seq2seq, which pip finds beside it
    (it is not on PyPI); torch is the CPU build that `pip install
    torch==2.13.0` takes on these machines."""
    venv.create(tmp_path / "venv", with_pip=True)
    python = tmp_path / "venv" / "bin" / "python"
    pip = [python, "-m", "pip", "install", "--quiet"]
    run([*pip, "torch==2.13.0"], tmp_path, 900)
    wheels = tmp_path / "wheels"
    run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", wheels, ROOT],
        ROOT,
        600,
    )
    (wheel,) = wheels.glob("spacy_seq2seq-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "spacy_seq2seq/py.typed" in names
    # setuptools >= 77 puts it under .dist-info/licenses/ (PEP 639), older ones beside METADATA
    assert any(
        name.endswith((".dist-info/LICENSE", ".dist-info/licenses/LICENSE"))
        for name in names
    ), names
    run(
        [*pip, "--find-links", wheels, smoke_project / "packages" / "smoke" / WHEEL],
        tmp_path,
        900,
    )
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
        len(DocBin().from_disk(project / "corpus" / "summarizer" / f"{split}.spacy"))
        for split in ("train", "dev", "test")
    ]
    assert sizes == [96, 12, 12]
    metrics = srsly.read_json(project / "metrics" / "summarizer.json")
    assert metrics["docs"] == 12 and 0.0 <= metrics["scores"]["summary_rougeL"] <= 1.0
    assert (project / "samples" / "summarizer" / "001.html").exists()
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
