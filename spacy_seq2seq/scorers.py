"""ROUGE scores of generated text against the reference docs' target field."""

from typing import Callable, Dict, Iterable

from rouge_score import rouge_scorer
from spacy.training import Example
from spacy.util import registry

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")


@registry.scorers("spacy-seq2seq.RougeScorer.v1")
def make_rouge_scorer() -> Callable[..., Dict[str, float]]:
    return score_rouge


def score_rouge(
    examples: Iterable[Example], *, field: str = "summary", **kwargs
) -> Dict[str, float]:
    """Mean ROUGE-1/2/L F1 (rouge-score, Porter stemming) of doc._.{field}
    against reference._.{field}, keyed "{field}_rouge1" etc. Examples
    without a reference text are skipped.
    """
    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
    totals = dict.fromkeys(ROUGE_TYPES, 0.0)
    n_scored = 0
    for example in examples:
        reference = example.reference._.get(field)
        if reference is None:
            continue
        prediction = example.predicted._.get(field) or ""
        scores = scorer.score(reference, prediction)
        for rouge_type in ROUGE_TYPES:
            totals[rouge_type] += scores[rouge_type].fmeasure
        n_scored += 1
    return {
        f"{field}_{rouge_type}": (total / n_scored if n_scored else None)
        for rouge_type, total in totals.items()
    }
