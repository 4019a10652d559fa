"""The Explain-it answers: reported as written or missing, never scored."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PLACEHOLDER = "_Your answer here._"
QUESTIONS = 4
MIN_WORDS = 5


def answers(text: str) -> dict[int, str]:
    """The text under each '## N.' heading, numbered as in the file."""
    found: dict[int, str] = {}
    for number, body in re.findall(r"^##\s*(\d+)\.[^\n]*\n(.*?)(?=^##\s|\Z)", text, flags=re.M | re.S):
        found[int(number)] = body.replace(PLACEHOLDER, "").strip()
    return found


@pytest.mark.item("explain")
def test_answers_are_written(project_path: Path) -> None:
    path = project_path.with_name("ANSWERS.md")
    if not path.is_file():
        pytest.skip(f"no {path.name} beside {project_path.name}: answers missing")
    written = answers(path.read_text(encoding="utf-8", errors="replace"))
    missing = [n for n in range(1, QUESTIONS + 1) if len(written.get(n, "").split()) < MIN_WORDS]
    if missing:
        pytest.skip(f"{QUESTIONS - len(missing)} of {QUESTIONS} answers written (missing: {', '.join(map(str, missing))})")
