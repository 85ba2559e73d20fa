"""Train every model family variant (spacy_seq2seq/variants.py) for the same wall-clock budget and
write a table of what each gives to docs/ablation.md.

    python scripts/ablation.py --budget 240

Each variant trains with spacy_seq2seq.experiments' loop (dev evaluations
included in the budget, the best dev checkpoint kept), then decodes the
Reuters test split with beam search. The table gives ROUGE-1/2/L F1 on the
test split, overall and by source-length quartile, training source tokens
per second, parameters and decoding speed. The file is rewritten after
each variant, so a stopped run keeps what it finished.
"""

import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

import numpy
import spacy
import torch
import typer
from spacy.language import Language
from spacy.training import Example
from wasabi import msg

from spacy_seq2seq.decoding import changed_decoding
from spacy_seq2seq.experiments import (
    count_parameters,
    decode_timed,
    read_split,
    seq2seq_component,
    train_for_budget,
)
from spacy_seq2seq.scorers import ROUGE_TYPES, score_rouge
from spacy_seq2seq.variants import VARIANTS

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "reuters21578_headlines"
BASE = ROOT / "configs" / "summarizer.cfg"

Row = Dict[str, Any]


def main(
    budget: float = typer.Option(240.0, help="Training seconds per variant"),
    variants: str = typer.Option("", help="Comma-separated names; empty: all"),
    eval_every: float = typer.Option(120.0, help="Seconds between dev evaluations"),
    beam_size: int = typer.Option(4, help="Beam size for decoding the test split"),
    limit_test: int = typer.Option(0, help="Decode only the first N test pairs"),
    data_dir: Path = typer.Option(DATA, help="Folder with train/dev/test.jsonl.gz"),
    output: Path = typer.Option(ROOT / "docs" / "ablation.md", help="Markdown out"),
    gpu_id: int = typer.Option(-1, help="GPU id, -1 for the CPU"),
) -> None:
    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)
    names = [n for n in variants.split(",") if n] or list(VARIANTS)
    unknown = sorted(set(names) - set(VARIANTS))
    if unknown:
        raise typer.BadParameter(f"Unknown variants {unknown}; known: {list(VARIANTS)}")
    command = "python " + " ".join(sys.argv)
    rows: List[Row] = []
    for name in names:
        msg.divider(name)
        run = train_for_budget(
            BASE,
            {
                **VARIANTS[name].overrides,
                "paths.train": str(data_dir / "train.jsonl.gz"),
                "paths.dev": str(data_dir / "dev.jsonl.gz"),
            },
            budget,
            eval_every,
        )
        rows.append(
            {
                "name": name,
                **run.figures,
                "parameters": count_parameters(seq2seq_component(run.nlp).model),
                **decode_test_split(run.nlp, data_dir, beam_size, limit_test),
            }
        )
        output.parent.mkdir(parents=True, exist_ok=True)
        text = report(rows, command, budget, beam_size, gpu_id)
        output.write_text(text, encoding="utf8")
        msg.good(f"{name}: test ROUGE-L {rows[-1]['rougeL']:.2f}; wrote {output}")


def decode_test_split(
    nlp: Language, data_dir: Path, beam_size: int, limit: int
) -> Dict[str, Any]:
    """ROUGE F1 x 100 over the test split and over each quartile of source
    length (in tokens; the edges come from the split, so every variant is
    cut alike), and decoding docs/s."""
    component = seq2seq_component(nlp)
    component.decoding = changed_decoding(component.decoding, beam_size=beam_size)
    examples = read_split(nlp, data_dir / "test.jsonl.gz", component, limit=limit)
    docs_per_s = decode_timed(nlp, examples)
    lengths = numpy.asarray([len(eg.predicted) for eg in examples])
    edges = numpy.quantile(lengths, [0.25, 0.5, 0.75])
    quartiles = numpy.searchsorted(edges, lengths, side="left")  # length <= edge
    by_quartile = [
        rouge([eg for eg, q in zip(examples, quartiles) if q == i], component)
        for i in range(4)
    ]
    return {
        **rouge(examples, component),
        "n_test": len(examples),
        "decode_docs_per_s": docs_per_s,
        "quartile_edges": edges.tolist(),
        "quartile_sizes": numpy.bincount(quartiles, minlength=4).tolist(),
        "by_quartile": by_quartile,
    }


def rouge(examples: List[Example], component) -> Dict[str, float]:
    scores = score_rouge(examples, field=component.target_field)
    return {
        key: 100 * (scores[f"{component.target_field}_{key}"] or 0.0)
        for key in ROUGE_TYPES
    }


def report(
    rows: List[Row], command: str, budget: float, beam_size: int, gpu_id: int
) -> str:
    first = rows[0]
    edges, sizes = first["quartile_edges"], first["quartile_sizes"]
    bounds = [
        f"<= {edges[0]:g}",
        f"<= {edges[1]:g}",
        f"<= {edges[2]:g}",
        f"> {edges[2]:g}",
    ]
    lines = [
        "# Ablation of the model family",
        "",
        f"Command: `{command}`",
        "",
        f"Budget: {budget:g} s of training per variant (wall clock, dev evaluations "
        f"included; the best dev checkpoint is kept), then beam-{beam_size} search "
        f"over {first['n_test']:,} Reuters test pairs.",
        "",
        f"Machine: {machine(gpu_id)}; {time.strftime('%Y-%m-%d')}.",
        "",
        "Variants: `configs/summarizer.cfg` with one choice changed by the "
        "overrides in `spacy_seq2seq/variants.py` (listed below).",
        "",
        "| variant | ROUGE-1 | ROUGE-2 | ROUGE-L | dev score | steps | "
        "train tokens/s | parameters | decode docs/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['name']} | {row['rouge1']:.2f} | {row['rouge2']:.2f} | "
            f"{row['rougeL']:.2f} | {100 * row['dev_score_best']:.2f} | "
            f"{row['steps']:,} | {row['train_source_tokens_per_s']:,} | "
            f"{row['parameters']:,} | {row['decode_docs_per_s']:,} |"
        )
    lines += [
        "",
        "## ROUGE-1 / 2 / L by source length",
        "",
        "Test pairs in quartiles of source length (spaCy tokens of the text).",
        "",
        "| variant | "
        + " | ".join(
            f"Q{i + 1}: {b} ({n:,})" for i, (b, n) in enumerate(zip(bounds, sizes))
        )
        + " |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        cells = [
            " / ".join(f"{q[key]:.1f}" for key in ROUGE_TYPES)
            for q in row["by_quartile"]
        ]
        lines.append(f"| {row['name']} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Columns: ROUGE F1 x 100 (`rouge-score`, Porter stemming); dev score: the best "
        "dev ROUGE-L seen during training; train tokens/s: source tokens per second "
        "of update time; parameters: thinc tok2vec and torch module weights.",
        "",
        "## Variants",
        "",
    ]
    lines += [
        f"- `{row['name']}`: {VARIANTS[row['name']].description}." for row in rows
    ]
    return "\n".join(lines) + "\n"


def machine(gpu_id: int) -> str:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    device = torch.cuda.get_device_name(gpu_id) if gpu_id >= 0 else "CPU"
    return (
        f"{device}; {os.cpu_count()} cores of {cpu}; torch {torch.__version__}, "
        f"spaCy {spacy.__version__}, {torch.get_num_threads()} torch threads"
    )


if __name__ == "__main__":
    typer.run(main)
