"""What the project's scripts share: find a pipeline's seq2seq component and
its torch module, change its decoding from the command line with validation,
train a pipeline from its config for a budget of seconds or updates, and
decode and score a split (overall and by source length).

The scripts in scripts/ (evaluate, benchmarks, the ablation) are thin
command lines over these functions.
"""

import dataclasses
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from spacy.language import Language
from spacy.scorer import Scorer
from spacy.training import Corpus, Example
from spacy.training.initialize import init_nlp
from spacy.training.loop import create_train_batches
from spacy.util import load_config, registry, resolve_dot_names
from thinc.api import Model
from wasabi import msg

from ..component import Seq2SeqComponent
from ..grounding import copy_documents
from ..model.architectures import torch_module
from ..model.decoding import DECODINGS, Decoding, changed_decoding
from ..pipeline import find_component
from ..readers import create_dialogue_reader, create_jsonl_reader
from ..responder import ResponderComponent
from ..scorers import ROUGE_TYPES

# (lowest, highest) source length in tokens, both included.
Bucket = Tuple[int, int]


# Where the corpora are (reuters21578_headlines/, cmu_dog/): $SPACY_SEQ2SEQ_DATA,
# by default the shared/data folder beside the project's checkout.
DATA_ROOT_VARIABLE = "SPACY_SEQ2SEQ_DATA"
DEFAULT_DATA_ROOT = Path(__file__).resolve().parents[3] / "shared" / "data"


def data_dir(corpus: str) -> Path:
    """The folder of a corpus (e.g. "reuters21578_headlines") under the data root."""
    root = os.environ.get(DATA_ROOT_VARIABLE)
    return (Path(root) if root else DEFAULT_DATA_ROOT) / corpus


def corpus_overrides(data_dir: Path) -> Dict[str, str]:
    """The config overrides that train on a folder's train.jsonl.gz and
    evaluate on its dev.jsonl.gz."""
    return {
        "paths.train": str(data_dir / "train.jsonl.gz"),
        "paths.dev": str(data_dir / "dev.jsonl.gz"),
    }


def count_parameters(model: Model) -> int:
    """Weights of a seq2seq model: its thinc layers (the tok2vec) and its
    torch module."""
    thinc = sum(
        node.get_param(name).size
        for node in model.walk()
        for name in node.param_names
        if node.has_param(name)
    )
    return thinc + sum(param.numel() for param in torch_module(model).parameters())


def decoding_with(
    decoding: Decoding, kind: Optional[str], assignments: Sequence[str]
) -> Decoding:
    """The decoding of `kind` ("beam", "sampling", "mmi"; None: the same kind) with
    each KEY=VALUE assignment applied, the value read as the setting's type
    (`beam_size=8`, `top_p=0.9`), through `decoding.changed_decoding`.
    Raises a ValueError naming a malformed assignment, an unknown kind or
    setting, or a value out of range.
    """
    new_kind = DECODINGS.get(kind or decoding.name, type(decoding))
    types = {f.name: f.type for f in dataclasses.fields(new_kind)}
    changes: Dict[str, Any] = {}
    for assignment in assignments:
        key, equals, value = (part.strip() for part in assignment.partition("="))
        if not equals or not key or not value:
            raise ValueError(
                f"Expected KEY=VALUE for a decoding setting, not {assignment!r}"
            )
        try:
            # An unknown key keeps its text: changed_decoding names it.
            changes[key] = types[key](value) if key in types else value
        except ValueError:
            expected = "an integer" if types[key] is int else "a number"
            raise ValueError(f"{key} must be {expected}, not {value!r}") from None
    return changed_decoding(decoding, kind, **changes)


def read_split(
    nlp: Language,
    path: Path,
    component: Seq2SeqComponent,
    limit: int = 0,
    document_field: Optional[str] = None,
) -> List[Example]:
    """The examples of a split for the component: a .spacy file (as
    scripts/convert_*.py write them, the target text and any document in
    the reference docs' user data, the document given to the predicted doc
    too) or JSONL pairs (dialogues, for a responder, with their
    `document_field`, if any)."""
    path = Path(path)
    if path.suffix == ".spacy":
        examples = list(Corpus(path, limit=limit)(nlp))
        copy_documents(examples)
        return examples
    if isinstance(component, ResponderComponent):
        read = create_dialogue_reader(
            path,
            response_field=component.target_field,
            turn_separator=component.turn_separator,
            limit=limit,
            document_field=document_field,
        )
    else:
        read = create_jsonl_reader(
            path, target_field=component.target_field, limit=limit
        )
    return list(read(nlp))


