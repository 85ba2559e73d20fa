"""Write a synthetic seq2seq task where the source's length is the only
variable: reverse a sequence of random symbols.

    python scripts/make_synthetic_task.py corpus/reverse

Each record is {"text": "w07 w13 w02 ...", "summary": "... w02 w13 w07"}: a
source of L symbols drawn uniformly, with replacement, from a vocabulary of
--vocab symbols (w00, w01, ...), L uniform in [--min-length, --max-length],
and its reversal. Every split is drawn from the same distribution with its
own seed (--seed, +1, +2 for train, dev, test) and written as
OUT_DIR/SPLIT.jsonl.gz (gzip mtime 0: a re-run writes the same bytes) and
SPLIT.spacy, read by spacy-seq2seq.JsonlPairs.v1 and scripts/evaluate.py.

The first output symbol is the last source symbol and the last output the
first: a fixed context must carry the whole source, L * log2(vocab) bits,
while attention can look each symbol up where it is. A small vocabulary
keeps the output layer quick to learn, so what a model learns in a short
budget is the alignment.
"""

import random
from pathlib import Path
from typing import Dict, Iterator

import typer
from wasabi import msg

from corpus import write_split
from spacy_seq2seq.readers import create_jsonl_reader


def reversal_pairs(
    n: int, min_length: int, max_length: int, vocab: int, seed: int
) -> Iterator[Dict[str, str]]:
    """n seeded records {"text": symbols, "summary": the symbols reversed}."""
    rng = random.Random(seed)
    symbols = [f"w{i:02d}" for i in range(vocab)]
    for _ in range(n):
        source = rng.choices(symbols, k=rng.randint(min_length, max_length))
        yield {"text": " ".join(source), "summary": " ".join(reversed(source))}


def main(
    output_dir: Path = typer.Argument(..., file_okay=False),
    n_train: int = typer.Option(20000, help="Training pairs"),
    n_dev: int = typer.Option(300, help="Dev pairs"),
    n_test: int = typer.Option(1000, help="Test pairs"),
    min_length: int = typer.Option(5, help="Shortest source, in symbols"),
    max_length: int = typer.Option(60, help="Longest source, in symbols"),
    vocab: int = typer.Option(20, help="Distinct symbols (2 to 100)"),
    seed: int = typer.Option(0, help="Seed of the training split"),
) -> None:
    if not 1 <= min_length <= max_length:
        msg.fail("Expected 1 <= --min-length <= --max-length", exits=1)
    if not 2 <= vocab <= 100:
        msg.fail(f"--vocab must be 2 to 100, not {vocab}", exits=1)
    if min(n_train, n_dev, n_test) < 1:
        msg.fail("Every split needs at least one pair", exits=1)
    sizes = {"train": n_train, "dev": n_dev, "test": n_test}
    for offset, (split, n) in enumerate(sizes.items()):
        records = list(reversal_pairs(n, min_length, max_length, vocab, seed + offset))
        write_split(records, output_dir, split, create_jsonl_reader)


if __name__ == "__main__":
    typer.run(main)
