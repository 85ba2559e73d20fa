"""Self-supervised (source, target) pairs from raw text, for pretraining the
whole encoder-decoder with `spacy train` (docs/pretraining.md).

Raw text is a plain-text file, one document per line, or a JSONL file whose
`text_field` holds each document (either may be gzip-compressed, named .gz).
The readers turn it into Examples as spacy-seq2seq.JsonlPairs.v1 does (the
target text in doc._.{target_field}):

- spacy-seq2seq.DenoisingPairs.v1 (BART): a sentence with masked spans,
  dropped words and locally shuffled words -> the sentence;
- spacy-seq2seq.GapSentences.v1 (PEGASUS): a run of sentences without one of
  them, the one that shares most words with the rest (or the first) -> it;
- spacy-seq2seq.NextTurn.v1: the turns of a conversation (or the sentences of
  a text) -> the next turn;
- spacy-seq2seq.MixedCorpora.v1 interleaves such readers by weight;
- spacy-seq2seq.RawTexts.v1 streams the documents for the target
  vocabulary's counting pass.

Every pass over a file draws new noise from a generator seeded by `seed` and
the pass number, so runs are reproducible and a streamed corpus
([training] max_epochs = -1) is seen with other noise on each pass. Sentences
are split by rules (split_sentences), with no trained model.
"""

import itertools
import math
import random
import re
from collections import Counter
from pathlib import Path
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    Optional,
    Sequence,
    Tuple,
    Union,
)

from spacy.language import Language
from spacy.training import Example
from spacy.util import registry

from .readers import (
    TURN_SEPARATOR,
    buffered_shuffle,
    get_field,
    make_example,
    read_records,
    read_text_lines,
)
from .settings import SettingError, check_bool, check_int, check_number, check_text

# A document and where it is ("file, line N"), for error messages.
Document = Tuple[str, Union[str, List[str]]]
Pair = Tuple[str, str]
MakePairs = Callable[[Union[str, List[str]], random.Random, str], Iterator[Pair]]

# Words ending in a full stop that rarely end a sentence (lowercase, without
# the stop). Single letters with stops (u.s., j.p.) are handled apart.
ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sr jr st mt ft gen gov sen rep rev lt col sgt capt "
    "inc corp co ltd plc bros dept univ no nos vs approx est fig "
    "jan feb aug sept sep oct nov dec".split()
)
SENTENCE_END = re.compile(r"[.!?][\"')\]]*$")
INITIALS = re.compile(r"^(?:[a-z]\.)+$")
CLOSING = "\"')]"
SELECTIONS = ("overlap", "first")


def split_sentences(text: str) -> List[str]:
    """The sentences of a text, split after a word ending in . ! or ? (a
    closing quote or bracket may follow), except known abbreviations (mr.,
    inc., jan.) and initials (u.s., j.) that usually don't end one. Works on
    lowercased text too, so it never looks at capitals; each sentence is its
    words joined by one space."""
    sentences: List[str] = []
    words: List[str] = []
    for word in text.split():
        words.append(word)
        if SENTENCE_END.search(word) and not is_abbreviation(word):
            sentences.append(" ".join(words))
            words = []
    if words:
        sentences.append(" ".join(words))
    return sentences


def is_abbreviation(word: str) -> bool:
    bare = word.rstrip(CLOSING).lstrip("\"'([").lower()
    if not bare.endswith("."):
        return False
    return bool(INITIALS.match(bare)) or bare[:-1] in ABBREVIATIONS


