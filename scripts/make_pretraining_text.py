"""Write the raw text for pretraining (docs/pretraining.md), leaving out
every text of the dev and test splits.

    python scripts/make_pretraining_text.py corpus/pretrain \
        --reuters assets/reuters21578.tar.gz \
        --cmu-dog assets/datasets-CMU_DoG-master.tar.gz

Writes to OUTPUT_DIR (from the archives given), gzip with mtime 0 (a re-run writes the same bytes):

- news.txt.gz: the body of every Reuters-21578 story of the training split
  (scripts/convert_reuters.py's split: not LEWISSPLIT="TEST", and not a dev
  story, md5(NEWID) % 20 == 0), stories without a headline too, cleaned and
  lowercased as convert_reuters.py cleans the headline data; one a line;
- conversations.jsonl.gz: {"turns": [...]} for every CMU_DoG training
  conversation, its turns merged as scripts/convert_cmu_dog.py merges them;
- movies.txt.gz: the sections of CMU_DoG's 30 movie documents (WikiData/:
  the introduction, each critic's quote, the three plot sections); one a line;
- report_news.json, report_cmu_dog.json (report_news_cmu_dog.json with
  both): what was kept and what was dropped, and why.

The leak rule: the pretraining text never contains a text of the dev or test
splits, or every score on them would be inflated by a model that has
already read their sources. Beyond taking only training-split documents, a
document is dropped (and counted) when it repeats a held-out text: its
normalized words (lowercased, punctuation stripped) equal a held-out text's,
or at least --max-overlap of a held-out text's distinct word n-grams
(--ngram words) occur in it, or at least --max-overlap of its own n-grams
occur in the held-out texts. Reuters re-sends a story under a new NEWID
(corrections, updates), so a training story can hold a test story's lead.
The held-out texts are each dev and test story's body and lead paragraph
and each dev and test conversation (its turns together). The movie documents
are the grounding of every split's conversations and are kept, as the
dataset intends; they are checked against the held-out conversations too.
"""

import json
import re
import sys
import tarfile
import zlib
from collections import Counter, defaultdict
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Set, Tuple

import typer
from wasabi import msg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from convert_cmu_dog import merge_turns, read_conversations  # noqa: E402
from convert_reuters import (  # noqa: E402
    ATTRIBUTE,
    DOCUMENT,
    PARAGRAPH_BREAK,
    SIGN_OFF,
    Story,
    clean,
    read_sgml_files,
    split_of,
)

from corpus import ASSETS_HINT, write_jsonl_gz, write_lines_gz  # noqa: E402

WIKI_FILE = re.compile(r"(^|/)WikiData/[^/]+\.json$")
PUNCTUATION = ".,;:!?\"'()[]{}-"


class LeakCheck:
    """Finds documents that repeat a held-out (dev or test) text, exactly
    or by a large share of word n-grams."""

    def __init__(
        self, held_out: Iterable[str], ngram: int = 8, max_overlap: float = 0.5
    ) -> None:
        if ngram < 1 or not 0 < max_overlap <= 1:
            raise ValueError("ngram must be >= 1 and max_overlap in (0, 1]")
        self.ngram = ngram
        self.max_overlap = max_overlap
        self.exact: Set[Tuple[str, ...]] = set()
        self.index: Dict[Tuple[str, ...], List[int]] = defaultdict(list)
        self.sizes: List[int] = []
        for text in held_out:
            words = tuple(normalize(text))
            if not words:
                continue
            self.exact.add(words)
            grams = ngrams(words, ngram)
            for gram in grams:
                self.index[gram].append(len(self.sizes))
            self.sizes.append(len(grams))

    def __len__(self) -> int:
        return len(self.exact)

    def leak(self, text: str) -> Optional[str]:
        """Why the text repeats a held-out text, or None if it doesn't."""
        words = tuple(normalize(text))
        if words in self.exact:
            return "equals a held-out text"
        grams = ngrams(words, self.ngram)
        if not grams:
            return None
        found: Counter = Counter()
        n_held_out = 0
        for gram in grams:
            ids = self.index.get(gram)
            if ids:
                n_held_out += 1
                found.update(ids)
        if n_held_out >= self.max_overlap * len(grams):
            return (
                f"{n_held_out / len(grams):.0%} of its {self.ngram}-grams are held out"
            )
        for i, n_found in found.items():
            if n_found >= self.max_overlap * self.sizes[i]:
                return f"holds {n_found / self.sizes[i]:.0%} of a held-out text's {self.ngram}-grams"
        return None


