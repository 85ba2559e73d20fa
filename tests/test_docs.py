"""README.md's generated block of project.yml's commands is current."""

import shutil
from pathlib import Path

from weasel.cli.document import project_document

ROOT = Path(__file__).resolve().parent.parent


def test_readme_documents_the_current_project_yml(tmp_path):
    shutil.copy(ROOT / "project.yml", tmp_path)
    shutil.copy(ROOT / "README.md", tmp_path)
    # Rewrites the block between the README's WEASEL markers.
    project_document(tmp_path, tmp_path / "README.md", no_emoji=True)
    assert (tmp_path / "README.md").read_text(encoding="utf8") == (
        ROOT / "README.md"
    ).read_text(encoding="utf8"), (
        "README.md is out of date: run "
        "python -m weasel document --output README.md --no-emoji"
    )
