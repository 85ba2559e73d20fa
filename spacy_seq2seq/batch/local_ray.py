"""Connect to Ray: the cluster at RAY_ADDRESS, or a new instance on this
machine that talks over the loopback address only."""

import os
from typing import Any


def init_ray(**kwargs: Any) -> None:
    """ray.init with kwargs. Without a cluster address (the `address` argument
    or RAY_ADDRESS, "local" counting as none) Ray starts a new local instance,
    and on Linux it would address its own processes by the machine's network
    address; this one uses 127.0.0.1, as Ray does on macOS and Windows, so
    its traffic never leaves the loopback interface.
    """
    import ray
    from ray._private import ray_constants

    address = kwargs.get("address") or os.environ.get("RAY_ADDRESS")
    if address in (None, "", "local"):
        # Ray's own switch (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER), read when the
        # node picks its address; setting the variable is too late once ray
        # is imported
        ray_constants.ENABLE_RAY_CLUSTER = False
    ray.init(**kwargs)
