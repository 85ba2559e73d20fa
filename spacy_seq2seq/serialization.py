"""A component's weights as data, never code: every array of the thinc model
and of its torch modules in one safetensors file, whose metadata holds the
facts a loader checks (the target vocabulary's size and checksum) and the
thinc model's dims and attrs.

thinc's PyTorchShim writes torch modules with torch.save (a pickle) and reads
them with a plain torch.load, which runs code from the file whenever
weights_only is off (torch < 2.6, or TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1).
Weights saved before this module existed are read with an explicit
torch.load(weights_only=True).
"""

import base64
import io
import json
import struct
from typing import Any, Dict, List, Tuple

import numpy
import safetensors.torch
import srsly
import torch
from thinc.api import Model, serialize_attr
from thinc.shims import PyTorchShim

WEIGHTS_FORMAT = "spacy-seq2seq.weights.v1"

# The state of each torch module, keyed by (node index, shim index) in
# model.walk() order.
ShimStates = Dict[Tuple[int, int], Dict[str, torch.Tensor]]


class WeightsError(ValueError):
    """The weights can't be read or don't fit the model."""


def weights_to_bytes(model: Model, metadata: Dict[str, str]) -> bytes:
    """All arrays of the model as safetensors, with the model's structure and
    the given metadata."""
    tensors: Dict[str, torch.Tensor] = {}
    nodes: List[Dict[str, Any]] = []
    walked = list(model.walk())
    index = {node.id: i for i, node in enumerate(walked)}
    for i, node in enumerate(walked):
        params = [name for name in node.param_names if node.has_param(name)]
        for name in params:
            array = numpy.ascontiguousarray(model.ops.to_numpy(node.get_param(name)))
            tensors[f"node{i}.{name}"] = torch.from_numpy(array)
        for j, shim in enumerate(node.shims):
            if not isinstance(shim, PyTorchShim):
                raise WeightsError(
                    f"Can't save a {type(shim).__name__} without pickle: only "
                    "PyTorch layers can be saved as safetensors."
                )
            for key, value in shim._model.state_dict().items():
                # a copy: safetensors refuses tensors that share memory
                tensors[f"node{i}.shim{j}.{key}"] = value.detach().cpu().clone()
        nodes.append(
            {
                "name": node.name,
                "dims": {
                    d: node.get_dim(d) if node.has_dim(d) else None
                    for d in node.dim_names
                },
                "refs": {
                    r: index.get(node.get_ref(r).id) if node.has_ref(r) else None
                    for r in node.ref_names
                },
                "attrs": encode_attrs(node),
                "params": params,
                "shims": len(node.shims),
            }
        )
    metadata = {**metadata, "format": WEIGHTS_FORMAT, "thinc": json.dumps(nodes)}
    return safetensors.torch.save(tensors, metadata=metadata)


def encode_attrs(node: Model) -> Dict[str, str]:
    """The node's attrs as thinc serializes them (msgpack; the ones it can't
    are skipped, as thinc does), in base64 for the JSON metadata."""
    encoded = {}
    for name, value in node.attrs.items():
        try:
            data = serialize_attr(value, value, name, node)
        except TypeError:
            continue
        encoded[name] = base64.b64encode(data).decode("ascii")
    return encoded


def read_metadata(data: bytes, source: str) -> Dict[str, str]:
    """The metadata of safetensors data, checked to be spacy-seq2seq weights.
    (The header is 8 bytes of length, then JSON: safetensors' own loaders
    return the tensors only.)"""
    problem = f"{source} is not a safetensors file of spacy-seq2seq weights"
    if len(data) < 8:
        raise WeightsError(f"{problem}: it has {len(data)} bytes (truncated?)")
    (header_length,) = struct.unpack("<Q", data[:8])
    if header_length > len(data) - 8:
        raise WeightsError(f"{problem}: its header is cut off (truncated?)")
    try:
        header = json.loads(data[8 : 8 + header_length])
    except ValueError:
        raise WeightsError(f"{problem}: its header is not JSON") from None
    metadata = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(metadata, dict) or metadata.get("format") != WEIGHTS_FORMAT:
        raise WeightsError(f"{problem}: no '{WEIGHTS_FORMAT}' in its metadata")
    return metadata


def weights_from_bytes(model: Model, data: bytes, source: str) -> None:
    """Load weights written by `weights_to_bytes` into a model built from the
    same config."""
    metadata = read_metadata(data, source)
    msg: Dict[str, List[Any]] = {"nodes": [], "attrs": [], "params": [], "shims": []}
    shim_states: ShimStates = {}
    try:
        tensors = safetensors.torch.load(data)
        for i, node in enumerate(json.loads(metadata["thinc"])):
            msg["nodes"].append(
                {
                    "index": i,
                    "name": node["name"],
                    "dims": node["dims"],
                    "refs": node["refs"],
                }
            )
            msg["attrs"].append(
                {k: base64.b64decode(v) for k, v in node["attrs"].items()}
            )
            msg["params"].append(
                {
                    name: tensors.pop(f"node{i}.{name}").numpy()
                    for name in node["params"]
                }
            )
            msg["shims"].append([])
            for j in range(node["shims"]):
                prefix = f"node{i}.shim{j}."
                keys = [key for key in tensors if key.startswith(prefix)]
                shim_states[i, j] = {k[len(prefix) :]: tensors.pop(k) for k in keys}
    except Exception as e:
        raise WeightsError(
            f"Can't read the weights in {source} (damaged?): {type(e).__name__}: {e}"
        ) from None
    if tensors:
        raise WeightsError(
            f"{source} has arrays the model lacks: {sorted(tensors)[:5]}"
        )
    load_model(model, msg, shim_states, source)


def legacy_weights_from_bytes(model: Model, data: bytes, source: str) -> None:
    """Load weights that thinc wrote (msgpack, with torch.save'd modules),
    reading the torch modules with torch.load(weights_only=True): tensors
    only, never code, whatever torch's default or environment says."""
    try:
        msg = srsly.msgpack_loads(data)
        shim_states: ShimStates = {}
        for i, shims in enumerate(msg["shims"]):
            for j, shim_bytes in enumerate(shims):
                state = srsly.msgpack_loads(shim_bytes)["state"]
                shim_states[i, j] = torch.load(
                    io.BytesIO(state), map_location="cpu", weights_only=True
                )
    except Exception as e:
        raise WeightsError(
            f"Can't load the model weights from {source}: {type(e).__name__}: {e}"
        ) from None
    msg["shims"] = [[] for _ in msg["shims"]]
    load_model(model, msg, shim_states, source)


def load_model(
    model: Model, msg: Dict[str, List[Any]], shim_states: ShimStates, source: str
) -> None:
    """Set the model's dims, attrs and params from a thinc message without
    shims, and its torch modules' states."""
    walked = list(model.walk())
    try:
        model.from_dict(msg)
        for (i, j), state in shim_states.items():
            walked[i].shims[j]._model.load_state_dict(state, strict=True)
    except Exception as e:
        raise WeightsError(
            f"The weights in {source} don't fit the model the config describes "
            f"(saved with other settings?): {type(e).__name__}: {e}"
        ) from None
    expected = {(i, j) for i, node in enumerate(walked) for j in range(len(node.shims))}
    if set(shim_states) != expected:
        raise WeightsError(f"The weights in {source} lack the torch module's state.")
