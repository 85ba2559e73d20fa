import asyncio
import dataclasses
import socket
import subprocess
import sys
import time
import typing
from pathlib import Path
from typing import Any, Dict, List

import httpx
import numpy
import pytest
import srsly
from spacy.language import Language

from spacy_seq2seq.batch.local_ray import init_ray
from spacy_seq2seq.model.decoding import BeamSearch

from .conftest import make_responder_nlp, make_summarizer_nlp
from .serving import copy_pipeline, running

pytest.importorskip("fastapi", reason="the server needs the serve extra")
from spacy_seq2seq.serve.app import embedded_app  # noqa: E402
from spacy_seq2seq.serve.batcher import Batcher  # noqa: E402
from spacy_seq2seq.serve.conversations import ConversationStore  # noqa: E402
from spacy_seq2seq.serve.service import Limits, Seq2SeqService  # noqa: E402

LIMITS = Limits(max_batch_size=8, max_wait_ms=50, max_chars=3000, max_beam_size=8)


@Language.component("fail_on_poison")
def fail_on_poison(doc):
    """Fails the batch of a doc that asks for it, as a broken model would."""
    if "POISON" in doc.text:
        raise RuntimeError("poisoned batch")
    return doc


class Recording(Seq2SeqService):
    """A service that records the size of each batch it decodes."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.batch_sizes: List[int] = []

    def decode_batch(self, tasks):
        self.batch_sizes.append(len(tasks))
        return super().decode_batch(tasks)


@pytest.fixture(scope="module")
def summarizer(trained):
    nlp = copy_pipeline(trained.nlp, make_summarizer_nlp)
    nlp.add_pipe("fail_on_poison")
    service = Recording(nlp, limits=LIMITS)
    with running(embedded_app(service)) as url:
        yield service, url


@pytest.fixture(scope="module")
def responder(trained_responder):
    nlp = copy_pipeline(trained_responder.nlp, make_responder_nlp)
    service = Recording(nlp, limits=LIMITS)
    with running(embedded_app(service)) as url:
        yield service, url


def post_all(url: str, requests: List[Dict[str, Any]]) -> List[httpx.Response]:
    """Send the (path, body) requests at once, as many clients would."""

    async def send() -> List[httpx.Response]:
        async with httpx.AsyncClient(base_url=url, timeout=120) as client:
            return await asyncio.gather(
                *(client.post(path, json=body) for path, body in requests)
            )

    return asyncio.run(send())


def decode_alone(service: Seq2SeqService, text: str, **settings) -> Any:
    """What the pipeline gives for the text decoded on its own."""
    decoding = service.spec.decoding(settings)
    with service.component.using_decoding(decoding):
        return service.nlp(text)


def texts_of(trained, n: int) -> List[str]:
    return [eg.predicted.text for eg in trained.examples[:n]]


def test_summaries_are_the_pipelines_and_empty_text_gets_empty(summarizer, trained):
    service, url = summarizer
    texts = texts_of(trained, 5) + [""]
    response = httpx.post(f"{url}/v1/summarize", json={"texts": texts}, timeout=60)
    assert response.status_code == 200
    assert response.json() == {
        "summaries": [doc._.summary for doc in trained.nlp.pipe(texts)],
        "attention": None,
    }


def test_a_summary_never_depends_on_its_batch_mates(summarizer, trained):
    service, url = summarizer
    settings = [{}, {"beam_size": 1, "max_length": 4}, {"no_repeat_ngram_size": 0}]
    requests = [
        ("/v1/summarize", {"texts": [text], **settings[i % 3]})
        for i, text in enumerate(texts_of(trained, 18))
    ]
    service.batch_sizes.clear()
    responses = post_all(url, requests)
    assert [r.status_code for r in responses] == [200] * len(requests)
    assert max(service.batch_sizes) > 1  # requests were decoded together
    for (_, body), response in zip(requests, responses):
        (text,) = body.pop("texts")
        expected = decode_alone(service, text, **body)._.summary
        assert response.json()["summaries"] == [expected]
    # the component's own settings are back
    assert service.component.decoding == trained.nlp.get_pipe("summarizer").decoding


def test_a_sampled_reply_never_depends_on_its_batch_mates(responder, trained_responder):
    service, url = responder
    assert service.component.decoding.name == "mmi"
    contexts = [eg.predicted.text for eg in trained_responder.examples[:12]]
    settings = [
        {},
        {"seed": 7, "n_best": 3},
        {"decoding": "beam", "n_best": 2},
        {"decoding": "sampling", "n_best": 2},
        {"candidates": 3, "mmi_weight": 0.2, "length_bonus": 0.5},
    ]
    requests = [
        ("/v1/reply", {"turns": context.split("\n"), **settings[i % len(settings)]})
        for i, context in enumerate(contexts)
    ]
    service.batch_sizes.clear()
    responses = post_all(url, requests)
    assert max(service.batch_sizes) > 1
    for (_, body), response in zip(requests, responses):
        context = service.spec.reply_context(body.pop("turns"))
        doc = decode_alone(service, context, **body)
        assert response.status_code == 200
        assert response.json()["reply"] == doc._.response
        candidates = response.json()["candidates"]
        assert [text for text, _ in candidates] == [t for t, _ in doc._.responses]
        # scores agree to float precision (padding in a batch changes the sums)
        assert [s for _, s in candidates] == pytest.approx(
            [s for _, s in doc._.responses], rel=1e-5
        )
        assert len(response.json()["candidates"]) <= body.get("n_best", 1)


def test_a_conversation_remembers_its_turns_until_deleted(responder):
    service, url = responder
    with httpx.Client(base_url=url, timeout=60) as client:
        first = client.post("/v1/reply", json={"message": "hi , seen any good movie ?"})
        assert first.status_code == 200
        conversation_id = first.json()["conversation_id"]
        second = client.post(
            "/v1/reply",
            json={"message": "i like the  actors", "conversation_id": conversation_id},
        ).json()
        assert second["conversation_id"] == conversation_id
        turns = [
            "hi , seen any good movie ?",
            first.json()["reply"],
            "i like the actors",
        ]
        stateless = client.post("/v1/reply", json={"turns": turns}).json()
        assert stateless["reply"] == second["reply"]
        assert stateless["conversation_id"] is None
        assert client.delete(f"/v1/conversations/{conversation_id}").status_code == 204
        assert client.delete(f"/v1/conversations/{conversation_id}").status_code == 404
        gone = client.post(
            "/v1/reply",
            json={"message": "still there?", "conversation_id": conversation_id},
        )
        assert gone.status_code == 404 and "start a new one" in gone.json()["detail"]


def test_conversations_are_bounded_in_number_age_and_turns():
    now = [0.0]
    store = ConversationStore(
        max_conversations=2, max_age_s=10, max_turns=3, clock=lambda: now[0]
    )
    a, b = store.create(), store.create()
    store.add(a, "1", "2", "3", "4")
    assert store.turns(a) == ["2", "3", "4"]
    c = store.create()  # b, unused the longest, makes room
    assert store.turns(b) is None and len(store) == 2
    now[0] = 5.0
    store.turns(c)
    now[0] = 12.0  # a was last used at 0
    assert store.turns(a) is None and store.turns(c) == []


def test_attention_is_returned_and_drawn_by_the_server(summarizer, trained):
    service, url = summarizer
    (text,) = texts_of(trained, 1)
    response = httpx.post(
        f"{url}/v1/summarize", json={"texts": [text], "attention": True}, timeout=60
    )
    (attention,) = response.json()["attention"]
    assert attention["source"] == [token.text for token in trained.nlp.make_doc(text)]
    assert attention["target"][-1] == "</s>"
    assert (
        len(attention["weights"]) == len(attention["target"]) == len(attention["copy"])
    )
    assert all(abs(sum(row) - 1.0) < 1e-3 for row in attention["weights"])
    html = httpx.post(f"{url}/v1/render/attention", json=attention).text
    cells = len(attention["target"]) * len(attention["source"])
    assert html.count('class="s2s-weight"') == cells
    assert ">copy gate</th>" in html  # what the column shows
    attention["copy"] = attention["copy"][:-1]
    bad = httpx.post(f"{url}/v1/render/attention", json=attention)
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "copy"]


def test_health_and_info_describe_the_pipeline(summarizer):
    service, url = summarizer
    assert httpx.get(f"{url}/v1/health").json() == {"status": "ok"}
    info = httpx.get(f"{url}/v1/info").json()
    assert info["components"] == ["summarizer", "fail_on_poison"]
    assert info["component"] == "summarizer" and info["task"] == "summarize"
    assert info["decoding"]["beam_size"] == service.component.decoding.beam_size
    assert info["limits"]["max_batch_size"] == LIMITS.max_batch_size
    assert "/v1/summarize" in httpx.get(f"{url}/openapi.json").json()["paths"]


def test_each_tasks_openapi_lists_its_routes_only(summarizer, responder):
    summarize_paths = httpx.get(f"{summarizer[1]}/openapi.json").json()["paths"]
    reply_paths = httpx.get(f"{responder[1]}/openapi.json").json()["paths"]
    common = {"/v1/health", "/v1/info", "/v1/render/attention"}
    assert set(summarize_paths) == common | {"/v1/summarize"}
    assert set(reply_paths) == common | {
        "/v1/reply",
        "/v1/conversations/{conversation_id}",
    }
    assert httpx.get(f"{summarizer[1]}/docs").status_code == 200


def test_the_request_settings_are_the_decoding_blocks_fields():
    """Adding a setting to a decoding block adds it to the API; a setting
    the API takes that no block has, or with another type, fails here."""
    from spacy_seq2seq.model.decoding import DECODINGS, MMIRerank, Sampling
    from spacy_seq2seq.serve.schema import (
        NOT_REQUEST_SETTINGS,
        ReplyRequest,
        SummarizeRequest,
    )

    def fields_of(*kinds):
        hints = {}
        for kind in kinds:
            for field in dataclasses.fields(kind):
                hints[field.name] = typing.get_type_hints(kind)[field.name]
        return hints

    expected = {
        "summarize": fields_of(BeamSearch),
        "reply": fields_of(BeamSearch, Sampling, MMIRerank),
    }
    for task, model in (("summarize", SummarizeRequest), ("reply", ReplyRequest)):
        settings = {
            name: hint
            for name, hint in expected[task].items()
            if name not in NOT_REQUEST_SETTINGS[task]
        }
        if task == "reply":
            assert typing.get_args(
                typing.get_args(model.model_fields["decoding"].annotation)[0]
            ) == tuple(DECODINGS)
        assert set(model.settings) - {"decoding"} == set(settings)
        for name, hint in settings.items():
            assert model.model_fields[name].annotation == typing.Optional[hint], name
    assert set(SummarizeRequest.model_fields) == set(SummarizeRequest.settings) | {
        "texts",
        "attention",
    }


def test_every_setting_a_request_may_change_is_decoded(summarizer, responder):
    """Each setting the API takes, at its block's default, is a 200 with
    the text of those settings."""
    from spacy_seq2seq.model.decoding import DECODINGS
    from spacy_seq2seq.serve.schema import ReplyRequest, SummarizeRequest

    service, url = summarizer
    text = "oil prices rose sharply on monday ."
    for name in SummarizeRequest.settings:
        value = getattr(BeamSearch(), name)
        body = {"texts": [text], name: value}
        response = httpx.post(f"{url}/v1/summarize", json=body, timeout=60)
        assert response.status_code == 200, (name, response.text)
        assert response.json()["summaries"] == [
            decode_alone(service, text, **{name: value})._.summary
        ]
    service, url = responder
    for name in ReplyRequest.settings:
        if name == "decoding":
            continue
        kind = next(k for k in DECODINGS.values() if hasattr(k(), name))
        value = getattr(kind(), name)
        body = {"turns": [text], "decoding": kind.name, name: value}
        response = httpx.post(f"{url}/v1/reply", json=body, timeout=60)
        assert response.status_code == 200, (name, response.text)


def test_the_serve_commands_defaults_are_the_limits():
    import inspect

    from spacy_seq2seq import cli

    defaults = dataclasses.asdict(Limits())
    parameters = inspect.signature(cli.serve).parameters
    flags = {"conversation_max_age": "conversation_max_age_s"}
    for name, parameter in parameters.items():
        if flags.get(name, name) in defaults:
            assert parameter.default.default == defaults[flags.get(name, name)], name
    assert {flags.get(n, n) for n in parameters} >= set(defaults)


def test_a_pipeline_directory_without_a_name_is_named_by_its_directory(
    trained, tmp_path
):
    path = tmp_path / "headlines" / "model-best"
    path.parent.mkdir()
    trained.nlp.to_disk(path)
    service = Seq2SeqService.load(str(path), limits=LIMITS)
    assert (trained.nlp.meta["name"], trained.nlp.meta["version"]) == (
        "pipeline",
        "0.0.0",
    )
    assert service.spec.info()["name"] == "headlines/model-best"
    assert service.spec.info()["version"] is None


@pytest.mark.parametrize(
    "body,field",
    [
        ({}, "texts"),
        ({"texts": "one text"}, "texts"),
        ({"texts": [3]}, "texts"),
        ({"texts": ["a"], "beam_size": "4"}, "beam_size"),
        ({"texts": ["a"], "beam_size": 0}, "beam_size"),
        ({"texts": ["a"], "beam_size": 9}, "beam_size"),  # over the server's cap
        ({"texts": ["a"], "max_length": 5000}, "max_length"),
        ({"texts": ["a"], "min_length": 9, "max_length": 5}, "min_length"),
        ({"texts": ["a"], "no_repeat_ngram_size": -1}, "no_repeat_ngram_size"),
        ({"texts": ["a"], "beem_size": 2}, "beem_size"),
        ({"texts": ["a"], "top_p": 0.5}, "top_p"),  # a reply's setting
    ],
)
def test_a_bad_setting_is_a_422_naming_the_field(summarizer, body, field):
    service, url = summarizer
    response = httpx.post(f"{url}/v1/summarize", json=body)
    assert response.status_code == 422
    assert [e["loc"][1] for e in response.json()["detail"]][0] == field


def test_a_reply_takes_turns_or_a_message(responder):
    service, url = responder
    for body in (
        {},
        {"turns": ["a"], "message": "b"},
        {"turns": ["a"], "conversation_id": "x"},
    ):
        response = httpx.post(f"{url}/v1/reply", json=body)
        assert response.status_code == 422
        assert "turns" in response.json()["detail"][0]["msg"]
    response = httpx.post(f"{url}/v1/reply", json={"turns": ["hi"], "temperature": 0})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "temperature"]


@pytest.mark.parametrize(
    "body,field",
    [
        ({"candidates": 9}, "candidates"),  # over the server's cap
        ({"candidates": 2, "n_best": 3}, "n_best"),
        ({"mmi_weight": -1.0}, "mmi_weight"),
        # a setting the asked kind of decoding does not have
        ({"decoding": "beam", "mmi_weight": 0.3}, "mmi_weight"),
        ({"decoding": "greedy"}, "decoding"),
    ],
)
def test_a_bad_mmi_setting_is_a_422_naming_the_field(responder, body, field):
    service, url = responder
    response = httpx.post(f"{url}/v1/reply", json={"turns": ["hi"], **body})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", field]


@pytest.mark.parametrize(
    "content,headers,status",
    [
        (b'{"texts": ["a"]', {"content-type": "application/json"}, 400),
        (b'{"texts": ["\xff"]}', {"content-type": "application/json"}, 400),
        (b'{"texts": ["a"]}', {"content-type": "text/plain"}, 400),
        (
            b'{"texts": ["' + b"a" * 3001 + b'"]}',
            {"content-type": "application/json"},
            413,
        ),
        (
            b'{"texts": ["a"' + b', "a"' * 8 + b"]}",
            {"content-type": "application/json"},
            413,
        ),
        (b" " * (LIMITS.max_body_bytes + 1), {"content-type": "application/json"}, 413),
    ],
    ids=[
        "not-json",
        "not-utf8",
        "not-json-content-type",
        "long-text",
        "many-texts",
        "huge",
    ],
)
def test_a_bad_body_gets_a_4xx_with_a_message(summarizer, content, headers, status):
    service, url = summarizer
    response = httpx.post(f"{url}/v1/summarize", content=content, headers=headers)
    assert response.status_code == status
    assert isinstance(response.json()["detail"], str) and response.json()["detail"]
    assert httpx.get(f"{url}/v1/health").status_code == 200


def test_a_failing_text_fails_only_its_request(summarizer, trained):
    service, url = summarizer
    texts = texts_of(trained, 3)
    # the same settings as the others': the same batch, decoded again text by text
    requests = [("/v1/summarize", {"texts": [texts[1], "POISON " + texts[0]]})]
    requests += [("/v1/summarize", {"texts": [text]}) for text in texts]
    service.batch_sizes.clear()
    responses = post_all(url, requests)
    assert responses[0].status_code == 500
    detail = responses[0].json()["detail"]
    assert detail.startswith("texts[1]: ") and "poisoned batch" in detail
    expected = [doc._.summary for doc in trained.nlp.pipe(texts)]
    assert [r.json()["summaries"][0] for r in responses[1:]] == expected
    # and the server keeps serving, with the component's own settings
    again = httpx.post(f"{url}/v1/summarize", json={"texts": texts[:1]}, timeout=60)
    assert again.json()["summaries"] == expected[:1]
    assert service.component.decoding == trained.nlp.get_pipe("summarizer").decoding


def test_the_wrong_task_is_a_404_that_says_the_right_one(summarizer):
    service, url = summarizer
    response = httpx.post(f"{url}/v1/reply", json={"turns": ["hi"]})
    assert response.status_code == 404 and "/v1/summarize" in response.json()["detail"]


def test_batcher_keeps_batches_within_max_batch_size_and_fails_one_batch_only():
    batches: List[List[int]] = []

    def decode_batch(tasks: List[int]) -> List[Any]:
        batches.append(tasks)
        if 13 in tasks:
            raise RuntimeError("thirteen")
        return [task * 2 if task != 5 else ValueError("five") for task in tasks]

    async def run() -> List[Any]:
        batcher = Batcher(decode_batch, max_batch_size=4, max_wait_ms=200)
        await batcher.start()
        try:
            first = await asyncio.gather(
                *(batcher.submit(i) for i in range(10)), return_exceptions=True
            )
            failed = await asyncio.gather(batcher.submit(13), return_exceptions=True)
            after = await batcher.submit(21)
            return first + failed + [after]
        finally:
            await batcher.stop()

    results = asyncio.run(run())
    assert all(1 <= len(batch) <= 4 for batch in batches) and len(batches[0]) == 4
    assert results[:5] == [0, 2, 4, 6, 8] and results[6:10] == [12, 14, 16, 18]
    assert isinstance(results[5], ValueError)
    assert isinstance(results[10], RuntimeError) and results[11] == 42


def test_decoding_settings_are_checked_where_they_are_built(trained):
    component = trained.nlp.get_pipe("summarizer")
    with pytest.raises(ValueError, match="beam_size must be at least 1"):
        BeamSearch(beam_size=0)
    with pytest.raises(ValueError, match="decoding must be a registered decoding"):
        with component.using_decoding({"beam_size": 1}):
            pass
    own = component.decoding
    with component.using_decoding(
        BeamSearch(beam_size=1, max_length=2), store_attention=True
    ):
        doc = trained.nlp(trained.examples[0].predicted.text)
        assert len(doc._.summary_attention["target"]) <= 2
    assert component.decoding == own and not component.store_attention


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_command_serves_a_saved_pipeline(trained, tmp_path):
    trained.nlp.to_disk(tmp_path / "model")
    port = free_port()
    command = [sys.executable, "-m", "spacy_seq2seq", "serve", str(tmp_path / "model")]
    command += ["--port", str(port), "--max-batch-size", "4", "--max-chars", "50"]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, process.stdout.read()
            try:
                if httpx.get(f"{url}/v1/health").status_code == 200:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.5)
        text = "oil prices rose on monday"
        response = httpx.post(f"{url}/v1/summarize", json={"texts": [text]}, timeout=60)
        assert response.json()["summaries"] == [trained.nlp(text)._.summary]
        assert (
            httpx.post(f"{url}/v1/summarize", json={"texts": ["a" * 51]}).status_code
            == 413
        )
        assert (
            httpx.post(f"{url}/v1/summarize", json={"texts": ["a"] * 5}).status_code
            == 413
        )
        assert httpx.get(f"{url}/").headers["content-type"].startswith("text/html")
    finally:
        process.terminate()
        process.wait(30)


def test_serve_command_says_what_is_wrong_with_the_model(tmp_path):
    command = [
        sys.executable,
        "-m",
        "spacy_seq2seq",
        "serve",
        str(tmp_path / "nothing"),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "Can't find a pipeline" in result.stdout + result.stderr


@pytest.mark.slow
@pytest.mark.ray
def test_ray_serve_with_two_replicas_answers_as_the_embedded_server(trained, tmp_path):
    """Starts a local Ray instance (2 server replicas) on 127.0.0.1."""
    ray = pytest.importorskip("ray", reason="Ray Serve needs the ray extra")
    from ray import serve

    from spacy_seq2seq.serve.ray_deployment import APP_NAME, build_app

    trained.nlp.to_disk(tmp_path / "model")
    service = Seq2SeqService.load(str(tmp_path / "model"), limits=LIMITS)
    settings = [{}, {"beam_size": 1, "max_length": 4}]
    requests = [
        ("/v1/summarize", {"texts": [text], **settings[i % 2]})
        for i, text in enumerate(texts_of(trained, 16))
    ]
    requests.append(
        ("/v1/summarize", {"texts": texts_of(trained, 3), "attention": True})
    )
    with running(embedded_app(service)) as url:
        embedded = [r.json() for r in post_all(url, requests)]
    # a new local instance, never one another process started
    init_ray(address="local", num_cpus=4, include_dashboard=False, log_to_driver=False)
    try:
        port = free_port()
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        app = build_app(
            str(tmp_path / "model"),
            service.spec,
            component=None,
            replicas=2,
            num_gpus_per_replica=0,
        )
        serve.run(app, name=APP_NAME, route_prefix="/")
        status = serve.status().applications[APP_NAME].deployments["Server"]
        assert status.replica_states.get("RUNNING") == 2
        responses = post_all(f"http://127.0.0.1:{port}", requests)
        assert [r.status_code for r in responses] == [200] * len(requests)
        for response, expected in zip(responses, embedded):
            assert_same_summaries(response.json(), expected)
        bad = httpx.post(f"http://127.0.0.1:{port}/v1/summarize", json={"texts": 1})
        assert bad.status_code == 422
    finally:
        serve.shutdown()
        ray.shutdown()


def assert_same_summaries(got: Dict[str, Any], expected: Dict[str, Any]) -> None:
    """The same summaries and attention (its weights to float precision:
    padding in a batch changes the sums)."""
    assert got["summaries"] == expected["summaries"]
    for attention, expected_attention in zip(
        got["attention"] or [], expected["attention"] or []
    ):
        assert attention["source"] == expected_attention["source"]
        assert attention["target"] == expected_attention["target"]
        for key in ("weights", "copy"):
            assert numpy.asarray(attention[key]) == pytest.approx(
                numpy.asarray(expected_attention[key]), rel=1e-4, abs=1e-5
            )


def test_ray_conversations_take_turns_across_replicas():
    """The keeper every Ray Serve replica asks (called here without Ray):
    two messages to one conversation at once are taken in turn."""
    pytest.importorskip("ray", reason="Ray Serve needs the ray extra")
    from spacy_seq2seq.serve.ray_deployment import (
        ConversationKeeper,
        SharedConversations,
    )

    keeper = ConversationKeeper.func_or_class(Limits(max_turns=10))

    class Method:
        def __init__(self, method):
            self.method = method

        def remote(self, *args):
            return self.method(*args)

    class Handle:  # what a DeploymentHandle's calls look like
        begin = Method(keeper.begin)
        end = Method(keeper.end)
        remove = Method(keeper.remove)

    shared = SharedConversations(Handle())
    seen: List[List[str]] = []

    async def message(conversation_id, text):
        async with shared.taking_turn(conversation_id) as turn:
            seen.append(list(turn.turns))
            await asyncio.sleep(0.05)  # decoding
            turn.add(text, text.upper())
            return turn.id

    async def run():
        conversation_id = await message(None, "first")
        await asyncio.gather(
            message(conversation_id, "second"), message(conversation_id, "third")
        )
        return conversation_id

    conversation_id = asyncio.run(run())
    stored = keeper.store.turns(conversation_id)
    assert stored == ["first", "FIRST", "second", "SECOND", "third", "THIRD"] or (
        stored == ["first", "FIRST", "third", "THIRD", "second", "SECOND"]
    )
    # each message read the exchanges stored before it
    assert seen == [[], stored[:2], stored[:4]]
    assert asyncio.run(shared.remove(conversation_id))
    assert keeper.store.turns(conversation_id) is None


@pytest.mark.slow
def test_benchmark_server_script_runs_on_a_tiny_budget(trained, tmp_path):
    """scripts/benchmark_server.py end to end (starts a server: ~30 s)."""
    pytest.importorskip("aiohttp", reason="the load client needs the bench extra")
    trained.nlp.to_disk(tmp_path / "model")
    data = tmp_path / "pairs.jsonl"
    srsly.write_jsonl(data, [{"text": t, "summary": ""} for t in texts_of(trained, 5)])
    script = Path(__file__).resolve().parent.parent / "scripts" / "benchmark_server.py"
    command = [sys.executable, str(script), str(tmp_path / "model"), str(data)]
    command += ["--requests", "20", "--clients", "4", "--texts", "5"]
    command += ["--output", str(tmp_path / "figures.json")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    figures = srsly.read_json(tmp_path / "figures.json")
    assert figures["server"] == "embedded" and figures["errors"] == 0
    assert figures["requests"] == 20 and figures["requests_per_s"] > 0
