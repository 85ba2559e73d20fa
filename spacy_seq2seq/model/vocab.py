"""The target vocabulary: words the decoder can generate, plus copy slots."""

import hashlib
import json
from collections import Counter
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)
PAD_ID, BOS_ID, EOS_ID, UNK_ID = range(4)

# A word with its spacing: (text, written straight after the previous word).
SpacedWord = Tuple[str, bool]


class SourceWords:
    """The source tokens of one doc as the decoder sees them: their words,
    their extended ids, and the source words outside the vocabulary that can
    only be copied (extended id = len(vocab) + position in `copy_only_words`).
    """

    def __init__(
        self,
        words: List[str],
        ids: List[int],
        copy_only_words: List[str],
        copy_only_attached: List[bool],
    ) -> None:
        self.words = words
        self.ids = ids
        self.copy_only_words = copy_only_words
        self.copy_only_attached = copy_only_attached

    def __len__(self) -> int:
        return len(self.ids)


class TargetVocab:
    """Words the decoder generates. Ids 0-3 are PAD, BOS, EOS and UNK.
    `attached` holds the words that are usually written without a space
    before them (punctuation, clitics), so generated text keeps its spacing.
    """

    def __init__(self, words: Sequence[str], attached: Iterable[str] = ()) -> None:
        if tuple(words[: len(SPECIALS)]) != SPECIALS:
            words = list(SPECIALS) + [w for w in words if w not in SPECIALS]
        self.words: List[str] = list(words)
        self.index: Dict[str, int] = {word: i for i, word in enumerate(self.words)}
        if len(self.index) != len(self.words):
            raise ValueError("The target vocabulary lists a word more than once.")
        self.attached = set(attached)

    def __len__(self) -> int:
        return len(self.words)

    @classmethod
    def build(
        cls, texts: Iterable[List[SpacedWord]], *, max_size: int, min_count: int
    ) -> "TargetVocab":
        """Count the words of the target texts and keep the `max_size` most
        frequent ones seen at least `min_count` times (specials included).
        """
        counts: Counter = Counter()
        attached_counts: Counter = Counter()
        for text in texts:
            for i, (word, attached) in enumerate(text):
                counts[word] += 1
                attached_counts[word] += int(attached and i > 0)
        n_words = max(max_size - len(SPECIALS), 0)
        kept = [w for w, n in counts.most_common() if n >= min_count][:n_words]
        attached = [w for w in kept if attached_counts[w] * 2 > counts[w]]
        return cls(list(SPECIALS) + kept, attached)

    def encode_source(self, words: List[SpacedWord]) -> SourceWords:
        """Map source words to ids; words outside the vocabulary get copy ids,
        whitespace gets UNK (never generated)."""
        ids: List[int] = []
        copy_only_index: Dict[str, int] = {}
        copy_only_attached: List[bool] = []
        for word, attached in words:
            word_id = self.index.get(word)
            if not word.strip():  # a line break or an empty context: never copied
                word_id = UNK_ID
            elif word_id is None:
                if word not in copy_only_index:
                    copy_only_index[word] = len(copy_only_index)
                    copy_only_attached.append(attached)
                word_id = len(self.words) + copy_only_index[word]
            ids.append(word_id)
        return SourceWords(
            [w for w, _ in words], ids, list(copy_only_index), copy_only_attached
        )

    def encode_target(self, words: Iterable[str], source: SourceWords) -> List[int]:
        """Map target words to ids, ending with EOS. A word outside the
        vocabulary gets its copy id if it occurs in the source, else UNK.
        """
        copy_ids = {
            w: len(self.words) + i for i, w in enumerate(source.copy_only_words)
        }
        ids = [self.index.get(w, copy_ids.get(w, UNK_ID)) for w in words]
        return ids + [EOS_ID]

    def decode(self, ids: Iterable[int], source: SourceWords) -> str:
        """Turn generated ids into text, up to the first EOS."""
        pieces: List[str] = []
        for word_id in ids:
            if word_id in (EOS_ID, PAD_ID):
                break
            if word_id == BOS_ID:
                continue
            word, attached = self.word(word_id, source)
            if pieces and not attached:
                pieces.append(" ")
            pieces.append(word)
        return "".join(pieces)

    def word(self, word_id: int, source: SourceWords) -> SpacedWord:
        """The word of an extended id, with its spacing."""
        if word_id >= len(self.words):
            position = word_id - len(self.words)
            return (
                source.copy_only_words[position],
                source.copy_only_attached[position],
            )
        word = self.words[word_id]
        return word, word in self.attached

    def to_json(self) -> Dict[str, Any]:
        return {"words": self.words, "attached": sorted(self.attached)}

    def checksum(self) -> str:
        """SHA-256 of the words in order and the attached ones: saved with the
        weights, so that a vocabulary that is not theirs is caught on load."""
        data = json.dumps(self.to_json(), ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(data.encode("utf8")).hexdigest()

    @classmethod
    def from_json(cls, data: Any, *, source: Optional[str] = None) -> "TargetVocab":
        """Read a vocabulary written by `to_json`, or a plain list of words:
        unique, non-blank strings."""
        where = f" in {source}" if source else ""
        problem = f"Can't read the target vocabulary{where}"
        attached: Any = []
        if isinstance(data, dict) and "words" in data:
            words, attached = data["words"], data.get("attached", [])
        elif isinstance(data, list):
            words = data
        else:
            raise ValueError(
                f"{problem}: expected a list of words or an object with a "
                f"'words' list, not {type(data).__name__ if data is not None else 'null'}."
            )
        for name, value in (("words", words), ("attached", attached)):
            if not isinstance(value, list):
                raise ValueError(f"{problem}: '{name}' is not a list.")
            bad = [w for w in value if not isinstance(w, str) or not w.strip()]
            if bad:
                raise ValueError(
                    f"{problem}: its {name} must be non-blank strings, not {bad[0]!r}."
                )
        repeated = [w for w, n in Counter(words).items() if n > 1]
        if repeated:
            raise ValueError(
                f"{problem}: it lists {repeated[0]!r} more than once "
                f"({len(repeated)} word(s) repeated)."
            )
        return cls(words, attached)
