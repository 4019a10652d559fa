"""One-change mutants of the reference solution, and a command that grades them: which changes does the grader miss?

A mutant is `solutions/project.py` with one small mistake made mechanically: an operator or a
constant changed, an `await` or a statement removed, two statements swapped, a `gather` or a call's
arguments changed, a context manager not entered, a `finally` or an `except` changed. The grader
should fail every mutant that breaks the contract (README, "What you implement"); a mutant it
passes either behaves as the contract allows (an equivalent mutant, reviewed and listed with its
reason in `tests/mutant_equivalents.py`) or is a miss of the grader.

The change is made on the source text, not by re-printing the tree, so the rest of the file keeps
its formatting and a mutant's diff is the one line or block it changes. Ids are built from the
enclosing function, the kind of change and a short label of the code changed (plus `#N` for the
Nth alike in that function), never from line numbers, so an edit elsewhere in the reference does
not rename them.

What is left alone, and why:
- docstrings, imports and `def` statements: removing or moving one fails at import or at the first
  call, which shows nothing about the checks;
- the handler of the `if __name__ == "__main__":` block: it only words the message for an API that
  cannot be reached, and the grader's stand-in always answers `python project.py 50`;
- string literals other than the few the contract names (URL paths, the printed totals' words, the
  variable that moves BASE_URL): headings and the `Fetched post` line's decoration are free text.

    python -m tests.mutants list                           every mutant's id and what it changes
    python -m tests.mutants show ID                        the mutated file, to stdout
    python -m tests.mutants run [--jobs N] [--only ID...]  grade them and print the score and the survivors
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from tests.mutant_equivalents import REVIEWED

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "solutions" / "project.py"
GRADED_ITEMS = ("base", "alter-1", "alter-2", "alter-3", "break-1", "break-2", "break-3", "fix-1", "fix-2", "fix-3")
"""The items a mutant must fail one of to count as killed (explain is reported, not scored)."""

TIME_LIMIT = 300.0
"""Seconds one grading may take: above the grader's own 240 s budget, after which it stops starting
checks and still writes its report. A grading stopped here wrote none: it counts as hung, not killed."""
JOBS = 2

STRINGS = {
    "/posts/": "/users/",
    "/users/": "/posts/",
    "API_BASE_URL": "API_URL",
    "https://jsonplaceholder.typicode.com": "https://jsonplaceholder.typicode.com/v2",
    "Fetched post ": "Fetched ",
    "Sync total: ~": "Sync: ~",
    "Async total: ~": "Async: ~",
    " seconds for ": " minutes for ",
    " requests": " posts",
}
"""The string literals worth changing: the URL paths, the variable and default that set BASE_URL, and
the words the contract reads in main()'s output. Each is replaced by a plausible slip, not emptied."""

OPTIONAL_ARGUMENT = {"range": 0, "list": 0, "tuple": 0, "print": 0, "asyncio.Semaphore": 0, "get": 1}
"""Calls from which one positional argument can go and the call stays valid: which one (by position).
`range(a, b)` loses `a`; `d.get(k, default)` its default; the others their only argument."""
NARROWER = ("aiohttp.ClientError", "aiohttp.ClientResponseError")
"""What a mutant catches instead of `except Exception`: every aiohttp error, or error statuses only."""
COMPARISONS = {ast.Lt: ("<=", ">"), ast.LtE: ("<", ">"), ast.Gt: (">=", "<"), ast.GtE: (">", "<"),
               ast.Eq: ("!=",), ast.NotEq: ("==",)}
ARITHMETIC = {ast.Add: "-", ast.Sub: "+", ast.Mult: "/", ast.Div: "*", ast.FloorDiv: "*", ast.Mod: "//"}
SYMBOLS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=",
           ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%"}
REQUEST_METHODS = {"get", "post", "put", "patch", "delete", "head", "request"}
"""`async with session.get(url) as response` enters a request; without `with`, `await` gives the response."""
LABEL_WIDTH = 48


