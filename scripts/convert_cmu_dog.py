"""Convert the CMU Document Grounded Conversations archive to context ->
response pairs.

    python scripts/convert_cmu_dog.py \
        assets/datasets-CMU_DoG-master.tar.gz corpus/cmu_dog \
        [--max-context-turns 3] [--max-context-tokens 96] [--max-response-tokens 64] \
        [--documents]

Reads the conversations straight from the tar.gz of the upstream repository
(festvox/datasets-CMU_DoG: members */Conversations/{train,valid,test}/*.json)
and writes OUTPUT_DIR/{train,dev,test}.jsonl.gz (valid -> dev) and the same
pairs as OUTPUT_DIR/{train,dev,test}.spacy, as scripts/corpus.py does.

Conversion rules (see ../shared/data/cmu_dog/SOURCE.md):
- Conversations are read in the order of their file names within a split.
- In a conversation's `history`, each message's whitespace is collapsed
  (split on whitespace, joined by one space) and empty messages are dropped;
  consecutive messages by the same `uid` are joined by a space into one turn,
  so that the turns alternate between the two workers.
- Tokens are whitespace tokens (len(text.split())).
- Every turn after the first is a response. Its context is the turns before
  it, oldest first: the directly preceding turn, then older turns added while
  the context has fewer than --max-context-turns turns and stays within
  --max-context-tokens tokens (so the oldest turns are dropped first, and the
  context is always a run of consecutive turns).
- A pair is skipped when its response has more than --max-response-tokens
  tokens or its preceding turn alone more than --max-context-tokens tokens;
  the skipped turn still serves as context for the following pairs.
- Records are {"context": [turn, ...], "response": str}.
- With --documents, each record also has "document": the section of the
  conversation's movie document (WikiData/*.json, found by its
  `wikiDocumentIdx`) that was on screen when the response was written (the
  `docIdx` of the response turn's first message). Section 0 (the movie's
  facts: name, year, director, genre, ratings, cast, introduction,
  critical response) is written as "Label: value." sentences, the facts
  chats ask about first, as a responder reading its first tokens sees them;
  sections 1-3 (the plot, scene by scene) are their text, whitespace
  collapsed.

On the archive in ../shared/raw these rules give ../shared/data/cmu_dog byte
for byte without --documents (tests/test_convert.py).
"""

import json
import tarfile
import zlib
from functools import partial
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import typer
from wasabi import msg

from corpus import ASSETS_HINT, write_split
from spacy_seq2seq.grounding import DOCUMENT_EXTENSION as DOCUMENT_FIELD
from spacy_seq2seq.readers import create_dialogue_reader

# The archive's split folders and the names of the splits written.
SPLITS = {"train": "train", "valid": "dev", "test": "test"}

Conversation = Dict[str, Any]
# A movie's document: its section texts by docIdx (0-3).
Document = List[str]

# Section 0's fields in the order they are written, with their labels.
FACT_FIELDS = (
    ("movieName", "Movie"),
    ("year", "Year"),
    ("director", "Director"),
    ("genre", "Genre"),
    ("rating", "Rating"),
    ("cast", "Cast"),
    ("introduction", "Introduction"),
    ("critical_response", "Critical response"),
)
N_SECTIONS = 4


def split_of_member(name: str) -> Tuple[str, str]:
    """The split folder and file name of a member
    [ROOT/]Conversations/SPLIT/FILE.json, or ("", "") for any other member."""
    parts = name.split("/")
    if (
        len(parts) >= 3
        and parts[-3] == "Conversations"
        and parts[-2] in SPLITS
        and parts[-1].endswith(".json")
    ):
        return parts[-2], parts[-1]
    return "", ""


def load_conversation(data: bytes, member: str) -> Conversation:
    """Parse a conversation file, checking that it has a usable `history`:
    a list of messages with a string `text` and `uid`."""
    try:
        conversation = json.loads(data.decode("utf8"))
    except ValueError as e:  # also UnicodeDecodeError
        msg.fail(f"Conversation file {member} is not valid JSON: {e}", exits=1)
    if not isinstance(conversation, dict) or "history" not in conversation:
        msg.fail(f"Conversation file {member} has no 'history'", exits=1)
    history = conversation["history"]
    if not isinstance(history, list) or not all(
        isinstance(message, dict)
        and isinstance(message.get("text"), str)
        and isinstance(message.get("uid"), str)
        for message in history
    ):
        msg.fail(
            f"The 'history' of conversation file {member} should be a list of "
            "messages with a string 'text' and 'uid'",
            exits=1,
        )
    return conversation


