"""Saving and loading a seq2seq component: its pieces ("cfg": the kind and
the update count; the target vocabulary; the weights), each read and checked
before anything is set.

The weights are data, never code: every array of the thinc model and of its
torch modules in one safetensors file, whose metadata holds the facts a
loader checks (the target vocabulary's size and checksum) and the thinc
model's dims and attrs. At load, each array's shape and dtype are checked
against the model the config builds, and non-finite values are refused.

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
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Optional, Tuple

import numpy
import safetensors.torch
import srsly
import torch
from spacy import util
from thinc.api import Model, serialize_attr
from thinc.shims import PyTorchShim

from .model.architectures import build_torch_layer
from .model.vocab import TargetVocab

if TYPE_CHECKING:
    from .component import Seq2SeqComponent

WEIGHTS_FORMAT = "spacy-seq2seq.weights.v1"

TARGET_VOCAB_FILE = "target_vocab.json"
WEIGHTS_FILE = "model.safetensors"
# Where spacy-seq2seq 0.1 saved the weights (thinc's msgpack with torch.save).
LEGACY_WEIGHTS_FILE = "model"

# A saved piece's bytes by its name (None when absent), and where it is.
PieceReader = Callable[[str], Optional[bytes]]
PieceLocator = Callable[[str], str]

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
    except Exception as e:
        raise WeightsError(
            f"The weights in {source} don't fit the model the config describes "
            f"(saved with other settings?): {type(e).__name__}: {e}"
        ) from None
    for i, node in enumerate(walked):
        expected = expected_param_shapes(node)
        for name in node.param_names:
            if node.has_param(name):
                array = model.ops.to_numpy(node.get_param(name))
                check_array(f"node{i}.{name}", array, expected.get(name), source)
    for (i, j), state in shim_states.items():
        module = walked[i].shims[j]._model
        own = module.state_dict()
        for key, tensor in state.items():
            if key in own:
                expected_array = (tuple(own[key].shape), own[key].dtype)
                check_array(f"node{i}.shim{j}.{key}", tensor, expected_array, source)
        try:
            module.load_state_dict(state, strict=True)
        except Exception as e:
            raise WeightsError(
                f"The weights in {source} don't fit the model the config describes "
                f"(saved with other settings?): {type(e).__name__}: {e}"
            ) from None
    expected = {(i, j) for i, node in enumerate(walked) for j in range(len(node.shims))}
    if set(shim_states) != expected:
        raise WeightsError(f"The weights in {source} lack the torch module's state.")


# The component's pieces. Errors start with the component's name, as spaCy's do.


def component_to_bytes(
    component: "Seq2SeqComponent", *, exclude: Iterable[str] = tuple()
) -> bytes:
    serializers = {"vocab": lambda: component.vocab.to_bytes(exclude=exclude)}
    serializers.update(pieces_of(component))
    return util.to_bytes(serializers, exclude)


def component_from_bytes(
    component: "Seq2SeqComponent",
    bytes_data: bytes,
    *,
    exclude: Iterable[str] = tuple(),
) -> None:
    try:
        pieces = srsly.msgpack_loads(bytes_data)
    except Exception as e:
        raise ValueError(
            f"[{component.name}] Can't read the component's bytes: {e}"
        ) from None
    if "vocab" in pieces and "vocab" not in exclude:
        component.vocab.from_bytes(pieces["vocab"], exclude=exclude)
    restore(component, pieces.get, lambda name: f"the {name} of the bytes", "bytes")


def component_to_disk(
    component: "Seq2SeqComponent", path: Path, *, exclude: Iterable[str] = tuple()
) -> None:
    path.mkdir(parents=True, exist_ok=True)
    if "vocab" not in exclude:
        component.vocab.to_disk(path / "vocab", exclude=exclude)
    for name, write in pieces_of(component).items():
        (path / name).write_bytes(write())


def component_from_disk(
    component: "Seq2SeqComponent", path: Path, *, exclude: Iterable[str] = tuple()
) -> None:
    if "vocab" not in exclude and (path / "vocab").exists():
        component.vocab.from_disk(path / "vocab", exclude=exclude)

    def read(name: str) -> Optional[bytes]:
        return (path / name).read_bytes() if (path / name).is_file() else None

    restore(component, read, lambda name: str(path / name), str(path))


def pieces_of(component: "Seq2SeqComponent") -> Dict[str, Callable[[], bytes]]:
    """The saved pieces by name: their bytes' writers."""
    cfg = {
        "kind": component.kind,
        "initialized": component.is_initialized,
        "n_updates": component.n_updates,
        "lowercase": bool(component.cfg.get("lowercase", False)),
    }
    pieces = {"cfg": lambda: srsly.json_dumps(cfg, indent=2).encode("utf8")}
    vocab = component.target_vocab
    if vocab is not None and component.is_initialized:
        metadata = {
            "target_vocab_size": str(len(vocab)),
            "target_vocab_sha256": vocab.checksum(),
        }
        pieces[TARGET_VOCAB_FILE] = lambda: srsly.json_dumps(vocab.to_json()).encode()
        pieces[WEIGHTS_FILE] = lambda: weights_to_bytes(component.model, metadata)
    return pieces


