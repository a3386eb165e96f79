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