def is_document_member(name: str) -> bool:
    """Whether a member is a movie document [ROOT/]WikiData/FILE.json."""
    parts = name.split("/")
    return len(parts) >= 2 and parts[-2] == "WikiData" and parts[-1].endswith(".json")


def section_text(value: Any) -> str:
    """A section's text: a plot section's string, whitespace collapsed."""
    return collapse_whitespace(value) if isinstance(value, str) else ""


def facts_text(facts: Any) -> str:
    """Section 0, the movie's facts, as "Label: value." sentences (lists
    joined by " "), the fields in FACT_FIELDS order; absent ones skipped."""
    if not isinstance(facts, dict):
        return ""
    sentences = []
    for field, label in FACT_FIELDS:
        value = facts.get(field)
        items = value if isinstance(value, list) else [value]
        text = " ".join(collapse_whitespace(str(v)) for v in items if v is not None)
        if text:
            end = "" if text.endswith((".", "!", "?")) else "."
            sentences.append(f"{label}: {text}{end}")
    return " ".join(sentences)


def load_document(data: bytes, member: str) -> Tuple[int, Document]:
    """A movie document's wikiDocumentIdx and its four section texts."""
    try:
        document = json.loads(data.decode("utf8"))
    except ValueError as e:
        msg.fail(f"Document file {member} is not valid JSON: {e}", exits=1)
    index = document.get("wikiDocumentIdx") if isinstance(document, dict) else None
    if isinstance(index, bool) or not isinstance(index, int):
        msg.fail(f"Document file {member} has no integer 'wikiDocumentIdx'", exits=1)
    sections = [facts_text(document.get("0"))]
    sections += [section_text(document.get(str(i))) for i in range(1, N_SECTIONS)]
    return index, sections


def read_conversations(archive: Path) -> Dict[str, List[Conversation]]:
    """The conversations of each split folder (train, valid, test) of the
    archive, in the order of their file names."""
    return read_archive(archive, with_documents=False)[0]


def read_archive(
    archive: Path, with_documents: bool = True
) -> Tuple[Dict[str, List[Conversation]], Dict[int, Document]]:
    """The conversations of each split folder (train, valid, test) of the
    archive, in the order of their file names, and with `with_documents` the
    movie documents by their wikiDocumentIdx (else none)."""
    if not archive.is_file():
        msg.fail(f"Can't find the archive {archive}", ASSETS_HINT, exits=1)
    found: Dict[str, List[Tuple[str, str, Conversation]]] = {s: [] for s in SPLITS}
    documents: Dict[int, Document] = {}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:  # read sequentially: no seeking in the gzip
                if (
                    with_documents
                    and member.isfile()
                    and is_document_member(member.name)
                ):
                    file_ = tar.extractfile(member)
                    assert file_ is not None
                    index, sections = load_document(file_.read(), member.name)
                    documents[index] = sections
                    continue
                split, file_name = split_of_member(member.name)
                if not split or not member.isfile():
                    continue
                file_ = tar.extractfile(member)
                assert file_ is not None  # a regular file
                conversation = load_conversation(file_.read(), member.name)
                found[split].append((file_name, member.name, conversation))
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        msg.fail(f"Can't read {archive} as a tar.gz archive: {e}", exits=1)
    missing = [split for split, convs in found.items() if not convs]
    if missing:
        folders = ", ".join(f"Conversations/{split}/" for split in missing)
        msg.fail(
            f"The archive {archive} has no conversation files (*.json) in "
            f"{folders}: expected the layout of festvox/datasets-CMU_DoG",
            exits=1,
        )
    conversations = {
        split: [c for _, _, c in sorted(convs, key=lambda entry: entry[:2])]
        for split, convs in found.items()
    }
    return conversations, documents


def collapse_whitespace(text: str) -> str:
    return " ".join(text.split())


def count_tokens(text: str) -> int:
    """Whitespace tokens."""
    return len(text.split())


def merge_turns(history: List[Dict[str, Any]]) -> List[str]:
    """The turns of a conversation: messages with their whitespace collapsed,
    empty ones dropped, consecutive ones by the same uid joined by a space."""
    return merge_turns_with_sections(history)[0]