@dataclass(frozen=True)
class Mutant:
    """One mutant: its stable id, what kind of change it is, where, in words, and the whole mutated file."""

    id: str
    kind: str
    lines: tuple[int, int]
    """The first and last line of the reference that the change touches."""
    description: str
    source: str

    def diff(self, reference: str) -> list[str]:
        """The lines the change touches, `-` as in the reference and `+` as in the mutant (a swap shows both lines on each side)."""
        old, new = reference.splitlines(), self.source.splitlines()
        first, last = self.lines
        before, after = old[first - 1 : last], new[first - 1 : last + len(new) - len(old)]
        while len(before) > 1 and len(after) > 1 and before[0] == after[0]:  # a long node changed in one line: show that line
            before, after = before[1:], after[1:]
        while len(before) > 1 and len(after) > 1 and before[-1] == after[-1]:
            before, after = before[:-1], after[:-1]
        return [f"-{line}" for line in before] + [f"+{line}" for line in after]


@dataclass(frozen=True)
class _Edit:
    scope: str
    kind: str
    label: str
    lines: tuple[int, int]
    description: str
    start: int
    end: int
    replacement: str


# --- Labels: short, stable words for a piece of code ------------------------------------------------


def label(node: ast.AST, depth: int = 0) -> str:
    """A short rendering of `node` for ids and descriptions: calls keep their name, long parts become `...`."""
    if depth > 2:
        return "..."
    match node:
        case ast.Call(func=func, args=args, keywords=keywords):
            parts = [label(a, depth + 1) for a in args] + [f"{k.arg}={label(k.value, depth + 1)}" if k.arg else "**..." for k in keywords]
            return _cut(f"{label(func, depth)}({', '.join(parts)})")
        case ast.Attribute(value=value, attr=attr):
            return f"{label(value, depth)}.{attr}"
        case ast.Name(id=name):
            return name
        case ast.Constant(value=str() as text):
            return repr(text if len(text) <= 20 else text[:20] + "...")
        case ast.Constant(value=value):
            return repr(value)
        case ast.JoinedStr():
            return "f" + repr(_cut(_fstring_text(node), 20))
        case ast.Await(value=value):
            return f"await {label(value, depth)}"
        case ast.Starred(value=value):
            return f"*{label(value, depth + 1)}"
        case ast.GeneratorExp() | ast.ListComp():
            return "(...)" if depth else _cut(ast.unparse(node))
        case ast.Assign(targets=targets, value=value):
            return f"{' = '.join(ast.unparse(t) for t in targets)} = {label(value, depth)}"
        case ast.Expr(value=value):
            return label(value, depth)
        case ast.Return(value=value):
            return "return" if value is None else f"return {label(value, depth)}"
        case ast.With() | ast.AsyncWith():
            head = "async with" if isinstance(node, ast.AsyncWith) else "with"
            return f"{head} {label(node.items[0].context_expr, depth)}"
        case ast.For(target=target, iter=iterable):
            return f"for {ast.unparse(target)} in {label(iterable, depth)}"
        case ast.Try():
            return "try"
        case _:
            text = _cut(ast.unparse(node))
            return text if depth == 0 or len(text) <= 20 else "..."


def _cut(text: str, width: int = LABEL_WIDTH) -> str:
    text = re.sub(r"\s+", " ", text)
    return text if len(text) <= width else text[: width - 3] + "..."


def _fstring_text(node: ast.JoinedStr) -> str:
    return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)


# --- Finding the changes ------------------------------------------------------------------------------


