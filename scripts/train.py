"""`spacy train` for a number of steps, with a dev evaluation at the last one.

    python scripts/train.py configs/summarizer.cfg training/reuters_headlines \\
        --max-steps 300 --eval-frequency 400 \\
        --paths.train corpus/reuters_headlines/train.jsonl.gz \\
        --paths.dev corpus/reuters_headlines/dev.jsonl.gz

spaCy evaluates on dev at the steps that are multiples of eval_frequency,
step 0 included, and trains steps 0 to max_steps. With max_steps = 300 and
eval_frequency = 400 the only evaluation is at step 0, so model-best is the
untrained model, and a short run would evaluate and ship it. Here the
last step is always evaluated: the evaluations come every F steps, F the
largest divisor of max_steps between eval_frequency / 2 and eval_frequency
(300 and 400: every 300; 2500 and 1000: every 625), or, if there is none,
every ceil(max_steps / n) steps with n = ceil(max_steps / eval_frequency)
and max_steps rounded up to n times that (at most n - 1 more steps). A note
says when the steps or the frequency differ from those asked. Other
overrides go to spacy train as they are; max_epochs is set to 0, so the
steps alone bound the run.
"""

import math
from pathlib import Path
from typing import Tuple

import typer
from spacy.cli._util import parse_config_overrides
from spacy.cli.train import train
from wasabi import msg


def evaluated_steps(max_steps: int, eval_frequency: int) -> Tuple[int, int]:
    """(max_steps, eval_frequency) such that the last step is evaluated and
    evaluations are at most eval_frequency steps apart."""
    if eval_frequency >= max_steps:
        return max_steps, max_steps
    for frequency in range(eval_frequency, math.ceil(eval_frequency / 2) - 1, -1):
        if max_steps % frequency == 0:
            return max_steps, frequency
    n_evaluations = math.ceil(max_steps / eval_frequency)
    frequency = math.ceil(max_steps / n_evaluations)
    return n_evaluations * frequency, frequency


def main(
    ctx: typer.Context,
    config_path: Path = typer.Argument(..., exists=True, dir_okay=False),
    output_path: Path = typer.Argument(..., file_okay=False),
    max_steps: int = typer.Option(..., min=1, help="Training steps"),
    eval_frequency: int = typer.Option(
        ..., min=1, help="Steps between dev evaluations at most"
    ),
    gpu_id: int = typer.Option(-1, help="GPU id, or -1 for the CPU"),
) -> None:
    steps, frequency = evaluated_steps(max_steps, eval_frequency)
    if (steps, frequency) != (max_steps, eval_frequency):
        msg.info(
            f"Training {steps} steps with a dev evaluation every {frequency} "
            f"(asked: {max_steps} steps, every {eval_frequency}), so that the "
            "last step is evaluated and model-best is never an early model."
        )
    overrides = parse_config_overrides(ctx.args)
    overrides.update(
        {
            "training.max_steps": steps,
            "training.max_epochs": 0,
            "training.eval_frequency": frequency,
        }
    )
    train(config_path, output_path, use_gpu=gpu_id, overrides=overrides)


if __name__ == "__main__":
    app = typer.Typer(add_completion=False)
    app.command(
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
    )(main)
    app()
