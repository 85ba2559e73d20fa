"""The HTTP API (/v1, described at /docs) and the page at /, as a FastAPI app.

`create_app` takes how to decode one task (an awaitable): the embedded
server's batcher, or a Ray Serve deployment's handle. Everything else,
validation, limits, conversations and errors, is this module's for both.
"""

import asyncio
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable, List, Optional, Tuple

import numpy
from fastapi import FastAPI, HTTPException, Request
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, model_validator
from starlette.exceptions import HTTPException as StarletteHTTPException
from typing_extensions import NotRequired, TypedDict

from ..render import STYLE, heatmap
from ..settings import SettingError
from .batcher import Batcher
from .conversations import ConversationStore
from .service import (
    Decoded,
    DecodeError,
    DecodeTask,
    Seq2SeqService,
    ServingSpec,
)

STATIC = Path(__file__).parent / "static"
API_VERSION = "v1"
NOT_JSON = (
    "The body must be UTF-8 JSON, sent with the header "
    "Content-Type: application/json."
)
# What FastAPI says of a body it can't decode (not UTF-8, say).
FASTAPI_PARSE_ERROR = "There was an error parsing the body"

Decode = Callable[[DecodeTask], Awaitable[Decoded]]


class Attention(TypedDict):
    """What the decoder attended to: target × source weights, and each
    generated token's probability of being copied from the source."""

    source: List[str]
    target: List[str]
    weights: List[List[float]]
    copy: List[float]
    # a grounded reply's: the first source words that are the document's
    document_length: NotRequired[int]


class Decoding(BaseModel):
    """Decoding settings of a request; those left out are the component's."""

    model_config = ConfigDict(extra="forbid", strict=True)

    beam_size: Optional[int] = None
    max_length: Optional[int] = None
    min_length: Optional[int] = None
    length_penalty: Optional[float] = None
    no_repeat_ngram_size: Optional[int] = None
    unfaithful_penalty: Optional[float] = None
    attention: bool = False

    def overrides(self, names: Tuple[str, ...]) -> dict:
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}


class SummarizeRequest(Decoding):
    texts: List[str]


class SummarizeResponse(BaseModel):
    summaries: List[str]
    attention: Optional[List[Optional[Attention]]] = None


class ReplyRequest(Decoding):
    """Either the turns of a conversation, oldest first (stateless), or a
    message, in the conversation `conversation_id` or a new one. A
    `document` is what a grounded responder reads beside the turns; given
    with a message, the conversation keeps it for its next messages ("":
    none from now on)."""

    turns: Optional[List[str]] = None
    message: Optional[str] = None
    conversation_id: Optional[str] = None
    document: Optional[str] = None
    decoding: Optional[str] = None
    n_best: Optional[int] = None
    top_k: Optional[int] = None
    top_p: Optional[float] = None
    temperature: Optional[float] = None
    seed: Optional[int] = None
    candidates: Optional[int] = None
    mmi_weight: Optional[float] = None
    length_bonus: Optional[float] = None

    @model_validator(mode="after")
    def one_way_in(self) -> "ReplyRequest":
        if (self.turns is None) == (self.message is None):
            raise ValueError(
                'give "turns" (a stateless reply) or "message" (with '
                '"conversation_id" to continue a conversation), not both'
            )
        if self.turns is not None and self.conversation_id is not None:
            raise ValueError('"conversation_id" goes with "message", not "turns"')
        return self


class ReplyResponse(BaseModel):
    reply: str
    candidates: List[Tuple[str, float]]
    conversation_id: Optional[str] = None
    attention: Optional[Attention] = None


