"""The API's routes, a router per task: the app mounts the common one and
its pipeline's task's, so /docs lists what the server answers.
"""

from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from ..render import STYLE, heatmap
from ..settings import SettingError
from .conversations import Conversations
from .dispatch import Dispatcher
from .errors import Utf8JsonRoute, unprocessable
from .schema import (
    Attention,
    DecodingRequest,
    ReplyRequest,
    ReplyResponse,
    SummarizeRequest,
    SummarizeResponse,
)
from .service import DecodeTask, ServingSpec

API_VERSION = "v1"
PREFIX = f"/{API_VERSION}"
STATIC = Path(__file__).parent / "static"


class Checks:
    """A request's checks against the server's limits: each raises the
    HTTP error that names the field."""

    def __init__(self, spec: ServingSpec) -> None:
        self.spec = spec
        self.limits = spec.limits

    def decoding(self, request: DecodingRequest) -> Any:
        """The component's decoding with the request's settings (422)."""
        try:
            return self.spec.decoding(request.overrides())
        except SettingError as e:
            raise unprocessable(e.setting, str(e))

    def lengths(self, field: str, texts: List[str]) -> None:
        """Each text within --max-chars (413)."""
        for i, text in enumerate(texts):
            if len(text) > self.limits.max_chars:
                raise HTTPException(
                    413,
                    f"{field}[{i}] has {len(text)} characters; this server "
                    f"reads at most {self.limits.max_chars} (--max-chars)",
                )


def common_router(spec: ServingSpec) -> APIRouter:
    """What every server answers: health, info, the heatmap and the page."""
    router = APIRouter(route_class=Utf8JsonRoute)

    @router.get(f"{PREFIX}/health")
    async def health() -> Dict[str, str]:
        return {"status": "ok"}

    @router.get(f"{PREFIX}/info")
    async def info() -> Dict[str, Any]:
        """The pipeline: name, version, components, the scores in its meta,
        the served component's decoding settings and the server's limits."""
        return spec.info()

    @router.post(f"{PREFIX}/render/attention", response_class=HTMLResponse)
    async def render_attention(attention: Attention) -> str:
        """The heatmap `spacy_seq2seq.render_attention` draws (an HTML table;
        its style is at /attention.css) of an "attention" the API returned."""
        return draw_attention(attention, spec.target_field)

    @router.get("/attention.css", include_in_schema=False)
    async def attention_css() -> Response:
        return Response(STYLE, media_type="text/css")

    @router.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    return router


def draw_attention(attention: Attention, field: str) -> str:
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
    return heatmap({**attention, "weights": weights, "copy": copy}, field)


def summarize_router(spec: ServingSpec, dispatcher: Dispatcher) -> APIRouter:
    """POST /v1/summarize."""
    router = APIRouter(prefix=PREFIX, route_class=Utf8JsonRoute)
    checks = Checks(spec)
    limits = spec.limits

    @router.post("/summarize", response_model=SummarizeResponse)
    async def summarize(body: SummarizeRequest, request: Request) -> SummarizeResponse:
        """Summarize each text (an empty text gets "")."""
        if len(body.texts) > limits.max_batch_size:
            raise HTTPException(
                413,
                f"{len(body.texts)} texts; this server takes at most "
                f"{limits.max_batch_size} a request (--max-batch-size)",
            )
        checks.lengths("texts", body.texts)
        decoding = checks.decoding(body)
        tasks = [DecodeTask(text, decoding, body.attention) for text in body.texts]
        fields = [f"texts[{i}]" for i in range(len(tasks))]
        decoded = await dispatcher.decode(request, tasks, fields)
        return SummarizeResponse(
            summaries=[d.text for d in decoded],
            attention=[d.attention for d in decoded] if body.attention else None,
        )

    return router


def reply_router(
    spec: ServingSpec, dispatcher: Dispatcher, conversations: Conversations
) -> APIRouter:
    """POST /v1/reply and DELETE /v1/conversations/{id}."""
    router = APIRouter(prefix=PREFIX, route_class=Utf8JsonRoute)
    checks = Checks(spec)

    async def answer(
        request: Request,
        body: ReplyRequest,
        decoding: Any,
        turns: List[str],
        field: str,
        document: Optional[str],
    ) -> Any:
        """The decoded reply to these turns (and the document, if any)."""
        task = DecodeTask(spec.reply_context(turns), decoding, body.attention, document)
        (decoded,) = await dispatcher.decode(request, [task], [field])
        return decoded

    @router.post("/reply", response_model=ReplyResponse)
    async def reply(body: ReplyRequest, request: Request) -> ReplyResponse:
        """Reply to a conversation: the n-best (reply, score) candidates, the
        best first, and with "message" the conversation's id. Messages to
        one conversation are answered in turn, each reading the ones before."""
        decoding = checks.decoding(body)
        document = body.document
        if document is not None:
            checks.lengths("document", [document])
        if body.turns is not None:
            checks.lengths("turns", body.turns)
            decoded = await answer(
                request, body, decoding, body.turns, "turns", document
            )
            return reply_response(decoded, None)
        message = body.message
        assert message is not None
        checks.lengths("message", [message])
        async with conversations.taking_turn(body.conversation_id) as turn:
            if turn.turns is None:
                raise HTTPException(
                    404,
                    f"No open conversation '{turn.id}' (it expired, was deleted "
                    "or never was): send the message without conversation_id to "
                    "start a new one.",
                )
            if document is not None:  # kept for the conversation's next messages
                turn.document = document
            turns = turn.turns + [message]
            decoded = await answer(
                request, body, decoding, turns, "message", turn.document
            )
            turn.add(message, decoded.text)
        return reply_response(decoded, turn.id)

    @router.delete("/conversations/{conversation_id}", status_code=204)
    async def delete_conversation(conversation_id: str) -> Response:
        if not await conversations.remove(conversation_id):
            raise HTTPException(404, f"No open conversation '{conversation_id}'.")
        return Response(status_code=204)

    return router


def reply_response(decoded: Any, conversation_id: Any) -> ReplyResponse:
    return ReplyResponse(
        reply=decoded.text,
        candidates=decoded.candidates,
        conversation_id=conversation_id,
        attention=decoded.attention,
    )
