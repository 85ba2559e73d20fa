"""Write two responders' replies to the same conversations side by side, for
reading: each pair's context, the start of its document section, the
reference reply and both replies, with each reply's knowledge F1 (unigram
F1 against the section).

    python scripts/compare_replies.py training/grounded/model-last \
        training/ungrounded/model-last corpus/grounded/test.jsonl.gz \
        replies.md --limit 30 --every 400

Reads the JSONL dialogues with their "document" field (scripts/
convert_cmu_dog.py --documents), one pair every --every records (so the
pairs come from many conversations and movies), decodes with each
pipeline's own decoding and writes a Markdown file.
"""

from pathlib import Path

import typer
from wasabi import msg

from spacy_seq2seq.grounding import DOCUMENT_EXTENSION, get_document
from spacy_seq2seq.pipeline import load_pipeline
from spacy_seq2seq.readers import create_dialogue_reader
from spacy_seq2seq.scorers import unigram_f1

# Words of the document section shown beside a pair.
SHOWN_DOCUMENT_WORDS = 40


def main(
    first: str = typer.Argument(..., help="A pipeline with a responder"),
    second: str = typer.Argument(..., help="The pipeline to compare it with"),
    data_path: Path = typer.Argument(..., exists=True, dir_okay=False),
    output_path: Path = typer.Argument(..., dir_okay=False),
    limit: int = typer.Option(30, help="Pairs to write"),
    every: int = typer.Option(400, help="Take one pair every N records"),
) -> None:
    pipelines = [load_pipeline(first), load_pipeline(second)]
    read = create_dialogue_reader(data_path, document_field=DOCUMENT_EXTENSION)
    examples = [eg for i, eg in enumerate(read(pipelines[0])) if i % every == 0]
    examples = examples[:limit]
    if not examples:
        msg.fail(f"No pairs in {data_path}", exits=1)
    replies = []
    for nlp in pipelines:
        docs = [nlp.make_doc(eg.predicted.text) for eg in examples]
        for doc, eg in zip(docs, examples):
            doc._.set(DOCUMENT_EXTENSION, get_document(eg.predicted))
        replies.append([doc._.response for doc in nlp.pipe(docs)])
    lines = [f"# Replies: A = {first}, B = {second}", ""]
    for i, eg in enumerate(examples):
        document = get_document(eg.reference) or ""
        shown = " ".join(document.split()[:SHOWN_DOCUMENT_WORDS])
        lines.append(f"## {i + 1}")
        lines.append("")
        for turn in eg.predicted.text.split("\n"):
            lines.append(f"> {turn}")
        lines.append("")
        lines.append(f"- document: {shown} ...")
        lines.append(f"- reference: {eg.reference._.response}")
        for name, side in zip("AB", replies):
            f1 = unigram_f1(side[i], document)
            lines.append(f"- {name} (knowledge F1 {100 * f1:.1f}): {side[i]}")
        lines.append("")
    output_path.write_text("\n".join(lines), encoding="utf8")
    msg.good(f"Wrote {len(examples)} pairs to {output_path}")


if __name__ == "__main__":
    typer.run(main)
