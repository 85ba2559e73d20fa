"""The summarizer: a seq2seq component that writes a summary of the doc."""

from spacy.language import Language

from .component import DEFAULT_CONFIG, Seq2SeqComponent

make_summarizer = Language.factory(
    "seq2seq_summarizer",
    assigns=["doc._.summary"],
    default_config={
        **DEFAULT_CONFIG,
        "target_field": "summary",
        "max_source_length": 400,
        "vocab_size": 2000,
        # Headlines almost never repeat a word (configs/summarizer.cfg).
        "decoding": {"@misc": "spacy-seq2seq.BeamSearch.v1", "no_repeat_ngram_size": 1},
        "scorer": {"@scorers": "spacy-seq2seq.RougeScorer.v2"},
    },
    default_score_weights={
        "summary_rougeL": 1.0,
        "summary_rouge1": 0.0,
        "summary_rouge2": 0.0,
        "summary_faithfulness": 0.0,
    },
    func=Seq2SeqComponent.factory,
)
