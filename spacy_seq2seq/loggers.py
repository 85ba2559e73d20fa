"""spaCy's console training table with score columns that can be told apart
and perplexity as it is.

spaCy's console logger shows a column for each score weighted in the config
or in a component factory's default_score_weights (None: not shown), cuts
every column title longer than 13 characters to its first 10 and "...", so
summary_rouge1, summary_rouge2 and summary_rougeL all read SUMMARY_RO..., and
multiplies every score by 100, perplexity too. This logger is spaCy's own
(spacy.ConsoleLogger.v3), with each such score column titled by its key
without the component's prefix (rouge1, rouge2, rougeL; token_prob,
distinct1, ...), shortened further where that is still too long
(top_reply), and perplexities shown unscaled (69.9, not 6990.00). A loss
column, "Loss NAME", is cut too when the component's name is longer than 8
characters (LOSS SUMMA... for "summarizer"): a seq2seq component's loss
column is titled by its target field instead (LOSS SUMMARY, LOSS RESPONSE),
any other's by its name's first 8 characters. The score keys themselves, in
nlp.evaluate, meta.json and the packaged README, do not change (output_file
records the scores and losses under the table's titles).
"""

import sys
from pathlib import Path
from types import SimpleNamespace
from typing import IO, Any, Callable, Dict, Iterable, List, Optional, Tuple, Union

from spacy.language import Language
from spacy.util import registry

# The longest column title spacy.ConsoleLogger shows whole (setup_table).
MAX_TITLE_LENGTH = 13
# Scores that are not fractions, which spaCy's table would show times 100.
UNSCALED_SUFFIXES = ("perplexity",)

LogStep = Callable[[Optional[Dict[str, Any]]], None]


@registry.loggers("spacy-seq2seq.ConsoleLogger.v1")
def console_logger(
    progress_bar: Optional[str] = None,
    console_output: bool = True,
    output_file: Optional[Union[str, Path]] = None,
) -> Callable[..., Tuple[LogStep, Callable[[], None]]]:
    """spacy.ConsoleLogger.v3 (same settings) with distinguishable score
    column titles, uncut loss column titles and unscaled perplexities;
    output_file records the scores and losses under those titles too."""
    spacy_logger = registry.loggers.get("spacy.ConsoleLogger.v3")(
        progress_bar=progress_bar,
        console_output=console_output,
        output_file=output_file,
    )

    def setup_printer(
        nlp: Language, stdout: IO = sys.stdout, stderr: IO = sys.stderr
    ) -> Tuple[LogStep, Callable[[], None]]:
        training = nlp.config["training"]
        titles = column_titles(training["score_weights"])
        loss_titles = loss_column_names(nlp.pipeline)
        # The two things spaCy's printer reads from the pipeline.
        renamed_nlp = SimpleNamespace(
            pipeline=[
                (loss_titles.get(name, name), pipe) for name, pipe in nlp.pipeline
            ],
            config={
                "training": {
                    **training,
                    "score_weights": {
                        titles[key]: weight
                        for key, weight in training["score_weights"].items()
                    },
                }
            },
        )
        log_step, finalize = spacy_logger(renamed_nlp, stdout, stderr)

        def log_renamed_step(info: Optional[Dict[str, Any]]) -> None:
            if info is not None:
                scores = info["other_scores"]
                info = {
                    **info,
                    "losses": {
                        loss_titles.get(name, name): loss
                        for name, loss in info["losses"].items()
                    },
                    "other_scores": {
                        titles.get(key, key): shown_value(key, value)
                        for key, value in scores.items()
                    },
                }
            log_step(info)

        return log_renamed_step, finalize

    return setup_printer


def shown_value(key: str, value: Any) -> Any:
    """The value spaCy's table shows as itself times 100."""
    if key.endswith(UNSCALED_SUFFIXES) and isinstance(value, (int, float)):
        return value / 100
    return value


def column_titles(keys: Iterable[str]) -> Dict[str, str]:
    """A title per score key: the key itself if spaCy shows it whole, else the
    key after its first "_" (summary_rougeL -> rougeL), less its last "_"
    parts while that is still too long (response_top_reply_share ->
    top_reply), unless another column has the same title."""
    keys = list(keys)
    titles = {}
    for key in keys:
        title = key
        if len(title) > MAX_TITLE_LENGTH:
            title = title.split("_", 1)[-1]
        while len(title) > MAX_TITLE_LENGTH and "_" in title:
            title = title.rsplit("_", 1)[0]
        titles[key] = title
    taken = list(titles.values())
    return {
        key: (title if taken.count(title) == 1 else key)
        for key, title in titles.items()
    }


def loss_column_names(pipeline: List[Tuple[str, Any]]) -> Dict[str, str]:
    """The name each trainable component's loss column goes by, where spaCy
    would cut "Loss NAME": a seq2seq component's target field (summary,
    response) if that fits, else the name's first characters that fit;
    a name taken twice stays as it is."""
    room = MAX_TITLE_LENGTH - len("Loss ")
    names = {}
    for name, pipe in pipeline:
        if len(name) <= room or not getattr(pipe, "is_trainable", False):
            continue
        field = getattr(pipe, "target_field", None)
        names[name] = (
            field if isinstance(field, str) and len(field) <= room else name[:room]
        )
    taken = [name for name, _ in pipeline if name not in names] + list(names.values())
    return {name: short for name, short in names.items() if taken.count(short) == 1}
