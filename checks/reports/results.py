"""The grade as data: what each check concluded and what that makes of each item. The hooks only fill it."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from checks.catalogue import ITEMS, Item


class Outcome(str, Enum):
    PASSED = "passed"
    FAILED = "failed"  # the check ran and the student's code fell short
    ERROR = "error"  # the check could not run (e.g. the file does not import)
    SKIPPED = "skipped"


@dataclass
class CheckResult:
    name: str
    item_id: str
    outcome: Outcome
    message: str = ""


@dataclass
class ItemResult:
    item: Item
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def status(self) -> str:
        """passed only if every check passed; ungraded for explain, and for an item none of whose checks ran."""
        if not self.item.graded or not self.checks:
            return "ungraded"
        if all(c.outcome is Outcome.PASSED for c in self.checks):
            return "passed"
        return "failed"

    @property
    def score(self) -> int:
        return self.item.points if self.status == "passed" else 0

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
        extra = {"grader_errors": self.grader_errors} if self.grader_errors else {}
        return {
            **extra,
            "project": self.project,
            "score": self.score,
            "max_score": self.max_score,
            "items": [
                {
                    "id": r.item.id,
                    "title": r.item.title,
                    "status": r.status,
                    "score": r.score,
                    "max_score": r.item.points,
                    "checks": [
                        {"name": c.name, "outcome": c.outcome.value, "message": c.message} for c in r.checks
                    ],
                }
                for r in self.items
            ],
        }
