"""Dynamic batching: requests that arrive within a few milliseconds are
decoded together, off the event loop.

The components decode a whole batch at once, so 32 texts cost little more
than one: a server that decoded each request alone would waste most of
the machine under many clients.
"""

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Generic, List, Optional, TypeVar, Union

Task = TypeVar("Task")
Result = TypeVar("Result")


@dataclass
class Pending(Generic[Task]):
    task: Task
    arrived: float
    future: asyncio.Future


class Batcher(Generic[Task, Result]):
    """Gathers tasks for up to `max_wait_ms` after the first one arrives (or
    until `max_batch_size` are there) and hands them to `decode_batch` in a
    worker thread, one batch at a time: while a batch decodes, the next one
    gathers. `decode_batch` returns a result or an exception per task; an
    exception it raises fails the tasks of that batch only.
    """

    def __init__(
        self,
        decode_batch: Callable[[List[Task]], List[Union[Result, BaseException]]],
        *,
        max_batch_size: int,
        max_wait_ms: float,
    ) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be at least 1, not {max_batch_size}")
        if max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be >= 0, not {max_wait_ms}")
        self.decode_batch = decode_batch
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_ms / 1000.0
        self._queue: Optional[asyncio.Queue] = None
        self._worker: Optional[asyncio.Task] = None
        self._executor: Optional[ThreadPoolExecutor] = None

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="seq2seq-decode")
        self._worker = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        self._worker = self._executor = None

    async def submit(self, task: Task) -> Result:
        """Decode the task in the next batch; raises what decoding raised."""
        if self._queue is None or self._worker is None or self._worker.done():
            raise RuntimeError("The batcher is not running: call start() first.")
        loop = asyncio.get_running_loop()
        pending = Pending(task, loop.time(), loop.create_future())
        self._queue.put_nowait(pending)
        return await pending.future

    async def _run(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._gather(loop)
            # a client that went away does not cost a decode
            batch = [p for p in batch if not p.future.done()]
            if not batch:
                continue
            try:
                results = await loop.run_in_executor(
                    self._executor, self.decode_batch, [p.task for p in batch]
                )
                if len(results) != len(batch):
                    raise RuntimeError(
                        f"decode_batch gave {len(results)} results for {len(batch)} tasks"
                    )
            except Exception as e:
                results = [e] * len(batch)
            for pending, result in zip(batch, results):
                if pending.future.done():
                    continue
                if isinstance(result, BaseException):
                    pending.future.set_exception(result)
                else:
                    pending.future.set_result(result)

    async def _gather(self, loop: asyncio.AbstractEventLoop) -> List[Pending]:
        """The next batch: the first task to come, and those that arrive
        within max_wait_ms of it (those already waiting join at once)."""
        assert self._queue is not None
        first = await self._queue.get()
        batch = [first]
        deadline = first.arrived + self.max_wait_s
        while len(batch) < self.max_batch_size:
            if not self._queue.empty():
                batch.append(self._queue.get_nowait())
                continue
            timeout = deadline - loop.time()
            if timeout <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), timeout))
            except asyncio.TimeoutError:
                break
        return batch
