"""The project workflow's pretraining step (docs/pretraining.md).

    python scripts/pretrain.py summarizer true assets/reuters21578.tar.gz \
        --train-config configs/finetune_summarizer.cfg --steps 1500

With `true` it writes the raw text (scripts/make_pretraining_text.py: the
training split's documents, never a dev or test text) to corpus/pretrain and
pretrains the component with `spacy train` on the pretraining config, into
training/pretrain_KIND (model-last is what the fine-tuning config sources).
With `false` it does nothing. Either way it checks that the training config
the workflow uses next agrees: a config that sources the pretrained model
needs the pretraining, and pretraining for a config that doesn't source it
would be wasted.
"""

import subprocess
import sys
from pathlib import Path
from typing import List

import typer
from spacy.util import load_config
from wasabi import msg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_pretraining_text import make_text  # noqa: E402

KINDS = {
    "summarizer": {
        "config": "configs/pretrain_summarizer.cfg",
        "finetune": "configs/finetune_summarizer.cfg",
        "var": "summarizer_config",
        "archive": "reuters_archive",
        "paths": {"raw": "news.txt.gz"},
    },
    "responder": {
        "config": "configs/pretrain_responder.cfg",
        "finetune": "configs/finetune_responder.cfg",
        "var": "responder_config",
        "archive": "cmu_dog_archive",
        "paths": {
            "conversations": "conversations.jsonl.gz",
            "movies": "movies.txt.gz",
        },
    },
}


def sources_pretrained(config_path: Path, component: str) -> bool:
    config = load_config(config_path, interpolate=False)
    return "source" in config["components"].get(component, {})


def main(
    kind: str = typer.Argument(..., help="summarizer or responder"),
    enabled: str = typer.Argument(..., help="true or false (vars.pretrain)"),
    archive: Path = typer.Argument(..., help="The kind's raw archive"),
    train_config: Path = typer.Option(..., help="The config the workflow trains next"),
    steps: int = typer.Option(1500, min=1, help="Pretraining steps"),
    dev: Path = typer.Option(..., help="The dev split, scored on the way"),
    text_dir: Path = typer.Option(Path("corpus/pretrain"), file_okay=False),
    output: Path = typer.Option(None, help="Default: training/pretrain_KIND"),
    gpu_id: int = typer.Option(-1),
) -> None:
    if kind not in KINDS:
        msg.fail(f"kind must be summarizer or responder, not {kind!r}", exits=1)
    if enabled.lower() not in ("true", "false"):
        msg.fail(f"vars.pretrain must be true or false, not {enabled!r}", exits=1)
    settings = KINDS[kind]
    sources = sources_pretrained(train_config, kind)
    if enabled.lower() == "false":
        if sources:
            msg.fail(
                f"{train_config} starts from a pretrained {kind}, but pretraining "
                f"is off: add --vars.pretrain true (or use configs/{kind}.cfg)",
                exits=1,
            )
        msg.info(
            f"Pretraining is off (vars.pretrain = false): {kind} trains from scratch"
        )
        return
    if not sources:
        msg.fail(
            f"Pretraining is on but {train_config} doesn't start from the "
            f"pretrained {kind}: add --vars.{settings['var']} {settings['finetune']}",
            exits=1,
        )
    report = make_text(output_dir=text_dir, **{settings["archive"]: archive})
    for name, counts in report["files"].items():
        msg.good(
            f"{name}: {counts['kept']:,} documents, {counts['dropped']:,} dropped "
            "as repeats of dev/test texts"
        )
    output = output or Path(f"training/pretrain_{kind}")
    command: List[str] = [
        sys.executable,
        "-m",
        "spacy",
        "train",
        settings["config"],
        "--output",
        str(output),
        "--training.max_steps",
        str(steps),
        "--gpu-id",
        str(gpu_id),
    ]
    for path_name, file_name in settings["paths"].items():
        command += [f"--paths.{path_name}", str(text_dir / file_name)]
    command += ["--paths.dev", str(dev)]
    msg.info(" ".join(command))
    sys.exit(subprocess.run(command).returncode)


if __name__ == "__main__":
    typer.run(main)
