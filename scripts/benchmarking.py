"""What the benchmark scripts share: training a pipeline from its config for a
fixed wall-clock budget, timing decoding, and reading peak memory."""

import resource
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from spacy.language import Language
from spacy.training import Example
from spacy.training.initialize import init_nlp
from spacy.training.loop import create_train_batches
from spacy.util import load_config, registry, resolve_dot_names
from wasabi import msg

from spacy_seq2seq.component import Seq2SeqComponent


@dataclass
class BudgetRun:
    """A pipeline trained for a budget, restored to its best dev score."""

    nlp: Language
    figures: Dict[str, Any] = field(default_factory=dict)


def seq2seq_component(nlp: Language) -> Seq2SeqComponent:
    """The pipeline's (first) seq2seq component."""
    for _, pipe in nlp.pipeline:
        if isinstance(pipe, Seq2SeqComponent):
            return pipe
    raise ValueError(f"No seq2seq component in the pipeline {nlp.pipe_names}")


def train_for_budget(
    config_path: Path,
    overrides: Dict[str, Any],
    budget: float,
    eval_every: float,
    max_epochs: int = 0,
    max_steps: int = 0,
) -> BudgetRun:
    """Train with the config's corpora, batcher and optimizer for `budget`
    seconds (or `max_steps` updates, if sooner), evaluating on the dev corpus
    every `eval_every` seconds and at the end; the best weights by the
    config's weighted score are kept. `max_epochs = 0` holds the training
    corpus in memory, -1 streams it as spaCy does.
    """
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
    component = seq2seq_component(nlp)
    msg.info(f"Training for {budget:.0f}s; dev evaluation every {eval_every:.0f}s")

    source_tokens = target_tokens = steps = 0
    train_seconds = eval_seconds = 0.0
    best_score: Optional[float] = None
    best_weights = b""
    first_update_s = None
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
        out_of_time = now - start >= budget or steps == max_steps
        if out_of_time or now - last_eval >= eval_every:
            scores = nlp.evaluate(dev_examples)
            eval_seconds += time.perf_counter() - now
            last_eval = time.perf_counter()
            score = sum(w * (scores.get(k) or 0.0) for k, w in weights.items())
            shown = " ".join(f"{k} {100 * (scores.get(k) or 0):.2f}" for k in weights)
            msg.text(
                f"{now - start:6.0f}s epoch {epoch} step {steps} "
                f"loss {losses[component.name]:.3f} dev {shown} score {score:.4f}"
            )
            if best_score is None or score > best_score:
                best_score, best_weights = score, nlp.to_bytes()
        if out_of_time:
            break
    total_seconds = time.perf_counter() - start
    nlp.from_bytes(best_weights)
    return BudgetRun(
        nlp,
        {
            "budget_s": budget,
            "steps": steps,
            "time_to_first_update_s": round(first_update_s or 0.0, 1),
            "epochs": epoch,
            "dev_score_best": round(best_score or 0.0, 4),
            "train_source_tokens_per_s": round(source_tokens / train_seconds),
            "train_target_tokens_per_s": round(target_tokens / train_seconds),
            "train_source_tokens_per_s_with_reading": round(
                source_tokens / (total_seconds - eval_seconds)
            ),
            "train_source_tokens_per_s_with_eval": round(source_tokens / total_seconds),
            "dev_eval_seconds": round(eval_seconds, 1),
        },
    )


def decode_timed(nlp: Language, examples: List[Example]) -> float:
    """Run the pipeline over the examples' docs (after a warm-up batch),
    setting each example's predicted doc; returns docs per second."""
    list(nlp.pipe(eg.predicted.copy() for eg in examples[:256]))
    start = time.perf_counter()
    for example, doc in zip(examples, nlp.pipe(eg.predicted for eg in examples)):
        example.predicted = doc
    return round(len(examples) / (time.perf_counter() - start), 1)


def peak_memory_gb() -> float:
    """Max resident memory of this process or any child it waited for."""
    peak_kb = max(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    )
    return round(peak_kb / 1024**2, 2)
