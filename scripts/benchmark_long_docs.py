"""Summarize N long docs and N short ones, each case in a fresh process.

    python scripts/benchmark_long_docs.py /work/trained/training/summarizer/model-best

Prints, for 20 docs of 20,000 tokens and 20 docs of 400 tokens (the default
max_source_length), the peak RSS of the process and the seconds nlp.pipe
takes. The docs are built from words (the tokenizer's time is left out) out
of the Reuters test texts. A fresh process per case keeps the peaks apart.
"""

import json
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import List

import srsly
import typer
from benchmarking import peak_memory_gb
from spacy.tokens import Doc
from wasabi import msg

from spacy_seq2seq.pipeline import load_pipeline
from spacy_seq2seq.research.experiments import data_dir

DATA = data_dir("reuters21578_headlines")


def main(
    model: Path = typer.Argument(..., exists=True, file_okay=False),
    n_docs: int = typer.Option(20, help="Docs per case"),
    lengths: List[int] = typer.Option([20000, 400], help="Tokens per doc, a case each"),
    data_dir: Path = typer.Option(DATA, help="Folder with test.jsonl.gz"),
    case: int = typer.Option(0, hidden=True, help="Run one case in this process"),
) -> None:
    if case:
        print(json.dumps(run_case(model, n_docs, case, data_dir)))
        return
    figures = []
    for length in lengths:
        child = subprocess.run(
            [sys.executable, __file__, str(model), "--n-docs", str(n_docs)]
            + ["--case", str(length), "--data-dir", str(data_dir)],
            check=True,
            capture_output=True,
            text=True,
        )
        figures.append(json.loads(child.stdout.strip().splitlines()[-1]))
    msg.table(
        [[f[k] for k in figures[0]] for f in figures],
        header=list(figures[0]),
        divider=True,
    )
    for key in ("peak_rss_gb", "pipe_seconds"):
        ratio = max(f[key] for f in figures) / min(f[key] for f in figures)
        msg.text(f"{key}: largest / smallest = {ratio:.2f}")


def run_case(model: Path, n_docs: int, length: int, data_dir: Path) -> dict:
    nlp = load_pipeline(model)
    words = [
        word
        for record in srsly.read_gzip_jsonl(data_dir / "test.jsonl.gz")
        for word in record["text"].split()
    ]
    docs = [
        Doc(
            nlp.vocab, words=[words[(d * 7919 + i) % len(words)] for i in range(length)]
        )
        for d in range(n_docs)
    ]
    warnings.simplefilter("ignore")  # the truncation warning
    start = time.perf_counter()
    summaries = [doc._.summary for doc in nlp.pipe(docs)]
    seconds = time.perf_counter() - start
    return {
        "docs": n_docs,
        "tokens_per_doc": length,
        "pipe_seconds": round(seconds, 2),
        "peak_rss_gb": peak_memory_gb(),
        "empty_summaries": sum(not s for s in summaries),
    }


if __name__ == "__main__":
    typer.run(main)
