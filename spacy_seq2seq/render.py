"""Attention you can look at: an HTML heatmap of what the decoder read."""

import html
from typing import Any, Dict, List, Optional

from spacy.tokens import Doc
from spacy.util import is_in_jupyter

STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 1em; }
.s2s-attention { border-collapse: collapse; font-size: 13px; }
.s2s-attention th, .s2s-attention td { border: 1px solid #eee; padding: 2px 4px; }
.s2s-source { writing-mode: vertical-rl; transform: rotate(180deg); font-weight: normal;
  white-space: nowrap; max-height: 12em; }
.s2s-target { text-align: right; white-space: nowrap; }
.s2s-weight { width: 1.4em; height: 1.4em; }
.s2s-copy { white-space: nowrap; text-align: left; }
.s2s-copy span { display: inline-block; height: 0.8em; background: #ff7f0e; margin-right: 4px; }
caption { text-align: left; padding: 0.5em 0; }
.s2s-segment { font-weight: bold; text-align: left; }
.s2s-document { background: #fdf6e3; }
.s2s-boundary { border-left: 3px solid #d62728 !important; }
.s2s-from { outline: 2px solid #d62728; outline-offset: -2px; }
"""


def render_attention(
    doc: Doc, *, field: Optional[str] = None, jupyter: Optional[bool] = None
) -> Optional[str]:
    """Render the attention stored on a doc (by a seq2seq component with
    `store_attention = true`) as a self-contained HTML page: the source
    tokens across, the generated tokens down, each cell shaded by the weight
    the decoder gave that source token, and at each generated token the copy
    gate (1 - p_gen, the weight given to copying from the source). Like displaCy, in Jupyter (or with jupyter=True) the heatmap
    is displayed and None returned; otherwise the HTML is returned.

    field: the component's target field ("summary", "response"); by default
        the only one with attention on the doc.
    """
    field = field or attention_field(doc)
    attention = doc._.get(f"{field}_attention")
    if attention is None:
        raise ValueError(
            f"The doc has no attention in doc._.{field}_attention: the component "
            "stores it with store_attention = true, and not for an empty doc."
        )
    markup = page(heatmap(attention, field))
    if jupyter or (jupyter is None and is_in_jupyter()):
        from IPython.display import HTML, display

        display(HTML(markup))
        return None
    return markup


def attention_field(doc: Doc) -> str:
    """The target field whose attention the doc holds."""
    # extension values live in user_data under ("._.", name, None, None)
    fields = [
        key[1][: -len("_attention")]
        for key, value in doc.user_data.items()
        if isinstance(key, tuple)
        and key[0] == "._."
        and key[1].endswith("_attention")
        and value is not None
    ]
    if len(fields) != 1:
        raise ValueError(
            f"Expected attention for one field on the doc, found {fields or 'none'}: "
            "pass field=..."
        )
    return fields[0]


COPY_GATE = "1 - p_gen: the weight of copying from the source at this step"


def heatmap(attention: Dict[str, Any], field: str) -> str:
    """The heatmap table. A grounded reply's attention (with
    "document_length") shows the document's columns shaded, a red line
    where the conversation starts, and for each generated word found in the
    source, where it was copied from: its most attended occurrence (outlined)
    and that occurrence's segment."""
    source: List[str] = attention["source"]
    target: List[str] = attention["target"]
    weights, copy_probs = attention["weights"], attention["copy"]
    n_document = int(attention.get("document_length") or 0)
    header = "".join(
        f'<th class="{column_class("s2s-source", i, n_document)}" '
        f'title="{i}">{token_label(word)}</th>'
        for i, word in enumerate(source)
    )
    rows = []
    for t, word in enumerate(target):
        row_weights = list(map(float, weights[t]))
        # a grounded reply's words are traced to the part they came from
        origin = copied_from(word, source, row_weights) if n_document else None
        cells = "".join(
            f'<td class="{column_class("s2s-weight", i, n_document, i == origin)}" '
            f'title="{token_label(word)} → {token_label(source_word)}: {weight:.3f}" '
            f'style="background: rgba(31, 119, 180, {weight:.3f})"></td>'
            for i, (source_word, weight) in enumerate(zip(source, row_weights))
        )
        copied = float(copy_probs[t])
        where = ""
        if origin is not None:
            where = " from the " + (
                "document" if origin < n_document else "conversation"
            )
        rows.append(
            f'<tr><th class="s2s-target">{token_label(word)}</th>{cells}'
            f'<td class="s2s-copy"><span style="width: {40 * copied:.1f}px"></span>'
            f"{copied:.0%}{where}</td></tr>"
        )
    segments = ""
    if n_document:
        segments = (
            f'<tr><th></th><th class="s2s-segment s2s-document" '
            f'colspan="{n_document}">document</th>'
            f'<th class="s2s-segment s2s-boundary" '
            f'colspan="{len(source) - n_document}">conversation</th><th></th></tr>'
        )
    return (
        '<table class="s2s-attention">'
        f"<caption>doc._.{html.escape(field)}: attention of each generated token "
        "(rows) over the source tokens (columns); copy gate: 1 - p_gen, the "
        "weight the pointer-generator gave copying from the source at that "
        "step (0 without copy), not whether the word came from the source"
        + (
            "; a copied word says which part it came from (its most attended "
            "occurrence is outlined)"
            if n_document
            else ""
        )
        + "</caption>"
        f"{segments}"
        f'<tr><th></th>{header}<th class="s2s-copy" title="{COPY_GATE}">copy gate</th></tr>'
        + "".join(rows)
        + "</table>"
    )


def column_class(base: str, i: int, n_document: int, origin: bool = False) -> str:
    """A source column's classes: its segment, the boundary, the origin."""
    classes = [base]
    if i < n_document:
        classes.append("s2s-document")
    elif n_document and i == n_document:
        classes.append("s2s-boundary")
    if origin:
        classes.append("s2s-from")
    return " ".join(classes)


def copied_from(word: str, source: List[str], weights: List[float]) -> Optional[int]:
    """Where a generated word could have been copied from: the most attended
    source position holding the same word; None if the source lacks it."""
    positions = [i for i, source_word in enumerate(source) if source_word == word]
    if not positions or not word.strip():
        return None
    return max(positions, key=lambda i: weights[i])


def token_label(word: str) -> str:
    """A token as shown: escaped, with line breaks and empty tokens visible."""
    if word == "":
        return "∅"
    if not word.strip():
        return "⏎" if "\n" in word else "␣"
    return html.escape(word)


def page(body: str) -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>spacy-seq2seq attention</title><style>{STYLE}</style></head>"
        f"<body>{body}</body></html>"
    )
