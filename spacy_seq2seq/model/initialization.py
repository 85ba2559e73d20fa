"""Initialisation schemes for the torch module's weights."""

from torch import nn

from ..settings import check_text

INIT_SCHEMES = ("default", "xavier", "he", "orthogonal")


def initialize_weights(module: nn.Module, scheme: str) -> None:
    """Re-initialise the weights of a freshly built module in place.

    "default": torch's own initialisation, untouched.
    "xavier": Glorot uniform weight matrices (Glorot & Bengio 2010), zero biases.
    "he": He normal weight matrices, fan-in (He et al. 2015), zero biases.
    "orthogonal": orthogonal recurrent weights, one block per gate (Saxe et
        al. 2014), the rest untouched.
    The target embeddings keep their own scale in every scheme: the tied
    output layer scores words against them.
    """
    check_text("init", scheme, choices=INIT_SCHEMES)
    for layer in module.modules():
        if isinstance(layer, nn.Embedding):
            continue
        for name, param in layer.named_parameters(recurse=False):
            if scheme == "orthogonal":
                if name.startswith("weight_hh"):
                    for gate in param.data.split(param.shape[1]):
                        nn.init.orthogonal_(gate)
            elif name.startswith("bias") and scheme != "default":
                nn.init.zeros_(param)
            elif param.dim() >= 2 and scheme == "xavier":
                nn.init.xavier_uniform_(param)
            elif param.dim() >= 2 and scheme == "he":
                nn.init.kaiming_normal_(param, nonlinearity="relu")
