"""The grade as data: what each check concluded and what that makes of each item. The hooks only fill it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum

from checks.catalogue import ITEMS, Item

MESSAGE_CAP = 4000
"""Characters of one message kept in a report: a student file that prints megabytes stays small."""
CUT = "\n[... {count} more characters cut]\n"

NO_CHECK_RAN = "no check of this item was part of this run"
"""Why an item with no check at all did not run (a path or a node id chose other checks)."""


STILL_TODO = "is still a TODO"
"""What a check's message says when the function it calls raises the starter's NotImplementedError."""

READ_INPUT = re.compile(
    r"(raised )?(OSError: pytest: reading from stdin while output is captured!\s+Consider using `-s`\."
    r"|EOFError: EOF when reading a line)"
)
"""What reading the keyboard raises while graded: pytest's capture in self-grading, an empty stdin in a worker."""
ASKED_FOR_INPUT = "asked for input (input() or sys.stdin)"
NO_INPUT = (
    "The graded file must not ask for input, neither when it is imported nor in the graded functions: nobody "
    "can type while it is graded. Does a value you read with input() belong in a parameter, or under "
    "`if __name__ == \"__main__\":`?"
)


def explain_input(message: str) -> str:
    """message, with the error a read from the keyboard raised put in our words and one next step."""
    if not READ_INPUT.search(message):
        return message
    lines = message.splitlines()
    at = next(n for n, line in enumerate(lines) if READ_INPUT.search(line))
    lines[at] = READ_INPUT.sub(ASKED_FOR_INPUT, lines[at])
    return "\n".join([*lines[: at + 1], NO_INPUT, *lines[at + 1:]])


class Outcome(str, Enum):
    PASSED = "passed"
    FAILED = "failed"  # the check ran and the student's code fell short
    ERROR = "error"  # the check could not run (e.g. the file does not import)
    SKIPPED = "skipped"  # pytest.skip() was called while it ran
    NOT_RUN = "not_run"  # never started: deselected, or its check module could not be loaded


NOT_RUN_OUTCOMES = (Outcome.SKIPPED, Outcome.NOT_RUN)


def capped(text: str, cap: int = MESSAGE_CAP) -> str:
    """text, or its start and its end around a line saying how much was cut between them.

    A cut is never silent, and it is made in the middle: a message starts with what was expected
    and often ends with what was measured (the last slot of a list, the `{}` a missing post gave)
    or the question to ask, and a cut at the end would lose exactly that.
    """
    if len(text) <= cap:
        return text
    keep = max(cap - len(CUT.format(count=len(text))), 0)
    head = keep - keep // 3
    return text[:head] + CUT.format(count=len(text) - keep) + text[len(text) - (keep - head):]


ELLIPSIS = "..."
IDENTIFYING_KEYS = ("id",)
"""Keys a brief dict shows first: a post or a user is told apart by its id."""


def brief(value: object, most: int = 80) -> str:
    """repr(value) in at most about `most` characters, cut where it keeps what a reader compares.

    A list or tuple keeps its first and last elements and says how many it left out (a wrong last
    slot, such as the `{}` of a missing post, stays in sight); a dict keeps its id and first keys,
    each value shortened; anything else loses its middle, not its end.
    """
    text = repr(value)
    if len(text) <= most:
        return text
    if isinstance(value, (list, tuple)) and value:
        return _brief_sequence(value, most)
    if isinstance(value, dict) and value:
        shown, room = [], most - len("{, ...}")
        first = [k for k in IDENTIFYING_KEYS if k in value]
        for key, item in [(k, value[k]) for k in first] + [(k, v) for k, v in value.items() if k not in first]:
            part = f"{cut_middle(repr(key), 24)}: {brief(item, 24)}"
            if shown and len(", ".join([*shown, part])) > room:
                break
            shown.append(part)
        return "{" + ", ".join(shown) + (", ...}" if len(shown) < len(value) else "}")
    return cut_middle(text, most)