class _Finder:
    """Walks the reference once and lists every one-place edit, each with the span of text it replaces."""

    def __init__(self, source: str, tree: ast.Module) -> None:
        self.source, self.tree = source, tree
        self.parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
        self.defaults: dict[ast.AST, str] = {}
        for function in ast.walk(tree):
            if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                positional = function.args.posonlyargs + function.args.args
                for arg, default in zip(positional[len(positional) - len(function.args.defaults):], function.args.defaults):
                    self.defaults[default] = arg.arg
                for arg, default in zip(function.args.kwonlyargs, function.args.kw_defaults):
                    if default is not None:
                        self.defaults[default] = arg.arg
        self.lines = source.splitlines(keepends=True)
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line))
        self.edits: list[_Edit] = []

    # Positions: ast counts columns in UTF-8 bytes; the edits work on characters.
    def at(self, lineno: int, col: int) -> int:
        line = self.lines[lineno - 1]
        return self.starts[lineno - 1] + len(line.encode()[:col].decode())

    def span(self, node: ast.AST) -> tuple[int, int]:
        return self.at(node.lineno, node.col_offset), self.at(node.end_lineno, node.end_col_offset)

    def text(self, node: ast.AST) -> str:
        start, end = self.span(node)
        return self.source[start:end]

    def add(self, scope: str, kind: str, what: str, where: ast.AST | tuple[int, int], description: str,
            start: int, end: int, replacement: str) -> None:
        lines = where if isinstance(where, tuple) else (where.lineno, where.end_lineno)
        self.edits.append(_Edit(scope, kind, what, lines, f"line {lines[0]}, {scope}: {description}", start, end, replacement))

    # --- Statements ---
    def module(self, tree: ast.Module) -> None:
        for statement in _without_docstring(tree.body):
            if _is_main_block(statement):
                self.main_block(statement)
            elif not isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Import, ast.ImportFrom, ast.ClassDef)):
                self.statement(statement, "<module>")
                self.expressions(statement, "<module>")
            elif isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.function(statement, statement.name)
        self.swaps(_without_docstring(tree.body), "<module>")

    def main_block(self, block: ast.If) -> None:
        """Only what decides main()'s count: the test, and the try's body (its handler only words an error)."""
        self.expressions(block.test, "__main__")
        for statement in block.body:
            if isinstance(statement, ast.Try):
                for inner in statement.body:
                    self.statement(inner, "__main__")
                    self.expressions(inner, "__main__")

    def function(self, function: ast.FunctionDef | ast.AsyncFunctionDef, scope: str) -> None:
        for default in function.args.defaults + [d for d in function.args.kw_defaults if d is not None]:
            self.expressions(default, scope)
        self.body(function.body, scope)

    def body(self, statements: list[ast.stmt], scope: str) -> None:
        statements = _without_docstring(statements)
        for statement in statements:
            if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.function(statement, f"{scope}.{statement.name}")
                continue
            if isinstance(statement, (ast.Import, ast.ImportFrom, ast.ClassDef)):
                continue
            self.statement(statement, scope)
            self.compound(statement, scope)
        self.swaps(statements, scope)

    def statement(self, statement: ast.stmt, scope: str) -> None:
        """Remove it (`pass` in its place)."""
        if isinstance(statement, ast.Pass):
            return
        start, end = self.span(statement)
        self.add(scope, "statement-removed", label(statement), statement, f"`{label(statement)}` removed", start, end, "pass")

    def compound(self, statement: ast.stmt, scope: str) -> None:
        """The statement's own expressions and changes, then the statements inside it."""
        match statement:
            case ast.With() | ast.AsyncWith():
                for item in statement.items:
                    self.expressions(item.context_expr, scope)
                self.not_entered(statement, scope)
                self.body(statement.body, scope)
            case ast.For() | ast.AsyncFor():
                self.expressions(statement.iter, scope)
                self.body(statement.body, scope)
                self.body(statement.orelse, scope)
            case ast.While() | ast.If():
                self.expressions(statement.test, scope)
                self.body(statement.body, scope)
                self.body(statement.orelse, scope)
            case ast.Try():
                self.body(statement.body, scope)
                for handler in statement.handlers:
                    self.narrowed(handler, scope)
                    self.body(handler.body, scope)
                self.body(statement.orelse, scope)
                if statement.finalbody and not statement.handlers:
                    self.finally_to_except(statement, scope)
                self.body(statement.finalbody, scope)
            case _:
                self.expressions(statement, scope)

    def swaps(self, statements: list[ast.stmt], scope: str) -> None:
        """Each two neighbours swapped, the text between them (blank lines, comments) left where it is."""
        movable = [s for s in statements if not isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Import, ast.ImportFrom, ast.ClassDef))]
        for first, second in zip(statements, statements[1:]):
            if first not in movable or second not in movable or _is_main_block(first) or _is_main_block(second):
                continue
            (a_start, a_end), (b_start, b_end) = self.span(first), self.span(second)
            a, between, b = self.source[a_start:a_end], self.source[a_end:b_start], self.source[b_start:b_end]
            what = f"{label(first)} / {label(second)}"
            self.add(scope, "statements-swapped", what, (first.lineno, second.end_lineno), f"`{label(first)}` and `{label(second)}` swapped",
                     a_start, b_end, _reindent(b, first.col_offset, second.col_offset) + between + _reindent(a, second.col_offset, first.col_offset))

    def not_entered(self, statement: ast.With | ast.AsyncWith, scope: str) -> None:
        """`async with E as N:` becomes `for N in [E]:` (the body still runs once, nothing is entered or closed)."""
        if len(statement.items) != 1:
            return
        item = statement.items[0]
        expression = self.text(item.context_expr)
        if item.optional_vars is None:
            header = f"if {expression}:"
        else:
            request = isinstance(statement, ast.AsyncWith) and _is_request(item.context_expr)
            header = f"for {self.text(item.optional_vars)} in [{'await ' if request else ''}{expression}]:"
        start = self.at(statement.lineno, statement.col_offset)
        last = item.optional_vars or item.context_expr
        end = self.source.index(":", self.span(last)[1]) + 1
        self.add(scope, "with-not-entered", label(statement), statement, f"`{label(statement)}` not entered: `{header}`", start, end, header)

    def finally_to_except(self, statement: ast.Try, scope: str) -> None:
        first = statement.finalbody[0].lineno
        for lineno in range(first - 1, statement.lineno, -1):
            match = re.match(r"(\s*)finally(\s*:)", self.lines[lineno - 1])
            if match:
                start = self.starts[lineno - 1] + len(match[1])
                self.add(scope, "finally-to-except", "finally", (lineno, lineno), "`finally:` becomes `except Exception:`",
                         start, start + len("finally"), "except Exception")
                return

    def narrowed(self, handler: ast.ExceptHandler, scope: str) -> None:
        if isinstance(handler.type, ast.Name) and handler.type.id == "Exception":
            start, end = self.span(handler.type)
            for narrower in NARROWER:
                self.add(scope, "except-narrowed", f"Exception -> {narrower}", handler,
                         f"`except Exception` narrowed to `except {narrower}`", start, end, narrower)

    # --- Expressions ---
    def expressions(self, root: ast.AST, scope: str) -> None:
        """Every expression change under `root`, not entering nested statements (they have their own turn)."""
        for node in _walk_expressions(root):
            match node:
                case ast.Await():
                    start, end = self.span(node)
                    inner = self.text(node.value)
                    self.add(scope, "await-removed", label(node.value), node, f"`await` removed before `{label(node.value)}`", start, end, inner)
                case ast.Constant() if not isinstance(node.value, str):
                    self.constant(node, scope)
                case ast.BinOp() if type(node.op) in ARITHMETIC:
                    self.operator(node, node.left, node.right, ARITHMETIC[type(node.op)], scope)
                case ast.Compare() if len(node.ops) == 1 and type(node.ops[0]) in COMPARISONS:
                    for symbol in COMPARISONS[type(node.ops[0])]:
                        self.operator(node, node.left, node.comparators[0], symbol, scope)
                case ast.Slice():
                    self.slice(node, scope)
                case ast.Call():
                    self.call(node, scope)
        for node, literal, replacement in _strings(root):
            start, end = self.span(node)
            text = self.source[start:end]
            if text.count(literal) == 1:
                at = text.index(literal)
                self.add(scope, "string", f"{literal!r} -> {replacement!r}", node, f"string {literal!r} becomes {replacement!r}",
                         start + at, start + at + len(literal), replacement)

    def constant(self, node: ast.Constant, scope: str) -> None:
        value = node.value
        if isinstance(value, bool):
            changes = [not value]
        elif isinstance(value, int):
            changes = [value + 1, value - 1, 0]
        elif isinstance(value, float):
            changes = [value * 10, value / 10, 0.0]
        else:
            return
        start, end = self.span(node)
        parent = self.parents.get(node)
        if isinstance(parent, ast.Slice):  # `title[:15]` says more than `:15`
            parent = self.parents.get(parent)
        if node in self.defaults:
            where = f"{self.defaults[node]}={value!r}"
        elif isinstance(parent, ast.keyword) and parent.arg:
            where = f"{parent.arg}={value!r}"
        else:
            where = f"{_cut(ast.unparse(parent), 32)}: {value!r}" if parent is not None else repr(value)
        for changed in dict.fromkeys(c for c in changes if c != value):
            self.add(scope, "constant", f"{where} -> {changed!r}", node, f"constant {value!r} becomes {changed!r} in `{where}`", start, end, repr(changed))

    def operator(self, node: ast.AST, left: ast.AST, right: ast.AST, symbol: str, scope: str) -> None:
        old = SYMBOLS[type(node.op if isinstance(node, ast.BinOp) else node.ops[0])]
        gap_start, gap_end = self.span(left)[1], self.span(right)[0]
        gap = self.source[gap_start:gap_end]
        at = gap.find(old)
        if at < 0:
            return
        kind = "operator" if isinstance(node, ast.BinOp) else "comparison"
        self.add(scope, kind, f"{_cut(ast.unparse(node), 32)}: {old} -> {symbol}", node, f"`{old}` becomes `{symbol}` in `{_cut(ast.unparse(node))}`",
                 gap_start + at, gap_start + at + len(old), symbol)

    def slice(self, node: ast.Slice, scope: str) -> None:
        """Off by one: a computed bound plus or minus one (a constant bound already changes as a constant)."""
        for name, bound in (("lower", node.lower), ("upper", node.upper)):
            if bound is None or isinstance(bound, ast.Constant):
                continue
            start, end = self.span(bound)
            for sign in ("+", "-"):
                self.add(scope, "slice-bound", f"{name} {label(bound)} {sign} 1", bound,
                         f"slice bound `{label(bound)}` becomes `{label(bound)} {sign} 1`", start, end, f"{self.text(bound)} {sign} 1")

    def call(self, node: ast.Call, scope: str) -> None:
        name = _dotted(node.func)
        if name.endswith("gather"):
            self.gather(node, name, scope)
        arguments = [*node.args, *node.keywords]
        for index, keyword in enumerate(node.keywords):
            if keyword.arg is None:
                continue
            position = len(node.args) + index
            start, end = self._argument_span(arguments, position)
            self.add(scope, "keyword-dropped", f"{label(node.func)}({keyword.arg}=)", node,
                     f"keyword `{keyword.arg}={self.text(keyword.value)}` dropped from `{label(node.func)}(...)`", start, end, "")
        key = name if name in OPTIONAL_ARGUMENT else name.rpartition(".")[2]
        position = OPTIONAL_ARGUMENT.get(key)
        if position is None or any(isinstance(a, ast.Starred) for a in node.args):
            return
        if key == "range" and len(node.args) != 2 or key == "get" and len(node.args) != 2 or key not in ("range", "get") and len(node.args) != 1:
            return
        start, end = self._argument_span(arguments, position)
        self.add(scope, "argument-dropped", f"{label(node)} arg {position + 1}", node,
                 f"argument `{self.text(node.args[position])}` dropped from `{label(node)}`", start, end, "")

    def _argument_span(self, arguments: list[ast.AST], position: int) -> tuple[int, int]:
        """The text to cut for one argument: it and the comma before it, or the comma after it if it is first."""
        start, end = self.span(arguments[position])
        if position > 0:
            return self.span(arguments[position - 1])[1], end
        if len(arguments) > 1:
            return start, self.span(arguments[1])[0]
        return start, end

    def gather(self, node: ast.Call, name: str, scope: str) -> None:
        for star in (a for a in node.args if isinstance(a, ast.Starred)):
            start, end = self.span(star)
            self.add(scope, "gather-unstarred", label(star.value), node,
                     f"`*` dropped before `{label(star.value)}` in `{name}(...)`", start, end, self.text(star.value))
        if not any(k.arg == "return_exceptions" for k in node.keywords) and (node.args or node.keywords):
            last = [*node.args, *node.keywords][-1]
            end = self.span(last)[1]
            self.add(scope, "gather-return-exceptions", label(node), node, f"`return_exceptions=True` added to `{label(node)}`",
                     end, end, ", return_exceptions=True")


