"""Attention against a fixed context as sources grow: train each compared
variant with several seeds for a budget of updates, decode the test split,
and report the score's mean and standard deviation over the seeds, overall
and by source length (Bahdanau et al. 2015, figure 2).

    python scripts/make_synthetic_task.py corpus/reverse
    python scripts/convert_reuters.py ../shared/raw/reuters21578.tar.gz \\
        corpus/reuters_body --text body --max-text-tokens 400
    OMP_NUM_THREADS=1 python scripts/ablation.py --task synthetic --seeds 0,1,2
    OMP_NUM_THREADS=1 python scripts/ablation.py --task reuters-body --seeds 0,1,2

Every run is configs/summarizer.cfg with the variant's overrides
(spacy_seq2seq/research/variants.py) and the task's (a small model, the same for
every variant; the data; decoding lengths), trained with one torch thread for
the task's number of updates with a dev evaluation every so many updates;
the best dev checkpoint is kept. Nothing depends on the clock, so a re-run
of one variant and seed gives the same figures:

    python scripts/ablation.py --task synthetic --variants no_copy --seeds 1 \\
        --runs /tmp/check.jsonl --doc /tmp/check.md --plot /tmp/check.png

Each finished run is a line of --runs (JSONL: the figures, the test scores
by length bucket, the dev curve); after each, the task's table in --doc
(between its markers) and the plot are rewritten from all the task's runs,
so a stopped ablation keeps what it finished.
"""

import json
import os
import platform
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import spacy
import srsly
import torch
import typer
from spacy.training import Example
from wasabi import msg

from spacy_seq2seq.pipeline import find_component
from spacy_seq2seq.research.experiments import (
    Bucket,
    corpus_overrides,
    count_parameters,
    data_dir,
    decode_timed,
    read_split,
    scores_by_length,
    train_for_budget,
)
from spacy_seq2seq.research.variants import (
    COMPONENT,
    DECODING,
    MODEL,
    Variant,
    get_variant,
)
from spacy_seq2seq.scorers import (
    predictions_and_references,
    score_responses,
    score_rouge,
)

ROOT = Path(__file__).resolve().parent.parent
BASE = ROOT / "configs" / "summarizer.cfg"
DOCS = ROOT / "docs"
COMPARED = [
    "no_attention_init",
    "no_attention_every_step",
    "no_copy",
    "local_no_copy",
    "additive",
    "transformer",
]

# A small model, the same for every variant and task: one core trains it at
# a few updates per second.
SMALL_TOK2VEC = {
    f"{MODEL}.tok2vec.embed.width": 64,
    f"{MODEL}.tok2vec.embed.rows": [2000, 1000, 1000],
    f"{MODEL}.tok2vec.encode.width": 64,
}
SMALL_MODEL = {
    f"{MODEL}.embed_width": 64,
    f"{MODEL}.hidden_width": 128,
    f"{MODEL}.attention_width": 64,
    **SMALL_TOK2VEC,
}
# The Transformer of the same size (about the recurrent model's weights):
# 2 + 2 layers of width 128, 4 heads of 32.
SMALL_TRANSFORMER = {
    f"{MODEL}.width": 128,
    f"{MODEL}.ff_width": 256,
    **SMALL_TOK2VEC,
}


def small_model(variant: Variant) -> Dict[str, Any]:
    """The small model's overrides for the variant's architecture."""
    model = variant.overrides.get(MODEL, {})
    if model.get("@architectures") == "spacy-seq2seq.TransformerSeq2Seq.v1":
        return SMALL_TRANSFORMER
    return SMALL_MODEL


@dataclass(frozen=True)
class Task:
    description: str
    data_dir: Path
    buckets: Tuple[Bucket, ...]
    score: str  # the key of the figure the table and plot show
    max_steps: int
    eval_every: int
    overrides: Dict[str, Any]