@registry.readers("spacy-seq2seq.DenoisingPairs.v1")
def create_denoising_reader(
    path: Optional[Union[str, Path]],
    text_field: Optional[str] = None,
    target_field: str = "summary",
    mask_rate: float = 0.3,
    span_mean: float = 3.0,
    drop_rate: float = 0.1,
    shuffle_distance: float = 3.0,
    mask_token: str = "_",
    min_words: int = 5,
    max_words: int = 50,
    limit: int = 0,
    seed: int = 0,
    shuffle_buffer: int = 0,
) -> Callable[[Language], Iterable[Example]]:
    """Denoising pairs (BART, Lewis et al. 2020): each sentence of the raw
    text of `min_words` to `max_words` words becomes the target of a noisy
    copy. Spans covering about `mask_rate` of its words (lengths drawn from a
    Poisson distribution of mean `span_mean`) are each replaced by one
    `mask_token`; each other word is dropped with probability `drop_rate`;
    then the words move by less than `shuffle_distance` places (each sorted
    by its position plus a uniform draw in [0, shuffle_distance), Lample et
    al. 2018; 0: no shuffle). `text_field`: null for plain text (one document
    a line), or the field of a JSONL record. `limit` keeps the first N pairs
    of a pass (0: all); `shuffle_buffer = N` streams the pairs through a
    seeded buffer of N pairs (0: file order).
    """
    check_number("mask_rate", mask_rate, minimum=0.0, below=1.0)
    check_number("span_mean", span_mean, above=0.0)
    check_number("drop_rate", drop_rate, minimum=0.0, below=1.0)
    check_number("shuffle_distance", shuffle_distance, minimum=0.0)
    if mask_rate == 0 and drop_rate == 0 and shuffle_distance <= 1:
        raise SettingError(
            "mask_rate",
            "mask_rate, drop_rate and shuffle_distance add no noise (0, 0 and "
            "<= 1): the pairs would teach the model to copy. Set at least one.",
        )
    check_text("mask_token", mask_token)
    if len(mask_token.split()) != 1:
        raise SettingError(
            "mask_token", f"mask_token must be one word, not {mask_token!r}"
        )
    check_word_range(min_words, max_words)

    def make_pairs(
        document: Union[str, List[str]], rng: random.Random, where: str
    ) -> Iterator[Pair]:
        for sentence in split_sentences(as_text(document, where)):
            words = sentence.split()
            if min_words <= len(words) <= max_words:
                noisy = add_noise(
                    words,
                    rng,
                    mask_rate=mask_rate,
                    span_mean=span_mean,
                    drop_rate=drop_rate,
                    shuffle_distance=shuffle_distance,
                    mask_token=mask_token,
                )
                yield " ".join(noisy), sentence

    return make_raw_text_reader(
        path, text_field, target_field, make_pairs, limit, seed, shuffle_buffer
    )


@registry.readers("spacy-seq2seq.GapSentences.v1")
def create_gap_sentence_reader(
    path: Optional[Union[str, Path]],
    text_field: Optional[str] = None,
    target_field: str = "summary",
    select: str = "overlap",
    max_sentences: int = 5,
    min_words: int = 4,
    max_words: int = 40,
    limit: int = 0,
    seed: int = 0,
    shuffle_buffer: int = 0,
) -> Callable[[Language], Iterable[Example]]:
    """Gap-sentence pairs (PEGASUS, Zhang et al. 2020): each document is cut
    into runs of up to `max_sentences` consecutive sentences; a run of at
    least two gives one pair, the run without one of its sentences -> that
    sentence. `select = "overlap"` takes the sentence whose words overlap
    most with the rest of the run (ROUGE-1 F1: the run's most central, lead-
    like sentence), "first" its first sentence. Only sentences of `min_words`
    to `max_words` words are taken (a run without one gives no pair).
    `text_field`, `limit`, `seed` and `shuffle_buffer` as in
    spacy-seq2seq.DenoisingPairs.v1 (the seed only orders the buffer).
    """
    if select not in SELECTIONS:
        raise SettingError(
            "select", f"select must be one of {', '.join(SELECTIONS)}, not {select!r}"
        )
    check_int("max_sentences", max_sentences, minimum=2)
    check_word_range(min_words, max_words)

    def make_pairs(
        document: Union[str, List[str]], rng: random.Random, where: str
    ) -> Iterator[Pair]:
        sentences = split_sentences(as_text(document, where))
        for start in range(0, len(sentences), max_sentences):
            run = sentences[start : start + max_sentences]
            if len(run) < 2:
                continue
            gap = choose_gap(run, select, min_words, max_words)
            if gap is not None:
                rest = run[:gap] + run[gap + 1 :]
                yield " ".join(rest), run[gap]

    return make_raw_text_reader(
        path, text_field, target_field, make_pairs, limit, seed, shuffle_buffer
    )


