"""The document a grounded responder reads beside the conversation: an input
of the component, doc._.document, set by the dialogue reader (a `document`
field), Conversation(nlp, document=...), the server's `document` field and
the chat CLI's --document."""

from typing import Any, Iterable, Optional

from spacy.tokens import Doc
from spacy.training import Example

# The doc extension that holds the document text (a string, or None).
DOCUMENT_EXTENSION = "document"


def install_document_extension() -> None:
    if not Doc.has_extension(DOCUMENT_EXTENSION):
        Doc.set_extension(DOCUMENT_EXTENSION, default=None)


install_document_extension()


def check_document(document: Any, where: str = "document") -> Optional[str]:
    """The document text, or None for none (an empty or blank one included);
    a ValueError naming `where` for anything but a string or None."""
    if document is None:
        return None
    if not isinstance(document, str):
        raise ValueError(
            f"{where} should be a string (the document's text), not "
            f"{type(document).__name__}"
        )
    return document if document.strip() else None


def get_document(doc: Doc) -> Optional[str]:
    """The doc's document text, None when it has none."""
    return check_document(doc._.get(DOCUMENT_EXTENSION), "doc._.document")


def set_document(doc: Doc, document: Optional[str]) -> Doc:
    """Give the doc a document to read (None: none); returns the doc."""
    doc._.set(DOCUMENT_EXTENSION, check_document(document))
    return doc


def copy_documents(examples: Iterable[Example]) -> None:
    """Give each example's predicted doc its reference doc's document: spaCy's
    Corpus makes the predicted docs from the reference texts, without their
    user data."""
    for eg in examples:
        if get_document(eg.predicted) is None:
            set_document(eg.predicted, get_document(eg.reference))