TASKS = {
    "synthetic": Task(
        "reverse a sequence of 5 to 60 random symbols out of 20 "
        "(scripts/make_synthetic_task.py); batches of 1,000 padded tokens, "
        "learn rate 0.003, greedy decoding",
        ROOT / "corpus" / "reverse",
        ((5, 15), (16, 30), (31, 45), (46, 60)),
        "bleu",
        2000,
        100,
        {
            "training.batcher.size": 1000,
            "training.optimizer.learn_rate": 0.003,
            f"{COMPONENT}.max_target_length": 60,
            f"{DECODING}.beam_size": 1,
            f"{DECODING}.max_length": 65,
            f"{DECODING}.no_repeat_ngram_size": 0,
        },
    ),
    "reuters-body": Task(
        "Reuters story body of 8 to 400 words -> headline "
        "(scripts/convert_reuters.py --text body --max-text-tokens 400; the "
        "model reads the first 400 spaCy tokens); batches of 2,000 padded "
        "tokens, learn rate 0.002, the first 200 dev pairs, the config's "
        "beam-4 decoding",
        ROOT / "corpus" / "reuters_body",
        ((1, 50), (51, 100), (101, 200), (201, 10_000)),
        "rougeL",
        600,
        100,
        {
            "training.batcher.size": 2000,
            "training.optimizer.learn_rate": 0.002,
            "corpora.dev.limit": 200,
        },
    ),
    "reuters": Task(
        "Reuters lead paragraph of 8 to 80 words -> headline "
        "(../shared/data/reuters21578_headlines); the config's batches and "
        "beam-4 decoding",
        data_dir("reuters21578_headlines"),
        ((1, 20), (21, 30), (31, 40), (41, 10_000)),
        "rougeL",
        800,
        100,
        {},
    ),
}
SCORES = ("bleu", "exact", "rouge1", "rouge2", "rougeL")
Row = Dict[str, Any]


def main(
    task_name: str = typer.Option("synthetic", "--task", help=", ".join(TASKS)),
    variants: str = typer.Option(",".join(COMPARED), help="Variants, comma-separated"),
    seeds: str = typer.Option("0,1,2", help="Seeds, comma-separated"),
    max_steps: Optional[int] = typer.Option(None, help="Updates (default: task's)"),
    eval_every: Optional[int] = typer.Option(None, help="Updates between dev evals"),
    limit_test: int = typer.Option(0, help="Decode only the first N test pairs"),
    runs: Optional[Path] = typer.Option(None, help="JSONL of runs (default: docs/)"),
    doc: Path = typer.Option(DOCS / "ablation.md", help="Markdown with the tables"),
    plot: Optional[Path] = typer.Option(None, help="PNG (default: docs/)"),
    skip_done: bool = typer.Option(False, help="Skip runs already in --runs"),
    report_only: bool = typer.Option(
        False, help="Only rewrite the table and plots from --runs"
    ),
) -> None:
    require_matplotlib()
    if task_name not in TASKS:
        msg.fail(f"--task must be one of {', '.join(TASKS)}", exits=1)
    task = TASKS[task_name]
    try:
        chosen = {name: get_variant(name) for name in variants.split(",") if name}
    except ValueError as e:
        msg.fail(str(e), exits=1)
    if not all(seed.strip().isdigit() for seed in seeds.split(",")):
        msg.fail(f"--seeds must be comma-separated integers, not {seeds!r}", exits=1)
    seed_list = [int(seed) for seed in seeds.split(",")]
    if not (task.data_dir / "train.jsonl.gz").exists():
        msg.fail(f"No task data in {task.data_dir}: see this script's --help", exits=1)
    slug = task_name.replace("-", "_")
    runs = runs or DOCS / f"ablation_{slug}_runs.jsonl"
    plot = plot or DOCS / f"ablation_{slug}.png"
    steps = max_steps or task.max_steps
    every = eval_every or task.eval_every
    if report_only:
        write_outputs(task_name, task, read_runs(runs), runs, doc, plot)
        return
    torch.set_num_threads(1)
    command = "python scripts/ablation.py " + " ".join(sys.argv[1:])
    for name, variant in chosen.items():
        for seed in seed_list:
            done = [(r["task"], r["variant"], r["seed"]) for r in read_runs(runs)]
            if skip_done and (task_name, name, seed) in done:
                continue
            msg.divider(f"{task_name}: {name}, seed {seed}")
            row = run_one(
                task_name, task, name, variant, seed, steps, every, limit_test
            )
            rows = [
                r
                for r in read_runs(runs)
                if (r["task"], r["variant"], r["seed"]) != (task_name, name, seed)
            ] + [{**row, "command": command}]
            write_runs(runs, rows)
            write_outputs(task_name, task, rows, runs, doc, plot)
            msg.good(
                f"{name} seed {seed}: test {task.score} {row['test'][task.score]:.2f} "
                f"(best dev at update {row['best_step']} of {row['steps']}); "
                f"wrote {runs}, {doc}, {plot} and {dev_plot_path(plot).name}"
            )