@registry.readers("spacy-seq2seq.NextTurn.v1")
def create_next_turn_reader(
    path: Optional[Union[str, Path]],
    text_field: Optional[str] = None,
    target_field: str = "response",
    turn_separator: str = "\t",
    sentences_as_turns: bool = False,
    max_context_turns: int = 3,
    max_context_words: int = 96,
    max_turn_words: int = 64,
    limit: int = 0,
    seed: int = 0,
    shuffle_buffer: int = 0,
) -> Callable[[Language], Iterable[Example]]:
    """Next-turn pairs for seq2seq_responder from any conversation: each turn
    after the first -> the turns before it, oldest first, joined by a line
    break as the responder reads a conversation (readers.TURN_SEPARATOR).
    The context keeps the preceding turn and older ones while it has fewer
    than `max_context_turns` turns and at most `max_context_words` words;
    turns of more than `max_turn_words` words are never targets. A document
    is a JSON list of turns, or a text whose turns are separated by
    `turn_separator` (a tab by default: plain text keeps one conversation a
    line); with `sentences_as_turns`, a text's sentences are its turns, so
    prose (e.g. the movie documents) gives next-sentence pairs. `text_field`,
    `limit`, `seed` and `shuffle_buffer` as in
    spacy-seq2seq.DenoisingPairs.v1.
    """
    check_text("turn_separator", turn_separator)
    if turn_separator in ("\n", "\r"):
        raise SettingError(
            "turn_separator",
            "turn_separator can't be a line break: a line is a document",
        )
    check_bool("sentences_as_turns", sentences_as_turns)
    check_int("max_context_turns", max_context_turns, minimum=1)
    check_int("max_context_words", max_context_words, minimum=1)
    check_int("max_turn_words", max_turn_words, minimum=1)

    def make_pairs(
        document: Union[str, List[str]], rng: random.Random, where: str
    ) -> Iterator[Pair]:
        if isinstance(document, list):
            turns = [" ".join(turn.split()) for turn in document]
        elif sentences_as_turns:
            turns = split_sentences(document)
        else:
            turns = [" ".join(turn.split()) for turn in document.split(turn_separator)]
        turns = [turn for turn in turns if turn]
        for i in range(1, len(turns)):
            if len(turns[i].split()) > max_turn_words:
                continue
            n_words = len(turns[i - 1].split())
            if n_words > max_context_words:
                continue
            start = i - 1
            while start > 0 and i - start < max_context_turns:
                n_older = len(turns[start - 1].split())
                if n_words + n_older > max_context_words:
                    break
                n_words += n_older
                start -= 1
            yield TURN_SEPARATOR.join(turns[start:i]), turns[i]

    return make_raw_text_reader(
        path,
        text_field,
        target_field,
        make_pairs,
        limit,
        seed,
        shuffle_buffer,
        allow_turns=True,
    )