def normalize(text: str) -> List[str]:
    stripped = (word.lower().strip(PUNCTUATION) for word in text.split())
    return [word for word in stripped if word]


def ngrams(words: Tuple[str, ...], n: int) -> Set[Tuple[str, ...]]:
    return {words[i : i + n] for i in range(len(words) - n + 1)}


def read_all_stories(archive: Path) -> Iterator[Story]:
    """Every story of the archive that has a body, with or without a title
    (convert_reuters.read_stories keeps only stories with both)."""
    for name, sgml in read_sgml_files(archive):
        for attributes_text, content in DOCUMENT.findall(sgml):
            attributes = dict(ATTRIBUTE.findall(attributes_text))
            body = re.search(r"<BODY>(.*?)</BODY>", content, re.DOTALL)
            if body is None:
                continue
            if (
                not attributes.get("NEWID", "").isdigit()
                or "LEWISSPLIT" not in attributes
            ):
                msg.fail(
                    f"A <REUTERS> document in {name} lacks a NEWID or LEWISSPLIT",
                    exits=1,
                )
            title = re.search(r"<TITLE>(.*?)</TITLE>", content, re.DOTALL)
            yield Story(
                new_id=int(attributes["NEWID"]),
                lewis_split=attributes["LEWISSPLIT"],
                title=title.group(1) if title else "",
                body=body.group(1),
            )


def story_texts(story: Story) -> Tuple[str, str]:
    """The cleaned body and lead paragraph of a story (as convert_reuters.py
    makes the headline data's texts)."""
    body = SIGN_OFF.sub("", story.body.strip())
    lead = PARAGRAPH_BREAK.split(body, maxsplit=1)[0]
    return clean(body), clean(lead)


def read_movie_documents(archive: Path) -> List[str]:
    """The sections of the movie documents (WikiData/*.json), in file order:
    the introduction, the critics' quotes, the plot sections."""
    sections: List[Tuple[str, int, str]] = []
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                if not member.isfile() or not WIKI_FILE.search(member.name):
                    continue
                file_ = tar.extractfile(member)
                assert file_ is not None
                try:
                    document = json.loads(file_.read().decode("utf8"))
                except ValueError as e:
                    msg.fail(f"{member.name} is not valid JSON: {e}", exits=1)
                for i, text in enumerate(document_sections(document)):
                    sections.append((member.name, i, text))
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        msg.fail(f"Can't read {archive} as a tar.gz archive: {e}", exits=1)
    if not sections:
        msg.fail(
            f"The archive {archive} has no movie documents (WikiData/*.json)", exits=1
        )
    return [text for _, _, text in sorted(sections)]


def document_sections(document: object) -> Iterator[str]:
    if not isinstance(document, dict):
        return
    for key in sorted(k for k in document if k.isdigit()):
        section = document[key]
        if isinstance(section, str):
            texts = [section]
        elif isinstance(section, dict):
            quotes = section.get("critical_response", [])
            texts = [section.get("introduction", "")]
            texts += quotes if isinstance(quotes, list) else []
        else:
            texts = []
        for text in texts:
            if isinstance(text, str) and text.split():
                yield " ".join(text.split())


def keep_one(
    text: str, check: LeakCheck, dropped: List[Dict[str, str]], file_name: str
) -> bool:
    """Whether the text is no repeat of a held-out text (else it is counted
    in `dropped`)."""
    reason = check.leak(text)
    if reason is not None:
        dropped.append({"file": file_name, "reason": reason, "text": text[:120]})
    return reason is None


def keep(
    texts: Iterable[str],
    check: LeakCheck,
    dropped: List[Dict[str, str]],
    file_name: str,
) -> Iterator[str]:
    return (text for text in texts if keep_one(text, check, dropped, file_name))


