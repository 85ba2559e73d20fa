"""Train the responder for a fixed wall-clock budget, then answer the test split
with beam search and with nucleus sampling.

    python scripts/benchmark_responder.py configs/responder.cfg --budget 900

Prints, for each decoding: corpus BLEU, distinct-1/2, the share of the most
frequent reply among the test replies and decoding docs per second; and the
perplexity of the reference replies, training tokens per second and peak
memory (max RSS).
"""

import json
import tempfile
from pathlib import Path
from typing import Any, Dict, Optional

import spacy
import typer
from benchmarking import (
    decode_timed,
    peak_memory_gb,
    seq2seq_component,
    train_for_budget,
)
from spacy.language import Language
from wasabi import msg

from spacy_seq2seq.readers import create_dialogue_reader

DATA = Path(__file__).parent.parent.parent / "shared" / "data" / "cmu_dog"


def main(
    config_path: Path = typer.Argument(..., exists=True, dir_okay=False),
    budget: float = typer.Option(900.0, help="Training wall-clock seconds"),
    data_dir: Path = typer.Option(DATA, help="Folder with train/dev/test.jsonl.gz"),
    eval_every: float = typer.Option(180.0, help="Seconds between dev evaluations"),
    top_p: float = typer.Option(0.9, help="Nucleus of the sampling run"),
    limit_test: int = typer.Option(
        0, help="Answer only the first N test pairs (0: all)"
    ),
    output: Optional[Path] = typer.Option(None, help="Write the figures as JSON"),
    model_out: Optional[Path] = typer.Option(None, help="Save the best pipeline here"),
    gpu_id: int = typer.Option(-1, help="GPU id, -1 for the CPU"),
    decode_only: Optional[Path] = typer.Option(
        None, help="Only answer the test split with this saved pipeline"
    ),
) -> None:
    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)
    if decode_only is not None:
        nlp, figures = spacy.load(decode_only), {}
    else:
        overrides = {
            "paths.train": str(data_dir / "train.jsonl.gz"),
            "paths.dev": str(data_dir / "dev.jsonl.gz"),
        }
        run = train_for_budget(config_path, overrides, budget, eval_every)
        nlp, figures = run.nlp, run.figures
        run.nlp.to_disk(model_out or Path(tempfile.mkdtemp()) / "model")
    responder = seq2seq_component(nlp)
    beam = dict(decoding="beam")
    sampling = dict(decoding="sampling", top_p=top_p, n_best=1)
    for name, settings in (("beam", beam), ("sampling", sampling)):
        for key, value in settings.items():
            setattr(responder.search, key, value)
        test_figures = answer_test_split(nlp, data_dir, limit_test)
        figures.update({f"{name}_{key}": value for key, value in test_figures.items()})
    figures["peak_memory_gb"] = peak_memory_gb()
    msg.table(figures, header=("figure", "value"), divider=True)
    if output is not None:
        output.write_text(json.dumps(figures, indent=2) + "\n")


def answer_test_split(nlp: Language, data_dir: Path, limit: int) -> Dict[str, Any]:
    """Answer the test split: its scores (x 100 but perplexity) and docs/s."""
    responder = seq2seq_component(nlp)
    read = create_dialogue_reader(
        data_dir / "test.jsonl.gz",
        turn_separator=responder.turn_separator,
        limit=limit,
    )
    examples = list(read(nlp))
    docs_per_s = decode_timed(nlp, examples)
    scores = responder.score(examples)
    figures = {
        key.replace("response_", ""): round(
            value if key.endswith("perplexity") else 100 * value, 2
        )
        for key, value in scores.items()
    }
    for example in examples[:5]:
        msg.text(f"{example.predicted.text!r}\n  -> {example.predicted._.response}")
    return {**figures, "docs_per_s": docs_per_s, "search": str(responder.search)}


if __name__ == "__main__":
    typer.run(main)
