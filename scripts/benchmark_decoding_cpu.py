"""Beam decoding speed of saved pipelines in CPU time: docs per CPU second.

    OMP_NUM_THREADS=1 python scripts/benchmark_decoding_cpu.py \
        training/summarizer_200 training/summarizer_transformer_200 --limit 576

On a machine shared with other jobs, docs per wall-clock second measure the
neighbours as much as the model; one thread's process time does not. Each
pipeline decodes the same first --limit texts of --texts (after a warm-up of
32) with its beam search set to --beam-size.
"""

import gzip
import json
import time
from pathlib import Path
from typing import List

import torch
import typer

from spacy_seq2seq.model.decoding import changed_decoding
from spacy_seq2seq.pipeline import find_component, load_pipeline
from spacy_seq2seq.research.experiments import data_dir

DEV = data_dir("reuters21578_headlines") / "dev.jsonl.gz"


def main(
    models: List[Path] = typer.Argument(..., exists=True, file_okay=False),
    texts: Path = typer.Option(DEV, help="JSONL(.gz) with a text field"),
    field: str = typer.Option("text", help="The field to decode"),
    limit: int = typer.Option(576, help="Texts to decode"),
    beam_size: int = typer.Option(4, help="Beam size"),
) -> None:
    torch.set_num_threads(1)
    with gzip.open(texts, "rt") if texts.suffix == ".gz" else open(texts) as lines:
        records = [json.loads(line)[field] for line, _ in zip(lines, range(limit))]
    figures = {}
    for path in models:
        nlp = load_pipeline(path)
        component = find_component(nlp)
        component.decoding = changed_decoding(component.decoding, beam_size=beam_size)
        list(nlp.pipe(records[:32]))
        start = time.process_time()
        list(nlp.pipe(records))
        figures[str(path)] = round(len(records) / (time.process_time() - start), 1)
    print(
        json.dumps(
            {"beam_size": beam_size, "docs": len(records), "docs_per_cpu_s": figures}
        )
    )


if __name__ == "__main__":
    typer.run(main)
