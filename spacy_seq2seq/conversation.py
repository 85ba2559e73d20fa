"""A conversation with a pipeline that has a seq2seq_responder."""

from typing import List, Optional

from spacy.language import Language

from .responder import ResponderComponent


class Conversation:
    """Keeps the last `max_turns` turns of a chat (the user's and the
    responder's, oldest first) and answers each new message from them.

    nlp: a pipeline with a seq2seq_responder.
    max_turns: the turns the responder reads, the new message included.
    component: the responder's name, if the pipeline has several.
    """

    def __init__(
        self, nlp: Language, *, max_turns: int = 3, component: Optional[str] = None
    ) -> None:
        if max_turns < 1:
            raise ValueError(f"max_turns must be at least 1, not {max_turns}")
        self.nlp = nlp
        self.max_turns = max_turns
        self.responder = find_responder(nlp, component)
        self.turns: List[str] = []

    def reply(self, message: str) -> str:
        """Add the message, answer it and add the answer."""
        self.turns.append(" ".join(message.split()))
        context = self.responder.turn_separator.join(self.turns[-self.max_turns :])
        response = self.nlp(context)._.get(self.responder.target_field)
        self.turns.append(response)
        return response

    def reset(self) -> None:
        """Start a new conversation."""
        self.turns = []


def find_responder(nlp: Language, name: Optional[str] = None) -> ResponderComponent:
    """The pipeline's responder: the one named, or the only one."""
    responders = {
        pipe_name: pipe
        for pipe_name, pipe in nlp.pipeline
        if isinstance(pipe, ResponderComponent)
    }
    if name is not None:
        if name not in responders:
            raise ValueError(
                f"The pipeline has no seq2seq_responder named '{name}' "
                f"(its responders: {sorted(responders)})"
            )
        return responders[name]
    if len(responders) != 1:
        raise ValueError(
            f"Expected one seq2seq_responder in the pipeline {nlp.pipe_names}, "
            f"found {len(responders)}: name the one to use."
        )
    return next(iter(responders.values()))
