"""The dialogue responder: a seq2seq component that answers the last turns."""

from typing import List, Tuple

from spacy.language import Language
from spacy.tokens import Doc

from .component import DEFAULT_CONFIG, Seq2SeqComponent, spaced_words
from .model.vocab import SpacedWord
from .readers import TURN_SEPARATOR


class ResponderComponent(Seq2SeqComponent):
    """A seq2seq component for dialogue: the source is the end of the
    conversation, its last `max_source_length` tokens, and an empty
    conversation still gets a reply (the model reads one unknown token).
    """

    kind = "seq2seq_responder"
    task = "reply"
    truncation_side = "last"

    # How a conversation's turns are joined in the doc text, oldest first:
    # as the dialogue reader joins them for training, and the server and
    # `apply` for a conversation.
    turn_separator = TURN_SEPARATOR

    def _source_span(self, doc: Doc) -> Tuple[int, List[SpacedWord]]:
        if all(token.is_space for token in doc):
            return 0, [("", False)]
        start = max(len(doc) - self.max_source_length, 0)
        return start, spaced_words(doc[start:])


make_responder = Language.factory(
    "seq2seq_responder",
    assigns=["doc._.response", "doc._.responses"],
    default_config={
        **DEFAULT_CONFIG,
        "target_field": "response",
        "candidates_field": "responses",
        "max_source_length": 150,
        "vocab_size": 4000,
        "decoding": {
            "@misc": "spacy-seq2seq.MMIRerank.v1",
            "min_length": 3,
            "no_repeat_ngram_size": 3,
            "no_repeat_context_ngram_size": 4,
            "top_p": 0.9,
            "mmi_weight": 0.75,
            "length_bonus": 1.0,
        },
        "scorer": {"@scorers": "spacy-seq2seq.ResponseScorer.v2"},
    },
    default_score_weights={
        "response_bleu": 0.5,
        "response_token_prob": 0.5,
        "response_f1": 0.0,
        "response_distinct1": 0.0,
        "response_distinct2": 0.0,
        "response_top_reply_share": 0.0,
        "response_perplexity": 0.0,
    },
    func=ResponderComponent.factory,
)
