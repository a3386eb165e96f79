"""The analysis scripts kept in experiments/: each runs on committed files only and prints exactly the
JSON committed next to it (a number in a note or in docs/ cites that file). Run: .venv/bin/pytest tests/test_experiments.py"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT

SCRIPTS = sorted((ROOT / "experiments").glob("*/*/derived.py"))


def test_every_experiment_has_notes_and_an_index_entry():
    index = (ROOT / "experiments" / "README.md").read_text()
    folders = sorted(p for p in (ROOT / "experiments").iterdir() if p.is_dir())
    assert folders
    for folder in folders:
        assert (folder / "NOTES.md").exists(), f"{folder.name} has no NOTES.md"
        assert f"[{folder.name}]({folder.name}/NOTES.md)" in index, f"{folder.name} is not in experiments/README.md"


def test_the_scripts_are_found():
    assert len(SCRIPTS) >= 7, SCRIPTS


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.parent.parent.name + "/" + p.parent.name)
def test_analysis_script_reproduces_its_committed_json(script):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300
    )
    assert result.returncode == 0, result.stderr
    committed = json.loads((script.parent / "derived.json").read_text())
    assert json.loads(result.stdout) == committed


def test_links_in_the_docs_point_at_committed_files():
    """Every relative link of the README, docs/ and experiments/ names a file or folder that exists, and
    every benchmarks/results entry is cited by the README or docs/benchmarks.md (it keeps nothing else)."""
    import re

    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "experiments").glob("**/*.md"))]
    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if "://" not in target and not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not broken, broken
    cited = (ROOT / "README.md").read_text() + (ROOT / "docs" / "benchmarks.md").read_text()
    uncited = [p.name for p in (ROOT / "benchmarks" / "results").iterdir() if p.name not in cited]
    assert not uncited, uncited
