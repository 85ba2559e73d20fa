"""Train the summarizer for a fixed wall-clock budget, then decode the test split.

    python scripts/benchmark_summarizer.py configs/summarizer.cfg --budget 900

Prints ROUGE-1/2/L F1 on the test split, training source and target tokens per
second, decoding docs per second and peak memory (max RSS). Decoding is timed
twice: in the training process right after training, and in a fresh process
that loads the saved pipeline, as a user of the trained pipeline would.
"""

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, Optional

import spacy
import typer
from spacy.language import Language
from spacy.training.initialize import init_nlp
from spacy.training.loop import create_train_batches
from spacy.util import load_config, registry, resolve_dot_names
from wasabi import msg

from spacy_seq2seq.readers import create_jsonl_reader
from spacy_seq2seq.scorers import ROUGE_TYPES

DATA = (
    Path(__file__).parent.parent.parent / "shared" / "data" / "reuters21578_headlines"
)


def main(
    config_path: Path = typer.Argument(..., exists=True, dir_okay=False),
    budget: float = typer.Option(900.0, help="Training wall-clock seconds"),
    data_dir: Path = typer.Option(DATA, help="Folder with train/dev/test.jsonl.gz"),
    eval_every: float = typer.Option(120.0, help="Seconds between dev evaluations"),
    beam_size: int = typer.Option(4, help="Beam size for decoding the test split"),
    output: Optional[Path] = typer.Option(None, help="Write the figures as JSON"),
    model_out: Optional[Path] = typer.Option(None, help="Save the best pipeline here"),
    gpu_id: int = typer.Option(-1, help="GPU id, -1 for the CPU"),
    decode_only: Optional[Path] = typer.Option(
        None, help="Only decode the test split with this saved pipeline"
    ),
) -> None:
    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)
    if decode_only is not None:
        nlp = spacy.load(decode_only)
        print(json.dumps(decode_test_split(nlp, data_dir, beam_size)))
        return
    overrides = {
        "paths.train": str(data_dir / "train.jsonl.gz"),
        "paths.dev": str(data_dir / "dev.jsonl.gz"),
        "training.max_epochs": 0,
    }
    config = load_config(config_path, overrides=overrides, interpolate=False)
    nlp = init_nlp(config)
    config = nlp.config.interpolate()
    training = registry.resolve(config["training"])
    optimizer = training["optimizer"]
    train_corpus, dev_corpus = resolve_dot_names(
        config, [training["train_corpus"], training["dev_corpus"]]
    )
    dev_examples = list(dev_corpus(nlp))
    batches = create_train_batches(nlp, train_corpus, training["batcher"], 0)
    msg.info(f"Training for {budget:.0f}s; dev evaluation every {eval_every:.0f}s")

    source_tokens = target_tokens = steps = 0
    train_seconds = eval_seconds = 0.0
    best_score, best_weights = -1.0, None
    start = last_eval = time.perf_counter()
    for epoch, batch in batches:
        step_start = time.perf_counter()
        losses = nlp.update(batch, sgd=optimizer, drop=training["dropout"])
        train_seconds += time.perf_counter() - step_start
        steps += 1
        source_tokens += sum(len(eg.predicted) for eg in batch)
        target_tokens += sum(len(nlp.make_doc(eg.reference._.summary)) for eg in batch)
        now = time.perf_counter()
        out_of_time = now - start >= budget
        if out_of_time or now - last_eval >= eval_every:
            scores = nlp.evaluate(dev_examples)
            eval_seconds += time.perf_counter() - now
            last_eval = time.perf_counter()
            score = scores["summary_rougeL"]
            loss = list(losses.values())[0]
            msg.text(
                f"{now - start:6.0f}s epoch {epoch} step {steps} loss {loss:.3f} "
                f"dev ROUGE-L {100 * score:.2f}"
            )
            if score > best_score:
                best_score, best_weights = score, nlp.to_bytes()
        if out_of_time:
            break
    total_seconds = time.perf_counter() - start
    nlp.from_bytes(best_weights)
    saved = model_out or Path(tempfile.mkdtemp()) / "model"
    nlp.to_disk(saved)
    in_process = decode_test_split(nlp, data_dir, beam_size)
    fresh = subprocess.run(
        [sys.executable, __file__, str(config_path), "--decode-only", str(saved)]
        + ["--data-dir", str(data_dir), "--beam-size", str(beam_size)]
        + ["--gpu-id", str(gpu_id)],
        check=True,
        capture_output=True,
        text=True,
    )
    fresh_figures = json.loads(fresh.stdout.strip().splitlines()[-1])
    peak_kb = max(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    )
    figures = {
        "budget_s": budget,
        "steps": steps,
        "dev_rougeL_best": round(100 * best_score, 2),
        "test_rouge1": fresh_figures["rouge1"],
        "test_rouge2": fresh_figures["rouge2"],
        "test_rougeL": fresh_figures["rougeL"],
        "train_source_tokens_per_s": round(source_tokens / train_seconds),
        "train_target_tokens_per_s": round(target_tokens / train_seconds),
        "train_source_tokens_per_s_with_eval": round(source_tokens / total_seconds),
        "dev_eval_seconds": round(eval_seconds, 1),
        "decode_beam": beam_size,
        "decode_docs_per_s_loaded_pipeline": fresh_figures["docs_per_s"],
        "decode_docs_per_s_training_process": in_process["docs_per_s"],
        "peak_memory_gb": round(peak_kb / 1024**2, 2),
    }
    msg.table(figures, header=("figure", "value"), divider=True)
    if output is not None:
        output.write_text(json.dumps(figures, indent=2) + "\n")


def decode_test_split(
    nlp: Language, data_dir: Path, beam_size: int
) -> Dict[str, float]:
    """Summarize the test split (after a warm-up batch): ROUGE F1 x 100 and docs/s."""
    nlp.get_pipe("summarizer").search.beam_size = beam_size
    examples = list(create_jsonl_reader(data_dir / "test.jsonl.gz")(nlp))
    list(nlp.pipe(eg.predicted.copy() for eg in examples[:256]))
    start = time.perf_counter()
    for example, doc in zip(examples, nlp.pipe(eg.predicted for eg in examples)):
        example.predicted = doc
    seconds = time.perf_counter() - start
    rouge = nlp.get_pipe("summarizer").score(examples)
    figures = {key: round(100 * rouge[f"summary_{key}"], 2) for key in ROUGE_TYPES}
    return {**figures, "docs_per_s": round(len(examples) / seconds, 1)}


if __name__ == "__main__":
    typer.run(main)
