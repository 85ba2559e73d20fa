"""What a request may ask of the server, in one place: the serve command's
flags take their defaults from `Limits()`."""

from dataclasses import dataclass

from ..settings import check_int


@dataclass
class Limits:
    """What one request may ask of the server. Texts longer than max_chars
    and requests with more than max_batch_size texts are refused (413); a
    request that would put more than max_queue texts in the server (waiting
    or decoding) gets a 503. These defaults are the serve command's."""

    max_batch_size: int = 32
    max_queue: int = 256
    max_wait_ms: float = 10.0
    max_chars: int = 20_000
    max_beam_size: int = 16
    max_length: int = 200
    max_turns: int = 3
    max_conversations: int = 1000
    conversation_max_age_s: float = 3600.0

    def __post_init__(self) -> None:
        for name in (
            "max_batch_size",
            "max_queue",
            "max_chars",
            "max_beam_size",
            "max_length",
            "max_turns",
            "max_conversations",
        ):
            check_int(name, getattr(self, name), minimum=1)
        for name in ("max_wait_ms", "conversation_max_age_s"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, not {getattr(self, name)}")
        if self.max_queue < self.max_batch_size:
            raise ValueError(
                f"max_queue ({self.max_queue}) must be at least max_batch_size "
                f"({self.max_batch_size}), or a request of max_batch_size texts "
                "would always be refused"
            )

    @property
    def max_body_bytes(self) -> int:
        """The largest request body read: every text at its longest, in UTF-8
        (at most 4 bytes a character, more with JSON escapes), and headroom."""
        return 6 * self.max_chars * self.max_batch_size + 65536


DEFAULT_LIMITS = Limits()
