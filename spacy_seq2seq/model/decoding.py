"""How to decode: the settings of beam search, of sampling and of MMI
reranking, frozen and validated where they are built.

Registered as config blocks (`@misc = "spacy-seq2seq.BeamSearch.v1"`,
`"spacy-seq2seq.Sampling.v1"` or `"spacy-seq2seq.MMIRerank.v1"`) for a
component's `decoding` setting. No torch: the torch search reads them, the
spaCy component holds them, and the thinc glue draws a sampling's random
numbers from them (`sampling_uniforms`).
"""

import dataclasses
import zlib
from dataclasses import dataclass
from typing import Any, ClassVar, Dict, List, Optional, Union

import numpy

from ..settings import SettingError, check_at_most, check_int, check_number, check_text


@dataclass(frozen=True)
class DecodingSettings:
    """What every decoding shares: the length of the output, the n-grams
    it may not repeat (`no_repeat_ngram_size` its own, and
    `no_repeat_context_ngram_size` the source's, of a grounded responder's
    source the conversation's only: the document's phrases may be repeated;
    0: no blocking), and
    `unfaithful_penalty`, subtracted from the log-probability of each
    vocabulary word that is a content word the source lacks (stemmed, as
    spacy_seq2seq/faithfulness.py compares them; 0: off)."""

    n_best: int = 1
    max_length: int = 30
    min_length: int = 1
    length_penalty: float = 0.0
    no_repeat_ngram_size: int = 0
    no_repeat_context_ngram_size: int = 0
    unfaithful_penalty: float = 0.0

    def __post_init__(self) -> None:
        check_int("n_best", self.n_best, minimum=1)
        check_int("max_length", self.max_length, minimum=1)
        check_int("min_length", self.min_length, minimum=0)
        check_at_most("min_length", self.min_length, "max_length", self.max_length)
        check_number("length_penalty", self.length_penalty, minimum=0.0)
        check_int("no_repeat_ngram_size", self.no_repeat_ngram_size, minimum=0)
        check_int(
            "no_repeat_context_ngram_size", self.no_repeat_context_ngram_size, minimum=0
        )
        check_number("unfaithful_penalty", self.unfaithful_penalty, minimum=0.0)


@dataclass(frozen=True)
class BeamSearch(DecodingSettings):
    """Beam search (greedy when beam_size = 1): the n_best likeliest texts,
    ranked by their log-probability over GNMT's length normaliser
    ((5 + |Y|) / 6) ** length_penalty plus the coverage penalty."""

    name: ClassVar[str] = "beam"
    beam_size: int = 4
    coverage_penalty: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int("beam_size", self.beam_size, minimum=1)
        check_at_most(
            "n_best",
            self.n_best,
            "beam_size",
            self.beam_size,
            context=" with beam search",
        )
        check_number("coverage_penalty", self.coverage_penalty, minimum=0.0)


@dataclass(frozen=True)
class Sampling(DecodingSettings):
    """n_best samples per source from the distribution truncated by
    temperature, top_k and top_p (nucleus), best first. A source gets the
    same samples for the same seed, whatever batch it is decoded in."""

    name: ClassVar[str] = "sampling"
    top_k: int = 0
    top_p: float = 1.0
    temperature: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int("top_k", self.top_k, minimum=0)
        check_number("top_p", self.top_p, above=0.0, maximum=1.0)
        check_number("temperature", self.temperature, above=0.0)
        check_int("seed", self.seed, minimum=0)

    @property
    def n_samples(self) -> int:
        """How many samples the search draws per source."""
        return self.n_best


@dataclass(frozen=True)
class MMIRerank(Sampling):
    """Maximum mutual information reranking (Li et al. 2016, MMI-antiLM):
    `candidates` samples per source, drawn as Sampling draws them, ranked by
    (log p(T|S) - mmi_weight * log p(T)) / ((5 + |T|) / 6) ** length_penalty
    + length_bonus * |T|, where p(T) is what the decoder gives the reply
    after an empty source. mmi_weight > 0 demotes the replies that are likely
    whatever was said ("I don't know"); length_bonus > 0 offsets the short
    replies' higher probability."""

    name: ClassVar[str] = "mmi"
    candidates: int = 8
    mmi_weight: float = 0.5
    length_bonus: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int("candidates", self.candidates, minimum=1)
        check_at_most("n_best", self.n_best, "candidates", self.candidates)
        check_number("mmi_weight", self.mmi_weight, minimum=0.0)
        check_number("length_bonus", self.length_bonus)

    @property
    def n_samples(self) -> int:
        return self.candidates


Decoding = Union[BeamSearch, Sampling, MMIRerank]
DECODINGS = {kind.name: kind for kind in (BeamSearch, Sampling, MMIRerank)}


def settings_of(decoding: Decoding) -> Dict[str, Any]:
    """The decoding's settings by name, its kind ("beam", "sampling" or
    "mmi") under "decoding"."""
    return {"decoding": decoding.name, **dataclasses.asdict(decoding)}


def changed_decoding(
    decoding: Decoding, kind: Optional[str] = None, **changes: Any
) -> Decoding:
    """The decoding with these settings changed, validated; with `kind`,
    a decoding of that kind that keeps the settings the two kinds share.
    Raises a SettingError naming a setting the kind does not have.
    """
    if kind is not None:
        check_text("decoding", kind, choices=tuple(DECODINGS))
    new_kind = DECODINGS[kind] if kind is not None else type(decoding)
    fields = {field.name for field in dataclasses.fields(new_kind)}
    unknown = sorted(set(changes) - fields)
    if unknown:
        raise SettingError(
            unknown[0],
            f"{new_kind.name} decoding has no setting {', '.join(unknown)} "
            f"(it has {', '.join(sorted(fields))})",
        )
    kept = {k: v for k, v in dataclasses.asdict(decoding).items() if k in fields}
    return new_kind(**{**kept, **changes})


def sampling_uniforms(source_ids: List[List[int]], decoding: Sampling) -> numpy.ndarray:
    """One uniform number per source, sample and step: B×n_samples×max_length.
    Each source's numbers depend only on the seed and the source's ids, so
    a source gets the same samples whatever batch it is decoded in.
    """
    shape = (decoding.n_samples, decoding.max_length)
    return numpy.stack(
        [
            numpy.random.default_rng(
                [decoding.seed, zlib.crc32(numpy.asarray(ids, dtype="int64").tobytes())]
            ).random(shape, dtype=numpy.float32)
            for ids in source_ids
        ]
    )