def decode_timed(
    nlp: Language, examples: List[Example], batch_size: Optional[int] = None
) -> float:
    """Run the pipeline over the examples' docs (after a warm-up batch),
    setting each example's predicted doc; returns docs per second."""
    list(
        nlp.pipe((eg.predicted.copy() for eg in examples[:256]), batch_size=batch_size)
    )
    start = time.perf_counter()
    docs = nlp.pipe((eg.predicted for eg in examples), batch_size=batch_size)
    for example, doc in zip(examples, docs):
        example.predicted = doc
    return round(len(examples) / (time.perf_counter() - start), 1)


@dataclass
class SplitScores:
    """The scores of a decoded split: every score of the pipeline's
    components (the tokenizer's, 1.0 by construction, left out), the number
    of docs and the decoding speed."""

    scores: Dict[str, float]
    docs: int
    docs_per_s: float


def score_split(
    nlp: Language, examples: List[Example], batch_size: Optional[int] = None
) -> SplitScores:
    """Decode the examples with the pipeline (timed) and score them."""
    if not examples:
        raise ValueError("No examples to score: the split is empty")
    docs_per_s = decode_timed(nlp, examples, batch_size)
    scores = {
        key: value
        for key, value in Scorer(nlp).score(examples).items()
        # The predicted docs are tokenized from the reference texts.
        if isinstance(value, float) and not key.startswith("token_")
    }
    return SplitScores(scores, len(examples), docs_per_s)


def scores_by_length(
    examples: List[Example],
    score: Callable[[List[Example]], Dict[str, Any]],
    buckets: Sequence[Bucket],
) -> List[Dict[str, Any]]:
    """`score` of the decoded examples whose source length (tokens of the
    predicted doc) falls in each bucket, with the bucket's bounds, size and
    mean source length ("low", "high", "n", "mean_length"); a bucket without
    examples has no scores."""
    rows = []
    for low, high in buckets:
        inside = [eg for eg in examples if low <= len(eg.predicted) <= high]
        row = {"low": low, "high": high, "n": len(inside)}
        if inside:
            row["mean_length"] = sum(len(eg.predicted) for eg in inside) / len(inside)
            row.update(score(inside))
        rows.append(row)
    return rows


@dataclass
class TrainingRun:
    """A pipeline trained for a budget, restored to its best dev score; its
    figures and the dev evaluations, in order."""

    nlp: Language
    figures: Dict[str, Any] = field(default_factory=dict)
    dev_curve: List[Dict[str, Any]] = field(default_factory=list)


