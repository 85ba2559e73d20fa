"""The knowledge F1 of the people's replies in a grounded dialogue split: the
mean unigram F1 of each pair's reference reply against its document section,
as spacy-seq2seq.ResponseScorer.v3 scores a model's replies (a yardstick
for those scores).

    python scripts/knowledge_f1.py corpus/grounded/test.jsonl.gz [--limit 500]
"""

from pathlib import Path

import typer
from wasabi import msg

from spacy_seq2seq.readers import read_records
from spacy_seq2seq.scorers import unigram_f1


def main(
    data_path: Path = typer.Argument(..., exists=True, dir_okay=False),
    limit: int = typer.Option(0, help="The first N pairs (0: all)"),
) -> None:
    values = []
    for n, (where, record) in enumerate(read_records(data_path)):
        if limit and n >= limit:
            break
        document = record.get("document")
        if not isinstance(document, str):
            msg.fail(
                f"{where} has no string 'document' (convert with --documents)", exits=1
            )
        if document.strip():
            values.append(unigram_f1(record["response"], document))
    if not values:
        msg.fail(f"No pair in {data_path} has a document", exits=1)
    msg.info(
        f"Knowledge F1 of the reference replies: {100 * sum(values) / len(values):.2f} "
        f"({len(values):,} pairs with a document)"
    )


if __name__ == "__main__":
    typer.run(main)
