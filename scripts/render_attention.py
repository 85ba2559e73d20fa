"""Write sample outputs of a trained pipeline with their attention heatmaps.

    python scripts/render_attention.py training/summarizer/model-best \
        corpus/reuters/test.jsonl.gz samples/summarizer --limit 10

Reads the first --limit JSONL records (a `text` and its `summary`, or a
dialogue's `context` turns and its `response`, and with --document-field the
document a grounded responder reads), generates with the pipeline's
seq2seq component storing its attention, and writes one HTML heatmap per doc
and an index.html: a title naming the model, its scores (the test scores of
--metrics, as scripts/evaluate.py writes them, else the dev scores in the
pipeline's meta.json) and a table of each source, its reference and the
generated text, linked to its heatmap.
"""

import html
from pathlib import Path
from typing import Any, Dict, Optional

import srsly
import typer
from wasabi import msg

from spacy_seq2seq import render_attention
from spacy_seq2seq.pipeline import find_component, load_pipeline
from spacy_seq2seq.research.experiments import read_split


def main(
    model: str = typer.Argument(..., help="A trained pipeline: a directory or package"),
    input_path: Path = typer.Argument(..., exists=True, dir_okay=False),
    output_dir: Path = typer.Argument(..., file_okay=False),
    limit: int = typer.Option(10, help="Docs to render"),
    metrics_path: Optional[Path] = typer.Option(
        None,
        "--metrics",
        exists=True,
        dir_okay=False,
        help="scripts/evaluate.py's scores",
    ),
    document_field: Optional[str] = typer.Option(
        None, help="Dialogues: the field of the document the conversation is about"
    ),
) -> None:
    nlp = load_pipeline(model)
    component = find_component(nlp)
    component.store_attention = True
    output_dir.mkdir(parents=True, exist_ok=True)
    examples = read_split(
        nlp, input_path, component, limit=limit, document_field=document_field or None
    )
    # the predicted docs carry any document (doc._.document)
    docs = nlp.pipe(eg.predicted for eg in examples)
    rows = []
    for i, (example, doc) in enumerate(zip(examples, docs)):
        generated = html.escape(doc._.get(component.target_field))
        # An empty source gets no attention to show.
        if doc._.get(component.attention_field) is not None:
            name = f"{i:03d}.html"
            markup = render_attention(doc, field=component.target_field, jupyter=False)
            (output_dir / name).write_text(markup, encoding="utf8")
            generated = f'<a href="{name}">{generated}</a>'
        cells = (
            html.escape(doc.text).replace("\n", "<br>"),  # a dialogue's turns
            html.escape(example.reference._.get(component.target_field)),
            generated,
        )
        rows.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    field = component.target_field
    title = f"Generated {field} texts of {model}"
    (output_dir / "index.html").write_text(
        f"<!DOCTYPE html><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<h1>{html.escape(title)}</h1>"
        + model_section(model, nlp.meta, component, metrics_path)
        + f"<table><tr><th>source</th><th>reference {field}</th>"
        f"<th>generated {field} (attention)</th></tr>{''.join(rows)}</table>",
        encoding="utf8",
    )
    msg.good(f"Wrote {len(rows)} samples and heatmaps to {output_dir / 'index.html'}")


def model_section(
    model: str, meta: Dict[str, Any], component: Any, metrics_path: Optional[Path]
) -> str:
    """The model (its path or package, name and version, component and
    training updates) and its scores, as HTML."""
    name = f"{meta.get('lang', '')}_{meta.get('name', '')} {meta.get('version', '')}"
    about = (
        f"<p>Model: <code>{html.escape(model)}</code> (meta: {html.escape(name)}), "
        f"component <code>{html.escape(component.name)}</code> "
        f"({html.escape(component.kind)}, {component.n_updates:,} training updates)</p>"
    )
    if metrics_path is not None:
        metrics = srsly.read_json(metrics_path)
        scores = metrics.get("scores", {})
        source = (
            f"test scores on {metrics.get('docs', '?'):,} docs of "
            f"{html.escape(str(metrics.get('data', '?')))} ({html.escape(str(metrics_path))})"
        )
    else:
        scores = meta.get("performance", {})
        source = "dev scores from training (the pipeline's meta.json)"
    shown = {
        key: value
        for key, value in scores.items()
        if isinstance(value, (int, float)) and not isinstance(value, bool)
    }
    if not shown:
        return about + "<p>No scores: pass --metrics from scripts/evaluate.py.</p>"
    cells = "".join(
        f"<tr><td>{html.escape(key)}</td><td>{value:.4f}</td></tr>"
        for key, value in shown.items()
    )
    return about + f"<p>Scores: {source}</p><table>{cells}</table>"


if __name__ == "__main__":
    typer.run(main)