def require_matplotlib() -> None:
    """Fail at once, not after all the training, without the plots' library."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        msg.fail(
            "scripts/ablation.py draws its plots with matplotlib, which is not "
            "installed: pip install -e '.[research]' (or pip install matplotlib)",
            exits=1,
        )


def run_one(
    task_name: str,
    task: Task,
    name: str,
    variant: Variant,
    seed: int,
    steps: int,
    every: int,
    limit_test: int,
) -> Row:
    """Train the variant with this seed, decode the test split and score it."""
    overrides = {
        **variant.overrides,
        **small_model(variant),
        **task.overrides,
        **corpus_overrides(task.data_dir),
        "system.seed": seed,
    }
    run = train_for_budget(BASE, overrides, max_steps=steps, eval_every_steps=every)
    component = find_component(run.nlp)
    test_path = task.data_dir / "test.jsonl.gz"
    examples = read_split(run.nlp, test_path, component, limit=limit_test)
    docs_per_s = decode_timed(run.nlp, examples)
    field = component.target_field
    return {
        "task": task_name,
        "variant": name,
        "seed": seed,
        "max_steps": steps,
        "eval_every": every,
        "steps": run.figures["steps"],
        "best_step": run.figures["best_step"],
        "dev_score_best": run.figures["dev_score_best"],
        "train_seconds": run.figures["train_seconds"],
        "train_source_tokens_per_s": run.figures["train_source_tokens_per_s"],
        "parameters": count_parameters(component.model),
        "decode_docs_per_s": docs_per_s,
        "n_test": len(examples),
        "test": test_scores(examples, field),
        "by_length": scores_by_length(
            examples, lambda egs: test_scores(egs, field), task.buckets
        ),
        "dev_curve": run.dev_curve,
    }


def write_outputs(
    task_name: str, task: Task, rows: List[Row], runs: Path, doc: Path, plot: Path
) -> None:
    """The task's table in the doc, its plot and its dev curves, from all
    its runs."""
    task_rows = [r for r in rows if r["task"] == task_name]
    if not task_rows:
        msg.fail(f"No {task_name} runs in {runs}", exits=1)
    update_doc(doc, task_name, report(task_name, task, task_rows, runs, plot))
    draw(task_name, task, task_rows, plot)
    draw_dev_curves(task_name, task_rows, dev_plot_path(plot))


def test_scores(examples: List[Example], field: str) -> Dict[str, float]:
    """Corpus BLEU (sacrebleu), ROUGE-1/2/L F1 (rouge-score) and the share
    of exactly right outputs, all x 100."""
    rouge = score_rouge(examples, field=field)
    bleu = score_responses(examples, field=field)[f"{field}_bleu"]
    pairs = predictions_and_references(examples, field)
    exact = sum(p.split() == r.split() for p, r in pairs) / len(pairs)
    scores = {"bleu": bleu, "exact": exact}
    scores.update(
        {key: rouge[f"{field}_{key}"] for key in ("rouge1", "rouge2", "rougeL")}
    )
    return {key: round(100 * (value or 0.0), 2) for key, value in scores.items()}


def read_runs(path: Path) -> List[Row]:
    return list(srsly.read_jsonl(path)) if path.exists() else []


def write_runs(path: Path, rows: List[Row]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf8")


def mean_std(values: Sequence[float]) -> str:
    if len(values) < 2:
        return f"{values[0]:.1f}" if values else "–"
    return f"{statistics.mean(values):.1f} ± {statistics.stdev(values):.1f}"


def grouped(rows: List[Row]) -> Dict[str, List[Row]]:
    """The rows by variant, in the order of COMPARED, then of appearance."""
    order = {name: i for i, name in enumerate(COMPARED)}
    groups: Dict[str, List[Row]] = {}
    for row in sorted(
        rows, key=lambda r: (order.get(r["variant"], len(order)), r["seed"])
    ):
        groups.setdefault(row["variant"], []).append(row)
    return groups


def report(name: str, task: Task, rows: List[Row], runs: Path, plot: Path) -> str:
    groups = grouped(rows)
    first = rows[0]
    buckets = [(b["low"], b["high"], b["n"]) for b in first["by_length"]]
    score = task.score
    lines = [
        f"Task `{name}`: {task.description}. {first['n_test']:,} test pairs; "
        f"{first['max_steps']:,} updates per run, a dev evaluation every "
        f"{first['eval_every']} (the best kept). Mean ± standard deviation over "
        f"the seeds; scores x 100. Runs: [`{runs.name}`]({runs.name}); plot: "
        f"[`{plot.name}`]({plot.name}). Machine: {machine()}.",
        "",
        f"| variant | seeds | {score} | "
        + " | ".join(f"{score} {span(lo, hi)} ({n:,})" for lo, hi, n in buckets)
        + " | exact | ROUGE-L | best dev at update | within 1 point of it from "
        "| parameters | train s |",
        "|---|---:|---:|" + "---:|" * len(buckets) + "---:|---:|---:|---:|---:|---:|",
    ]
    for variant, group in groups.items():
        by_bucket = [
            mean_std([r["by_length"][i].get(score, 0.0) for r in group])
            for i in range(len(buckets))
        ]
        best_steps = ", ".join(str(r["best_step"]) for r in group)
        plateaus = ", ".join(str(plateau_step(r["dev_curve"])) for r in group)
        lines.append(
            f"| {variant} | {', '.join(str(r['seed']) for r in group)} | "
            f"{mean_std([r['test'][score] for r in group])} | "
            + " | ".join(by_bucket)
            + f" | {mean_std([r['test']['exact'] for r in group])} | "
            f"{mean_std([r['test']['rougeL'] for r in group])} | {best_steps} | "
            f"{plateaus} | "
            f"{group[0]['parameters']:,} | "
            f"{statistics.mean(r['train_seconds'] for r in group):.0f} |"
        )
    lines += ["", f"Command: `{first['command']}`"]
    return "\n".join(lines)


def plateau_step(curve: List[Dict[str, Any]], tolerance: float = 0.01) -> int:
    """The first update whose dev score is within `tolerance` (1 point x
    100) of the run's best: where the dev score stopped rising."""
    best = max(point["score"] for point in curve)
    return next(p["step"] for p in curve if p["score"] >= best - tolerance)


