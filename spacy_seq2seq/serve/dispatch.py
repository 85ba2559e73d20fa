"""Between a request and the decoder: a bounded number of texts in the
server at once, requests whose client has gone dropped before they are
decoded, and a text that fails named in the answer.
"""

import asyncio
import math
import time
from collections import deque
from typing import Awaitable, Callable, Deque, List, Sequence, Tuple

from fastapi import HTTPException, Request

from .service import Decoded, DecodeError, DecodeTask

Decode = Callable[[DecodeTask], Awaitable[Decoded]]
# The status nginx logs for a request its client closed; nobody reads it.
CLIENT_CLOSED = 499


class Dispatcher:
    """Hands the texts of a request to `decode` (the batcher, or a Ray Serve
    replica), at most `max_queue` texts waiting or decoding at once: a
    request that would pass the limit gets a 503 with Retry-After, the
    seconds the server takes to decode the texts already in it at its
    recent rate."""

    def __init__(self, decode: Decode, *, max_queue: int) -> None:
        self.decode_one = decode
        self.max_queue = max_queue
        self.in_flight = 0
        # (time, texts decoded) of the latest requests, for the rate
        self._decoded: Deque[Tuple[float, int]] = deque(maxlen=256)

    async def decode(
        self, request: Request, tasks: List[DecodeTask], fields: Sequence[str]
    ) -> List[Decoded]:
        """Decode the tasks; `fields` names each task's field in the request
        ("texts[2]") for the error when one fails."""
        n = len(tasks)
        if self.in_flight + n > self.max_queue:
            retry_after = self.retry_after_s()
            raise HTTPException(
                503,
                f"The server is full: {self.in_flight} texts are waiting or being "
                f"decoded, of at most {self.max_queue} (--max-queue). Try again in "
                f"{retry_after} s.",
                headers={"Retry-After": str(retry_after)},
            )
        self.in_flight += n
        decoding = asyncio.ensure_future(
            asyncio.gather(*(self.decode_one(t) for t in tasks), return_exceptions=True)
        )
        gone = asyncio.ensure_future(client_gone(request))
        try:
            await asyncio.wait({decoding, gone}, return_when=asyncio.FIRST_COMPLETED)
            if not decoding.done():
                # cancelled futures are skipped by the batcher: no decode
                raise HTTPException(
                    CLIENT_CLOSED, "The client went away before its texts were decoded."
                )
            results = decoding.result()
        finally:
            gone.cancel()
            decoding.cancel()
            self.in_flight -= n
        self._decoded.append((time.monotonic(), n))
        for field, result in zip(fields, results):
            if isinstance(result, DecodeError):
                raise HTTPException(500, f"{field}: {result}")
            if isinstance(result, BaseException):
                raise result
        return list(results)

    def retry_after_s(self) -> int:
        """Seconds to decode what is in the server at the recent rate (1 to
        60; 1 before anything was decoded)."""
        if len(self._decoded) < 2:
            return 1
        seconds = time.monotonic() - self._decoded[0][0]
        rate = sum(n for _, n in self._decoded) / max(seconds, 1e-3)
        return max(1, min(60, math.ceil(self.in_flight / rate)))


async def client_gone(request: Request) -> None:
    """Return when the client closes the connection. The body is read
    already, so the server's next message is the disconnect."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return
