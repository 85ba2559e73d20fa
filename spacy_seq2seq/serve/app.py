"""The HTTP API (/v1, described at /docs) and the page at /, as a FastAPI app.

`create_app` takes how to decode one task (an awaitable): the embedded
server's batcher, or a Ray Serve replica's. Everything else, validation,
limits, conversations and errors, is the same for both: the request bodies
in schema.py, the routes in routes.py (a router per task), the error
handlers in errors.py, the queue limit in dispatch.py.
"""

from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Callable, Optional

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from .batcher import Batcher
from .conversations import Conversations, ConversationStore
from .dispatch import Decode, Dispatcher
from .errors import BodyLimit, install_error_handlers
from .routes import (
    API_VERSION,
    STATIC,
    common_router,
    reply_router,
    summarize_router,
)
from .service import Decoded, DecodeTask, Seq2SeqService, ServingSpec


def create_app(
    spec: ServingSpec,
    decode: Decode,
    *,
    lifespan: Optional[Callable[[FastAPI], Any]] = None,
    conversations: Optional[Conversations] = None,
) -> FastAPI:
    """The app serving one component: `decode` decodes one task. Raises a
    ValueError if the component's own settings break the server's limits."""
    spec.check()
    app = FastAPI(
        title="spacy-seq2seq",
        description=f"{spec.pipeline['name']}: /{API_VERSION}/{spec.task}",
        version=str(spec.pipeline.get("version") or "unversioned"),
        lifespan=lifespan,
    )
    install_error_handlers(app, not_found=wrong_task_message(spec))
    app.add_middleware(BodyLimit, max_bytes=spec.limits.max_body_bytes)
    dispatcher = Dispatcher(decode, max_queue=spec.limits.max_queue)
    app.state.dispatcher = dispatcher
    app.include_router(common_router(spec))
    if spec.task == "reply":
        if conversations is None:
            conversations = conversation_store(spec)
        app.state.conversations = conversations
        app.include_router(reply_router(spec, dispatcher, conversations))
    else:
        app.include_router(summarize_router(spec, dispatcher))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def conversation_store(spec: ServingSpec) -> ConversationStore:
    limits = spec.limits
    return ConversationStore(
        max_conversations=limits.max_conversations,
        max_age_s=limits.conversation_max_age_s,
        max_turns=limits.max_turns,
    )


def wrong_task_message(spec: ServingSpec) -> Callable[[str], Optional[str]]:
    """The 404 of another task's route says which one this server answers."""
    other_routes = {
        "summarize": (f"/{API_VERSION}/reply", f"/{API_VERSION}/conversations"),
        "reply": (f"/{API_VERSION}/summarize",),
    }[spec.task]

    def message(path: str) -> Optional[str]:
        if not path.startswith(other_routes):
            return None
        return (
            f"The served component '{spec.pipeline['component']}' answers "
            f"/{API_VERSION}/{spec.task}, not {path}."
        )

    return message


def embedded_app(service: Seq2SeqService) -> FastAPI:
    """The app with a batcher that decodes in this process."""
    batcher: Batcher[DecodeTask, Decoded] = Batcher(
        service.decode_batch,
        max_batch_size=service.limits.max_batch_size,
        max_wait_ms=service.limits.max_wait_ms,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await batcher.start()
        try:
            yield
        finally:
            await batcher.stop()

    return create_app(service.spec, batcher.submit, lifespan=lifespan)
