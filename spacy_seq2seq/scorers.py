"""Scores of generated text against the reference docs' target field:
ROUGE for summaries, with their faithfulness to the source; BLEU, unigram F1, distinct-n and the most common reply
for dialogue.
"""

import re
from collections import Counter
from typing import Callable, Dict, Iterable, List, Optional, Tuple

import sacrebleu
from rouge_score import rouge_scorer
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a
from spacy.training import Example
from spacy.util import registry

from .faithfulness import mean_faithfulness
from .grounding import DOCUMENT_EXTENSION

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")
# ParlAI's normalisation for unigram F1 (parlai/core/metrics.py): punctuation
# becomes a space, then the articles go.
PUNCTUATION = re.compile(r"[!\"#$%&()*+,\-./:;<=>?@\[\]\\^`{|}~_']")
ARTICLES = re.compile(r"\b(a|an|the)\b")


@registry.scorers("spacy-seq2seq.RougeScorer.v1")
def make_rouge_scorer() -> Callable[..., Dict[str, float]]:
    return score_rouge


@registry.scorers("spacy-seq2seq.RougeScorer.v2")
def make_rouge_scorer_v2() -> Callable[..., Dict[str, Optional[float]]]:
    return score_summaries


@registry.scorers("spacy-seq2seq.ResponseScorer.v1")
def make_response_scorer() -> Callable[..., Dict[str, Optional[float]]]:
    return score_responses_v1


@registry.scorers("spacy-seq2seq.ResponseScorer.v2")
def make_response_scorer_v2() -> Callable[..., Dict[str, Optional[float]]]:
    return score_responses


@registry.scorers("spacy-seq2seq.ResponseScorer.v3")
def make_response_scorer_v3() -> Callable[..., Dict[str, Optional[float]]]:
    return score_grounded_responses


def score_rouge(
    examples: Iterable[Example], *, field: str = "summary", **kwargs
) -> Dict[str, Optional[float]]:
    """Mean ROUGE-1/2/L F1 (rouge-score, Porter stemming) of doc._.{field}
    against reference._.{field}, keyed "{field}_rouge1" etc. Examples
    without a reference text are skipped.
    """
    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
    totals = dict.fromkeys(ROUGE_TYPES, 0.0)
    pairs = predictions_and_references(examples, field)
    for prediction, reference in pairs:
        scores = scorer.score(reference, prediction)
        for rouge_type in ROUGE_TYPES:
            totals[rouge_type] += scores[rouge_type].fmeasure
    return {
        f"{field}_{rouge_type}": (total / len(pairs) if pairs else None)
        for rouge_type, total in totals.items()
    }


def score_summaries(
    examples: Iterable[Example], *, field: str = "summary", **kwargs
) -> Dict[str, Optional[float]]:
    """score_rouge's scores and "{field}_faithfulness": the mean share of
    each summary's content words (stemmed; numbers too) that its source doc
    has (spacy_seq2seq/faithfulness.py). Summaries without a content word
    are not counted in it; None if none has one."""
    examples = [eg for eg in examples if eg.reference._.get(field) is not None]
    scores = score_rouge(examples, field=field, **kwargs)
    scores[f"{field}_faithfulness"] = mean_faithfulness(
        (eg.predicted._.get(field) or "", eg.predicted.text) for eg in examples
    )
    return scores


