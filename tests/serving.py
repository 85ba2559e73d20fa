"""Start and stop a server on 127.0.0.1 for a test."""

import threading
import time
from contextlib import contextmanager
from typing import Iterator

from spacy.language import Language


@contextmanager
def running(app, *, timeout: float = 30.0) -> Iterator[str]:
    """Serve the ASGI app with uvicorn in a thread on a free port of
    127.0.0.1; yields its base URL and stops it on exit."""
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("The test server did not start.")
        time.sleep(0.02)
    (socket,) = [s for srv in server.servers for s in srv.sockets]
    port = socket.getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)


def copy_pipeline(nlp: Language, make) -> Language:
    """A copy of a trained pipeline, so that a test can't change the
    session's."""
    (name,) = nlp.pipe_names
    copy = make(min_count=1, model=nlp.config["components"][name]["model"])
    copy.from_bytes(nlp.to_bytes())
    return copy
