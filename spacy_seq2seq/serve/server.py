"""Start a server: embedded (uvicorn, in this process) or on Ray Serve."""

from typing import Optional

from .service import Limits, Seq2SeqService

KEEP_ALIVE_S = 60


def serve(
    model: str,
    *,
    host: str,
    port: int,
    limits: Limits,
    component: Optional[str] = None,
    ray: bool = False,
    replicas: int = 1,
    num_gpus_per_replica: float = 0.0,
) -> None:
    """Serve the pipeline's seq2seq component until interrupted."""
    service = Seq2SeqService.load(model, component=component, limits=limits)
    if ray:
        from .ray_deployment import run_on_ray

        run_on_ray(
            model,
            service.spec,
            host=host,
            port=port,
            component=component,
            replicas=replicas,
            num_gpus_per_replica=num_gpus_per_replica,
        )
        return
    import uvicorn

    from .app import embedded_app

    # keep-alive past a slow batch: a client reusing a connection the server
    # just closed would read an error
    uvicorn.run(
        embedded_app(service),
        host=host,
        port=port,
        log_level="info",
        timeout_keep_alive=KEEP_ALIVE_S,
    )