def _walk_expressions(root: ast.AST) -> Iterator[ast.AST]:
    """Nodes under `root` in source order, stopping at nested statements and f-string format specs."""
    nodes = [root]
    while nodes:
        node = nodes.pop(0)
        yield node
        children = [c for c in ast.iter_child_nodes(node) if not isinstance(c, (ast.stmt, ast.expr_context))]
        if isinstance(node, ast.FormattedValue):
            children = [node.value]
        if isinstance(node, ast.JoinedStr):  # its literal parts are changed through the f-string (see _strings)
            children = [c for c in children if isinstance(c, ast.FormattedValue)]
        nodes[:0] = children


def _strings(root: ast.AST) -> Iterator[tuple[ast.AST, str, str]]:
    """(the node whose text holds the literal, the literal, its replacement) for each string worth changing."""
    for node in _walk_expressions(root):
        if isinstance(node, ast.JoinedStr):
            for part in node.values:
                if isinstance(part, ast.Constant) and part.value in STRINGS:
                    yield node, part.value, STRINGS[part.value]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in STRINGS:
            yield node, node.value, STRINGS[node.value]


def _without_docstring(statements: list[ast.stmt]) -> list[ast.stmt]:
    if statements and isinstance(statements[0], ast.Expr) and isinstance(statements[0].value, ast.Constant) and isinstance(statements[0].value.value, str):
        return statements[1:]
    return statements


