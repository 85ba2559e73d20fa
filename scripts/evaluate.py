"""Score a trained pipeline on a .spacy corpus and write every score to JSON.

    python scripts/evaluate.py training/summarizer/model-best \
        corpus/reuters/test.spacy metrics/summarizer.json

`spacy evaluate` writes only spaCy's own scores (tags, entities, ...) to its
JSON output; this writes all of the pipeline's scores, so ROUGE, BLEU,
distinct-n and perplexity are kept, with the number of docs and the decoding
speed. The reference docs carry the target text in their user data, as
scripts/convert_*.py write them. `--search KEY=VALUE` changes a decoding
setting for this evaluation (e.g. `--search no_repeat_ngram_size=1
--search beam_size=8`), so decoding choices can be compared without training.
"""

import dataclasses
import time
from pathlib import Path
from typing import List, get_type_hints

import spacy
import srsly
import typer
from benchmarking import seq2seq_component
from spacy.training import Corpus
from wasabi import msg

from spacy_seq2seq.search import SearchSettings


def main(
    model: str = typer.Argument(..., help="A trained pipeline: a directory or package"),
    data_path: Path = typer.Argument(..., exists=True, dir_okay=False),
    output_path: Path = typer.Argument(..., dir_okay=False),
    limit: int = typer.Option(0, help="Score the first N docs (0: all)"),
    batch_size: int = typer.Option(256, help="Docs per decoding batch"),
    gpu_id: int = typer.Option(-1, help="GPU id, or -1 for the CPU"),
    search: List[str] = typer.Option([], help="A decoding setting, KEY=VALUE"),
) -> None:
    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)
    nlp = spacy.load(model)
    component = seq2seq_component(nlp)
    component.search = with_settings(component.search, search)
    examples = list(Corpus(data_path, limit=limit)(nlp))
    if not examples:
        msg.fail(f"No docs in {data_path}", exits=1)
    start = time.perf_counter()
    scores = nlp.evaluate(examples, batch_size=batch_size)
    seconds = time.perf_counter() - start
    metrics = {
        "model": model,
        "search": dataclasses.asdict(component.search),
        "data": str(data_path),
        "docs": len(examples),
        "docs_per_second": len(examples) / seconds,
        "scores": {
            key: value
            for key, value in scores.items()
            # The tokenizer's scores are 1.0 by construction: the predicted
            # docs are tokenized from the reference texts.
            if isinstance(value, float)
            and not key.startswith("token_")
            and key != "speed"
        },
    }
    output_path.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(output_path, metrics)
    rows = [(key, f"{value:.4f}") for key, value in metrics["scores"].items()]
    msg.table(rows, header=("score", "value"), divider=True)
    msg.good(
        f"{len(examples):,} docs at {metrics['docs_per_second']:.1f} docs/s; "
        f"saved to {output_path}"
    )


def with_settings(settings: SearchSettings, assignments: List[str]) -> SearchSettings:
    """The settings with each KEY=VALUE assignment applied, the value read as
    the type of the setting it replaces."""
    types = get_type_hints(SearchSettings)
    changes = {}
    for assignment in assignments:
        key, _, value = assignment.partition("=")
        if key not in types or not value:
            msg.fail(
                f"Can't read the decoding setting '{assignment}': expected KEY=VALUE "
                f"with KEY one of {', '.join(types)}",
                exits=1,
            )
        try:
            changes[key] = types[key](value)
        except ValueError:
            msg.fail(f"{key} must be a {types[key].__name__}, not '{value}'", exits=1)
    changed = dataclasses.replace(settings, **changes)
    try:
        changed.validate()
    except ValueError as e:
        msg.fail(str(e), exits=1)
    return changed


if __name__ == "__main__":
    typer.run(main)
