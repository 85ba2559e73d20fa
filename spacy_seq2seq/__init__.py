"""Attentional encoder-decoder (seq2seq) components for spaCy."""

from .component import Seq2SeqComponent
from .conversation import Conversation
from .loggers import console_logger
from .model.architectures import AttentionalSeq2Seq
from .model.decoding import BeamSearch, Sampling
from .model.schedules import (
    ExponentialDecay,
    InverseSigmoidDecay,
    LinearDecay,
    TeacherForcing,
)
from .model.transformer_architecture import TransformerSeq2Seq
from .pretraining import (
    create_denoising_reader,
    create_gap_sentence_reader,
    create_mixed_reader,
    create_next_turn_reader,
    create_raw_text_reader,
)
from .readers import create_dialogue_reader, create_jsonl_reader
from .render import render_attention
from .responder import ResponderComponent, make_responder
from .scorers import make_response_scorer, make_rouge_scorer
from .summarizer import make_summarizer

__all__ = [
    "AttentionalSeq2Seq",
    "BeamSearch",
    "Conversation",
    "console_logger",
    "ExponentialDecay",
    "InverseSigmoidDecay",
    "LinearDecay",
    "ResponderComponent",
    "Sampling",
    "Seq2SeqComponent",
    "TeacherForcing",
    "TransformerSeq2Seq",
    "create_denoising_reader",
    "create_dialogue_reader",
    "create_gap_sentence_reader",
    "create_jsonl_reader",
    "create_mixed_reader",
    "create_next_turn_reader",
    "create_raw_text_reader",
    "make_responder",
    "make_response_scorer",
    "make_rouge_scorer",
    "make_summarizer",
    "render_attention",
]
