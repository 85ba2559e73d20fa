"""Faithfulness to the source: the share of a generated text's content words
that the source also has, and the content-word classes the search's
`unfaithful_penalty` reads.

A content word is a lowercased word that is not a stop word (spaCy's English
list, plus "said") and not a single letter; a number is a content word too
(a headline that invents "10 pct" is unfaithful), compared without its
thousands separators. Words are compared by their Porter stem (the stemmer
rouge-score uses, from nltk, on words of more than 3 letters as rouge-score
stems them), so "cuts" is found in a source that says "cutting"; the past
forms of common irregular verbs count as their base ("rose" as "rise").
"""

import re
from functools import lru_cache
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from nltk.stem.porter import PorterStemmer
from spacy.lang.en.stop_words import STOP_WORDS

# Letters and digits, kept whole across inner dots, ampersands and commas:
# "u.s.", "s&p", "2.15", "1,000". Apostrophes split ("stock's": stock, s).
WORD = re.compile(r"[^\W_]+(?:[.&,][^\W_]+)*")
NUMBER = re.compile(r"\d[\d.,]*")
# "said" is the commonest word of news and no claim; its lemma "say" is
# already a stop word.
EXTRA_STOP_WORDS = frozenset({"said"})
STEMMER = PorterStemmer()
# Headlines say in the present what their stories say in the past ("oil
# rises" / "oil prices rose"): irregular past forms of common verbs are read
# as their base form, which a stemmer can't do. (base: past, participle)
IRREGULAR_VERBS = """
arise arose arisen; become became; begin began begun; bring brought;
build built; buy bought; choose chose chosen; come came; deal dealt;
draw drew drawn; drive drove driven; fall fell fallen; feel felt;
fight fought; find found; fly flew flown; forecast forecast; freeze froze
frozen; give gave given; grow grew grown; hold held; keep kept; know knew
known; lead led; leave left; lend lent; lose lost; meet met; pay paid;
rise rose risen; run ran; see saw seen; seek sought; sell sold; send sent;
shake shook shaken; shrink shrank shrunk; sink sank sunk; slide slid;
speak spoke spoken; spend spent; stand stood; steal stole stolen; strike
struck; swing swung; take took taken; teach taught; tell told; think
thought; throw threw thrown; understand understood; win won; withdraw
withdrew withdrawn; write wrote written
"""
BASE_FORMS = {
    form: forms.split()[0]
    for forms in IRREGULAR_VERBS.split(";")
    for form in forms.split()[1:]
}
# The class of a word that supports nothing (a function word, punctuation).
NO_CLASS = -1


@lru_cache(maxsize=100_000)
def content_word(word: str) -> Optional[str]:
    """The comparable form of one lowercased word (a WORD match): its stem,
    a number without separators, or None for a stop word or single letter."""
    if NUMBER.fullmatch(word):
        return word.replace(",", "")
    word = BASE_FORMS.get(word, word)
    if len(word) < 2 or word in STOP_WORDS or word in EXTRA_STOP_WORDS:
        return None
    if not word.isalpha() or len(word) <= 3:  # "u.s", "s&p" are not stemmed
        return word
    stem = STEMMER.stem(word)
    # "says" -> "say": the stem of an inflected stop word is a stop word
    return None if stem in STOP_WORDS else stem


def content_words(text: str) -> List[str]:
    """The content words of a text, stemmed, in order (repeats kept)."""
    words = (content_word(match.group()) for match in WORD.finditer(text.lower()))
    return [word for word in words if word is not None]


def faithfulness(generated: str, source: str) -> Optional[float]:
    """The share of the generated text's content words (each occurrence)
    that the source has; None when it has none."""
    words = content_words(generated)
    if not words:
        return None
    found = set(content_words(source))
    return sum(word in found for word in words) / len(words)


def mean_faithfulness(pairs: Iterable[Sequence[str]]) -> Optional[float]:
    """The mean faithfulness of (generated, source) pairs, over the generated
    texts that have a content word; None if none has."""
    scores = [faithfulness(generated, source) for generated, source in pairs]
    kept = [score for score in scores if score is not None]
    return sum(kept) / len(kept) if kept else None


class ContentClasses:
    """Each target vocabulary word's content-word class, for the search's
    `unfaithful_penalty`: words with the same content words share a class
    ("cut", "cuts"), function words and punctuation have NO_CLASS. A source
    word gets the class of the vocabulary words it supports, whether it is
    in the vocabulary or not ("Cutting" supports "cuts")."""

    def __init__(self, vocab_words: Sequence[str]) -> None:
        self.index: Dict[str, int] = {}
        self.vocab_classes: List[int] = [self._add(word) for word in vocab_words]

    def _add(self, word: str) -> int:
        key = self.key(word)
        if key is None:
            return NO_CLASS
        return self.index.setdefault(key, len(self.index))

    @staticmethod
    def key(word: str) -> Optional[str]:
        """A word's content words, joined (most words have one, or none)."""
        words = content_words(word)
        return " ".join(words) if words else None

    def source_classes(self, words: Iterable[str]) -> List[int]:
        """The class of each source word: NO_CLASS for a word no vocabulary
        word shares its content words with."""
        return [self.index.get(self.key(word) or "", NO_CLASS) for word in words]


@lru_cache(maxsize=4)
def vocab_classes(vocab_words: Tuple[str, ...]) -> ContentClasses:
    """The ContentClasses of a vocabulary, built once per vocabulary."""
    return ContentClasses(vocab_words)


def penalty_classes(
    vocab_words: Sequence[str], sources: Iterable[Any]
) -> Tuple[List[int], List[List[int]]]:
    """What the search's unfaithful_penalty reads: each vocabulary id's
    class, and each source's tokens' classes (sources: SourceWords)."""
    classes = vocab_classes(tuple(vocab_words))
    return classes.vocab_classes, [
        classes.source_classes(source.words) for source in sources
    ]
