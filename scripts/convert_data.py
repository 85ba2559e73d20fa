"""Convert the training data of a workflow into the project's corpora.

    python scripts/convert_data.py summarizer assets/reuters21578.tar.gz corpus/reuters_headlines
    python scripts/convert_data.py summarizer my_pairs.csv corpus/my_headlines \\
        --source-field article --target-field title
    python scripts/convert_data.py responder my_chats.tsv corpus/my_responder \\
        --context-field history --response-field reply --turn-separator "|||"
    python scripts/convert_data.py responder assets/datasets-CMU_DoG-master.tar.gz \
        corpus/responder --document-field document

DATA is the raw Reuters-21578 or CMU_DoG archive (converted by
convert_reuters.py / convert_cmu_dog.py), or your own data: a JSONL, CSV or
TSV file (gzipped or not) split into train/dev/test with --seed, or a folder
with your own train, dev and test files. Writes OUTPUT_DIR/{train,dev,test}
as .jsonl.gz (read by the training configs) and .spacy (read by evaluate).
"""

from enum import Enum
from functools import partial
from pathlib import Path
from typing import Optional

import convert_cmu_dog
import convert_reuters
import typer
from wasabi import msg

from corpus import write_split
from spacy_seq2seq.grounding import DOCUMENT_EXTENSION
from spacy_seq2seq.readers import create_dialogue_reader, create_jsonl_reader
from spacy_seq2seq.user_data import read_dialogues, read_pairs, read_splits

# The project's own corpus of each component and its package's name.
PROJECT_CORPORA = {
    "summarizer": ("reuters21578.tar.gz", "reuters_headlines"),
    "responder": ("datasets-CMU_DoG-master.tar.gz", "cmu_dog_responder"),
}


class Component(str, Enum):
    summarizer = "summarizer"
    responder = "responder"


def main(
    component: Component = typer.Argument(..., help="summarizer or responder"),
    data: Path = typer.Argument(..., help="An archive, a file or a folder"),
    output_dir: Path = typer.Argument(..., file_okay=False),
    source_field: str = typer.Option("text", help="summarizer: the source's field"),
    target_field: str = typer.Option("summary", help="summarizer: the target's"),
    context_field: str = typer.Option("context", help="responder: the turns' field"),
    response_field: str = typer.Option("response", help="responder: the reply's"),
    turn_separator: str = typer.Option(
        "|||", help="responder: what joins the turns in a CSV or TSV cell"
    ),
    document_field: str = typer.Option(
        "",
        help="responder: the document's field or column (a grounded responder "
        "reads it); with the CMU_DoG archive, any name writes each response's "
        "document section as 'document'. Empty: no documents",
    ),
    dev_share: float = typer.Option(0.1, help="One file: the share for dev"),
    test_share: float = typer.Option(0.1, help="One file: the share for test"),
    seed: int = typer.Option(0, help="One file: the seed of the split"),
    package_name: Optional[str] = typer.Option(
        None, help="The package trained on it: your own data needs its own name"
    ),
) -> None:
    summarizer = component == Component.summarizer
    corpus, default_name = PROJECT_CORPORA[Component(component).value]
    if package_name == default_name and data.name != corpus:
        # its folders and wheel would be the project corpus's, and overwrite them
        flag = "package_name" if summarizer else "responder_package_name"
        msg.fail(
            f"{data} is your own data: give its package a name of its own, e.g. "
            f"--vars.{flag} my_{'headlines' if summarizer else 'responder'}",
            f"The run's folders (corpus/NAME, training/NAME, metrics/NAME.json, "
            f"samples/NAME) and its wheel are named after the package; with "
            f"'{default_name}' they would overwrite those of the {corpus} run.",
            exits=1,
        )
    documents = bool(document_field) and not summarizer
    make_reader = (
        create_jsonl_reader
        if summarizer
        else partial(
            create_dialogue_reader,
            document_field=DOCUMENT_EXTENSION if documents else None,
        )
    )
    if data.name.endswith(".tar.gz"):
        if summarizer:
            splits = convert_reuters.convert(data)
        else:
            splits = convert_cmu_dog.convert(data, documents=documents)
    else:
        if summarizer:
            read = lambda path: read_pairs(path, source_field, target_field)
        else:
            read = lambda path: read_dialogues(
                path,
                context_field,
                response_field,
                turn_separator,
                document_field or None,
            )
        try:
            splits = read_splits(data, read, dev_share, test_share, seed)
        except (ValueError, UnicodeDecodeError) as e:
            msg.fail(f"Can't convert {data}", str(e), exits=1)
    for split, records in splits.items():
        write_split(records, output_dir, split, make_reader)


if __name__ == "__main__":
    typer.run(main)
