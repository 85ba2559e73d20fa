"""Train a summarizer config for a fixed number of updates, then decode the
test split: the side-by-side figures of docs/transformer.md.

    OMP_NUM_THREADS=1 python scripts/benchmark_architectures.py \
        configs/summarizer_transformer.cfg --steps 200 --eval-every 100 \
        --output docs/transformer_figures/summarizer_transformer.json \
        --model-out training/summarizer_transformer_200

A budget of updates, not seconds, so that the figures do not depend on how
busy the machine is (the tokens/s do). Prints and writes the dev curve (ROUGE
every --eval-every updates), the best dev score, training tokens/s, beam
decoding docs/s and ROUGE on the test split, the number of weights and the
peak memory (max RSS). Run each architecture in its own process: the peak
memory is the process's.
"""

import json
from pathlib import Path
from typing import Optional

import spacy
import torch
import typer
from benchmarking import peak_memory_gb
from wasabi import msg

from spacy_seq2seq.pipeline import find_component
from spacy_seq2seq.research.experiments import (
    corpus_overrides,
    count_parameters,
    data_dir,
    decode_test_split,
    train_for_budget,
)
from spacy_seq2seq.scorers import ROUGE_TYPES

DATA = data_dir("reuters21578_headlines")


def main(
    config_path: Path = typer.Argument(..., exists=True, dir_okay=False),
    steps: int = typer.Option(200, help="Training updates"),
    eval_every: int = typer.Option(100, help="Updates between dev evaluations"),
    data_dir: Path = typer.Option(DATA, help="Folder with train/dev/test.jsonl.gz"),
    beam_size: int = typer.Option(4, help="Beam size for decoding the test split"),
    output: Optional[Path] = typer.Option(None, help="Write the figures as JSON"),
    model_out: Optional[Path] = typer.Option(None, help="Save the best pipeline here"),
    gpu_id: int = typer.Option(-1, help="GPU id, -1 for the CPU"),
    mixed_precision: bool = typer.Option(False, help="Train under autocast (GPU)"),
) -> None:
    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)
    else:
        torch.set_num_threads(1)
    overrides = {
        **corpus_overrides(data_dir),
        "components.summarizer.model.mixed_precision": mixed_precision,
    }
    run = train_for_budget(
        config_path, overrides, max_steps=steps, eval_every_steps=eval_every
    )
    if model_out is not None:
        run.nlp.to_disk(model_out)
    component = find_component(run.nlp)
    test = decode_test_split(run.nlp, data_dir, beam_size)
    figures = {
        "config": str(config_path),
        "device": "cpu" if gpu_id < 0 else torch.cuda.get_device_name(gpu_id),
        "mixed_precision": mixed_precision,
        "parameters": count_parameters(component.model),
        **run.figures,
        **{f"test_{key}": test[key] for key in ROUGE_TYPES},
        "decode_beam": beam_size,
        "decode_docs_per_s": test["docs_per_s"],
        "peak_memory_gb": peak_memory_gb(),
        "dev_curve": run.dev_curve,
    }
    msg.table(
        {k: v for k, v in figures.items() if k != "dev_curve"},
        header=("figure", "value"),
        divider=True,
    )
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    typer.run(main)
