"""Splitting a class between machines by a hash of each name, and the manifest that lets the shards be joined again."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Protocol, TypeVar

from checks.catalogue import ITEMS
from checks.fingerprint import fingerprint

MANIFEST = "shard.json"
"""Written beside each gradebook: which shard it is, the whole class's names in order, the items and the checks'
fingerprint. python -m checks.merge reads it to refuse shards that do not belong together."""
BAD_SHARD = "--shard takes K/N with whole numbers 1 <= K <= N, such as 2/3; got {text!r}"


class Named(Protocol):
    name: str


Entry = TypeVar("Entry", bound=Named)


def parse_shard(text: str) -> tuple[int, int]:
    """'K/N' as (K, N); ValueError with BAD_SHARD's words for anything else."""
    match = re.fullmatch(r"([0-9]+)/([0-9]+)", text.strip())
    if match is None or not 1 <= int(match[1]) <= int(match[2]):
        raise ValueError(BAD_SHARD.format(text=text))
    return int(match[1]), int(match[2])


def shard_of(name: str, count: int) -> int:
    """The shard (1 to count) a submission belongs to, from a hash of its name alone: never from its place in
    the listing, so a student added or removed moves no other student to another machine."""
    digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def in_shard(submissions: Sequence[Entry], shard: tuple[int, int]) -> list[Entry]:
    """The submissions that shard (K, N) grades, in the listing's order."""
    k, n = shard
    return [submission for submission in submissions if shard_of(submission.name, n) == k]


def manifest(names: Sequence[str], shard: tuple[int, int]) -> dict:
    """What a gradebook was graded from: a shard is joined only with shards of the same class list, the same
    items and the same checks."""
    return {
        "shard": list(shard),
        "class": list(names),
        "items": [{"id": item.id, "points": item.points, "graded": item.graded} for item in ITEMS],
        "checks": fingerprint(),
    }
