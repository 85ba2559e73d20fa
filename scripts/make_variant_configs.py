"""Write each model family variant (spacy_seq2seq/research/variants.py) as a complete
`spacy train` config: the base config with the variant's overrides applied.

    python scripts/make_variant_configs.py training/variants
    spacy train training/variants/dot.cfg --output training/dot \
        --paths.train ../shared/data/reuters21578_headlines/train.jsonl.gz \
        --paths.dev ../shared/data/reuters21578_headlines/dev.jsonl.gz

The files are not needed to train a variant: the same overrides can be given
to `spacy train configs/summarizer.cfg` on its command line (printed here).
"""

from pathlib import Path
from typing import List

import typer
from wasabi import msg

from spacy_seq2seq.research.variants import VARIANTS, get_variant, variant_config

ROOT = Path(__file__).resolve().parent.parent


def main(
    output_dir: Path = typer.Argument(..., file_okay=False),
    base: Path = typer.Option(
        ROOT / "configs" / "summarizer.cfg", exists=True, dir_okay=False
    ),
    variants: List[str] = typer.Option([], help="Variant names (default: all)"),
) -> None:
    names = variants or list(VARIANTS)
    try:
        chosen = {name: get_variant(name) for name in names}
    except ValueError as e:
        msg.fail(str(e), exits=1)
    output_dir.mkdir(parents=True, exist_ok=True)
    for name, variant in chosen.items():
        header = (
            f"# Model family variant '{name}': {variant.description}.\n"
            f"# {base} with these overrides (scripts/make_variant_configs.py):\n"
            f"#   {variant.command_line() or '(none)'}\n"
        )
        text = variant_config(base, name).to_str()
        (output_dir / f"{name}.cfg").write_text(header + text + "\n", encoding="utf8")
    msg.good(f"Wrote {len(chosen)} configs to {output_dir}")


if __name__ == "__main__":
    typer.run(main)
