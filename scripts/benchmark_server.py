"""Load-test the server on a trained pipeline, against offline batch decoding.

    python scripts/benchmark_server.py MODEL DATA.jsonl.gz --requests 5000 --clients 64

Decodes the texts offline with `nlp.pipe` first (docs/s), then starts
`python -m spacy_seq2seq serve MODEL` on 127.0.0.1 (with --ray, on a local
Ray instance; with --both, the embedded server and then Ray Serve), sends single-text requests from `--clients` concurrent
clients until `--requests` are answered or `--time-limit` passes, stops the
server, and prints requests/s, p50/p95/p99 latency, errors and the ratio of
the server's throughput to the offline docs/s. DATA: the project's JSONL
pairs ("text") for a summarizer, dialogues ("context") for a responder.
"""

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from itertools import cycle
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import aiohttp
import httpx
import numpy
import srsly
import typer
from wasabi import msg

from spacy_seq2seq.serve.service import Limits, Seq2SeqService


def main(
    model: str = typer.Argument(..., help="A trained pipeline: directory or package"),
    data: Path = typer.Argument(..., exists=True, dir_okay=False, help="JSONL(.gz)"),
    requests: int = typer.Option(5000, help="Requests to send in all"),
    clients: int = typer.Option(64, help="Concurrent clients"),
    texts: int = typer.Option(1000, help="Distinct texts, sent in turn"),
    max_batch_size: int = typer.Option(
        Limits().max_batch_size, help="The server's --max-batch-size"
    ),
    max_wait_ms: float = typer.Option(
        Limits().max_wait_ms, help="The server's --max-wait-ms"
    ),
    time_limit: float = typer.Option(
        900.0, help="Stop sending after this many seconds"
    ),
    ray: bool = typer.Option(False, "--ray", help="Serve with Ray Serve"),
    both: bool = typer.Option(
        False, "--both", help="The embedded server, then Ray Serve, in one run"
    ),
    replicas: int = typer.Option(2, help="Ray Serve replicas (with --ray)"),
    max_queue: int = typer.Option(
        Limits().max_queue, help="The server's --max-queue (503 past it)"
    ),
    output: Optional[Path] = typer.Option(None, help="Write the figures as JSON"),
) -> None:
    service = Seq2SeqService.load(model, limits=Limits(max_batch_size=max_batch_size))
    path, bodies, sources = read_requests(service, data, texts)
    msg.info(f"{len(bodies)} distinct {service.spec.task} requests from {data}")
    offline_by_thread = offline_docs_per_s(service, sources, max_batch_size)
    offline = max(offline_by_thread.values())
    msg.good(
        f"Offline nlp.pipe (batch size {max_batch_size}): {offline_by_thread} docs/s"
    )
    del service
    servers = [False, True] if both else [ray]
    rows = []
    for on_ray in servers:
        figures = serve_and_load(
            model,
            path,
            bodies,
            requests,
            clients,
            time_limit,
            on_ray,
            replicas,
            [max_batch_size, max_wait_ms, max_queue],
        )
        figures["offline_docs_per_s"] = offline_by_thread
        figures["ratio_to_offline"] = round(figures["requests_per_s"] / offline, 2)
        rows.append(figures)
        print(json.dumps(figures, indent=2))
    if both:
        ratio = rows[1]["requests_per_s"] / max(rows[0]["requests_per_s"], 1e-9)
        msg.info(f"Ray Serve / embedded throughput: {ratio:.2f}")
    if output is not None:
        srsly.write_json(output, rows if both else rows[0])


