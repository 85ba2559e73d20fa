"""Train the summarizer for a fixed wall-clock budget, then decode the test split.

    python scripts/benchmark_summarizer.py configs/summarizer.cfg --budget 900

Prints ROUGE-1/2/L F1 on the test split, training source and target tokens per
second, decoding docs per second and peak memory (max RSS). Decoding is timed
twice: in the training process right after training, and in a fresh process
that loads the saved pipeline, as a user of the trained pipeline would.
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Optional

import spacy
import typer
from benchmarking import peak_memory_gb
from wasabi import msg

from spacy_seq2seq.pipeline import load_pipeline
from spacy_seq2seq.research.experiments import (
    corpus_overrides,
    data_dir,
    decode_test_split,
    train_for_budget,
)
from spacy_seq2seq.scorers import ROUGE_TYPES

DATA = data_dir("reuters21578_headlines")


def main(
    config_path: Path = typer.Argument(..., exists=True, dir_okay=False),
    budget: float = typer.Option(900.0, help="Training wall-clock seconds"),
    steps: int = typer.Option(0, help="Training updates, if sooner (0: no limit)"),
    data_dir: Path = typer.Option(DATA, help="Folder with train/dev/test.jsonl.gz"),
    eval_every: float = typer.Option(120.0, help="Seconds between dev evaluations"),
    beam_size: int = typer.Option(4, help="Beam size for decoding the test split"),
    output: Optional[Path] = typer.Option(None, help="Write the figures as JSON"),
    model_out: Optional[Path] = typer.Option(None, help="Save the best pipeline here"),
    gpu_id: int = typer.Option(-1, help="GPU id, -1 for the CPU"),
    mixed_precision: bool = typer.Option(False, help="Train under autocast (GPU)"),
    decode_only: Optional[Path] = typer.Option(
        None, help="Only decode the test split with this saved pipeline"
    ),
) -> None:
    if mixed_precision and gpu_id < 0:
        # CUDA autocast: fail now rather than when the model is built
        msg.fail("--mixed-precision needs a GPU: add --gpu-id 0", exits=1)
    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)
    if decode_only is not None:
        nlp = load_pipeline(decode_only)
        print(json.dumps(decode_test_split(nlp, data_dir, beam_size)))
        return
    overrides = {
        **corpus_overrides(data_dir),
        "components.summarizer.model.mixed_precision": mixed_precision,
    }
    run = train_for_budget(config_path, overrides, budget, eval_every, max_steps=steps)
    saved = model_out or Path(tempfile.mkdtemp()) / "model"
    run.nlp.to_disk(saved)
    in_process = decode_test_split(run.nlp, data_dir, beam_size)
    fresh = subprocess.run(
        [sys.executable, __file__, str(config_path), "--decode-only", str(saved)]
        + ["--data-dir", str(data_dir), "--beam-size", str(beam_size)]
        + ["--gpu-id", str(gpu_id)],
        check=True,
        capture_output=True,
        text=True,
    )
    fresh_figures = json.loads(fresh.stdout.strip().splitlines()[-1])
    figures = {
        **run.figures,
        **{f"test_{key}": fresh_figures[key] for key in ROUGE_TYPES},
        "decode_beam": beam_size,
        "decode_docs_per_s_loaded_pipeline": fresh_figures["docs_per_s"],
        "decode_docs_per_s_training_process": in_process["docs_per_s"],
        "peak_memory_gb": peak_memory_gb(),
    }
    msg.table(figures, header=("figure", "value"), divider=True)
    if output is not None:
        output.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    typer.run(main)