def main(
    output_dir: Path = typer.Argument(..., file_okay=False),
    reuters: Optional[Path] = typer.Option(None, help="reuters21578.tar.gz"),
    cmu_dog: Optional[Path] = typer.Option(None, help="datasets-CMU_DoG-master.tar.gz"),
    ngram: int = typer.Option(8, min=1, help="Words in the n-grams compared"),
    max_overlap: float = typer.Option(
        0.5, min=0.01, max=1.0, help="The share of shared n-grams that drops a text"
    ),
) -> None:
    if reuters is None and cmu_dog is None:
        msg.fail("Give --reuters, --cmu-dog or both", exits=1)
    report = make_text(output_dir, reuters, cmu_dog, ngram, max_overlap)
    for name, counts in report["files"].items():
        msg.good(
            f"{name}: {counts['kept']:,} documents kept, {counts['dropped']:,} "
            f"dropped as repeats of dev/test texts"
        )


def make_text(
    output_dir: Path,
    reuters_archive: Optional[Path] = None,
    cmu_dog_archive: Optional[Path] = None,
    ngram: int = 8,
    max_overlap: float = 0.5,
) -> Dict:
    """Write the raw text files of the archives given (Reuters: news.txt.gz;
    CMU_DoG: conversations.jsonl.gz and movies.txt.gz) and report.json, and
    return the report. Each archive's dev and test texts are held out."""
    for archive in (reuters_archive, cmu_dog_archive):
        if archive is not None and not archive.is_file():
            msg.fail(f"Can't find the archive {archive}", ASSETS_HINT, exits=1)
    held_out: List[str] = []
    train_bodies: List[str] = []
    if reuters_archive is not None:
        stories = sorted(read_all_stories(reuters_archive), key=lambda s: s.new_id)
        for story in stories:
            body, lead = story_texts(story)
            if split_of(story) != "train":
                held_out += [body, lead]
            elif body:
                train_bodies.append(body)
    train_chats: List[List[str]] = []
    movies: List[str] = []
    if cmu_dog_archive is not None:
        conversations = read_conversations(cmu_dog_archive)
        held_out += [
            " ".join(merge_turns(conversation["history"]))
            for split in ("valid", "test")
            for conversation in conversations[split]
        ]
        train_chats = [merge_turns(c["history"]) for c in conversations["train"]]
        movies = read_movie_documents(cmu_dog_archive)

    check = LeakCheck(held_out, ngram, max_overlap)
    dropped: List[Dict[str, str]] = []
    counts = {}
    if reuters_archive is not None:
        counts["news.txt.gz"] = write_lines_gz(
            keep(train_bodies, check, dropped, "news.txt.gz"),
            output_dir / "news.txt.gz",
        )
    if cmu_dog_archive is not None:
        kept_chats = [
            {"turns": turns}
            for turns in train_chats
            if turns
            and keep_one(" ".join(turns), check, dropped, "conversations.jsonl.gz")
        ]
        counts["conversations.jsonl.gz"] = write_jsonl_gz(
            kept_chats, output_dir / "conversations.jsonl.gz"
        )
        counts["movies.txt.gz"] = write_lines_gz(
            keep(movies, check, dropped, "movies.txt.gz"),
            output_dir / "movies.txt.gz",
        )
    report = {
        "held_out_texts": len(check),
        "ngram": ngram,
        "max_overlap": max_overlap,
        "files": {
            name: {
                "kept": kept,
                "dropped": sum(1 for d in dropped if d["file"] == name),
            }
            for name, kept in counts.items()
        },
        "dropped": dropped,
    }
    output_dir.mkdir(parents=True, exist_ok=True)
    tags = [
        tag
        for tag, archive in (("news", reuters_archive), ("cmu_dog", cmu_dog_archive))
        if archive is not None
    ]
    (output_dir / f"report_{'_'.join(tags)}.json").write_text(
        json.dumps(report, indent=2) + "\n"
    )
    return report


if __name__ == "__main__":
    typer.run(main)
