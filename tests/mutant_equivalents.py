"""The reviewed survivors of `python -m tests.mutants run`: mutants the grader may pass, each with why.

EQUIVALENT holds mutants that behave as the contract (README, "What you implement") allows: no
check could fail them without failing a correct solution. ARGUABLE holds mutants that the contract
as written allows but a reader could call a mistake; each reason says what is left open, so that a
maintainer who settles the question moves the entry out (and writes the check) or into EQUIVALENT.

Never list a mutant here because the grader misses it today: a survivor that breaks the contract is
a miss of the grader, and `pytest tests/test_mutants.py --mutants` should go on failing on it until
a check catches it. An entry whose mutant is no longer generated fails the always-on tests (stale).
"""

from __future__ import annotations

EQUIVALENT: dict[str, str] = {}
ARGUABLE: dict[str, str] = {}

REVIEWED: dict[str, str] = {**EQUIVALENT, **ARGUABLE}
"""Every reviewed survivor and why it may survive: what the mutation test accepts."""