@registry.readers("spacy-seq2seq.MixedCorpora.v1")
def create_mixed_reader(
    # Any, not Callable: confection checks the types before it resolves the
    # readers nested in a dict (spacy debug config would fail).
    corpora: Dict[str, Any],
    weights: Optional[Dict[str, float]] = None,
    seed: int = 0,
) -> Callable[[Language], Iterable[Example]]:
    """Interleave several readers (e.g. denoising and gap-sentence pairs):
    each example comes from a corpus drawn with probability in proportion to
    its weight (1 for a corpus `weights` leaves out). A corpus that runs out
    starts again (a new pass, with new noise) until every corpus has been
    read through once, which ends the mixed pass: the pass is finite, as
    `spacy train` and the vocabulary's counting pass need.
    """
    if not corpora:
        raise SettingError("corpora", "corpora must name at least one reader")
    for name, corpus in corpora.items():
        if not callable(corpus):
            raise SettingError(
                "corpora", f"corpora.{name} must be a reader, not {corpus!r}"
            )
    weights = dict(weights or {})
    unknown = sorted(set(weights) - set(corpora))
    if unknown:
        raise SettingError(
            "weights",
            f"weights names corpora that [corpora] lacks: {', '.join(unknown)}",
        )
    for name, weight in weights.items():
        check_number(f"weights.{name}", weight, above=0.0)
    check_int("seed", seed, minimum=0)
    names = sorted(corpora)
    shares = [weights.get(name, 1.0) for name in names]
    passes = itertools.count()

    def read(nlp: Language) -> Iterator[Example]:
        rng = random.Random(seed * 1_000_003 + next(passes))
        streams = [iter(corpora[name](nlp)) for name in names]
        unfinished = set(range(len(names)))
        while unfinished:
            i = rng.choices(range(len(names)), weights=shares)[0]
            example = next(streams[i], None)
            if example is None:
                unfinished.discard(i)
                if not unfinished:
                    break
                streams[i] = iter(corpora[names[i]](nlp))
                example = next(streams[i], None)
                if example is None:
                    raise ValueError(
                        f"The corpus '{names[i]}' of spacy-seq2seq.MixedCorpora.v1 "
                        "gave no examples"
                    )
            yield example

    return read


@registry.readers("spacy-seq2seq.RawTexts.v1")
def create_raw_text_reader(
    path: Optional[Union[str, Path]], text_field: Optional[str] = None
) -> Callable[[], Iterator[str]]:
    """Stream the documents of a raw text file (a conversation's turns one by
    one), e.g. for the target vocabulary's counting pass in initialize
    ([initialize.components.NAME.target_texts]): the pretraining pairs'
    targets are the raw text's sentences and turns, so the vocabulary counted
    from it is theirs, and it carries over to fine-tuning with the component.
    """
    if text_field is not None:
        check_text("text_field", text_field)

    def read() -> Iterator[str]:
        if path is None:
            raise ValueError("The raw text path is null: give it in [paths].")
        for _, document in read_documents(Path(path), text_field, allow_turns=True):
            if isinstance(document, list):
                yield from document
            else:
                yield document

    return read


def make_raw_text_reader(
    path: Optional[Union[str, Path]],
    text_field: Optional[str],
    target_field: str,
    make_pairs: MakePairs,
    limit: int,
    seed: int,
    shuffle_buffer: int,
    allow_turns: bool = False,
) -> Callable[[Language], Iterable[Example]]:
    if text_field is not None:
        check_text("text_field", text_field)
    check_text("target_field", target_field)
    check_int("limit", limit, minimum=0)
    check_int("seed", seed, minimum=0)
    check_int("shuffle_buffer", shuffle_buffer, minimum=0)
    passes = itertools.count()

    def read(nlp: Language) -> Iterator[Example]:
        if path is None:
            raise ValueError(
                "The raw text path is null: give it on the command line "
                "(e.g. --paths.raw) or in the config's [paths]."
            )
        # One generator for the noise and one for the order, both seeded by
        # the pass, so that a change of buffer size leaves the noise alone.
        pass_seed = seed * 1_000_003 + next(passes)
        rng = random.Random(pass_seed)
        pairs: Iterable[Pair] = (
            pair
            for where, document in read_documents(Path(path), text_field, allow_turns)
            for pair in make_pairs(document, rng, where)
        )
        if shuffle_buffer:
            pairs = buffered_shuffle(
                pairs, shuffle_buffer, random.Random(pass_seed + 1)
            )
        n_pairs = 0
        for source, target in pairs:
            if limit and n_pairs >= limit:
                break
            n_pairs += 1
            yield make_example(nlp, source, target, target_field)
        if not n_pairs:
            raise ValueError(
                f"{path} gave no training pairs: are its documents too short "
                "for the reader's settings (min_words, max_words, sentences)?"
            )

    return read


