"""Train on a big corpus streamed (configs/summarizer_streaming.cfg) or held
in memory (configs/summarizer.cfg) for a bounded number of updates, each
case in a fresh process, and print peak RSS, the time to the first update
(setup and the vocabulary pass included) and the training tokens/s.

    python scripts/make_big_corpus.py 300000 /tmp/big300k.jsonl.gz
    python scripts/make_big_corpus.py 3000000 /tmp/big3m.jsonl.gz
    python scripts/benchmark_streaming.py --case streamed:/tmp/big300k.jsonl.gz \\
        --case streamed:/tmp/big3m.jsonl.gz --case in_memory:$DATA/train.jsonl.gz
"""

import json
import subprocess
import sys
from pathlib import Path
from typing import List

import typer
from benchmarking import peak_memory_gb
from wasabi import msg

from spacy_seq2seq.research.experiments import data_dir, train_for_budget

ROOT = Path(__file__).resolve().parent.parent
DATA = data_dir("reuters21578_headlines")
CONFIGS = {
    "streamed": (ROOT / "configs" / "summarizer_streaming.cfg", -1),
    "in_memory": (ROOT / "configs" / "summarizer.cfg", 0),
}


def main(
    case: List[str] = typer.Option(
        ..., help="SETUP:TRAIN_FILE, SETUP streamed or in_memory"
    ),
    steps: int = typer.Option(200, help="Updates per case"),
    budget: float = typer.Option(600.0, help="At most this many seconds of training"),
    dev: Path = typer.Option(DATA / "dev.jsonl.gz", exists=True),
    child: bool = typer.Option(False, hidden=True, help="Run one case here"),
) -> None:
    if child:
        (one,) = case
        setup, train = one.split(":", 1)
        config, max_epochs = CONFIGS[setup]
        overrides = {
            "paths.train": train,
            "paths.dev": str(dev),
            "corpora.dev.limit": 200,
        }
        run = train_for_budget(config, overrides, budget, budget, max_epochs, steps)
        print(json.dumps({"case": one, **run.figures, "peak_rss_gb": peak_memory_gb()}))
        return
    rows = []
    for one in case:
        result = subprocess.run(
            [sys.executable, __file__, "--case", one, "--steps", str(steps)]
            + ["--budget", str(budget), "--dev", str(dev), "--child"],
            check=True,
            capture_output=True,
            text=True,
        )
        rows.append(json.loads(result.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    keys = ["case", "steps", "time_to_first_update_s", "peak_rss_gb"]
    keys += ["train_source_tokens_per_s", "train_source_tokens_per_s_with_reading"]
    msg.table([[row[k] for k in keys] for row in rows], header=keys, divider=True)


if __name__ == "__main__":
    typer.run(main)
