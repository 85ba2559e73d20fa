"""Build spacy-seq2seq's own wheel beside a packaged pipeline and print the
one command that installs the pipeline in a fresh environment.

    python scripts/build_plugin.py \\
        packages/en_reuters_headlines-0.1.0/dist/en_reuters_headlines-0.1.0-py3-none-any.whl \\
        packages/plugin

A pipeline's wheel requires spacy-seq2seq, which is not on PyPI: `pip install`
of the pipeline's wheel alone fails with "No matching distribution found for
spacy-seq2seq". Given both wheels at once, pip takes the plugin from its wheel
and the rest (spaCy, torch...) from the index. The plugin is built with
`python -m build --wheel` (the `project` extra) from the source tree of the
spacy_seq2seq that is imported: with the build tools installed here first
(works offline), else in build's own isolated environment.
"""

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import typer
from wasabi import msg

import spacy_seq2seq

# The files of the source tree the wheel's metadata reads.
PACKAGING_FILES = ("setup.cfg", "setup.py", "pyproject.toml", "README.md", "LICENSE")


def source_tree() -> Path:
    """The checkout the imported spacy_seq2seq comes from."""
    root = Path(spacy_seq2seq.__file__).resolve().parent.parent
    if not (root / "setup.cfg").exists() and not (root / "pyproject.toml").exists():
        msg.fail(
            f"spacy_seq2seq is imported from {root}, which is not a source tree "
            "(no setup.cfg): install spacy-seq2seq from a checkout to build its wheel.",
            exits=1,
        )
    return root


def build_wheel(root: Path, output_dir: Path) -> Path:
    before = set(output_dir.glob("spacy_seq2seq-*.whl"))
    build = [
        sys.executable,
        "-m",
        "build",
        "--wheel",
        "--outdir",
        str(output_dir.resolve()),
    ]
    errors = []
    with tempfile.TemporaryDirectory() as tmp:
        # a copy of what the wheel is built from: the build's own files
        # (build/, *.egg-info) stay out of the checkout
        source = Path(tmp) / "spacy-seq2seq"
        shutil.copytree(
            root / "spacy_seq2seq",
            source / "spacy_seq2seq",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        for name in PACKAGING_FILES:
            if (root / name).exists():
                shutil.copy(root / name, source / name)
        attempts = [
            build + ["--no-isolation", "--skip-dependency-check", str(source)],
            build + [str(source)],
        ]
        for args in attempts:
            result = subprocess.run(args, capture_output=True, text=True)
            if result.returncode == 0:
                break
            errors.append(result.stdout[-2000:] + result.stderr[-2000:])
    if result.returncode != 0:
        msg.fail(
            f"Can't build spacy-seq2seq's wheel from {root} (pip install "
            "'spacy-seq2seq[project]' installs `build`)",
            "\n".join(errors),
            exits=1,
        )
    wheels = sorted(
        output_dir.glob("spacy_seq2seq-*.whl"), key=lambda p: p.stat().st_mtime
    )
    new = [wheel for wheel in wheels if wheel not in before] or wheels[-1:]
    return new[-1]


def main(
    pipeline_wheel: Path = typer.Argument(..., exists=True, dir_okay=False),
    output_dir: Path = typer.Argument(..., file_okay=False),
) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    plugin_wheel = build_wheel(source_tree(), output_dir)
    msg.good(f"Built the plugin's wheel: {plugin_wheel}")
    msg.info("Install the pipeline in a fresh environment (Python >= 3.9) with:")
    print(f"pip install {plugin_wheel.resolve()} {pipeline_wheel.resolve()}")


if __name__ == "__main__":
    typer.run(main)