def _is_main_block(statement: ast.stmt) -> bool:
    return isinstance(statement, ast.If) and "__name__" in ast.unparse(statement.test) and "__main__" in ast.unparse(statement.test)


def _is_request(expression: ast.expr) -> bool:
    return isinstance(expression, ast.Call) and isinstance(expression.func, ast.Attribute) and expression.func.attr in REQUEST_METHODS


def _dotted(node: ast.AST) -> str:
    match node:
        case ast.Name(id=name):
            return name
        case ast.Attribute(value=value, attr=attr):
            return f"{_dotted(value)}.{attr}"
        case _:
            return "?"


def _reindent(text: str, old: int, new: int) -> str:
    """A statement's text moved from one indentation to another (neighbours share one, so this is a no-op there)."""
    if old == new:
        return text
    lines = text.split("\n")
    return "\n".join([lines[0]] + [(" " * new + line[old:]) if line.strip() else line for line in lines[1:]])


# --- The mutants -------------------------------------------------------------------------------------------


def generate(reference: str | None = None) -> list[Mutant]:
    """Every one-change mutant of `reference` (default: solutions/project.py), in source order, each with a unique id.

    An edit that repeats an earlier mutant's text is left out. Each mutant parses and differs from the
    reference's tree (not only its layout): tests/test_mutants.py checks that, since it costs a parse each."""
    source = REFERENCE.read_text(encoding="utf-8") if reference is None else reference
    finder = _Finder(source, ast.parse(source))
    finder.module(finder.tree)
    seen: Counter[str] = Counter()
    texts = {source}
    out: list[Mutant] = []
    for edit in sorted(finder.edits, key=lambda e: (e.start, e.end)):
        key = f"{edit.scope}:{edit.kind}:{edit.label}"
        seen[key] += 1
        text = source[: edit.start] + edit.replacement + source[edit.end :]
        if text not in texts:
            texts.add(text)
            out.append(Mutant(key if seen[key] == 1 else f"{key}#{seen[key]}", edit.kind, edit.lines, edit.description, text))
    return out


