"""The dialogue responder: a seq2seq component that answers the last turns."""

from typing import Callable, List, Optional, Tuple

from spacy.language import Language
from spacy.tokens import Doc
from spacy.vocab import Vocab
from thinc.api import Model

from .pipeline_component import DEFAULT_MODEL, Seq2SeqComponent, spaced_words
from .search import SearchSettings
from .vocab import SpacedWord


@Language.factory(
    "seq2seq_responder",
    assigns=["doc._.response", "doc._.responses"],
    default_config={
        "model": DEFAULT_MODEL,
        "target_field": "response",
        "candidates_field": "responses",
        "turn_separator": "\n",
        "max_source_length": 150,
        "max_target_length": 40,
        "vocab_size": 4000,
        "min_count": 2,
        "label_smoothing": 0.0,
        "grad_clip": 5.0,
        "teacher_forcing": {"@misc": "spacy-seq2seq.TeacherForcing.v1", "ratio": 1.0},
        "coverage_loss_weight": 0.0,
        "decoding": "sampling",
        "beam_size": 5,
        "n_best": 1,
        "max_length": 30,
        "min_length": 3,
        "length_penalty": 1.0,
        "no_repeat_ngram_size": 3,
        "no_repeat_context_ngram_size": 4,
        "coverage_penalty": 0.0,
        "top_k": 0,
        "top_p": 0.9,
        "temperature": 1.0,
        "seed": 0,
        "store_attention": False,
        "scorer": {"@scorers": "spacy-seq2seq.ResponseScorer.v1"},
    },
    default_score_weights={
        "response_bleu": 0.5,
        "response_token_prob": 0.5,
        "response_distinct1": 0.0,
        "response_distinct2": 0.0,
        "response_perplexity": 0.0,
        "response_top_reply_share": None,
    },
)
def make_responder(
    nlp: Language,
    name: str,
    model: Model,
    target_field: str,
    candidates_field: str,
    turn_separator: str,
    max_source_length: int,
    max_target_length: int,
    vocab_size: int,
    min_count: int,
    label_smoothing: float,
    grad_clip: float,
    teacher_forcing: Callable[[int], float],
    coverage_loss_weight: float,
    decoding: str,
    beam_size: int,
    n_best: int,
    max_length: int,
    min_length: int,
    length_penalty: float,
    no_repeat_ngram_size: int,
    no_repeat_context_ngram_size: int,
    coverage_penalty: float,
    top_k: int,
    top_p: float,
    temperature: float,
    seed: int,
    store_attention: bool,
    scorer: Optional[Callable],
) -> "ResponderComponent":
    """Answer the conversation in the doc's text (its turns, oldest first,
    joined by `turn_separator`): the reply goes to doc._.response and the
    n-best (reply, score) pairs to doc._.responses. `decoding` is "beam"
    or "sampling" (top_k, top_p, temperature; `seed` makes replies
    reproducible).
    """
    return ResponderComponent(
        nlp.vocab,
        model,
        name,
        tokenizer=nlp.tokenizer,
        turn_separator=turn_separator,
        target_field=target_field,
        candidates_field=candidates_field,
        max_source_length=max_source_length,
        max_target_length=max_target_length,
        vocab_size=vocab_size,
        min_count=min_count,
        label_smoothing=label_smoothing,
        grad_clip=grad_clip,
        teacher_forcing=teacher_forcing,
        coverage_loss_weight=coverage_loss_weight,
        search=SearchSettings(
            decoding=decoding,
            beam_size=beam_size,
            n_best=n_best,
            max_length=max_length,
            min_length=min_length,
            length_penalty=length_penalty,
            no_repeat_ngram_size=no_repeat_ngram_size,
            no_repeat_context_ngram_size=no_repeat_context_ngram_size,
            coverage_penalty=coverage_penalty,
            top_k=top_k,
            top_p=top_p,
            temperature=temperature,
            seed=seed,
        ),
        store_attention=store_attention,
        scorer=scorer,
    )


class ResponderComponent(Seq2SeqComponent):
    """A seq2seq component for dialogue: the source is the end of the
    conversation, its last `max_source_length` tokens, and an empty
    conversation still gets a reply (the model reads one unknown token).
    """

    kind = "seq2seq_responder"
    truncation_side = "last"

    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        name: str,
        *,
        turn_separator: str,
        **settings,
    ) -> None:
        if not isinstance(turn_separator, str) or not turn_separator:
            raise ValueError(
                f"[{name}] turn_separator must be a non-empty string, "
                f"not {turn_separator!r}"
            )
        super().__init__(vocab, model, name, **settings)
        self.turn_separator = turn_separator

    def _source_span(self, doc: Doc) -> Tuple[int, List[SpacedWord]]:
        if all(token.is_space for token in doc):
            return 0, [("", False)]
        start = max(len(doc) - self.max_source_length, 0)
        return start, spaced_words(doc[start:])