def restore(
    component: "Seq2SeqComponent",
    read: PieceReader,
    where: PieceLocator,
    source: str,
) -> None:
    """Restore the saved pieces; `read` gives a piece's bytes (None when
    absent) and `where` says where it is, for the errors."""
    name = component.name

    def damaged(piece: str) -> ValueError:
        return ValueError(
            f"[{name}] {source} has no '{piece}': the directory is damaged "
            "or was not written by spacy-seq2seq."
        )

    cfg_data = read("cfg")
    if cfg_data is None:
        if read(LEGACY_WEIGHTS_FILE) is None:
            raise damaged("cfg")
        restore_legacy(component, read, where)
        return
    cfg = read_json(component, cfg_data, where("cfg"))
    n_updates = check_cfg(component, cfg, where("cfg"))
    if not cfg.get("initialized"):
        return  # saved before initialize(): nothing more was written
    vocab_data, weights = read(TARGET_VOCAB_FILE), read(WEIGHTS_FILE)
    if vocab_data is None or weights is None:
        raise damaged(TARGET_VOCAB_FILE if vocab_data is None else WEIGHTS_FILE)
    vocab = read_target_vocab(component, vocab_data, where(TARGET_VOCAB_FILE))
    try:
        metadata = read_metadata(weights, where(WEIGHTS_FILE))
    except WeightsError as e:
        raise ValueError(f"[{name}] Can't load the model weights: {e}") from None
    if metadata.get("target_vocab_size") != str(len(vocab)):
        raise ValueError(
            f"[{name}] {where(TARGET_VOCAB_FILE)} has {len(vocab)} words but "
            f"the weights in {where(WEIGHTS_FILE)} were trained with "
            f"{metadata.get('target_vocab_size')}: the vocabulary is not theirs."
        )
    if metadata.get("target_vocab_sha256") != vocab.checksum():
        raise ValueError(
            f"[{name}] {where(TARGET_VOCAB_FILE)} is not the vocabulary the "
            f"weights in {where(WEIGHTS_FILE)} were trained with (its checksum "
            "differs: words changed or in another order)."
        )
    load_weights(component, vocab, weights_from_bytes, weights, where(WEIGHTS_FILE))
    component.n_updates = n_updates
    component.cfg["lowercase"] = cfg.get("lowercase") is True


def check_cfg(component: "Seq2SeqComponent", cfg: Any, where: str) -> int:
    """Check the saved kind; return the saved update count."""
    kind = cfg.get("kind") if isinstance(cfg, dict) else None
    if not isinstance(kind, str):
        raise ValueError(
            f"[{component.name}] {where} doesn't say the component's kind."
        )
    if kind != component.kind:
        raise ValueError(
            f"[{component.name}] {where} is a {kind!r} component's, not a "
            f"{component.kind!r}'s: load it as the component it is."
        )
    n_updates = cfg.get("n_updates")
    if isinstance(n_updates, bool) or not isinstance(n_updates, int) or n_updates < 0:
        raise ValueError(
            f"[{component.name}] {where} has no valid update count (n_updates): "
            f"{n_updates!r}"
        )
    return n_updates