def by_id(mutants: Iterable[Mutant]) -> dict[str, Mutant]:
    return {m.id: m for m in mutants}


# --- Grading them ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """What grading one mutant showed: `killed` (some item failed), `survived` (all ten passed) or `no verdict`."""

    mutant: Mutant
    outcome: str
    failed: tuple[str, ...]
    note: str
    seconds: float


KILLED, SURVIVED, NO_VERDICT = "killed", "survived", "no verdict"


class Graders:
    """The grader processes alive in one run, so that an interrupted run (Ctrl-C, a failing test) ends them all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._alive: set[subprocess.Popen] = set()
        self.stopped = False

    def start(self, command: list[str], **options) -> subprocess.Popen | None:
        with self._lock:
            if self.stopped:
                return None
            child = subprocess.Popen(command, start_new_session=True, **options)
            self._alive.add(child)
            return child

    def end(self, child: subprocess.Popen) -> None:
        """Kill what is left of the child's process group (a stand-in server, a worker) and reap it."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()
        with self._lock:
            self._alive.discard(child)

    def stop_all(self) -> None:
        with self._lock:
            self.stopped = True
            alive = list(self._alive)
        for child in alive:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.pid, signal.SIGKILL)


def grade(mutant: Mutant, folder: Path, pycache: Path, time_limit: float = TIME_LIMIT, graders: Graders | None = None) -> Verdict:
    """Grade one mutant as `pytest --project=FILE --grade-json=OUT` from the repository's root, in a process of its own.

    The file, its report and the grader's output go in `folder` (outside the repository); the grader's
    bytecode goes to `pycache`, so nothing is written into the working tree."""
    graders = graders or Graders()
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", mutant.id)[:80] + "-" + hashlib.sha256(mutant.id.encode()).hexdigest()[:8]
    file, report, log = folder / name / "project.py", folder / name / "grade.json", folder / name / "output.log"
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(mutant.source, encoding="utf-8")
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--project={file}", f"--grade-json={report}"]
    started = time.monotonic()
    with open(log, "wb") as output:
        child = graders.start(command, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                              env={**os.environ, "PYTHONPYCACHEPREFIX": str(pycache)})
        if child is None:
            return Verdict(mutant, NO_VERDICT, (), "not graded: the run was stopped", 0.0)
        try:
            code = child.wait(timeout=time_limit)
        except subprocess.TimeoutExpired:
            code = None
        finally:  # whatever the grader started (a stand-in server, a worker) ends with it
            graders.end(child)
    seconds = time.monotonic() - started
    if code is None:
        return Verdict(mutant, NO_VERDICT, (), f"hung: stopped after {time_limit:g} s without a report", seconds)
    try:
        report_data = json.loads(report.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:] or ["no output"]
        return Verdict(mutant, NO_VERDICT, (), f"crashed: exit status {code}, no readable report ({type(error).__name__}); last line: {tail[0][:200]}", seconds)
    return verdict_from_report(mutant, report_data, seconds)


