"""Attentional encoder-decoder (seq2seq) components for spaCy."""

from .architectures import AttentionalSeq2Seq
from .conversation import Conversation
from .loggers import console_logger
from .pipeline_component import Seq2SeqComponent, make_summarizer
from .readers import create_dialogue_reader, create_jsonl_reader
from .render import render_attention
from .responder import ResponderComponent, make_responder
from .schedules import (
    ExponentialDecay,
    InverseSigmoidDecay,
    LinearDecay,
    TeacherForcing,
)
from .scorers import make_response_scorer, make_rouge_scorer

__all__ = [
    "AttentionalSeq2Seq",
    "Conversation",
    "console_logger",
    "ExponentialDecay",
    "InverseSigmoidDecay",
    "LinearDecay",
    "ResponderComponent",
    "Seq2SeqComponent",
    "TeacherForcing",
    "create_dialogue_reader",
    "create_jsonl_reader",
    "make_responder",
    "make_response_scorer",
    "make_rouge_scorer",
    "make_summarizer",
    "render_attention",
]
