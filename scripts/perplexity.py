"""The perplexity of a split's reference texts under a trained pipeline's
seq2seq component, without decoding (a teacher-forced pass): cheap enough
for a whole test split on a CPU.

    python scripts/perplexity.py training/grounded/model-last corpus/grounded/test.spacy

A .spacy split's documents (doc._.document) are read as scripts/evaluate.py
reads them; prints one JSON line.
"""

import json
import time
from pathlib import Path

import torch
import typer

from spacy_seq2seq.pipeline import find_component, load_pipeline
from spacy_seq2seq.research.experiments import read_split


def main(
    model: str = typer.Argument(..., help="A trained pipeline: a directory or package"),
    data_path: Path = typer.Argument(..., exists=True, dir_okay=False),
    limit: int = typer.Option(0, help="Score the first N pairs (0: all)"),
    threads: int = typer.Option(1, help="torch threads"),
) -> None:
    torch.set_num_threads(threads)
    nlp = load_pipeline(model)
    component = find_component(nlp, None)
    examples = read_split(nlp, data_path, component, limit=limit)
    start = time.perf_counter()
    perplexity = component.perplexity(examples)
    result = {
        "model": model,
        "data": str(data_path),
        "pairs": len(examples),
        "perplexity": perplexity,
        "seconds": round(time.perf_counter() - start, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    typer.run(main)