def verdict_from_report(mutant: Mutant, report: object, seconds: float = 0.0) -> Verdict:
    """Killed when the report fails any graded item, survived when it passes all ten, else no verdict (and why)."""
    try:
        statuses = {item["id"]: item["status"] for item in report["items"]}  # type: ignore[index]
    except (KeyError, TypeError) as error:
        return Verdict(mutant, NO_VERDICT, (), f"report without items and statuses ({type(error).__name__}: {error})", seconds)
    failed = tuple(i for i in GRADED_ITEMS if statuses.get(i) == "failed")
    if failed:
        return Verdict(mutant, KILLED, failed, "", seconds)
    if all(statuses.get(i) == "passed" for i in GRADED_ITEMS):
        return Verdict(mutant, SURVIVED, (), "", seconds)
    missing = [i for i in GRADED_ITEMS if statuses.get(i) != "passed"]
    return Verdict(mutant, NO_VERDICT, (), f"graded only in part: {', '.join(missing)} not run", seconds)


def grade_all(mutants: Sequence[Mutant], jobs: int = JOBS, time_limit: float = TIME_LIMIT,
              progress: Callable[[int, Verdict], None] | None = None) -> list[Verdict]:
    """Grade every mutant, `jobs` at a time, in a temporary folder outside the repository; verdicts in the mutants' order."""
    with tempfile.TemporaryDirectory(prefix="mutants-", ignore_cleanup_errors=True) as temporary:
        folder = Path(temporary)
        pycache = folder / "pycache"
        pycache.mkdir(mode=0o755)
        verdicts: dict[str, Verdict] = {}
        graders = Graders()
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(grade, m, folder, pycache, time_limit, graders) for m in mutants]
            try:
                for future in as_completed(futures):
                    verdict = future.result()
                    verdicts[verdict.mutant.id] = verdict
                    if progress:
                        progress(len(verdicts), verdict)
            except BaseException:  # Ctrl-C or a failure: grade nothing more, and leave no grader behind
                graders.stop_all()
                pool.shutdown(cancel_futures=True)
                raise
    return [verdicts[m.id] for m in mutants]


