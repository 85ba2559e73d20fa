"""The same API on Ray Serve: an ingress deployment runs the app of app.py
(validation, limits, conversations) and sends each text to a pool of
decoder replicas, each with its own pipeline, batched by `@serve.batch`.
Needs the `ray` extra.
"""

import asyncio
import signal
import sys
from typing import List, Optional, Union

import spacy
from ray import serve
from ray.serve.handle import DeploymentHandle

from ..batch.local_ray import init_ray
from .app import create_app
from .service import (
    Decoded,
    DecodeError,
    DecodeTask,
    Limits,
    Seq2SeqService,
    ServingSpec,
)

APP_NAME = "spacy-seq2seq"


@serve.deployment
class Decoder:
    """One pipeline per replica. Ray Serve gathers the texts that arrive
    within max_wait_ms (up to max_batch_size) into one call of `decode`."""

    def __init__(
        self, model: str, component: Optional[str], limits: Limits, use_gpu: bool
    ) -> None:
        if use_gpu:
            spacy.require_gpu()  # the GPU Ray gave this replica
        self.service = Seq2SeqService.load(model, component=component, limits=limits)
        self.decode.set_max_batch_size(limits.max_batch_size)
        self.decode.set_batch_wait_timeout_s(limits.max_wait_ms / 1000.0)

    @serve.batch
    async def decode(
        self, tasks: List[DecodeTask]
    ) -> List[Union[Decoded, DecodeError]]:
        # off the replica's event loop, so that the next batch can gather
        return await asyncio.to_thread(self.service.decode_batch, tasks)


# It only waits on the decoders, so it takes every request the proxy has
# (Ray Serve's default is 5 at a time, which would starve the batches).
@serve.deployment(ray_actor_options={"num_cpus": 0}, max_ongoing_requests=10_000)
@serve.ingress()
class Ingress:
    """The HTTP side: app.py's app, decoding with the Decoder replicas."""

    def __init__(self, spec: ServingSpec, decoder: DeploymentHandle) -> None:
        self.spec = spec
        self.decoder = decoder

    def __serve_build_asgi_app__(self):
        return create_app(self.spec, self.decode)

    async def decode(self, task: DecodeTask) -> Decoded:
        try:
            result = await self.decoder.decode.remote(task)
        except Exception as e:  # the replica failed: this task's batch only
            raise DecodeError(f"decoding failed on a replica: {e}") from e
        if isinstance(result, DecodeError):
            raise result
        return result


def build_app(
    model: str,
    spec: ServingSpec,
    *,
    component: Optional[str],
    replicas: int,
    num_gpus_per_replica: float,
):
    """The Ray Serve application: the ingress and `replicas` decoders."""
    if replicas < 1:
        raise ValueError(f"replicas must be at least 1, not {replicas}")
    if num_gpus_per_replica < 0:
        raise ValueError(
            f"num_gpus_per_replica must be >= 0, not {num_gpus_per_replica}"
        )
    decoder = Decoder.options(
        num_replicas=replicas,
        # a full batch gathering while the previous one decodes
        max_ongoing_requests=2 * spec.limits.max_batch_size,
        ray_actor_options={"num_gpus": num_gpus_per_replica},
    ).bind(model, component, spec.limits, num_gpus_per_replica > 0)
    return Ingress.bind(spec, decoder)


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