def span(low: int, high: int) -> str:
    return f"{low}+" if high >= 10_000 else f"{low}–{high}"


def update_doc(path: Path, name: str, table: str) -> None:
    """Replace the task's block between its markers (appended if absent)."""
    start, end = f"<!-- ablation {name} -->", f"<!-- /ablation {name} -->"
    text = path.read_text(encoding="utf8") if path.exists() else ""
    block = f"{start}\n{table}\n{end}"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        text = before + block + rest.split(end, 1)[1]
    else:
        text = text + ("\n" if text else "") + block + "\n"
    path.write_text(text, encoding="utf8")


def draw(name: str, task: Task, rows: List[Row], path: Path) -> None:
    """The score against source length, a line per variant, error bars one
    standard deviation over the seeds (Bahdanau et al.'s figure 2)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5))
    for variant, group in grouped(rows).items():
        bounds = [(b["low"], b["high"]) for b in group[0]["by_length"]]
        centres = [b.get("mean_length", b["low"]) for b in group[0]["by_length"]]
        values = [
            [r["by_length"][i].get(task.score, 0.0) for r in group]
            for i in range(len(bounds))
        ]
        means = [statistics.mean(v) for v in values]
        stds = [statistics.stdev(v) if len(v) > 1 else 0.0 for v in values]
        axes.errorbar(
            centres,
            means,
            yerr=stds,
            marker="o",
            capsize=3,
            label=f"{variant} ({len(group)} seeds)",
        )
    axes.set_xlabel("source length (spaCy tokens; the mean of each bucket)")
    axes.set_ylabel(f"test {task.score} x 100")
    axes.set_title(f"{name}: {rows[0]['max_steps']:,} updates per run")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def dev_plot_path(plot: Path) -> Path:
    return plot.with_name(f"{plot.stem}_dev{plot.suffix}")


def draw_dev_curves(name: str, rows: List[Row], path: Path) -> None:
    """The dev score against updates, a line per run, to show where the
    best dev score stops rising."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for colour, (variant, group) in zip(colours, grouped(rows).items()):
        for i, row in enumerate(group):
            steps = [point["step"] for point in row["dev_curve"]]
            scores = [100 * point["score"] for point in row["dev_curve"]]
            label = f"{variant} (seeds {', '.join(str(r['seed']) for r in group)})"
            axes.plot(
                steps, scores, color=colour, alpha=0.7, label=None if i else label
            )
    axes.set_xlabel("update")
    axes.set_ylabel("dev score x 100 (the config's score weights)")
    axes.set_title(f"{name}: dev evaluations of every run")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (
        f"{os.cpu_count()} cores of {cpu} (shared), 1 torch thread; torch "
        f"{torch.__version__}, spaCy {spacy.__version__}"
    )


if __name__ == "__main__":
    typer.run(main)