def score_lines(verdicts: Sequence[Verdict], reference: str, seconds: float, accepted: dict[str, str] | None = None) -> list[str]:
    """The score and every survivor and grading without a verdict, each with its diff; `accepted` marks reviewed survivors."""
    accepted = accepted or {}
    killed = [v for v in verdicts if v.outcome == KILLED]
    survivors = [v for v in verdicts if v.outcome == SURVIVED]
    stuck = [v for v in verdicts if v.outcome == NO_VERDICT]
    lines = [f"Killed {len(killed)} / {len(verdicts)} mutants ({len(survivors)} survived, {len(stuck)} without a verdict) in {seconds:.0f} s."]
    if survivors:
        reviewed = sum(1 for v in survivors if v.mutant.id in accepted)
        lines.append(f"Survivors ({reviewed} on the reviewed list of equivalents, {len(survivors) - reviewed} not):")
    for verdict in survivors:
        mark = "equivalent" if verdict.mutant.id in accepted else "NOT REVIEWED"
        lines.append(f"  [{mark}] {verdict.mutant.id}    ({verdict.mutant.description})")
        lines += [f"      {line}" for line in verdict.mutant.diff(reference)]
    if stuck:
        lines.append("Gradings without a verdict (the grader hung, crashed or graded only part):")
    for verdict in stuck:
        lines.append(f"  {verdict.mutant.id}: {verdict.note}")
        lines += [f"      {line}" for line in verdict.mutant.diff(reference)]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.mutants", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="every mutant's id and what it changes")
    show = commands.add_parser("show", help="the mutated file, to stdout")
    show.add_argument("id")
    run = commands.add_parser("run", help="grade the mutants and print the score and the survivors")
    run.add_argument("--jobs", type=int, default=JOBS, help=f"gradings at once (default {JOBS})")
    run.add_argument("--only", nargs="+", metavar="ID", help="grade only these mutants")
    run.add_argument("--time-limit", type=float, default=TIME_LIMIT, metavar="S", help=f"seconds per grading (default {TIME_LIMIT:g})")
    args = parser.parse_args(argv)
    if args.command == "run" and args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    mutants = generate()
    if args.command == "list":
        for kind, count in sorted(Counter(m.kind for m in mutants).items()):
            print(f"# {kind}: {count}")
        print(f"# {len(mutants)} mutants")
        for mutant in mutants:
            print(f"{mutant.id}\t{mutant.description}")
        return 0
    if args.command == "show":
        known = by_id(mutants)
        if args.id not in known:
            print(f"error: no mutant {args.id!r}; `python -m tests.mutants list` lists them", file=sys.stderr)
            return 2
        sys.stdout.write(known[args.id].source)
        return 0
    if args.only:
        known = by_id(mutants)
        unknown = [i for i in args.only if i not in known]
        if unknown:
            print(f"error: no mutant {', '.join(map(repr, unknown))}; `python -m tests.mutants list` lists them", file=sys.stderr)
            return 2
        mutants = [known[i] for i in args.only]
    started = time.monotonic()

    def progress(done: int, verdict: Verdict) -> None:
        failed = f" ({', '.join(verdict.failed)})" if verdict.failed else f" ({verdict.note})" if verdict.note else ""
        print(f"[{done}/{len(mutants)}] {verdict.outcome:<10} {verdict.mutant.id}{failed}  {verdict.seconds:.1f} s", flush=True)

    try:
        verdicts = grade_all(mutants, args.jobs, args.time_limit, progress)
    except KeyboardInterrupt:
        print("stopped: no score (every grader it started has been ended)", file=sys.stderr)
        return 130
    print()
    print("\n".join(score_lines(verdicts, REFERENCE.read_text(encoding="utf-8"), time.monotonic() - started, REVIEWED)))
    unexplained = [v for v in verdicts if v.outcome == SURVIVED and v.mutant.id not in REVIEWED]
    return 1 if unexplained or any(v.outcome == NO_VERDICT for v in verdicts) else 0


if __name__ == "__main__":
    sys.exit(main())