def score_responses(
    examples: Iterable[Example], *, field: str = "response", **kwargs
) -> Dict[str, Optional[float]]:
    """Scores of the generated replies doc._.{field}, keyed "{field}_bleu" etc.:
    - bleu: sacrebleu's corpus BLEU against reference._.{field} (13a
      tokens, as a fraction like spaCy's other scores: 0.021 is BLEU 2.1);
    - f1: the mean over replies of the unigram F1 against the reference,
      as ParlAI reports it (see unigram_f1): low for on-topic-blind replies;
    - distinct1, distinct2: unique n-grams / all n-grams over all replies
      (lowercased 13a tokens), low when the model says the same things;
    - top_reply_share: the share of the replies that are the most common one.
    Examples without a reference text are skipped.
    """
    pairs = predictions_and_references(examples, field)
    keys = ("bleu", "f1", "distinct1", "distinct2", "top_reply_share")
    if not pairs:
        return {f"{field}_{key}": None for key in keys}
    predictions = [prediction for prediction, _ in pairs]
    references = [reference for _, reference in pairs]
    bleu = sacrebleu.corpus_bleu(predictions, [references]).score / 100
    f1 = sum(unigram_f1(p, r) for p, r in pairs) / len(pairs)
    top_count = Counter(predictions).most_common(1)[0][1]
    tokenize = Tokenizer13a()
    tokens = [tokenize(prediction.lower()).split() for prediction in predictions]
    scores = (
        bleu,
        f1,
        distinct(tokens, 1),
        distinct(tokens, 2),
        top_count / len(pairs),
    )
    return {f"{field}_{key}": score for key, score in zip(keys, scores)}


def unigram_f1(prediction: str, reference: str) -> float:
    """F1 of the two texts' word multisets, after ParlAI's normalisation:
    lowercased, punctuation and the articles a/an/the removed, split on
    whitespace. 0.0 when they share no word (or either is empty)."""
    predicted, wanted = normalized_words(prediction), normalized_words(reference)
    n_shared = sum((Counter(predicted) & Counter(wanted)).values())
    if not n_shared:
        return 0.0
    precision, recall = n_shared / len(predicted), n_shared / len(wanted)
    return 2 * precision * recall / (precision + recall)


def normalized_words(text: str) -> List[str]:
    return ARTICLES.sub(" ", PUNCTUATION.sub(" ", text.lower())).split()


def score_responses_v1(
    examples: Iterable[Example], *, field: str = "response", **kwargs
) -> Dict[str, Optional[float]]:
    """score_responses without unigram F1: the keys of pipelines trained with
    spacy-seq2seq.ResponseScorer.v1."""
    scores = score_responses(examples, field=field, **kwargs)
    del scores[f"{field}_f1"]
    return scores


def distinct(texts: List[List[str]], n: int) -> float:
    """Distinct-n (Li et al. 2016): unique n-grams / all n-grams of the texts."""
    ngrams = [
        tuple(tokens[i : i + n]) for tokens in texts for i in range(len(tokens) - n + 1)
    ]
    return len(set(ngrams)) / len(ngrams) if ngrams else 0.0


def predictions_and_references(
    examples: Iterable[Example], field: str
) -> List[Tuple[str, str]]:
    """(generated text, reference text) of the examples with a reference."""
    return [
        (eg.predicted._.get(field) or "", eg.reference._.get(field))
        for eg in examples
        if eg.reference._.get(field) is not None
    ]


def score_grounded_responses(
    examples: Iterable[Example], *, field: str = "response", **kwargs
) -> Dict[str, Optional[float]]:
    """score_responses and "{field}_knowledge_f1" (see knowledge_f1)."""
    examples = list(examples)
    scores = score_responses(examples, field=field, **kwargs)
    scores[f"{field}_knowledge_f1"] = knowledge_f1(examples, field=field)
    return scores


def knowledge_f1(
    examples: Iterable[Example], *, field: str = "response"
) -> Optional[float]:
    """The mean over replies of the unigram F1 (see unigram_f1) of the
    generated reply doc._.{field} against the document it was to be written
    with, reference._.document, as the grounded dialogue literature reports
    it ("knowledge F1", Dinan et al. 2019; Shuster et al. 2021): how much of
    what the reply says is in the document. Examples without a reference
    text or a document are skipped; None when none is left.
    """
    values = []
    for eg in examples:
        document = eg.reference._.get(DOCUMENT_EXTENSION)
        if eg.reference._.get(field) is None or not document:
            continue
        values.append(unigram_f1(eg.predicted._.get(field) or "", document))
    return sum(values) / len(values) if values else None
