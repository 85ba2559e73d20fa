"""Answer the CMU_DoG test split with one trained responder and several
decodings (beam search, nucleus sampling, MMI reranking), or train the
responder for a budget first.

    python scripts/benchmark_responder.py configs/responder.cfg \
        --decode-only training/responder/model-best
    python scripts/benchmark_responder.py configs/responder.cfg --steps 816

Each `--decoding "KIND KEY=VALUE ..."` is the responder's own decoding
switched to KIND (beam, sampling, mmi) with those settings; without any, the
three of the README. Tune on the dev split, with a row per setting:

    python scripts/benchmark_responder.py configs/responder.cfg \
        --decode-only MODEL --split dev --limit 1000 \
        --decoding "mmi mmi_weight=0.25" --decoding "mmi mmi_weight=0.5"

Prints, for each decoding: corpus BLEU, unigram F1, distinct-1/2 and the
share of the most frequent reply (all x 100), the mean words per reply and
decoding docs per second;
the perplexity of the reference replies; and the replies of each decoding
to ten contexts spread over the split. With training, also the training
figures (tokens per second) and peak memory (max RSS).
"""

import json
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import spacy
import srsly
import typer
from benchmarking import peak_memory_gb
from spacy.language import Language
from spacy.training import Example
from wasabi import msg

from spacy_seq2seq.model.decoding import Decoding
from spacy_seq2seq.pipeline import find_component
from spacy_seq2seq.research.experiments import (
    corpus_overrides,
    data_dir,
    decoding_with,
    read_split,
    score_split,
    train_for_budget,
)
from spacy_seq2seq.scorers import score_responses

DATA = data_dir("cmu_dog")
# Beam search as the README's earlier figures ran it (the other settings are
# the responder's), nucleus sampling (the default before MMI) and MMI.
COMPARED = [
    "beam beam_size=5 n_best=1 length_penalty=1.0",
    "sampling top_p=0.9 n_best=1 length_penalty=1.0",
    "mmi top_p=0.9 n_best=1 length_penalty=0.0 candidates=8 mmi_weight=0.75 "
    "length_bonus=1.0",
]
SCORES = ("bleu", "f1", "distinct1", "distinct2", "top_reply_share")