def restore_legacy(
    component: "Seq2SeqComponent", read: PieceReader, where: PieceLocator
) -> None:
    """Weights saved by spacy-seq2seq 0.1 (thinc's msgpack, torch.save'd
    modules), read without running code from the file."""
    weights = read(LEGACY_WEIGHTS_FILE)
    assert weights is not None
    vocab_name = TARGET_VOCAB_FILE
    if read(vocab_name) is None:  # 0.1's to_bytes called it "target_vocab"
        vocab_name = "target_vocab"
    vocab = read_target_vocab(component, read(vocab_name), where(vocab_name))
    source = where(LEGACY_WEIGHTS_FILE)
    load_weights(component, vocab, legacy_weights_from_bytes, weights, source)
    warnings.warn(
        f"[{component.name}] {source} holds weights pickled by torch.save (the "
        "format of spacy-seq2seq 0.1), read with torch.load(weights_only=True). "
        "Save the pipeline again (nlp.to_disk) to store them as safetensors, "
        "with the checks of the vocabulary and the component's kind."
    )


def read_json(component: "Seq2SeqComponent", data: Any, where: str) -> Any:
    # 0.1's to_bytes stored the vocabulary as a str
    try:
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
        return srsly.json_loads(text)
    except ValueError as e:  # UnicodeDecodeError included
        raise ValueError(f"[{component.name}] {where} is not valid JSON: {e}") from None


def read_target_vocab(
    component: "Seq2SeqComponent", data: Optional[bytes], where: str
) -> TargetVocab:
    if data is None:
        raise ValueError(
            f"[{component.name}] {where} is missing: the directory is damaged."
        )
    words = read_json(component, data, where)
    if words is None:
        raise ValueError(
            f"[{component.name}] {where} is null: the weights can't be used "
            "without their target vocabulary (damaged, or saved before "
            "initialize())."
        )
    try:
        return TargetVocab.from_json(words, source=where)
    except ValueError as e:
        raise ValueError(f"[{component.name}] {e}") from None


def load_weights(
    component: "Seq2SeqComponent",
    vocab: TargetVocab,
    load: Callable[[Model, bytes, str], None],
    weights: bytes,
    source: str,
) -> None:
    """Size the model to the vocabulary, build its torch module and load the
    weights into both."""
    component.set_target_vocab(vocab)
    build_torch_layer(component.model)
    try:
        load(component.model, weights, source)
    except WeightsError as e:
        raise ValueError(
            f"[{component.name}] Can't load the model weights: {e}"
        ) from None


# An array's expected shape and dtype (numpy's or torch's).
Expected = Tuple[Tuple[int, ...], Any]


def expected_param_shapes(node: Model) -> Dict[str, Expected]:
    """The shape and dtype each param of a leaf layer gets from its dims,
    found by initializing a copy of it (its dims are set by now); none where
    the layer can't be initialized alone."""
    if node.layers or not node.param_names or node.init is None:
        return {}
    probe = node.copy()
    try:
        probe.initialize()
    except Exception:  # a layer that needs data to infer its shapes
        return {}
    return {
        name: (tuple(probe.get_param(name).shape), probe.get_param(name).dtype)
        for name in probe.param_names
        if probe.has_param(name)
    }


def check_array(
    name: str, array: Any, expected: Optional[Expected], source: str
) -> None:
    """Refuse an array of another shape or dtype than the model's, or with
    NaN or infinite values: either would change or break every output."""
    shape, dtype = tuple(array.shape), array.dtype
    if expected is not None and (shape, dtype) != expected:
        raise WeightsError(
            f"The tensor {name} in {source} has shape {list(shape)} and dtype "
            f"{dtype}, but the model the config describes needs "
            f"{list(expected[0])} and {expected[1]} (damaged, or saved with "
            "other settings?)."
        )
    finite = (
        bool(torch.isfinite(array).all())
        if isinstance(array, torch.Tensor)
        else bool(numpy.isfinite(array).all())
    )
    if not finite:
        raise WeightsError(
            f"The tensor {name} in {source} has NaN or infinite values: the "
            "model diverged in training, or the file is damaged."
        )
