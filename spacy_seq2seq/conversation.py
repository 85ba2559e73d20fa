"""A conversation with a pipeline that has a seq2seq_responder."""

import re
import unicodedata
from typing import List, Optional

from spacy.language import Language

from .grounding import check_document, set_document
from .pipeline import find_component
from .readers import TURN_SEPARATOR

# Terminal escape sequences: CSI (ESC [ or the C1 byte, parameters, a final
# byte), OSC (ESC ], up to BEL or ESC \\) and the two-character escapes.
ESCAPE_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[ -/]*[0-~]"
)

BIDI_CONTROLS = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


class Conversation:
    """Keeps the last `max_turns` turns of a chat (the user's and the
    responder's, oldest first) and answers each new message from them.

    nlp: a pipeline with a seq2seq_responder.
    max_turns: the turns the responder reads, the new message included.
    component: the name of the component that answers: needed when the
        pipeline has several responders, or none (any seq2seq component).
    document: the text the chat is about, which a grounded responder reads
        beside the turns (doc._.document); None for none. It can be changed
        (`conversation.document = ...`) between replies.
    """

    def __init__(
        self,
        nlp: Language,
        *,
        max_turns: int = 3,
        component: Optional[str] = None,
        document: Optional[str] = None,
    ) -> None:
        if max_turns < 1:
            raise ValueError(f"max_turns must be at least 1, not {max_turns}")
        self.nlp = nlp
        self.max_turns = max_turns
        self.responder = find_component(
            nlp, component, task="reply", purpose="chat with"
        )
        self.turn_separator = TURN_SEPARATOR
        self.turns: List[str] = []
        self.document = document

    @property
    def document(self) -> Optional[str]:
        """The document the responder reads beside the turns, or None."""
        return self._document

    @document.setter
    def document(self, document: Optional[str]) -> None:
        self._document = check_document(document)

    def reply(self, message: str) -> str:
        """Add the message, answer it and add the answer."""
        self.turns.append(" ".join(message.split()))
        context = join_turns(self.turns, self.turn_separator, self.max_turns)
        doc = set_document(self.nlp.make_doc(context), self.document)
        response = self.nlp(doc)._.get(self.responder.target_field)
        self.turns.append(response)
        return response

    def reset(self) -> None:
        """Start a new conversation."""
        self.turns = []


def join_turns(turns: List[str], separator: str, max_turns: int) -> str:
    """The text a responder reads: the last `max_turns` turns, each with its
    whitespace collapsed (so no turn contains the separator)."""
    return separator.join(" ".join(turn.split()) for turn in turns[-max_turns:])


def printable(text: str) -> str:
    """The text without terminal escape sequences, control characters or
    bidirectional overrides (line breaks become spaces), safe to print."""
    text = ESCAPE_SEQUENCE.sub("", text)
    return "".join(
        " " if char in "\t\n\r" else char
        for char in text
        if char in "\t\n\r"
        or (
            unicodedata.category(char) not in ("Cc", "Cs") and char not in BIDI_CONTROLS
        )
    )