def main(
    config_path: Path = typer.Argument(..., exists=True, dir_okay=False),
    decode_only: Optional[Path] = typer.Option(
        None, help="Answer with this trained pipeline instead of training one"
    ),
    decoding: List[str] = typer.Option(
        [], help='A decoding to compare: "KIND KEY=VALUE ..." (default: the three)'
    ),
    split: str = typer.Option("test", help="The split to answer: test or dev"),
    limit: int = typer.Option(0, help="Answer only the first N pairs (0: all)"),
    n_samples: int = typer.Option(10, help="Contexts whose replies are printed"),
    budget: float = typer.Option(900.0, help="Training wall-clock seconds"),
    steps: int = typer.Option(0, help="Training updates, if sooner (0: no limit)"),
    eval_every: float = typer.Option(180.0, help="Seconds between dev evaluations"),
    data_dir: Path = typer.Option(DATA, help="Folder with train/dev/test.jsonl.gz"),
    output: Optional[Path] = typer.Option(None, help="Write the figures as JSON"),
    replies_out: Optional[Path] = typer.Option(
        None, "--replies", help="Write every pair's replies as JSONL, to check"
    ),
    model_out: Optional[Path] = typer.Option(None, help="Save the trained pipeline"),
    gpu_id: int = typer.Option(-1, help="GPU id, -1 for the CPU"),
) -> None:
    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)
    if decode_only is not None:
        nlp, figures = spacy.load(decode_only), {}
    else:
        overrides = {
            **corpus_overrides(data_dir),
        }
        run = train_for_budget(
            config_path, overrides, budget, eval_every, max_steps=steps
        )
        nlp, figures = run.nlp, run.figures
        run.nlp.to_disk(model_out or Path(tempfile.mkdtemp()) / "model")
    responder = find_component(nlp)
    # F1 and the rest, whichever scorer the pipeline was trained with.
    responder.scorer = score_responses
    try:
        decodings = {
            spec: decoding_with(responder.decoding, *parse_decoding(spec))
            for spec in decoding or COMPARED
        }
    except ValueError as e:
        msg.fail(str(e), exits=1)
    examples = read_split(nlp, data_dir / f"{split}.jsonl.gz", responder, limit)
    shown = [i * len(examples) // n_samples for i in range(n_samples)]
    results: Dict[str, Dict[str, Any]] = {}
    replies: Dict[str, List[str]] = {}
    for spec, settings in decodings.items():
        msg.info(f"{spec}: {len(examples):,} {split} pairs")
        results[spec], replies[spec] = answer(nlp, settings, examples)
        msg.text(str(results[spec]))
    print_table(results, split, len(examples))
    print_replies(examples, shown, replies)
    if replies_out is not None:
        rows = (pair_replies(examples, replies, i) for i in range(len(examples)))
        srsly.write_jsonl(replies_out, rows)
    figures["peak_memory_gb"] = peak_memory_gb()
    msg.table(figures, header=("figure", "value"), divider=True)
    if output is not None:
        samples = [pair_replies(examples, replies, i) for i in shown]
        record = {"split": split, "pairs": len(examples), "decodings": results}
        record.update(figures=figures, samples=samples)
        output.write_text(json.dumps(record, indent=2) + "\n")


def pair_replies(
    examples: List[Example], replies: Dict[str, List[str]], i: int
) -> Dict[str, str]:
    """The i-th pair's context and reference, and each decoding's reply."""
    example = examples[i]
    return {
        "context": example.predicted.text,
        "reference": example.reference._.response,
        **{spec: texts[i] for spec, texts in replies.items()},
    }


def parse_decoding(spec: str) -> Tuple[Optional[str], List[str]]:
    """("mmi", ["candidates=8", ...]) of "mmi candidates=8 ..."."""
    kind, *assignments = spec.split()
    return kind, assignments


def answer(
    nlp: Language, decoding: Decoding, examples: List[Example]
) -> Tuple[Dict[str, Any], List[str]]:
    """The scores of the examples answered with the decoding (x 100 but
    perplexity), its docs/s and most frequent reply, and the replies."""
    responder = find_component(nlp)
    answered = [eg.copy() for eg in examples]
    with responder.using_decoding(decoding):
        result = score_split(nlp, answered)
    replies = [eg.predicted._.response for eg in answered]
    words = sum(len(reply.split()) for reply in replies)
    scores = {
        key.replace("response_", ""): round(
            value if key.endswith("perplexity") else 100 * value, 2
        )
        for key, value in result.scores.items()
        if key.startswith("response_")
    }
    figures = {
        "words_per_reply": round(words / len(replies), 1),
        "top_reply": Counter(replies).most_common(1)[0][0],
    }
    return {**scores, **figures, "docs_per_s": result.docs_per_s}, replies


def print_table(results: Dict[str, Dict[str, Any]], split: str, n_pairs: int) -> None:
    specs = list(results)
    rows = [
        (name, *(results[spec].get(name) for spec in specs))
        for name in (
            *SCORES,
            "top_reply",
            "words_per_reply",
            "docs_per_s",
            "perplexity",
        )
    ]
    header = (
        "figure",
        *(f"({i + 1}) {spec.split()[0]}" for i, spec in enumerate(specs)),
    )
    msg.divider(f"{split} split, {n_pairs:,} pairs")
    for i, spec in enumerate(specs):
        msg.text(f"({i + 1}) {spec}")
    msg.table(rows, header=header, divider=True)


def print_replies(
    examples: List[Example], shown: List[int], replies: Dict[str, List[str]]
) -> None:
    for n, i in enumerate(shown):
        example = examples[i]
        last_turns = example.predicted.text.split("\n")[-2:]
        msg.divider(f"context {n + 1}")
        for turn in last_turns:
            msg.text(f"  > {turn[:150]}")
        msg.text(f"  reference: {example.reference._.response}")
        for spec, texts in replies.items():
            msg.text(f"  {spec.split()[0]}: {texts[i]}")


if __name__ == "__main__":
    typer.run(main)
