"""Write attention heatmaps of a trained pipeline for sample docs.

    python scripts/render_attention.py training/summarizer/model-best \
        ../shared/data/reuters21578_headlines/test.jsonl.gz attention --limit 10

Reads the texts (the `text` field, or a dialogue's `context` turns) of the
first --limit JSONL records, generates with the pipeline's seq2seq component
storing its attention, and writes one HTML heatmap per doc and an index.html
to the output folder.
"""

import html
from pathlib import Path

import spacy
import typer
from benchmarking import seq2seq_component
from wasabi import msg

from spacy_seq2seq import render_attention
from spacy_seq2seq.readers import create_dialogue_reader, create_jsonl_reader
from spacy_seq2seq.responder import ResponderComponent


def main(
    model: str = typer.Argument(..., help="A trained pipeline: a directory or package"),
    input_path: Path = typer.Argument(..., exists=True, dir_okay=False),
    output_dir: Path = typer.Argument(..., file_okay=False),
    limit: int = typer.Option(10, help="Docs to render"),
) -> None:
    nlp = spacy.load(model)
    component = seq2seq_component(nlp)
    component.store_attention = True
    if isinstance(component, ResponderComponent):
        read = create_dialogue_reader(
            input_path, turn_separator=component.turn_separator, limit=limit
        )
    else:
        read = create_jsonl_reader(input_path, limit=limit)
    output_dir.mkdir(parents=True, exist_ok=True)
    links = []
    for i, doc in enumerate(nlp.pipe(eg.predicted.text for eg in read(nlp))):
        if doc._.get(component.attention_field) is None:
            continue
        name = f"{i:03d}.html"
        markup = render_attention(doc, field=component.target_field, jupyter=False)
        (output_dir / name).write_text(markup, encoding="utf8")
        generated = html.escape(doc._.get(component.target_field))
        links.append(f'<li><a href="{name}">{generated}</a></li>')
    (output_dir / "index.html").write_text(
        f"<!DOCTYPE html><meta charset='utf-8'><ol>{''.join(links)}</ol>",
        encoding="utf8",
    )
    msg.good(f"Wrote {len(links)} heatmaps to {output_dir / 'index.html'}")


if __name__ == "__main__":
    typer.run(main)
