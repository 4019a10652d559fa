"""The grade as data: what each check concluded and what that makes of each item. The hooks only fill it."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from checks.catalogue import ITEMS, Item

MESSAGE_CAP = 4000
"""Characters of one message kept in a report: a student file that prints megabytes stays small."""
CUT = "\n[... {count} more characters cut]"

NO_CHECK_RAN = "no check of this item was part of this run"
"""Why an item with no check at all did not run (a path or a node id chose other checks)."""


STILL_TODO = "is still a TODO"
"""What a check's message says when the function it calls raises the starter's NotImplementedError."""


class Outcome(str, Enum):
    PASSED = "passed"
    FAILED = "failed"  # the check ran and the student's code fell short
    ERROR = "error"  # the check could not run (e.g. the file does not import)
    SKIPPED = "skipped"  # pytest.skip() was called while it ran
    NOT_RUN = "not_run"  # never started: deselected, or its check module could not be loaded


NOT_RUN_OUTCOMES = (Outcome.SKIPPED, Outcome.NOT_RUN)


def capped(text: str, cap: int = MESSAGE_CAP) -> str:
    """text, or its first characters and a line saying how much was cut: a cut is never silent."""
    if len(text) <= cap:
        return text
    keep = max(cap - len(CUT.format(count=len(text))), 0)
    return text[:keep] + CUT.format(count=len(text) - keep)


@dataclass
class CheckResult:
    name: str
    item_id: str
    outcome: Outcome
    message: str = ""
    attempts: int = 1  # 2 when it failed while the machine kept the grader waiting, and was run again
    waited_for_cpu: float = 0.0  # seconds the grader waited for a CPU in the attempt that was run again


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
    def failure(self) -> str:
        """What the first failing check measured, without its hint (reports give the hint once, their own way)."""
        failing = next((c for c in self.checks if c.outcome in (Outcome.FAILED, Outcome.ERROR)), None)
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
