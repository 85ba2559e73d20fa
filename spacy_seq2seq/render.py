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
    source: List[str] = attention["source"]
    target: List[str] = attention["target"]
    weights, copy = attention["weights"], attention["copy"]
    header = "".join(
        f'<th class="s2s-source" title="{i}">{token_label(word)}</th>'
        for i, word in enumerate(source)
    )
    rows = []
    for t, word in enumerate(target):
        cells = "".join(
            f'<td class="s2s-weight" title="{token_label(word)} → '
            f'{token_label(source_word)}: {weight:.3f}" '
            f'style="background: rgba(31, 119, 180, {weight:.3f})"></td>'
            for source_word, weight in zip(source, weights[t].tolist())
        )
        copied = float(copy[t])
        rows.append(
            f'<tr><th class="s2s-target">{token_label(word)}</th>{cells}'
            f'<td class="s2s-copy"><span style="width: {40 * copied:.1f}px"></span>'
            f"{copied:.0%}</td></tr>"
        )
    return (
        '<table class="s2s-attention">'
        f"<caption>doc._.{html.escape(field)}: attention of each generated token "
        "(rows) over the source tokens (columns); copy gate: 1 - p_gen, the "
        "weight the pointer-generator gave copying from the source at that "
        "step (0 without copy), not whether the word came from the source</caption>"
        f'<tr><th></th>{header}<th class="s2s-copy" title="{COPY_GATE}">copy gate</th></tr>'
        + "".join(rows)
        + "</table>"
    )


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
