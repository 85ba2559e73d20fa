"""Server-side conversations, bounded in number and age."""

import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, List, Optional


@dataclass
class StoredConversation:
    turns: List[str] = field(default_factory=list)
    last_used: float = 0.0
    # what a grounded responder reads beside the turns (None: none)
    document: Optional[str] = None


class ConversationStore:
    """The last `max_turns` turns of each open conversation, by id. A
    conversation unused for `max_age_s` is forgotten, and when
    `max_conversations` are open the one unused the longest makes room for a
    new one.
    """

    def __init__(
        self,
        *,
        max_conversations: int,
        max_age_s: float,
        max_turns: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_conversations = max_conversations
        self.max_turns = max_turns
        self.max_age_s = max_age_s
        self.clock = clock
        # least recently used first
        self._conversations: "OrderedDict[str, StoredConversation]" = OrderedDict()

    def __len__(self) -> int:
        self._expire()
        return len(self._conversations)

    def create(self) -> str:
        self._expire()
        while len(self._conversations) >= self.max_conversations:
            self._conversations.popitem(last=False)
        conversation_id = uuid.uuid4().hex
        self._conversations[conversation_id] = StoredConversation(
            last_used=self.clock()
        )
        return conversation_id

    def turns(self, conversation_id: str) -> Optional[List[str]]:
        """The conversation's turns so far, oldest first; None if it is not
        open (never was, expired or deleted)."""
        self._expire()
        conversation = self._conversations.get(conversation_id)
        if conversation is None:
            return None
        self._touch(conversation_id)
        return list(conversation.turns)

    def document(self, conversation_id: str) -> Optional[str]:
        """The open conversation's document (None: none, or not open)."""
        conversation = self._conversations.get(conversation_id)
        return None if conversation is None else conversation.document

    def set_document(self, conversation_id: str, document: Optional[str]) -> None:
        """Give an open conversation the document its replies read."""
        conversation = self._conversations.get(conversation_id)
        if conversation is not None:
            conversation.document = document

    def add(self, conversation_id: str, *turns: str) -> None:
        """Add turns to an open conversation (one deleted meanwhile stays
        deleted)."""
        conversation = self._conversations.get(conversation_id)
        if conversation is not None:
            conversation.turns.extend(turns)
            del conversation.turns[: -self.max_turns]
            self._touch(conversation_id)

    def delete(self, conversation_id: str) -> bool:
        return self._conversations.pop(conversation_id, None) is not None

    def _touch(self, conversation_id: str) -> None:
        self._conversations[conversation_id].last_used = self.clock()
        self._conversations.move_to_end(conversation_id)

    def _expire(self) -> None:
        oldest = self.clock() - self.max_age_s
        while self._conversations:
            conversation_id, conversation = next(iter(self._conversations.items()))
            if conversation.last_used >= oldest:
                break
            del self._conversations[conversation_id]
