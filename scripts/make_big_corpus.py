"""Write a synthetic corpus of N (text, summary) pairs from the real ones.

    python scripts/make_big_corpus.py 3000000 /tmp/big.jsonl.gz

Each pass over the real training pairs comes in its own seeded order, so the
corpus has the real pairs' lengths and vocabulary at any size; a streamed
training reads it like a corpus larger than memory. The file is written as
it goes (memory stays at one copy of the real pairs).
"""

import gzip
import random
from pathlib import Path

import srsly
import typer

from spacy_seq2seq.research.experiments import data_dir

DATA = data_dir("reuters21578_headlines")


def main(
    n_pairs: int = typer.Argument(..., min=1, help="Pairs to write"),
    output: Path = typer.Argument(..., dir_okay=False, help="A .jsonl.gz file"),
    source: Path = typer.Option(
        DATA / "train.jsonl.gz", exists=True, help="Real pairs"
    ),
    seed: int = typer.Option(0, help="Seed of the passes' orders"),
) -> None:
    lines = [srsly.json_dumps(r) for r in srsly.read_gzip_jsonl(source)]
    rng = random.Random(seed)
    written = 0
    with gzip.open(output, "wt", encoding="utf8", compresslevel=1) as file_:
        while written < n_pairs:
            rng.shuffle(lines)
            chunk = lines[: n_pairs - written]
            file_.write("\n".join(chunk) + "\n")
            written += len(chunk)
    print(f"Wrote {written} pairs to {output}")


if __name__ == "__main__":
    typer.run(main)
