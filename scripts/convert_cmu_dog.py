"""Convert the CMU Document Grounded Conversations archive to context ->
response pairs.

    python scripts/convert_cmu_dog.py \
        assets/datasets-CMU_DoG-master.tar.gz corpus/cmu_dog \
        [--max-context-turns 3] [--max-context-tokens 96] [--max-response-tokens 64]

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

On the archive in ../shared/raw these rules give ../shared/data/cmu_dog byte
for byte (tests/test_convert.py).
"""

import json
import tarfile
import zlib
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import typer
from corpus import ASSETS_HINT, write_split
from wasabi import msg

from spacy_seq2seq.readers import create_dialogue_reader

# The archive's split folders and the names of the splits written.
SPLITS = {"train": "train", "valid": "dev", "test": "test"}

Conversation = Dict[str, Any]


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


def read_conversations(archive: Path) -> Dict[str, List[Conversation]]:
    """The conversations of each split folder (train, valid, test) of the
    archive, in the order of their file names."""
    if not archive.is_file():
        msg.fail(f"Can't find the archive {archive}", ASSETS_HINT, exits=1)
    found: Dict[str, List[Tuple[str, str, Conversation]]] = {s: [] for s in SPLITS}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:  # read sequentially: no seeking in the gzip
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
    return {
        split: [c for _, _, c in sorted(convs, key=lambda entry: entry[:2])]
        for split, convs in found.items()
    }


def collapse_whitespace(text: str) -> str:
    return " ".join(text.split())


def count_tokens(text: str) -> int:
    """Whitespace tokens."""
    return len(text.split())


def merge_turns(history: List[Dict[str, Any]]) -> List[str]:
    """The turns of a conversation: messages with their whitespace collapsed,
    empty ones dropped, consecutive ones by the same uid joined by a space."""
    turns: List[str] = []
    speakers: List[str] = []
    for message in history:
        text = collapse_whitespace(message["text"])
        if not text:
            continue
        if speakers and speakers[-1] == message["uid"]:
            turns[-1] = f"{turns[-1]} {text}"
        else:
            turns.append(text)
            speakers.append(message["uid"])
    return turns


def make_pairs(
    turns: List[str],
    max_context_turns: int = 3,
    max_context_tokens: int = 96,
    max_response_tokens: int = 64,
) -> Iterator[Dict[str, Any]]:
    """A {"context", "response"} record for each turn after the first, the
    context limited to the last turns that fit, the preceding turn always
    kept; pairs whose response or preceding turn is too long are skipped."""
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
        yield {"context": turns[start:i], "response": response}


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
) -> None:
    splits = convert(
        archive, max_context_turns, max_context_tokens, max_response_tokens
    )
    for name, records in splits.items():
        write_split(records, output_dir, name, create_dialogue_reader)


def convert(
    archive: Path,
    max_context_turns: int = 3,
    max_context_tokens: int = 96,
    max_response_tokens: int = 64,
) -> Dict[str, List[Dict[str, Any]]]:
    """The records of each split (train, dev, test) of the archive."""
    conversations = read_conversations(archive)
    splits = {}
    for split, name in SPLITS.items():
        msg.info(f"{split}: {len(conversations[split]):,} conversations")
        splits[name] = [
            record
            for conversation in conversations[split]
            for record in make_pairs(
                merge_turns(conversation["history"]),
                max_context_turns=max_context_turns,
                max_context_tokens=max_context_tokens,
                max_response_tokens=max_response_tokens,
            )
        ]
    return splits


if __name__ == "__main__":
    typer.run(main)
