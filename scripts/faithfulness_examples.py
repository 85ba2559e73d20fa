"""Headlines of one trained summarizer with and without unfaithful_penalty,
side by side, with each one's unfaithful content words: the texts where the
penalty changed the headline, for reading.

    python scripts/faithfulness_examples.py training/summarizer/model-best \
        ../shared/data/reuters21578_headlines/dev.jsonl.gz --penalty 2 --limit 200
"""

from pathlib import Path

import typer
from wasabi import msg

from spacy_seq2seq.faithfulness import content_words
from spacy_seq2seq.model.decoding import changed_decoding
from spacy_seq2seq.pipeline import find_component, load_pipeline
from spacy_seq2seq.research.experiments import read_split


def unfaithful(headline: str, source: str) -> str:
    found = set(content_words(source))
    return ", ".join(w for w in content_words(headline) if w not in found) or "-"


def main(
    model: str = typer.Argument(..., help="A trained summarizer pipeline"),
    data_path: Path = typer.Argument(..., exists=True, dir_okay=False),
    penalty: float = typer.Option(2.0, help="The unfaithful_penalty to compare"),
    limit: int = typer.Option(200, help="Read the first N docs"),
    show: int = typer.Option(12, help="Print at most N changed headlines"),
) -> None:
    nlp = load_pipeline(model)
    component = find_component(nlp, None)
    examples = read_split(nlp, data_path, component, limit=limit)
    texts = [eg.reference.text for eg in examples]
    plain = [doc._.summary for doc in nlp.pipe(texts)]
    penalised = changed_decoding(component.decoding, unfaithful_penalty=penalty)
    with component.using_decoding(penalised):
        faithful = [doc._.summary for doc in nlp.pipe(texts)]
    changed = [i for i, (a, b) in enumerate(zip(plain, faithful)) if a != b]
    msg.info(f"penalty {penalty}: {len(changed)} of {len(texts)} headlines change")
    for i in changed[:show]:
        reference = examples[i].reference._.summary
        print(f"\nsource:    {texts[i]}\nreference: {reference}")
        print(f"plain:     {plain[i]}   [unfaithful: {unfaithful(plain[i], texts[i])}]")
        print(
            f"penalised: {faithful[i]}   "
            f"[unfaithful: {unfaithful(faithful[i], texts[i])}]"
        )


if __name__ == "__main__":
    typer.run(main)