def _brief_sequence(value: list | tuple, most: int) -> str:
    """The elements from both ends inwards, each in brief, as many as fit, with the count left out."""
    opening, closing = ("[", "]") if isinstance(value, list) else ("(", ")")
    each = max(most // 3, 12)
    parts = [brief(element, each) for element in value]
    left, right = [parts[0]], [parts[-1]] if len(parts) > 1 else []
    i, j = 1, len(parts) - 2
    while i <= j:
        candidate = (parts[i], None) if len(left) <= len(right) else (None, parts[j])
        trial_left = left + ([candidate[0]] if candidate[0] else [])
        trial_right = ([candidate[1]] if candidate[1] else []) + right
        missing = j - i  # elements still left out if this one is shown
        gap = [f"{ELLIPSIS} {missing} more"] if missing else []
        if len(opening + ", ".join(trial_left + gap + trial_right) + closing) > most:
            break
        left, right = trial_left, trial_right
        i, j = (i + 1, j) if candidate[0] else (i, j - 1)
    gap = [f"{ELLIPSIS} {j - i + 1} more"] if i <= j else []
    return opening + ", ".join(left + gap + right) + closing


def cut_middle(text: str, most: int) -> str:
    """text without its middle, marked, in at most `most` characters."""
    if len(text) <= most:
        return text
    keep = max(most - len(ELLIPSIS), 2)
    head = keep - keep // 3
    return text[:head] + ELLIPSIS + text[len(text) - (keep - head):]


@dataclass
class CheckResult:
    name: str
    item_id: str
    outcome: Outcome
    message: str = ""
    attempts: int = 1  # 2 when it failed while the machine kept the grader waiting, and was run again
    waited_for_cpu: float = 0.0  # seconds the grader waited for a CPU in the attempt that was run again
    weight: int = 1  # how much its failure tells about the cause: a crash or a coroutine never awaited, 3; a count, 1
    hint: str = ""  # the question for the property that failed, when more precise than the item's


@dataclass
class ItemResult:
    item: Item
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def status(self) -> str:
        """passed, failed, not_run or ungraded (explain). An item passes only when every one of its checks
        ran and passed: one that was deselected, skipped or never loaded makes it not_run, never passed."""
        if not self.item.graded:
            return "ungraded"
        if not self.checks:
            return "not_run"
        if any(c.outcome in (Outcome.FAILED, Outcome.ERROR) for c in self.checks):
            return "failed"
        if any(c.outcome in NOT_RUN_OUTCOMES for c in self.checks):
            return "not_run"
        return "passed"

    @property
    def legacy_status(self) -> str:
        """The JSON report's `status`, as readers older than not_run know it: passed, failed or ungraded."""
        return "ungraded" if self.status == "not_run" else self.status

    @property
    def reason(self) -> str:
        """For a not_run item: why, in words (the first check that did not run says it)."""
        if self.status != "not_run":
            return ""
        first = next((c for c in self.checks if c.outcome in NOT_RUN_OUTCOMES), None)
        return (first.message or first.outcome.value) if first else NO_CHECK_RAN

    @property
    def ran(self) -> list[CheckResult]:
        """The checks that ran to a verdict (passed, failed or error)."""
        return [c for c in self.checks if c.outcome not in NOT_RUN_OUTCOMES]

    @property
    def score(self) -> int:
        return self.item.points if self.status == "passed" else 0

    @property
    def untouched(self) -> bool:
        """Failed only because its functions are still the starter's TODOs: not started, so not stuck."""
        failing = [c for c in self.checks if c.outcome in (Outcome.FAILED, Outcome.ERROR)]
        return bool(failing) and all(STILL_TODO in c.message for c in failing)

    @property
    def telling(self) -> CheckResult | None:
        """The failing check that says most about the cause: the heaviest, the first of equals.

        A coroutine never awaited, or an exception raised from the student's line, explains the counts
        that came out wrong because of it, so the scorecard shows that one, with its own hint.
        """
        failing = [c for c in self.checks if c.outcome in (Outcome.FAILED, Outcome.ERROR)]
        return max(failing, key=lambda c: c.weight, default=None)

    @property
    def hint(self) -> str:
        """The hint to show: the telling check's own question, else the item's."""
        telling = self.telling
        return (telling.hint if telling is not None else "") or self.item.hint

    @property
    def failure(self) -> str:
        """What the telling failing check measured, without its hint (reports give the hint once, their own way)."""
        failing = self.telling
        if failing is None:
            return ""
        return "\n".join(line for line in failing.message.splitlines() if not line.startswith("Hint: "))

    @property
    def note(self) -> str:
        """For an ungraded item (explain): what its check reported."""
        if not self.checks:
            return "not run"
        return self.checks[0].message or "answers written"


@dataclass
class Grade:
    project: str
    items: list[ItemResult]
    load_error: str | None = None
    grader_errors: list[str] = field(default_factory=list)  # checks that could not even be collected

    @classmethod
    def empty(cls, project: str) -> Grade:
        return cls(project, [ItemResult(item) for item in ITEMS])

    def add(self, check: CheckResult) -> None:
        next(r for r in self.items if r.item.id == check.item_id).checks.append(check)

    @property
    def score(self) -> int:
        return sum(r.score for r in self.items)

    @property
    def max_score(self) -> int:
        return sum(r.item.points for r in self.items if r.item.graded)

    @property
    def next_item(self) -> ItemResult | None:
        """The first failing item in catalogue order: the one to work on next."""
        return next((r for r in self.items if r.status == "failed"), None)

    def to_json(self) -> dict:
        """The --grade-json report. `status` keeps its three old values; `state` adds not_run, with a `reason`."""
        extra = {"grader_errors": self.grader_errors} if self.grader_errors else {}
        if self.load_error:
            extra["load_error"] = self.load_error
        return {
            **extra,
            "project": self.project,
            "score": self.score,
            "max_score": self.max_score,
            "items": [
                {
                    "id": r.item.id,
                    "title": r.item.title,
                    "status": r.legacy_status,
                    "state": r.status,
                    **({"reason": r.reason} if r.status == "not_run" else {}),
                    "score": r.score,
                    "max_score": r.item.points,
                    "checks": [
                        {"name": c.name, "outcome": c.outcome.value, "message": c.message, **_attempts(c)} for c in r.checks
                    ],
                }
                for r in self.items
            ],
        }

    @classmethod
    def from_json(cls, data: dict) -> Grade:
        """A Grade rebuilt from a report that checks.tools.validation.validated() accepted: statuses and scores come
        again from the check outcomes, never from what the report says of them."""
        found = {entry["id"]: entry for entry in data["items"]}
        items = []
        for item in ITEMS:
            checks = found.get(item.id, {}).get("checks", [])
            items.append(ItemResult(item, [CheckResult(c["name"], item.id, Outcome(c["outcome"]), c["message"]) for c in checks]))
        load_error = data.get("load_error")
        return cls(
            project=str(data.get("project", "")),
            items=items,
            load_error=capped(load_error) if isinstance(load_error, str) and load_error else None,
            grader_errors=[str(error) for error in data.get("grader_errors", [])],
        )


def _attempts(check: CheckResult) -> dict:
    """For a check that was run again, how many runs it had and why: nothing for the usual single run."""
    if check.attempts <= 1:
        return {}
    return {"attempts": check.attempts, "waited_for_cpu": check.waited_for_cpu}
