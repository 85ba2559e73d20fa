"""The same API on Ray Serve: each replica runs the app of app.py
(validation, limits, errors) with its own pipeline, and batches the texts
of the requests Ray Serve routes to it with `@serve.batch`, decoding on one
torch thread. A responder's conversations are kept by one small deployment
that every replica asks, so a conversation may go on on any replica.
Needs the `ray` extra.

An earlier version had one ingress replica send each text to the decoders:
a remote call per text (about 21 ms of CPU a request on two cores, against
2.6 ms for the embedded server); here a request costs Ray Serve's proxy and
one replica.
"""

import asyncio
import signal
import sys
from contextlib import asynccontextmanager
from typing import AsyncIterator, List, Optional, Tuple, Union

import spacy
from ray import serve
from ray.serve.handle import DeploymentHandle

from ..batch.local_ray import init_ray
from .app import create_app
from .conversations import ConversationStore, Turn
from .limits import Limits
from .service import Decoded, DecodeError, DecodeTask, Seq2SeqService, ServingSpec

APP_NAME = "spacy-seq2seq"
# How long a message waits for the one before it in its conversation (a
# replica that died mid-reply would otherwise hold the conversation forever).
TURN_TIMEOUT_S = 300.0


@serve.deployment
@serve.ingress()
class Server:
    """One pipeline per replica, the whole API in front of it. Ray Serve
    gathers the texts that arrive within max_wait_ms (up to max_batch_size)
    into one call of `decode_batch`."""

    def __init__(
        self,
        model: str,
        component: Optional[str],
        limits: Limits,
        use_gpu: bool,
        conversations: Optional[DeploymentHandle] = None,
    ) -> None:
        import torch

        # a replica has one CPU: more threads would fight the other replicas
        torch.set_num_threads(1)
        if use_gpu:
            spacy.require_gpu()  # the GPU Ray gave this replica
        self.service = Seq2SeqService.load(model, component=component, limits=limits)
        self.conversations = conversations
        self.decode_batch.set_max_batch_size(limits.max_batch_size)
        self.decode_batch.set_batch_wait_timeout_s(limits.max_wait_ms / 1000.0)

    def __serve_build_asgi_app__(self):
        shared = self.conversations
        return create_app(
            self.service.spec,
            self.decode,
            conversations=SharedConversations(shared) if shared is not None else None,
        )

    @serve.batch
    async def decode_batch(
        self, tasks: List[DecodeTask]
    ) -> List[Union[Decoded, DecodeError]]:
        # off the replica's event loop, so that the next batch can gather
        return await asyncio.to_thread(self.service.decode_batch, tasks)

    async def decode(self, task: DecodeTask) -> Decoded:
        result = await self.decode_batch(task)
        if isinstance(result, DecodeError):
            raise result
        return result


@serve.deployment(ray_actor_options={"num_cpus": 0}, max_ongoing_requests=100_000)
class ConversationKeeper:
    """The conversations of every replica, one message of a conversation at
    a time: `begin` waits for the conversation's previous message to `end`."""

    def __init__(self, limits: Limits) -> None:
        self.store = ConversationStore(
            max_conversations=limits.max_conversations,
            max_age_s=limits.conversation_max_age_s,
            max_turns=limits.max_turns,
        )
        self.turns: dict = {}  # conversation id: (the open block, its end)

    async def begin(
        self, conversation_id: Optional[str]
    ) -> Tuple[str, Optional[List[str]], Optional[str]]:
        block = self.store.taking_turn(conversation_id)
        turn = await asyncio.wait_for(block.__aenter__(), TURN_TIMEOUT_S)
        ended = asyncio.get_running_loop().create_future()
        self.turns[turn.id] = (turn, ended)
        asyncio.ensure_future(self._close(block, turn, ended))
        return turn.id, turn.turns, turn.document

    async def _close(self, block, turn: Turn, ended: asyncio.Future) -> None:
        try:
            added, turn.document = await asyncio.wait_for(ended, TURN_TIMEOUT_S)
        except asyncio.TimeoutError:
            added = ()
        turn.add(*added)
        await block.__aexit__(None, None, None)

    async def end(
        self, conversation_id: str, added: Tuple[str, ...], document: Optional[str]
    ) -> None:
        turn, ended = self.turns.pop(conversation_id)
        ended.set_result((tuple(added), document))

    async def remove(self, conversation_id: str) -> bool:
        return await self.store.remove(conversation_id)


class SharedConversations:
    """The Conversations of app.py, kept by the ConversationKeeper."""

    def __init__(self, keeper: DeploymentHandle) -> None:
        self.keeper = keeper

    @asynccontextmanager
    async def taking_turn(self, conversation_id: Optional[str]) -> AsyncIterator[Turn]:
        id_, turns, document = await self.keeper.begin.remote(conversation_id)
        turn = Turn(id_, turns, document)
        added: Tuple[str, ...] = ()
        try:
            yield turn
            added = turn.added
        finally:
            await self.keeper.end.remote(id_, added, turn.document)

    async def remove(self, conversation_id: str) -> bool:
        return await self.keeper.remove.remote(conversation_id)


def build_app(
    model: str,
    spec: ServingSpec,
    *,
    component: Optional[str],
    replicas: int,
    num_gpus_per_replica: float,
):
    """The Ray Serve application: `replicas` servers (and, for a responder,
    the keeper of their conversations)."""
    if replicas < 1:
        raise ValueError(f"replicas must be at least 1, not {replicas}")
    if num_gpus_per_replica < 0:
        raise ValueError(
            f"num_gpus_per_replica must be >= 0, not {num_gpus_per_replica}"
        )
    spec.check()
    limits = spec.limits
    keeper = ConversationKeeper.bind(limits) if spec.task == "reply" else None
    return Server.options(
        num_replicas=replicas,
        # each replica takes up to its queue limit (its app answers 503
        # past it); Ray Serve's default of 5 would starve the batches
        max_ongoing_requests=limits.max_queue,
        max_queued_requests=limits.max_queue,
        ray_actor_options={"num_cpus": 1, "num_gpus": num_gpus_per_replica},
        # a log line per request, shipped to the driver, costs the replicas
        # CPU that decoding needs; errors are still logged
        logging_config={"enable_access_log": False},
    ).bind(model, component, limits, num_gpus_per_replica > 0, keeper)


def run_on_ray(
    model: str,
    spec: ServingSpec,
    *,
    host: str,
    port: int,
    component: Optional[str],
    replicas: int,
    num_gpus_per_replica: float,
) -> None:
    """Deploy on the Ray instance at RAY_ADDRESS (or a new local one) and
    serve until interrupted."""
    import ray

    # SIGTERM too shuts down the deployment, and the Ray instance if this
    # process started it (ray.shutdown at exit does not run on SIGTERM).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    init_ray(ignore_reinit_error=True)
    serve.start(http_options={"host": host, "port": port})
    app = build_app(
        model,
        spec,
        component=component,
        replicas=replicas,
        num_gpus_per_replica=num_gpus_per_replica,
    )
    try:
        serve.run(app, name=APP_NAME, route_prefix="/", blocking=True)
    finally:
        serve.shutdown()
        ray.shutdown()
