"""Fetch project.yml's assets into assets/, keeping the files already there
(the archives have md5 checksums in project.yml).

    python scripts/fetch_assets.py
    python scripts/fetch_assets.py . --only assets/reuters21578.tar.gz

`spacy project assets` with a clear error instead of a traceback when a
download fails: on a machine without internet the raw archives have to be
copied into assets/ by hand (assets/README.md).
"""

from pathlib import Path
from typing import Optional

import typer
from wasabi import msg
from weasel.cli.assets import fetch_asset
from weasel.util import load_project_config

from corpus import ASSETS_HINT


def main(
    project_dir: Path = typer.Argument(Path.cwd(), exists=True, file_okay=False),
    only: Optional[Path] = typer.Option(
        None, help="Fetch only this asset (a workflow's data); nothing if it isn't one"
    ),
) -> None:
    assets = load_project_config(project_dir).get("assets", [])
    if only is not None:
        assets = [
            a for a in assets if (project_dir / a["dest"]).resolve() == only.resolve()
        ]
        if not assets:
            msg.info(f"{only} is not one of the project's assets: nothing to fetch")
            return
    try:
        for asset in assets:
            fetch_asset(
                project_dir, asset["url"], Path(asset["dest"]), asset.get("checksum")
            )
    # The download libraries under weasel (requests, httpx, smart_open) each
    # raise their own errors for a network that can't be reached.
    except Exception as e:
        msg.fail(
            f"Can't fetch the assets: {type(e).__name__}: {e}", ASSETS_HINT, exits=1
        )


if __name__ == "__main__":
    typer.run(main)