def train_for_budget(
    config_path: Union[str, Path],
    overrides: Dict[str, Any],
    budget: float = math.inf,
    eval_every: float = math.inf,
    max_epochs: int = 0,
    max_steps: int = 0,
    eval_every_steps: int = 0,
) -> TrainingRun:
    """Train with the config's corpora, batcher and optimizer for `budget`
    seconds or `max_steps` updates (0: no limit), whichever comes first,
    evaluating on the dev corpus every `eval_every` seconds or every
    `eval_every_steps` updates, and at the end; the best weights by the
    config's weighted score are kept. Evaluating by updates makes a run
    reproducible: the same config and seed give the same figures.
    `max_epochs = 0` holds the training corpus in memory, -1 streams it as
    spaCy does.
    """
    if math.isinf(budget) and not max_steps:
        raise ValueError("Give a budget of seconds or of updates (max_steps)")
    setup_start = time.perf_counter()
    overrides = {**overrides, "training.max_epochs": max_epochs}
    config = load_config(config_path, overrides=overrides, interpolate=False)
    nlp = init_nlp(config)
    config = nlp.config.interpolate()
    training = registry.resolve(config["training"])
    weights = {k: w for k, w in training["score_weights"].items() if w}
    train_corpus, dev_corpus = resolve_dot_names(
        config, [training["train_corpus"], training["dev_corpus"]]
    )
    dev_examples = list(dev_corpus(nlp))
    batches = create_train_batches(nlp, train_corpus, training["batcher"], max_epochs)
    component = find_component(nlp)
    limits = [f"{budget:.0f}s"] if not math.isinf(budget) else []
    limits += [f"{max_steps} updates"] if max_steps else []
    every = f"{eval_every_steps} updates" if eval_every_steps else f"{eval_every:.0f}s"
    msg.info(f"Training for {' or '.join(limits)}; dev evaluation every {every}")

    source_tokens = target_tokens = steps = 0
    train_seconds = eval_seconds = 0.0
    best_score: Optional[float] = None
    best_step = 0
    best_weights = b""
    first_update_s = None
    dev_curve: List[Dict[str, Any]] = []
    start = last_eval = time.perf_counter()
    for epoch, batch in batches:
        step_start = time.perf_counter()
        losses = nlp.update(batch, sgd=training["optimizer"], drop=training["dropout"])
        train_seconds += time.perf_counter() - step_start
        steps += 1
        if first_update_s is None:  # setup, vocabulary pass and reading included
            first_update_s = time.perf_counter() - setup_start
        source_tokens += sum(len(eg.predicted) for eg in batch)
        target_tokens += sum(
            len(nlp.make_doc(eg.reference._.get(component.target_field)))
            for eg in batch
        )
        now = time.perf_counter()
        finished = now - start >= budget or steps == max_steps
        if eval_every_steps:
            evaluate = steps % eval_every_steps == 0
        else:
            evaluate = now - last_eval >= eval_every
        if finished or evaluate:
            scores = nlp.evaluate(dev_examples)
            eval_seconds += time.perf_counter() - now
            last_eval = time.perf_counter()
            score = sum(w * (scores.get(k) or 0.0) for k, w in weights.items())
            loss = losses[component.name]
            dev_curve.append(
                {
                    "step": steps,
                    "epoch": epoch,
                    "seconds": round(now - start, 1),
                    "loss": round(loss, 4),
                    "score": round(score, 4),
                }
            )
            shown = " ".join(f"{k} {100 * (scores.get(k) or 0):.2f}" for k in weights)
            msg.text(
                f"{now - start:6.0f}s epoch {epoch} step {steps} "
                f"loss {loss:.3f} dev {shown} score {score:.4f}"
            )
            if best_score is None or score > best_score:
                best_score, best_step, best_weights = score, steps, nlp.to_bytes()
        if finished:
            break
    total_seconds = time.perf_counter() - start
    nlp.from_bytes(best_weights)
    figures = {
        "budget_s": None if math.isinf(budget) else budget,
        "steps": steps,
        "time_to_first_update_s": round(first_update_s or 0.0, 1),
        "epochs": epoch,
        "dev_score_best": round(best_score or 0.0, 4),
        "best_step": best_step,
        "train_source_tokens_per_s": round(source_tokens / train_seconds),
        "train_target_tokens_per_s": round(target_tokens / train_seconds),
        "train_source_tokens_per_s_with_reading": round(
            source_tokens / (total_seconds - eval_seconds)
        ),
        "train_source_tokens_per_s_with_eval": round(source_tokens / total_seconds),
        "train_seconds": round(total_seconds, 1),
        "dev_eval_seconds": round(eval_seconds, 1),
    }
    return TrainingRun(nlp, figures, dev_curve)


def decode_test_split(
    nlp: Language, data_dir: Path, beam_size: int
) -> Dict[str, float]:
    """Summarize a folder's test.jsonl.gz with beam search of `beam_size`:
    ROUGE F1 x 100 by type and docs/s."""
    component = find_component(nlp)
    component.decoding = changed_decoding(component.decoding, beam_size=beam_size)
    split = score_split(nlp, read_split(nlp, data_dir / "test.jsonl.gz", component))
    field = component.target_field
    figures = {
        key: round(100 * split.scores[f"{field}_{key}"], 2) for key in ROUGE_TYPES
    }
    return {**figures, "docs_per_s": split.docs_per_s}
