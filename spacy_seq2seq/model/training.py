"""Training helpers that thinc's optimizers don't provide."""

import math

from thinc.api import Model


def clip_gradients_by_global_norm(model: Model, max_norm: float) -> float:
    """Scale all gradients of the model, thinc and torch alike, so that their
    joint L2 norm is at most max_norm (thinc's optimizers clip per array).
    Returns the norm before clipping.
    """
    thinc_grads = [
        node.get_grad(name)
        for node in model.walk()
        for name in node.param_names
        if node.has_grad(name)
    ]
    torch_grads = [
        param.grad
        for node in model.walk()
        for shim in node.shims
        for param in shim._model.parameters()
        if param.grad is not None
    ]
    squares = sum(float((g * g).sum()) for g in thinc_grads)
    squares += sum(float(g.pow(2).sum()) for g in torch_grads)
    norm = math.sqrt(squares)
    if norm > max_norm:
        scale = max_norm / (norm + 1e-6)
        for grad in thinc_grads:
            grad *= scale
        for grad in torch_grads:
            grad.mul_(scale)
    return norm
