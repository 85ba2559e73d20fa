"""Teacher forcing schedules against exposure bias: eps_i, the probability that
the decoder reads the gold previous token at update i rather than its own
sample (scheduled sampling, Bengio et al. 2015). A schedule is a picklable
callable of the update count, so the pipeline still pickles
(thinc's schedules are generators, which don't).
"""

import math
from dataclasses import dataclass

from spacy.util import registry

from ..settings import check_number


@registry.misc("spacy-seq2seq.TeacherForcing.v1")
@dataclass(frozen=True)
class TeacherForcing:
    """A constant teacher forcing ratio eps (1.0: always the gold token)."""

    ratio: float

    def __post_init__(self) -> None:
        check_number("teacher_forcing.ratio", self.ratio, minimum=0.0, maximum=1.0)

    def __call__(self, step: int) -> float:
        return self.ratio


@registry.misc("spacy-seq2seq.LinearDecay.v1")
@dataclass(frozen=True)
class LinearDecay:
    """eps_i = max(eps_min, k - c * i)."""

    k: float
    c: float
    eps_min: float

    def __post_init__(self) -> None:
        check_number("teacher_forcing.k", self.k, minimum=0.0, maximum=1.0)
        check_number("teacher_forcing.c", self.c, minimum=0.0)
        check_number("teacher_forcing.eps_min", self.eps_min, minimum=0.0, maximum=1.0)

    def __call__(self, step: int) -> float:
        return max(self.eps_min, self.k - self.c * step)


@registry.misc("spacy-seq2seq.ExponentialDecay.v1")
@dataclass(frozen=True)
class ExponentialDecay:
    """eps_i = k ** i, with k < 1."""

    k: float

    def __post_init__(self) -> None:
        check_number("teacher_forcing.k", self.k, above=0.0, maximum=1.0)

    def __call__(self, step: int) -> float:
        return self.k**step


@registry.misc("spacy-seq2seq.InverseSigmoidDecay.v1")
@dataclass(frozen=True)
class InverseSigmoidDecay:
    """eps_i = k / (k + exp(i / k)), with k >= 1."""

    k: float

    def __post_init__(self) -> None:
        check_number("teacher_forcing.k", self.k, minimum=1.0)

    def __call__(self, step: int) -> float:
        # exp overflows past i / k ~ 709, where eps is 0 anyway
        return self.k / (self.k + math.exp(min(step / self.k, 700.0)))