def merge_turns_with_sections(
    history: List[Dict[str, Any]],
) -> Tuple[List[str], List[Any]]:
    """The turns of merge_turns, and the docIdx of each turn's first message
    (None where it has none)."""
    turns: List[str] = []
    speakers: List[str] = []
    sections: List[Any] = []
    for message in history:
        text = collapse_whitespace(message["text"])
        if not text:
            continue
        if speakers and speakers[-1] == message["uid"]:
            turns[-1] = f"{turns[-1]} {text}"
        else:
            turns.append(text)
            speakers.append(message["uid"])
            sections.append(message.get("docIdx"))
    return turns, sections


def make_pairs(
    turns: List[str],
    max_context_turns: int = 3,
    max_context_tokens: int = 96,
    max_response_tokens: int = 64,
    documents: Optional[List[str]] = None,
) -> Iterator[Dict[str, Any]]:
    """A {"context", "response"} record for each turn after the first, the
    context limited to the last turns that fit, the preceding turn always
    kept; pairs whose response or preceding turn is too long are skipped.
    With `documents` (each turn's document text), records have "document":
    the response turn's."""
    for i in range(1, len(turns)):
        response = turns[i]
        if count_tokens(response) > max_response_tokens:
            continue
        n_tokens = count_tokens(turns[i - 1])
        if n_tokens > max_context_tokens:
            continue
        start = i - 1
        while start > 0 and i - start < max_context_turns:
            n_older = count_tokens(turns[start - 1])
            if n_tokens + n_older > max_context_tokens:
                break
            n_tokens += n_older
            start -= 1
        record = {"context": turns[start:i], "response": response}
        if documents is not None:
            record["document"] = documents[i]
        yield record


def turn_documents(
    conversation: Conversation, documents: Dict[int, Document], n_turns: int
) -> List[str]:
    """The document section on screen at each turn ("" when the turn has no
    valid docIdx); exits with an error if the conversation's movie document
    is not in the archive."""
    index = conversation.get("wikiDocumentIdx")
    if index not in documents:
        msg.fail(
            f"A conversation's wikiDocumentIdx {index!r} has no document in "
            "the archive's WikiData/",
            exits=1,
        )
    sections = documents[index]
    _, turn_sections = merge_turns_with_sections(conversation["history"])
    return [
        sections[i] if isinstance(i, int) and 0 <= i < len(sections) else ""
        for i in turn_sections[:n_turns]
    ]


def main(
    archive: Path = typer.Argument(
        ..., help="datasets-CMU_DoG-master.tar.gz, the upstream repository"
    ),
    output_dir: Path = typer.Argument(..., file_okay=False),
    max_context_turns: int = typer.Option(3, min=1, help="Turns a context keeps"),
    max_context_tokens: int = typer.Option(
        96, min=1, help="Whitespace tokens a context keeps"
    ),
    max_response_tokens: int = typer.Option(
        64, min=1, help="Longer responses are skipped"
    ),
    documents: bool = typer.Option(
        False, help="Write each response's document section ('document')"
    ),
) -> None:
    splits = convert(
        archive, max_context_turns, max_context_tokens, max_response_tokens, documents
    )
    document_field = DOCUMENT_FIELD if documents else None
    for name, records in splits.items():
        write_split(
            records,
            output_dir,
            name,
            partial(create_dialogue_reader, document_field=document_field),
        )


def convert(
    archive: Path,
    max_context_turns: int = 3,
    max_context_tokens: int = 96,
    max_response_tokens: int = 64,
    documents: bool = False,
) -> Dict[str, List[Dict[str, Any]]]:
    """The records of each split (train, dev, test) of the archive, with
    each response's document section if `documents`."""
    conversations, movie_documents = read_archive(archive, documents)
    if documents and not movie_documents:
        msg.fail(f"The archive {archive} has no documents (WikiData/*.json)", exits=1)
    splits = {}
    for split, name in SPLITS.items():
        msg.info(f"{split}: {len(conversations[split]):,} conversations")
        splits[name] = []
        for conversation in conversations[split]:
            turns = merge_turns(conversation["history"])
            splits[name].extend(
                make_pairs(
                    turns,
                    max_context_turns=max_context_turns,
                    max_context_tokens=max_context_tokens,
                    max_response_tokens=max_response_tokens,
                    documents=(
                        turn_documents(conversation, movie_documents, len(turns))
                        if documents
                        else None
                    ),
                )
            )
    return splits


if __name__ == "__main__":
    typer.run(main)
