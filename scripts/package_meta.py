"""Write the meta.json for `spacy package`: the pipeline's description and
sources with its test scores.

    python scripts/package_meta.py metrics/reuters_headlines.json \
        metrics/reuters_headlines_meta.json --data assets/reuters21578.tar.gz
    spacy package training/reuters_headlines/model-best packages \
        --meta-path metrics/reuters_headlines_meta.json --build wheel

The description, license and sources come from --meta (a JSON file), else,
for the project's own corpora (the Reuters-21578 and CMU_DoG archives), from
configs/meta/, else, for your own data, a neutral description that names the
data file and "license": "not stated": a package never claims another
corpus's description or license.

The scores of scripts/evaluate.py become the package's "performance" (the
table in its generated README), replacing the dev scores of training.
spaCy's README shows every performance value times 100, so the perplexity,
which is not a fraction, goes into the description instead.
"""

from pathlib import Path
from typing import Any, Dict, Optional

import srsly
import typer
from wasabi import msg

META_DIR = Path(__file__).resolve().parent.parent / "configs" / "meta"
# The project's corpora and their packages' meta.
CORPUS_META = {
    "reuters21578.tar.gz": "reuters_headlines.json",
    "datasets-CMU_DoG-master.tar.gz": "cmu_dog_responder.json",
}
NOT_STATED = "not stated"


def base_meta(meta_path: Optional[str], data: Optional[str]) -> Dict[str, Any]:
    if meta_path:
        if not Path(meta_path).is_file():
            msg.fail(f"Can't find the package meta {meta_path}", exits=1)
        return srsly.read_json(meta_path)
    name = Path(data).name if data else None
    if name in CORPUS_META:
        return srsly.read_json(META_DIR / CORPUS_META[name])
    msg.warn(
        f"No package meta given for {data}: the package gets a neutral description "
        f'and "license": "{NOT_STATED}". Give your own with --vars.summarizer_meta '
        "(or --vars.responder_meta) my_meta.json."
    )
    return {
        "description": f"A spacy-seq2seq pipeline trained on {name}.",
        "license": NOT_STATED,
        "sources": [{"name": name, "license": NOT_STATED}],
    }


def main(
    metrics_path: Path = typer.Argument(..., exists=True, dir_okay=False),
    output_path: Path = typer.Argument(..., dir_okay=False),
    meta_path: Optional[str] = typer.Option(
        None, "--meta", help="description, license, sources (JSON); empty: by --data"
    ),
    data: Optional[str] = typer.Option(
        None, help="The training data (for the default)"
    ),
) -> None:
    meta = base_meta(meta_path, data)
    metrics = srsly.read_json(metrics_path)
    scores = metrics["scores"]
    fractions = {k: v for k, v in scores.items() if not k.endswith("_perplexity")}
    perplexities = [f"{k} {v:.1f}" for k, v in scores.items() if k not in fractions]
    tested = f"Scored on {metrics['docs']:,} docs of {Path(metrics['data']).name}"
    if perplexities:
        tested += f"; {', '.join(perplexities)}"
    meta["description"] = f"{meta.get('description', '')} {tested}.".strip()
    meta["performance"] = fractions
    output_path.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(output_path, meta)


if __name__ == "__main__":
    typer.run(main)
