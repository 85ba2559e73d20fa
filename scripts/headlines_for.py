"""Write the headlines that several summarizers give the same texts, side by
side, for reading (docs/pretraining.md).

    python scripts/headlines_for.py docs/fresh_news.jsonl docs/pretraining_fresh_news.md \
        scratch=training/runs/scratch/model-last \
        pretrained=training/runs/finetune/model-last

Each text is cleaned as scripts/convert_reuters.py cleans the Reuters
texts (lowercased, whitespace collapsed, no space before punctuation), since
the models learned on such text. Beside each headline are its words that the
text lacks (exact words, after stripping punctuation): the words the model
made up, to look at when judging whether a headline is faithful.
"""

import re
from pathlib import Path
from typing import List, Tuple

import spacy
import srsly
import typer
from wasabi import msg

SPACE_BEFORE_PUNCTUATION = re.compile(r" ([,.;:!?])")
PUNCTUATION = ".,;:!?\"'()[]{}-"


def clean(text: str) -> str:
    text = " ".join(text.split())
    return SPACE_BEFORE_PUNCTUATION.sub(r"\1", text).lower()


def words(text: str) -> List[str]:
    stripped = (word.strip(PUNCTUATION) for word in text.lower().split())
    return [word for word in stripped if word]


def main(
    texts_path: Path = typer.Argument(..., exists=True, dir_okay=False),
    output_path: Path = typer.Argument(..., dir_okay=False),
    models: List[str] = typer.Argument(..., help="NAME=PATH of each pipeline"),
    field: str = typer.Option("text", help="The JSONL field of the texts"),
) -> None:
    named: List[Tuple[str, str]] = []
    for model in models:
        if "=" not in model:
            msg.fail(f"Give each model as NAME=PATH, not {model!r}", exits=1)
        name, path = model.split("=", 1)
        named.append((name, path))
    records = list(srsly.read_jsonl(texts_path))
    texts = [clean(record[field]) for record in records]
    columns = []
    for name, path in named:
        nlp = spacy.load(path)
        columns.append([doc._.summary for doc in nlp.pipe(texts)])
    lines = [
        f"# Headlines for {texts_path}",
        "",
        "Written by `python scripts/headlines_for.py "
        + " ".join([str(texts_path), str(output_path)] + models)
        + "`. In brackets: the headline's words that the text lacks.",
        "",
    ]
    n_novel = {name: 0 for name, _ in named}
    n_words = {name: 0 for name, _ in named}
    for i, (record, text) in enumerate(zip(records, texts), start=1):
        source = set(words(text))
        style = f" ({record['style']})" if "style" in record else ""
        lines += [f"{i}. {text}{style}", ""]
        for (name, _), column in zip(named, columns):
            headline = column[i - 1]
            novel = [word for word in words(headline) if word not in source]
            n_novel[name] += len(novel)
            n_words[name] += len(words(headline))
            made_up = f" [{', '.join(novel)}]" if novel else ""
            lines.append(f"   - {name}: {headline}{made_up}")
        lines.append("")
    lines.append("Share of headline words that the text lacks:")
    lines.append("")
    for name, _ in named:
        share = n_novel[name] / max(1, n_words[name])
        lines.append(f"- {name}: {share:.1%} ({n_novel[name]} of {n_words[name]})")
    output_path.parent.mkdir(parents=True, exist_ok=True)
    output_path.write_text("\n".join(lines) + "\n", encoding="utf8")
    msg.good(f"Wrote {len(records)} texts' headlines to {output_path}")


if __name__ == "__main__":
    typer.run(main)
