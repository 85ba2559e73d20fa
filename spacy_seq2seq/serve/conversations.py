"""Server-side conversations, bounded in number and age, one message of a
conversation at a time."""

import asyncio
import time
import uuid
from collections import OrderedDict
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import (
    AsyncContextManager,
    AsyncIterator,
    Callable,
    Dict,
    List,
    Optional,
    Protocol,
    Tuple,
)


class Conversations(Protocol):
    """Where the server keeps its conversations: a ConversationStore in the
    embedded server, one shared by every replica on Ray Serve."""

    def taking_turn(
        self, conversation_id: Optional[str]
    ) -> AsyncContextManager["Turn"]: ...

    async def remove(self, conversation_id: str) -> bool: ...


@dataclass
class Turn:
    """A message's turn in a conversation: the turns before it (None: no
    open conversation has the id), the exchange to add, and the document a
    grounded responder reads (the conversation's; set it to keep another)."""

    id: str
    turns: Optional[List[str]]
    document: Optional[str] = None
    added: Tuple[str, ...] = ()

    def add(self, *turns: str) -> None:
        self.added += turns


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
        # a lock per conversation with a message in progress, and how many
        # messages hold or wait for it
        self._locks: Dict[str, Tuple[asyncio.Lock, int]] = {}

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

    @asynccontextmanager
    async def taking_turn(
        self, conversation_id: Optional[str]
    ) -> AsyncIterator["Turn"]:
        """A message's turn in the conversation (a new one when
        `conversation_id` is None): its id and turns so far (None if it is
        not open). Messages to one conversation take turns: the exchange
        added to the Turn is stored when the block ends without an error,
        before the next message gets its turns, so each reply reads the
        exchanges before it, in the order they are stored."""
        if conversation_id is None:
            conversation_id = self.create()
        lock, users = self._locks.get(conversation_id, (asyncio.Lock(), 0))
        self._locks[conversation_id] = (lock, users + 1)
        try:
            async with lock:
                turn = Turn(
                    conversation_id,
                    self.turns(conversation_id),
                    self.document(conversation_id),
                )
                yield turn
                self.add(conversation_id, *turn.added)
                self.set_document(conversation_id, turn.document)
        finally:
            lock, users = self._locks[conversation_id]
            if users == 1:
                del self._locks[conversation_id]
            else:
                self._locks[conversation_id] = (lock, users - 1)

    async def remove(self, conversation_id: str) -> bool:
        """Forget the conversation; False if it was not open."""
        return self.delete(conversation_id)

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