def serve_and_load(
    model: str,
    path: str,
    bodies: List[Dict[str, Any]],
    requests: int,
    clients: int,
    time_limit: float,
    ray: bool,
    replicas: int,
    limits: List[float],
) -> Dict[str, Any]:
    """Start the server, load it, stop it: the figures."""
    max_batch_size, max_wait_ms, max_queue = limits
    port = free_port()
    command = [sys.executable, "-m", "spacy_seq2seq", "serve", model]
    command += ["--port", str(port), "--max-batch-size", str(int(max_batch_size))]
    command += ["--max-wait-ms", str(max_wait_ms), "--max-queue", str(int(max_queue))]
    if ray:
        command += ["--ray", "--replicas", str(replicas)]
    # with --ray, a Ray instance of its own unless RAY_ADDRESS names one
    env = {**os.environ, "RAY_ADDRESS": os.environ.get("RAY_ADDRESS", "local")}
    server = subprocess.Popen(command, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, server, timeout=300.0)
        # a few requests first: Ray Serve's replicas start their pipelines
        asyncio.run(run_load(url + path, bodies, 2 * clients, clients, 60.0))
        load = asyncio.run(run_load(url + path, bodies, requests, clients, time_limit))
    finally:
        stop(server)
    latencies, errors, seconds = load
    return {
        "model": model,
        "server": f"ray serve, {replicas} replicas" if ray else "embedded",
        "clients": clients,
        "requests": len(latencies) + len(errors),
        "errors": len(errors),
        "error_examples": sorted(set(errors))[:5],
        "requests_per_s": round(len(latencies) / seconds, 1),
        **{
            f"p{q}_ms": round(float(numpy.percentile(latencies, q)) * 1000, 1)
            for q in (50, 95, 99)
        },
        "max_batch_size": max_batch_size,
        "max_wait_ms": max_wait_ms,
        "max_queue": max_queue,
        "load_average": [round(x, 1) for x in os.getloadavg()],
    }


def read_requests(
    service: Seq2SeqService, data: Path, limit: int
) -> Tuple[str, List[Dict[str, Any]], List[str]]:
    """The endpoint, a request body per record (one text each) and the text
    the pipeline reads for it."""
    records = (
        srsly.read_gzip_jsonl(data) if data.suffix == ".gz" else srsly.read_jsonl(data)
    )
    bodies, sources = [], []
    for record in records:
        if len(bodies) == limit:
            break
        if service.spec.task == "reply":
            bodies.append({"turns": record["context"]})
            sources.append(service.spec.reply_context(record["context"]))
        else:
            bodies.append({"texts": [record["text"]]})
            sources.append(record["text"])
    return f"/v1/{service.spec.task}", bodies, sources


def offline_docs_per_s(
    service: Seq2SeqService, sources: List[str], batch_size: int
) -> Dict[str, float]:
    """nlp.pipe's docs/s on the texts, in this thread and in a worker thread
    as the server decodes (torch's threads behave differently in each on a
    busy machine); the ratio is taken to the faster."""

    def pipe() -> float:
        list(service.nlp.pipe(sources[:batch_size], batch_size=batch_size))  # warm up
        start = time.perf_counter()
        for _ in service.nlp.pipe(sources, batch_size=batch_size):
            pass
        return len(sources) / (time.perf_counter() - start)

    with ThreadPoolExecutor(1) as worker:
        in_worker = worker.submit(pipe).result()
    return {"main_thread": round(pipe(), 1), "worker_thread": round(in_worker, 1)}


async def run_load(
    url: str,
    bodies: List[Dict[str, Any]],
    n_requests: int,
    n_clients: int,
    time_limit: float,
) -> Tuple[List[float], List[str], float]:
    """Each client sends one request after another until n_requests are
    sent or time_limit passes: the latencies, the errors and the seconds."""
    queue = cycle(bodies)
    sent = 0
    latencies: List[float] = []
    errors: List[str] = []
    deadline = time.monotonic() + time_limit
    # aiohttp, not httpx: on 2 cores httpx's client took a whole core (7.5 ms of
    # CPU a request) and the measured server got what was left; aiohttp's
    # costs a small fraction of that
    connector = aiohttp.TCPConnector(limit=n_clients)
    timeout = aiohttp.ClientTimeout(total=60.0)

    async def client(http: aiohttp.ClientSession) -> None:
        nonlocal sent
        while sent < n_requests and time.monotonic() < deadline:
            sent += 1
            body = next(queue)
            start = time.perf_counter()
            try:
                async with http.post(url, json=body) as response:
                    text = await response.text()
                if response.status == 200:
                    latencies.append(time.perf_counter() - start)
                else:
                    errors.append(f"{response.status}: {text[:200]}")
            except (aiohttp.ClientError, asyncio.TimeoutError) as e:
                errors.append(f"{type(e).__name__}: {e}")

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        start = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(n_clients)))
        seconds = time.perf_counter() - start
    return latencies, errors, seconds


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, server: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            msg.fail(f"The server exited with {server.returncode}", exits=1)
        try:
            if httpx.get(f"{url}/v1/health", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1.0)
    msg.fail(f"The server did not answer within {timeout:.0f}s", exits=1)


def stop(server: subprocess.Popen) -> None:
    """Stop the server (and with --ray the local Ray instance it started)."""
    server.terminate()
    try:
        server.wait(60)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


if __name__ == "__main__":
    typer.run(main)
