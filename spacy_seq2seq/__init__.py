"""Attentional encoder-decoder (seq2seq) components for spaCy."""

from .architectures import AttentionalSeq2Seq
from .pipeline_component import Seq2SeqComponent, make_summarizer
from .readers import create_jsonl_reader
from .schedules import (
    ExponentialDecay,
    InverseSigmoidDecay,
    LinearDecay,
    TeacherForcing,
)
from .scorers import make_rouge_scorer

__all__ = [
    "AttentionalSeq2Seq",
    "ExponentialDecay",
    "InverseSigmoidDecay",
    "LinearDecay",
    "Seq2SeqComponent",
    "TeacherForcing",
    "create_jsonl_reader",
    "make_rouge_scorer",
    "make_summarizer",
]
