"""Fetch project.yml's assets into assets/, keeping the files already there.

    python scripts/fetch_assets.py

`spacy project assets` with a clear error instead of a traceback when a
download fails: on a machine without internet the raw archives have to be
copied into assets/ by hand (assets/README.md).
"""

from pathlib import Path

import typer
from wasabi import msg
from weasel.cli.assets import project_assets

from corpus import ASSETS_HINT


def main(
    project_dir: Path = typer.Argument(Path.cwd(), exists=True, file_okay=False),
) -> None:
    try:
        project_assets(project_dir)
    # The download libraries under weasel (requests, httpx, smart_open) each
    # raise their own errors for a network that can't be reached.
    except Exception as e:
        msg.fail(
            f"Can't fetch the assets: {type(e).__name__}: {e}", ASSETS_HINT, exits=1
        )


if __name__ == "__main__":
    typer.run(main)
