"""The dialogue responder: a seq2seq component that answers the last turns,
and, when its model is built with segments, reads a document beside them."""

import warnings
from typing import Any, Callable, Dict, List, Optional, Tuple

from spacy.language import Language
from spacy.tokens import Doc
from thinc.api import Model

from .component import DEFAULT_CONFIG, Prediction, Seq2SeqComponent, spaced_words
from .grounding import get_document, install_document_extension
from .model.architectures import DocSources, has_segments
from .model.decoding import Decoding
from .model.vocab import SourceWords, SpacedWord
from .readers import TURN_SEPARATOR
from .settings import check_int

# Tokenized documents kept per component: a chat or a corpus reads the same
# few documents again and again.
DOCUMENT_CACHE_SIZE = 512


class ResponderComponent(Seq2SeqComponent):
    """A seq2seq component for dialogue: the source is the end of the
    conversation, its last `max_source_length` tokens, and an empty
    conversation still gets a reply (the model reads one unknown token).

    A grounded responder (a model with `segments = 2`) reads doc._.document
    too: its first `max_document_length` tokens, then the conversation, in
    one memory that attention and copy cover, the document's tokens marked
    by a learned segment vector. A model without segments ignores documents.
    """

    kind = "seq2seq_responder"
    task = "reply"
    truncation_side = "last"

    # How a conversation's turns are joined in the doc text, oldest first:
    # as the dialogue reader joins them for training, and the server and
    # `apply` for a conversation.
    turn_separator = TURN_SEPARATOR

    @classmethod
    def factory(  # type: ignore[override]
        cls,
        nlp: Language,
        name: str,
        model: Model,
        target_field: str,
        candidates_field: Optional[str],
        max_source_length: int,
        max_document_length: int,
        max_target_length: int,
        vocab_size: int,
        min_count: int,
        label_smoothing: float,
        grad_clip: float,
        teacher_forcing: Callable[[int], float],
        coverage_loss_weight: float,
        decoding: Decoding,
        store_attention: bool,
        scorer: Optional[Callable],
    ) -> "ResponderComponent":
        """Make the component from its config (seq2seq_responder's factory)."""
        return cls(
            nlp.vocab,
            model,
            name,
            tokenizer=nlp.tokenizer,
            target_field=target_field,
            candidates_field=candidates_field,
            max_source_length=max_source_length,
            max_document_length=max_document_length,
            max_target_length=max_target_length,
            vocab_size=vocab_size,
            min_count=min_count,
            label_smoothing=label_smoothing,
            grad_clip=grad_clip,
            teacher_forcing=teacher_forcing,
            coverage_loss_weight=coverage_loss_weight,
            decoding=decoding,
            store_attention=store_attention,
            scorer=scorer,
        )

    def __init__(
        self, *args: Any, max_document_length: int = 200, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        try:
            check_int("max_document_length", max_document_length, minimum=1)
        except ValueError as e:
            raise ValueError(f"[{self.name}] {e}") from None
        self.max_document_length = max_document_length
        self._documents: Dict[str, Doc] = {}
        install_document_extension()

    @property
    def reads_documents(self) -> bool:
        """Whether the model was built to read a document (segments)."""
        return has_segments(self.model)

    def _source_span(self, doc: Doc) -> Tuple[int, List[SpacedWord]]:
        if all(token.is_space for token in doc):
            return 0, [("", False)]
        start = max(len(doc) - self.max_source_length, 0)
        return start, spaced_words(doc[start:])

    def _read_sources(self, docs: List[Doc]) -> Tuple[DocSources, List[SourceWords]]:
        """The conversation's last tokens, after the document's first tokens
        for a doc with a document and a model that reads them: one source
        doc per doc, whose vectors the tok2vec computes together."""
        documents = [get_document(doc) for doc in docs]
        if not any(documents):
            return super()._read_sources(docs)
        if not self.reads_documents:
            warnings.warn(
                f"[{self.name}] Docs with a document (doc._.document), but the "
                "model was trained without documents (segments = 0): the "
                "documents are ignored (warned once per run)."
            )
            return super()._read_sources(docs)
        assert self.target_vocab is not None
        conversations, _ = super()._read_sources(docs)
        source_docs, all_words, lengths, starts = [], [], [], []
        for doc, document, start in zip(docs, documents, conversations.starts):
            _, words = self._source_span(doc)
            if document is None:
                source_docs.append(doc)
                all_words.append(words)
                lengths.append(0)
                starts.append(start)
                continue
            document_doc = self._document_doc(document)
            # the tok2vec reads the document and the conversation as one doc
            parts = [document_doc] + ([doc[start:].as_doc()] if len(doc) else [])
            source_docs.append(Doc.from_docs(parts, ensure_whitespace=True))
            all_words.append(spaced_words(document_doc) + words)
            lengths.append(len(document_doc))
            starts.append(0)
        source_words = [self.target_vocab.encode_source(w) for w in all_words]
        ids = [s.ids for s in source_words]
        return DocSources(source_docs, ids, starts, lengths), source_words

    def _document_doc(self, document: str) -> Doc:
        """The document's first max_document_length tokens, as a doc."""
        found = self._documents.get(document)
        if found is not None:
            return found
        doc = self.tokenizer(document)
        if len(doc) > self.max_document_length:
            doc = doc[: self.max_document_length].as_doc()
        if len(self._documents) >= DOCUMENT_CACHE_SIZE:
            self._documents.clear()
        self._documents[document] = doc
        return doc

    def document_length(self, doc: Doc) -> int:
        """How many of the doc's source tokens are its document's (0: none
        read)."""
        document = get_document(doc)
        if document is None or not self.reads_documents:
            return 0
        return len(self._document_doc(document))

    def set_annotations(self, docs: List[Doc], predictions: List[Prediction]) -> None:
        docs = list(docs)
        super().set_annotations(docs, predictions)
        if not self.store_attention:
            return
        for doc in docs:
            attention = doc._.get(self.attention_field)
            if attention is not None:
                # where the conversation starts in the source words
                attention["document_length"] = self.document_length(doc)


make_responder = Language.factory(
    "seq2seq_responder",
    assigns=["doc._.response", "doc._.responses"],
    default_config={
        **DEFAULT_CONFIG,
        "target_field": "response",
        "candidates_field": "responses",
        "max_source_length": 150,
        "max_document_length": 200,
        "vocab_size": 4000,
        "decoding": {
            "@misc": "spacy-seq2seq.MMIRerank.v1",
            "min_length": 3,
            "no_repeat_ngram_size": 3,
            "no_repeat_context_ngram_size": 4,
            "top_p": 0.9,
            "mmi_weight": 0.75,
            "length_bonus": 1.0,
        },
        "scorer": {"@scorers": "spacy-seq2seq.ResponseScorer.v2"},
    },
    default_score_weights={
        "response_bleu": 0.5,
        "response_token_prob": 0.5,
        "response_f1": 0.0,
        "response_distinct1": 0.0,
        "response_distinct2": 0.0,
        "response_top_reply_share": 0.0,
        "response_perplexity": 0.0,
    },
    func=ResponderComponent.factory,
)
