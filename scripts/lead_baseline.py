"""Score the extractive lead baseline of a summarization split: the first N
tokens of each text (or its first sentence) taken as its summary, with the
same scores as a model's (ROUGE-1/2/L F1, stemmed, and faithfulness). The
yardstick a model must beat: a model below it writes worse than copying.

    python scripts/lead_baseline.py ../shared/data/reuters21578_headlines/test.jsonl.gz --tokens 10
    python scripts/lead_baseline.py corpus/reuters_lead/test.jsonl.gz --tokens 0

`--tokens 0` takes the first sentence (spaCy's rule-based sentencizer).
"""

from pathlib import Path

import spacy
import typer
from wasabi import msg

from spacy_seq2seq.readers import create_jsonl_reader
from spacy_seq2seq.scorers import score_summaries


def main(
    data_path: Path = typer.Argument(..., exists=True, dir_okay=False),
    tokens: int = typer.Option(10, min=0, help="Tokens taken (0: the first sentence)"),
    limit: int = typer.Option(0, min=0, help="The first N pairs (0: all)"),
) -> None:
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    examples = list(create_jsonl_reader(data_path, limit=limit)(nlp))
    if not examples:
        msg.fail(f"No pairs in {data_path}", exits=1)
    for eg in examples:
        doc = nlp(eg.predicted.text)
        lead = next(doc.sents) if tokens == 0 else doc[:tokens]
        eg.predicted._.summary = lead.text
    scores = score_summaries(examples)
    kind = "the first sentence" if tokens == 0 else f"the first {tokens} tokens"
    msg.info(f"Lead baseline ({kind}) on {len(examples):,} pairs of {data_path}:")
    for key, value in scores.items():
        print(f"{key}\t{100 * value:.2f}" if value is not None else f"{key}\t-")


if __name__ == "__main__":
    typer.run(main)
