"""`incls check` reads Markdown and LaTeX files through their projections (by extension or --language)."""

import json
import subprocess
import sys

from lsp_helpers import CODE, PROSE


def test_incls_check_projects_by_extension_or_language(tmp_path):
    notes = tmp_path / "notes.md"
    notes.write_text(PROSE + "\n" + CODE)
    same = tmp_path / "same.txt"
    same.write_text(PROSE + "\n" + CODE)
    prose = tmp_path / "prose.md"
    prose.write_text(PROSE)
    run = subprocess.run(
        [sys.executable, "-m", "incls.cli", "check", "--json", str(notes), str(prose), str(same)],
        capture_output=True,
        text=True,
        check=True,
    )
    by_file = {r["file"]: r for r in json.loads(run.stdout)}
    assert by_file[str(notes)]["probabilities"] == by_file[str(prose)]["probabilities"]
    run = subprocess.run(
        [sys.executable, "-m", "incls.cli", "check", "--json", "--language", "markdown", str(same)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(run.stdout)[0]["probabilities"] == by_file[str(prose)]["probabilities"]
