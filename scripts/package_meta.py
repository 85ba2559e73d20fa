"""Write the meta.json for `spacy package`: the pipeline's description and
sources with its test scores.

    python scripts/package_meta.py configs/meta/reuters_headlines.json \
        metrics/summarizer.json metrics/summarizer_meta.json
    spacy package training/summarizer/model-best packages \
        --meta-path metrics/summarizer_meta.json --build wheel

The scores of scripts/evaluate.py become the package's "performance" (the
table in its generated README), replacing the dev scores of training.
spaCy's README shows every performance value times 100, so the perplexity,
which is not a fraction, goes into the description instead.
"""

from pathlib import Path

import srsly
import typer


def main(
    meta_path: Path = typer.Argument(..., exists=True, dir_okay=False),
    metrics_path: Path = typer.Argument(..., exists=True, dir_okay=False),
    output_path: Path = typer.Argument(..., dir_okay=False),
) -> None:
    meta = srsly.read_json(meta_path)
    metrics = srsly.read_json(metrics_path)
    scores = metrics["scores"]
    fractions = {k: v for k, v in scores.items() if not k.endswith("_perplexity")}
    perplexities = [f"{k} {v:.1f}" for k, v in scores.items() if k not in fractions]
    tested = f"Scored on {metrics['docs']:,} docs of {Path(metrics['data']).name}"
    if perplexities:
        tested += f"; {', '.join(perplexities)}"
    meta["description"] = f"{meta.get('description', '')} {tested}.".strip()
    meta["performance"] = fractions
    output_path.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(output_path, meta)


if __name__ == "__main__":
    typer.run(main)