def read_documents(
    path: Path, text_field: Optional[str], allow_turns: bool = False
) -> Iterator[Document]:
    """Each document of a raw text file with its location: a non-empty line
    of a plain-text file (`text_field` null), or the `text_field` of each
    JSONL record (a string, or with `allow_turns` a list of strings)."""
    if not path.exists():
        raise ValueError(f"Can't find the raw text file {path}")
    if text_field is not None:
        for where, record in read_records(path):
            value = get_field(record, text_field, where)
            is_turns = isinstance(value, list) and all(
                isinstance(turn, str) for turn in value
            )
            if not isinstance(value, str) and not (allow_turns and is_turns):
                kind = "a string or a list of strings" if allow_turns else "a string"
                raise ValueError(
                    f"Field '{text_field}' in {where} should be {kind}, "
                    f"not {type(value).__name__}"
                )
            yield where, value
        return
    yield from read_text_lines(path)


def as_text(document: Union[str, List[str]], where: str) -> str:
    if not isinstance(document, str):
        raise ValueError(f"The document in {where} should be a string")
    return document


def check_word_range(min_words: int, max_words: int) -> None:
    check_int("min_words", min_words, minimum=1)
    check_int("max_words", max_words, minimum=1)
    if max_words < min_words:
        raise SettingError(
            "max_words",
            f"max_words ({max_words}) must be >= min_words ({min_words})",
        )


def add_noise(
    words: Sequence[str],
    rng: random.Random,
    *,
    mask_rate: float,
    span_mean: float,
    drop_rate: float,
    shuffle_distance: float,
    mask_token: str,
) -> List[str]:
    """The words with masked spans (one mask token a span), dropped words
    and a local shuffle; never empty."""
    n = len(words)
    masked = [False] * n
    n_to_mask = round(mask_rate * n)
    n_masked, tries = 0, 0
    # Spans may overlap or touch (then they merge into one mask); the tries
    # bound the loop when spans keep landing on masked words.
    while n_masked < n_to_mask and tries < 4 * n:
        tries += 1
        length = min(max(1, poisson(rng, span_mean)), n_to_mask - n_masked)
        start = rng.randrange(n - length + 1)
        for i in range(start, start + length):
            if not masked[i]:
                masked[i] = True
                n_masked += 1
    noisy: List[str] = []
    for i, word in enumerate(words):
        if masked[i]:
            if not (i > 0 and masked[i - 1]):
                noisy.append(mask_token)
        elif not (drop_rate and rng.random() < drop_rate):
            noisy.append(word)
    if not noisy:
        noisy = [mask_token]
    if shuffle_distance > 1:
        keys = [i + rng.uniform(0, shuffle_distance) for i in range(len(noisy))]
        noisy = [word for _, word in sorted(zip(keys, noisy), key=lambda kw: kw[0])]
    return noisy


def poisson(rng: random.Random, mean: float) -> int:
    """A draw from a Poisson distribution (Knuth's method: fine for the
    small means of span lengths)."""
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def choose_gap(
    sentences: Sequence[str], select: str, min_words: int, max_words: int
) -> Optional[int]:
    """The index of the gap sentence of a run, or None if none fits."""
    fits = [
        i
        for i, sentence in enumerate(sentences)
        if min_words <= len(sentence.split()) <= max_words
    ]
    if select == "first":
        return 0 if fits and fits[0] == 0 else None
    best, best_score = None, -1.0
    for i in fits:
        rest = [word for j, s in enumerate(sentences) if j != i for word in s.split()]
        score = unigram_f1(sentences[i].split(), rest)
        if score > best_score:
            best, best_score = i, score
    return best


def unigram_f1(candidate: Sequence[str], reference: Sequence[str]) -> float:
    """ROUGE-1 F1 of two word lists, lowercased, punctuation stripped."""
    a = Counter(normalize_words(candidate))
    b = Counter(normalize_words(reference))
    overlap = sum((a & b).values())
    if not overlap:
        return 0.0
    precision = overlap / sum(a.values())
    recall = overlap / sum(b.values())
    return 2 * precision * recall / (precision + recall)


def normalize_words(words: Iterable[str]) -> List[str]:
    """Lowercase words without surrounding punctuation, empty ones left out."""
    stripped = (word.lower().strip(".,;:!?\"'()[]{}-") for word in words)
    return [word for word in stripped if word]
