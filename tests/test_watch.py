"""`python -m checks watch` driven in a real terminal (tmux): a save re-grades, the change shows, Ctrl-C ends it."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import watchfiles

from checks.watch import relevant

ROOT = Path(__file__).resolve().parent.parent
TMUX = shutil.which("tmux")
REACTION = 1.0
"""Seconds a save may take to start a re-grade, beyond the grading itself (the issue's bound)."""
GRADED = re.compile(r"Graded at [\d:]+ in (\d+\.\d) s, started (\d+\.\d\d) s after the save\.")


COLUMNS, ROWS = 80, 24
"""The terminal a student is most likely to have open: the watcher must fit it without wrapping or scrolling."""


class Terminal:
    """A tmux server of this test's own (its own socket), so no one else's sessions are touched."""

    def __init__(self, command: str, columns: int = COLUMNS, rows: int = ROWS) -> None:
        assert TMUX is not None
        self.socket = f"watch-test-{uuid.uuid4().hex[:8]}"
        self._tmux("new-session", "-d", "-s", "w", "-x", str(columns), "-y", str(rows), command)

    def _tmux(self, *arguments: str) -> str:
        return subprocess.run([TMUX, "-L", self.socket, *arguments], capture_output=True, text=True, timeout=10).stdout

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "w")

    def logical_lines(self) -> list[str]:
        """The screen's lines as written: a line the terminal had to wrap comes back whole (-J), longer than the screen."""
        return self._tmux("capture-pane", "-p", "-J", "-t", "w").rstrip("\n").split("\n")

    def assert_fits(self) -> None:
        """Nothing wrapped by the terminal (so no word cut in two) and the header still on the first row."""
        lines = self.logical_lines()
        assert all(len(line) <= COLUMNS for line in lines), "\n".join(lines)
        assert lines[0].startswith("Watching"), "the header scrolled away:\n" + "\n".join(lines)

    def wait_for(self, pattern: str, seconds: float) -> tuple[re.Match | None, float]:
        """The first match of `pattern` on the screen, polled every 50 ms, and when it was seen."""
        deadline = time.monotonic() + seconds
        while True:
            found = re.search(pattern, self.screen())
            if found or time.monotonic() > deadline:
                return found, time.monotonic()
            time.sleep(0.05)

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "w", *keys)

    def close(self) -> None:
        self._tmux("kill-server")


@pytest.mark.skipif(TMUX is None, reason="tmux is not installed (Debian: apt-get install tmux)")
@pytest.mark.timeout(180)
def test_a_save_is_regraded_within_a_second_and_ctrl_c_ends_cleanly(tmp_path: Path) -> None:
    project = tmp_path / "project.py"
    shutil.copy(ROOT / "starter" / "project.py", project)
    shutil.copy(ROOT / "starter" / "ANSWERS.md", tmp_path / "ANSWERS.md")
    status = tmp_path / "status"
    command = (f"cd {shlex.quote(str(ROOT))} && {shlex.quote(sys.executable)} -m checks watch "
               f"--project={shlex.quote(str(project))}; echo $? > {shlex.quote(str(status))}; sleep 60")
    terminal = Terminal(command)
    try:
        first, _ = terminal.wait_for(r"Total: 20 / 100", 90)
        assert first, terminal.screen()
        assert "Graded at" in terminal.screen() and "passing since your last run" not in terminal.screen()
        terminal.assert_fits()
        screen = terminal.screen()
        assert "Next: alter-1" in screen and "Hint:" in screen, screen
        assert "python -m checks watch --hints" in screen and "pytest --hints" not in screen, screen

        # A half-written file: the grader reports it, the watcher goes on.
        project.write_text("def fetch_sync(:\n", encoding="utf-8")
        broken, _ = terminal.wait_for(r"could not be imported", 60)
        assert broken, terminal.screen()
        terminal.assert_fits()

        project.write_text((ROOT / "starter" / "project.py").read_text(encoding="utf-8"), encoding="utf-8")
        assert terminal.wait_for(r"Total: 20 / 100", 60)[0], terminal.screen()

        saved = time.monotonic()
        replacement = tmp_path / "project.py.new"
        shutil.copy(ROOT / "solutions" / "project.py", replacement)
        os.replace(replacement, project)  # as editors save: write aside, then rename over
        changed, seen = terminal.wait_for(r"alter-1, alter-2, alter-3,[\s\S]*passing since your last[\s\S]*run", 90)
        screen = terminal.screen()
        assert changed, screen
        timing = GRADED.search(screen)
        assert timing, screen
        grading, reaction = float(timing.group(1)), float(timing.group(2))
        print(f"\nreaction (save -> re-grade start): {reaction:.2f} s; grading {grading:.1f} s; "
              f"save -> change on screen {seen - saved:.2f} s")
        assert reaction <= REACTION
        assert seen - saved <= grading + REACTION + 0.2  # + one screen poll and the capture itself
        assert "Total: 100 / 100" in screen
        terminal.assert_fits()

        terminal.keys("C-c")
        stopped, _ = terminal.wait_for(r"Stopped watching", 10)
        assert stopped, terminal.screen()
        deadline = time.monotonic() + 10
        while not status.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert status.read_text().strip() == "0"
        assert "Traceback" not in terminal.screen()
    finally:
        terminal.close()


def test_the_watcher_ignores_what_the_grader_itself_writes(tmp_path: Path) -> None:
    keep = relevant(tmp_path / "project.py")
    added = watchfiles.Change.added
    assert keep(added, str(tmp_path / "project.py")) and keep(added, str(tmp_path / "helpers.py"))
    assert keep(added, str(tmp_path / "ANSWERS.md"))
    assert not keep(added, str(tmp_path / ".grader-progress.json"))
    assert not keep(added, str(tmp_path / ".grader-progress.json.x1y2"))
    assert not keep(added, str(tmp_path / "__pycache__" / "project.cpython-311.pyc"))
    assert not keep(added, str(tmp_path / "sub" / "other.py"))
