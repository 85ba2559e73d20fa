"""Train a floret vector table on raw text, for `[initialize] vectors`.

    pip install floret
    python scripts/train_vectors.py corpus/reuters_body/train.jsonl.gz \
        vectors/reuters --dim 128 --epoch 5
    spacy train configs/summarizer_vectors.cfg --paths.vectors vectors/reuters ...

Reads the "text" field (--field) of JSONL(.gz) files, one document a line,
tokenizes each with the pipeline language's tokenizer (so the table's keys
are the words the tok2vec looks up), lowercases it when --lower, trains
floret (fastText with its subwords hashed into the same table, so that every
word has a vector) and converts the table with `spacy init vectors --mode
floret` into OUTPUT_DIR, a directory `[initialize] vectors` loads. Give only
training text: never the dev or test splits' texts.
"""

import gzip
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator, List

import spacy
import srsly
import typer
from wasabi import msg


def read_texts(paths: List[Path], field: str) -> Iterator[str]:
    """The field of each record, with the file and line of a bad one."""
    for path in paths:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf8") as lines:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    record = srsly.json_loads(line)
                except ValueError as e:
                    raise ValueError(f"{path}:{number}: not JSON ({e})") from None
                text = record.get(field) if isinstance(record, dict) else None
                if not isinstance(text, str):
                    raise ValueError(f'{path}:{number}: no "{field}" text field')
                yield text


def main(
    inputs: List[Path] = typer.Argument(..., exists=True, dir_okay=False),
    output_dir: Path = typer.Argument(..., file_okay=False),
    field: str = typer.Option("text", help="The JSONL field with the text"),
    lang: str = typer.Option("en", help="The language whose tokenizer splits it"),
    lower: bool = typer.Option(True, help="Lowercase the text (as the data is)"),
    dim: int = typer.Option(128, help="Vector width (the decoder's embed_width)"),
    epoch: int = typer.Option(5, help="Passes over the text"),
    min_count: int = typer.Option(3, help="Rarer words get subword vectors only"),
    bucket: int = typer.Option(50000, help="Rows of the hashed table"),
    minn: int = typer.Option(4, help="Shortest character n-gram"),
    maxn: int = typer.Option(5, help="Longest character n-gram"),
    threads: int = typer.Option(1, help="floret's threads"),
    limit: int = typer.Option(0, help="Read the first N texts (0: all)"),
) -> None:
    try:
        import floret
    except ImportError:
        msg.fail("floret is not installed: pip install floret", exits=1)
    tokenizer = spacy.blank(lang).tokenizer
    output_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        text_path = Path(tmp) / "text.txt"
        n_texts = n_tokens = 0
        with text_path.open("w", encoding="utf8") as out:
            try:
                for text in read_texts(inputs, field):
                    words = [t.text for t in tokenizer(text) if not t.is_space]
                    line = " ".join(words)
                    out.write((line.lower() if lower else line) + "\n")
                    n_texts, n_tokens = n_texts + 1, n_tokens + len(words)
                    if limit and n_texts >= limit:
                        break
            except ValueError as e:
                msg.fail(str(e), exits=1)
        if not n_tokens:
            msg.fail(f"No text in {', '.join(map(str, inputs))}", exits=1)
        msg.info(f"{n_texts:,} texts, {n_tokens:,} tokens")
        model = floret.train_unsupervised(
            str(text_path),
            model="cbow",
            mode="floret",
            hashCount=2,
            bucket=bucket,
            dim=dim,
            epoch=epoch,
            minCount=min_count,
            minn=minn,
            maxn=maxn,
            thread=threads,
            verbose=0,
        )
        table = Path(tmp) / "vectors.floret"
        model.save_floret_vectors(str(table))
        command = [sys.executable, "-m", "spacy", "init", "vectors", lang]
        command += [str(table), str(output_dir), "--mode", "floret"]
        subprocess.run(command, check=True)
    msg.good(f"{dim}-dimensional floret vectors ({bucket:,} rows) in {output_dir}")


if __name__ == "__main__":
    typer.run(main)