def create_app(
    spec: ServingSpec,
    decode: Decode,
    *,
    lifespan: Optional[Callable[[FastAPI], Any]] = None,
) -> FastAPI:
    """The app serving one component: `decode` decodes one task."""
    limits = spec.limits
    conversations = ConversationStore(
        max_conversations=limits.max_conversations,
        max_age_s=limits.conversation_max_age_s,
        max_turns=limits.max_turns,
    )
    app = FastAPI(
        title="spacy-seq2seq",
        description=f"{spec.pipeline['name']}: /{API_VERSION}/{spec.task}",
        version=str(spec.pipeline.get("version")),
        lifespan=lifespan,
    )
    app.state.conversations = conversations
    app.add_middleware(BodyLimit, max_bytes=limits.max_body_bytes)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        for error in exc.errors():
            if error.get("type") == "json_invalid":
                return JSONResponse({"detail": "The body is not valid JSON."}, 400)
            if tuple(error.get("loc", ())) == ("body",) and isinstance(
                error.get("input"), (str, bytes)
            ):
                return JSONResponse({"detail": NOT_JSON}, 400)
        return await request_validation_exception_handler(request, exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 400 and exc.detail == FASTAPI_PARSE_ERROR:
            exc = StarletteHTTPException(400, NOT_JSON)  # not UTF-8, say what is
        return await http_exception_handler(request, exc)

    def decoding_of(request: Decoding, names: Tuple[str, ...]) -> Any:
        try:
            return spec.decoding(request.overrides(names))
        except SettingError as e:
            raise unprocessable(e.setting, str(e))

    def check_length(field: str, texts: List[str]) -> None:
        for i, text in enumerate(texts):
            if len(text) > limits.max_chars:
                raise HTTPException(
                    413,
                    f"{field}[{i}] has {len(text)} characters; this server "
                    f"reads at most {limits.max_chars} (--max-chars)",
                )

    def check_task(task: str) -> None:
        if spec.task != task:
            raise HTTPException(
                404,
                f"The served component '{spec.pipeline['component']}' answers "
                f"/{API_VERSION}/{spec.task}, not /{API_VERSION}/{task}.",
            )

    async def decode_all(tasks: List[DecodeTask]) -> List[Decoded]:
        try:
            return list(await asyncio.gather(*(decode(task) for task in tasks)))
        except DecodeError as e:
            raise HTTPException(500, str(e))

    @app.get(f"/{API_VERSION}/health")
    async def health() -> dict:
        return {"status": "ok"}

    @app.get(f"/{API_VERSION}/info")
    async def info() -> dict:
        """The pipeline: name, version, components, the scores in its meta,
        the served component's decoding settings and the server's limits."""
        return spec.info()

    @app.post(f"/{API_VERSION}/summarize", response_model=SummarizeResponse)
    async def summarize(request: SummarizeRequest) -> SummarizeResponse:
        """Summarize each text (an empty text gets "")."""
        check_task("summarize")
        if len(request.texts) > limits.max_batch_size:
            raise HTTPException(
                413,
                f"{len(request.texts)} texts; this server takes at most "
                f"{limits.max_batch_size} a request (--max-batch-size)",
            )
        check_length("texts", request.texts)
        decoding = decoding_of(request, spec.settings_names)
        decoded = await decode_all(
            [DecodeTask(text, decoding, request.attention) for text in request.texts]
        )
        return SummarizeResponse(
            summaries=[d.text for d in decoded],
            attention=[d.attention for d in decoded] if request.attention else None,
        )

    @app.post(f"/{API_VERSION}/reply", response_model=ReplyResponse)
    async def reply(request: ReplyRequest) -> ReplyResponse:
        """Reply to a conversation: the n-best (reply, score) candidates, the
        best first, and with "message" the conversation's id."""
        check_task("reply")
        decoding = decoding_of(request, spec.settings_names)
        conversation_id = request.conversation_id
        document = request.document
        if document is not None:
            check_length("document", [document])
        if request.turns is not None:
            check_length("turns", request.turns)
            turns = request.turns
        else:
            assert request.message is not None
            check_length("message", [request.message])
            if conversation_id is None:
                conversation_id = conversations.create()
                turns = []
            else:
                stored = conversations.turns(conversation_id)
                if stored is None:
                    raise HTTPException(
                        404,
                        f"No open conversation '{conversation_id}' (it expired, was "
                        "deleted or never was): send the message without "
                        "conversation_id to start a new one.",
                    )
                turns = stored
                if document is None:
                    document = conversations.document(conversation_id)
            turns = turns + [request.message]
        task = DecodeTask(
            spec.reply_context(turns), decoding, request.attention, document
        )
        (decoded,) = await decode_all([task])
        if request.message is not None:
            conversations.add(conversation_id, request.message, decoded.text)
            conversations.set_document(conversation_id, document)
        return ReplyResponse(
            reply=decoded.text,
            candidates=decoded.candidates,
            conversation_id=conversation_id,
            attention=decoded.attention,
        )

    @app.delete(f"/{API_VERSION}/conversations/{{conversation_id}}", status_code=204)
    async def delete_conversation(conversation_id: str) -> Response:
        if not conversations.delete(conversation_id):
            raise HTTPException(404, f"No open conversation '{conversation_id}'.")
        return Response(status_code=204)

    @app.post(f"/{API_VERSION}/render/attention", response_class=HTMLResponse)
    async def render_attention(attention: Attention) -> str:
        """The heatmap `spacy_seq2seq.render_attention` draws (an HTML table;
        its style is at /attention.css) of an "attention" the API returned."""
        n_target, n_source = len(attention["target"]), len(attention["source"])
        weights = numpy.asarray(attention["weights"], dtype="float32")
        if weights.shape != (n_target, n_source) and not (n_target * n_source == 0):
            raise unprocessable(
                "weights", f"must be {n_target} × {n_source} (target × source)"
            )
        if len(attention["copy"]) != n_target:
            raise unprocessable(
                "copy", f"must have {n_target} values, one per target token"
            )
        copy = numpy.asarray(attention["copy"], dtype="float32")
        return heatmap(
            {**attention, "weights": weights, "copy": copy}, spec.target_field
        )

    @app.get("/attention.css", include_in_schema=False)
    async def attention_css() -> Response:
        return Response(STYLE, media_type="text/css")

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def unprocessable(field: str, message: str) -> RequestValidationError:
    """A 422 naming the field, as FastAPI's own validation errors do."""
    return RequestValidationError(
        [{"loc": ("body", field), "msg": message, "type": "value_error"}]
    )


class BodyLimit:
    """Refuse (413) a request body over `max_bytes`, before reading it when
    it says its length, and as soon as it passes the limit when it does not."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_bytes:
            response = JSONResponse({"detail": self.message}, status_code=413)
            return await response(scope, receive, send)
        received = 0

        async def limited_receive() -> dict:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise HTTPException(413, self.message)
            return message

        await self.app(scope, limited_receive, send)

    @property
    def message(self) -> str:
        return f"The body is over this server's limit of {self.max_bytes} bytes."


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
