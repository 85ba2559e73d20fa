"""Score a trained pipeline on a .spacy corpus and write every score to JSON.

    python scripts/evaluate.py training/summarizer/model-best \
        corpus/reuters/test.spacy metrics/summarizer.json

`spacy evaluate` writes only spaCy's own scores (tags, entities, ...) to its
JSON output; this writes all of the pipeline's scores, so ROUGE, BLEU,
distinct-n and perplexity are kept, with the number of docs and the decoding
speed. The reference docs carry the target text in their user data, as
scripts/convert_*.py write them (JSONL pairs are read too). `--decoding
beam|sampling|mmi` and `--search KEY=VALUE` change the decoding for this
evaluation (e.g. `--search no_repeat_ngram_size=1 --search beam_size=8`), so
decoding choices can be compared without training.
"""

from pathlib import Path
from typing import List, Optional

import spacy
import srsly
import typer
from wasabi import msg

from spacy_seq2seq.model.decoding import settings_of
from spacy_seq2seq.pipeline import find_component, load_pipeline
from spacy_seq2seq.research.experiments import (
    decoding_with,
    read_split,
    score_split,
)


def main(
    model: str = typer.Argument(..., help="A trained pipeline: a directory or package"),
    data_path: Path = typer.Argument(..., exists=True, dir_okay=False),
    output_path: Path = typer.Argument(..., dir_okay=False),
    limit: int = typer.Option(0, help="Score the first N docs (0: all)"),
    batch_size: int = typer.Option(256, help="Docs per decoding batch"),
    gpu_id: int = typer.Option(-1, help="GPU id, or -1 for the CPU"),
    component_name: Optional[str] = typer.Option(
        None, "--component", help="The seq2seq component (default: the only one)"
    ),
    decoding: Optional[str] = typer.Option(
        None, help="beam, sampling or mmi (default: the component's)"
    ),
    search: List[str] = typer.Option([], help="A decoding setting, KEY=VALUE"),
) -> None:
    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)
    nlp = load_pipeline(model)
    try:
        component = find_component(nlp, component_name)
        component.decoding = decoding_with(component.decoding, decoding, search)
    except ValueError as e:
        msg.fail(str(e), exits=1)
    examples = read_split(nlp, data_path, component, limit=limit)
    if not examples:
        msg.fail(f"No docs in {data_path}", exits=1)
    split = score_split(nlp, examples, batch_size=batch_size)
    metrics = {
        "model": model,
        "decoding": settings_of(component.decoding),
        "data": str(data_path),
        "docs": split.docs,
        "docs_per_second": split.docs_per_s,
        "scores": split.scores,
    }
    output_path.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(output_path, metrics)
    rows = [(key, f"{value:.4f}") for key, value in split.scores.items()]
    msg.table(rows, header=("score", "value"), divider=True)
    msg.good(
        f"{split.docs:,} docs at {split.docs_per_s:.1f} docs/s; saved to {output_path}"
    )


if __name__ == "__main__":
    typer.run(main)
