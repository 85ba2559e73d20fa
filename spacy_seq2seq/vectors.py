"""Static vectors for the decoder: the target embeddings (tied to the output
layer) started from the pipeline's vector table, as `init_target_from_vectors`
asks, when the component is initialized and its target vocabulary is known.

The vectors are copied as they are, so embed_width must be their width (128
for the table scripts/train_vectors.py writes by default, 300 for
en_core_web_lg): no projection is learned or guessed. Each copied row is
scaled so that the rows' mean norm is 1, the norm of the random rows
(AttentionalDecoder: N(0, 1/E)), which keeps the tied output logits in the
range the training starts from.
"""

from typing import Any

import numpy
import torch
from spacy.vocab import Vocab
from thinc.api import Model

from .model.architectures import torch_module
from .model.vocab import SPECIALS


def init_target_embeddings(model: Model, target_vocab: Any, vocab: Vocab) -> int:
    """Set each target word's embedding to its static vector, scaled (see
    above); the specials and words without a vector keep their random rows.
    Returns the number of words set. Raises a ValueError without vectors
    or when their width is not embed_width."""
    vectors = vocab.vectors
    if vectors.shape[0] == 0 or vectors.shape[1] == 0:
        raise ValueError(
            "init_target_from_vectors needs static vectors: set [initialize] "
            "vectors to a pipeline with vectors (en_core_web_lg, or a table from "
            "scripts/train_vectors.py)."
        )
    embed = torch_module(model).decoder.embed.weight  # V×E
    width = vectors.shape[1]
    if width != embed.shape[1]:
        raise ValueError(
            f"init_target_from_vectors: the vectors are {width} wide but the "
            f"target embeddings {embed.shape[1]} (embed_width): set embed_width "
            f"= {width}."
        )
    rows, table = [], []
    for i, word in enumerate(target_vocab.words):
        if i >= len(SPECIALS) and vocab.has_vector(word):
            rows.append(i)
            table.append(model.ops.to_numpy(vocab.get_vector(word)))
    if not rows:
        return 0
    array = numpy.asarray(table, dtype="float32")  # n×E
    norms = numpy.linalg.norm(array, axis=1)
    array /= norms[norms > 0].mean() if (norms > 0).any() else 1.0
    with torch.no_grad():
        embed[torch.tensor(rows)] = torch.from_numpy(array).to(embed)
    return len(rows)
