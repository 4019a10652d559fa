"""Draws the requests of each run as bars on a time axis: a self-contained HTML page and Mermaid gantt charts.

Both stand-ins record one Span per request (when it arrived, when it was answered, how it ended);
this module only turns those into pictures. The HTML page needs no network (inline SVG and CSS, no
script), so it opens from a student's disk and in an offline CI artifact alike. The Mermaid text is
what GitHub renders in a step summary.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Callable, Iterable

from checks.engine.probe import Span

# One colour per outcome. Kept far apart in hue so that a screenshot (and a colour-blind reader,
# with the words beside each bar) can tell them apart.
OUTCOMES: dict[str, tuple[str, str]] = {
    "ok": ("answered", "#2f855a"),
    "error": ("error status", "#c53030"),
    "dropped": ("dropped", "#6b46c1"),
    "timeout": ("timed out", "#dd6b20"),
}
PEAK_COLOUR = "#2b6cb0"
RETRIED = (
    "{label} was asked for {times} after its connection was dropped: aiohttp sends a GET once more by "
    "itself when a connection it reused from its pool is dropped (code that retries shows the same), "
    "so one call can make more requests than it has ids."
)

MERMAID_ROWS = 40
"""Requests drawn per Mermaid chart: a step summary with hundreds of rows is unreadable and slow to render."""
MERMAID_TAGS = {"ok": "", "error": "crit, ", "dropped": "crit, done, ", "timeout": "active, "}
MERMAID_LEGEND = (
    "Each bar is one request, its length the time the stand-in took to answer it: "
    "plain for answered, red for an error status, red on grey for a dropped connection, "
    "pale for a request that timed out. The diamond marks the peak in flight."
)


def outcome_of(span: Span) -> str:
    """ok, error, dropped or timeout, from what either stand-in wrote as the span's outcome.

    The in-process stand-in and the loopback server write the status ("200", "404"), "dropped",
    "timeout" or "cancelled" (the client gave up: its deadline ran out or it hung up). A request
    still pending when the picture was taken never got its answer, which reads as a timeout too.
    """
    text = span.outcome
    if text.isdigit():
        return "ok" if int(text) < 400 else "error"
    if text == "dropped":
        return "dropped"
    if text in ("answered",):
        return "ok"
    return "timeout"


def _detail(span: Span, kind: str) -> str:
    if kind == "error":
        return f"HTTP {span.outcome}"
    return OUTCOMES[kind][0]


def client_label(span: Span) -> str:
    """'sync /posts/1' or 'async /posts/1': which library asked, in the exercise's words."""
    kind = {"requests": "sync", "aiohttp": "async"}.get(span.client, span.client)
    return f"{kind} {span.path}"


@dataclass(frozen=True)
class Bar:
    """One request, in seconds from the first request of its picture."""

    label: str
    start: float
    end: float
    outcome: str  # a key of OUTCOMES
    detail: str  # what the bar's tooltip and the Mermaid row say: "HTTP 404", "dropped", ...
    section: str = ""  # "sync" or "async": a Mermaid section


@dataclass
class Picture:
    """The requests of one run (one call of a student function, or one check)."""

    title: str
    bars: list[Bar] = field(default_factory=list)
    note: str = ""  # shown instead of bars when the run made no request, e.g. "not written yet"

    @property
    def duration(self) -> float:
        return max((b.end for b in self.bars), default=0.0)

    @property
    def peak(self) -> tuple[int, float, float]:
        """(most requests in flight at once, when that first began, when it first ended).

        An end at the same instant as a start counts first, as Probe.peak counts it, so the two
        always agree on the number.
        """
        events = sorted([(b.start, 1) for b in self.bars] + [(b.end, -1) for b in self.bars])
        in_flight = best = 0
        began = ended = 0.0
        open_peak = False
        for moment, step in events:
            in_flight += step
            if in_flight > best:
                best, began, open_peak = in_flight, moment, True
            elif open_peak and step < 0:
                ended, open_peak = moment, False
        return best, began, ended if not open_peak else self.duration

    def counts(self) -> dict[str, int]:
        found = {kind: 0 for kind in OUTCOMES}
        for bar in self.bars:
            found[bar.outcome] += 1
        return found

    @property
    def summary(self) -> str:
        if not self.bars:
            return self.note or "no requests were made"
        peak = self.peak[0]
        count = f"{len(self.bars)} request" + ("s" if len(self.bars) != 1 else "")
        parts = [f"{count}, at most {peak} in flight, {self.duration:.2f} s from first to last"]
        counts = self.counts()
        parts += [f"{n} {OUTCOMES[kind][0]}" for kind, n in counts.items() if n and kind != "ok"]
        return "; ".join(parts)

    @property
    def retries(self) -> list[str]:
        """Why a path was asked for again after a dropped connection, once per such path: otherwise a
        picture of 10 posts with 11 bars reads as a mistake of the code under test."""
        said = []
        for label in dict.fromkeys(b.label for b in self.bars):
            same = [b for b in self.bars if b.label == label]
            if len(same) > 1 and any(b.outcome == "dropped" for b in same[:-1]):
                times = {2: "twice"}.get(len(same), f"{len(same)} times")
                said.append(RETRIED.format(label=label, times=times))
        return said


def picture(
    title: str, spans: Iterable[Span], label: Callable[[Span], str] = client_label, note: str = "", now: float | None = None
) -> Picture:
    """A Picture of `spans`, times made relative to the first request; an unanswered one ends at `now`."""
    spans = sorted(spans, key=lambda s: s.start)
    if not spans:
        return Picture(title, [], note)
    origin = spans[0].start
    last = max([s.end for s in spans if s.end is not None] + [now or 0.0, origin])
    bars = []
    for span in spans:
        kind = outcome_of(span) if span.end is not None else "timeout"
        end = span.end if span.end is not None else last
        section = label(span).split(" ", 1)[0] if " " in label(span) else span.client
        bars.append(Bar(label(span), span.start - origin, end - origin, kind, _detail(span, kind), section))
    return Picture(title, bars, note)


# --- HTML ------------------------------------------------------------------------------------

WIDTH, LABEL_WIDTH, ROW, BAR, TOP, AXIS = 960, 190, 16, 11, 28, 30

_STYLE = """
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px; color: #1a202c; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 2px; }
p.summary, p.note { margin: 0 0 8px; color: #4a5568; }
ul.legend { list-style: none; padding: 0; margin: 12px 0; display: flex; gap: 18px; flex-wrap: wrap; }
ul.legend li { display: flex; align-items: center; gap: 6px; }
.swatch { display: inline-block; width: 22px; height: 11px; }
svg text { font: 11px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; fill: #2d3748; }
svg text.peak { fill: PEAK; font-weight: bold; }
""".replace("PEAK", PEAK_COLOUR)


def html_page(pictures: list[Picture], heading: str = "Requests over time", intro: str = "") -> str:
    """A whole page: a legend, then per run a heading, its figures and its bars on a time axis."""
    legend = "".join(
        f'<li><span class="swatch" style="background:{colour}"></span>{html.escape(name)}</li>'
        for name, colour in OUTCOMES.values()
    )
    legend += (
        f'<li><span class="swatch" style="background:{PEAK_COLOUR};opacity:.25;outline:2px solid {PEAK_COLOUR}"></span>'
        "peak in flight</li>"
    )
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(heading)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(heading)}</h1>",
        f"<p class=\"summary\">{html.escape(intro)}</p>" if intro else "",
        f'<ul class="legend">{legend}</ul>',
    ]
    for number, shown in enumerate(pictures):
        parts.append(f'<section class="run" id="run-{number}" data-peak="{shown.peak[0]}" data-requests="{len(shown.bars)}">')
        parts.append(f"<h2>{html.escape(shown.title)}</h2>")
        parts.append(f'<p class="summary">{html.escape(shown.summary)}</p>')
        parts += [f'<p class="note">{html.escape(retry)}</p>' for retry in shown.retries]
        if shown.bars:
            parts.append(_svg(shown))
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(p for p in parts if p) + "\n"


def _svg(shown: Picture) -> str:
    span = max(shown.duration, 1e-3)
    plot = WIDTH - LABEL_WIDTH - 20
    height = TOP + ROW * len(shown.bars) + AXIS

    def x(seconds: float) -> float:
        return LABEL_WIDTH + plot * seconds / span

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" '
           f'role="img" aria-label="{html.escape(shown.title)}">']
    peak, began, ended = shown.peak
    left, right = x(began), max(x(ended), x(began) + 2)
    out.append(f'<rect class="peak" x="{left:.1f}" y="{TOP - 6}" width="{right - left:.1f}" '
               f'height="{ROW * len(shown.bars) + 6}" fill="{PEAK_COLOUR}" fill-opacity="0.12"/>')
    out.append(f'<line x1="{left:.1f}" x2="{left:.1f}" y1="{TOP - 8}" y2="{TOP + ROW * len(shown.bars)}" '
               f'stroke="{PEAK_COLOUR}" stroke-width="2" stroke-dasharray="4 3"/>')
    anchor = "end" if left > LABEL_WIDTH + plot * 0.7 else "start"
    out.append(f'<text class="peak" x="{left + (-4 if anchor == "end" else 4):.1f}" y="{TOP - 12}" '
               f'text-anchor="{anchor}">peak: {peak} in flight at {began:.2f} s</text>')
    for row, bar in enumerate(shown.bars):
        y = TOP + row * ROW
        name, colour = OUTCOMES[bar.outcome]
        start, end = x(bar.start), max(x(bar.end), x(bar.start) + 2)
        out.append(f'<text x="{LABEL_WIDTH - 8}" y="{y + BAR - 1}" text-anchor="end">{html.escape(bar.label)}</text>')
        out.append(
            f'<rect class="bar" data-outcome="{bar.outcome}" x="{start:.1f}" y="{y}" width="{end - start:.1f}" '
            f'height="{BAR}" fill="{colour}" shape-rendering="crispEdges">'
            f"<title>{html.escape(bar.label)}: {html.escape(bar.detail)}, "
            f"{bar.start:.3f} s to {bar.end:.3f} s</title></rect>"
        )
    axis = TOP + ROW * len(shown.bars) + 4
    out.append(f'<line x1="{LABEL_WIDTH}" x2="{LABEL_WIDTH + plot}" y1="{axis}" y2="{axis}" stroke="#a0aec0"/>')
    for tick in _ticks(span):
        out.append(f'<line x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{axis}" y2="{axis + 4}" stroke="#a0aec0"/>')
        out.append(f'<text x="{x(tick):.1f}" y="{axis + 16}" text-anchor="middle">{tick:g} s</text>')
    out.append("</svg>")
    return "\n".join(out)


def _ticks(span: float, most: int = 8) -> list[float]:
    """Round tick marks (0.1, 0.2, 0.5, 1, 2, 5 ... s apart) that fit `most` across `span` seconds."""
    step = 0.001
    while span / step > most:
        for factor in (2, 2.5, 2):
            step *= factor
            if span / step <= most:
                break
    count = int(span / step + 1e-9)
    return [round(k * step, 6) for k in range(count + 1)]


# --- Mermaid ---------------------------------------------------------------------------------


def mermaid(shown: Picture, most: int = MERMAID_ROWS) -> str:
    """A Mermaid gantt chart of one Picture: times in milliseconds from its first request."""
    lines = [
        "gantt",
        f"    title {_words(shown.title)}",
        "    dateFormat x",
        "    axisFormat %S.%L s",
    ]
    section = None
    for number, bar in enumerate(shown.bars[:most]):
        if bar.section != section:
            section = bar.section
            lines.append(f"    section {_words(section or 'requests')}")
        start, end = round(bar.start * 1000), round(bar.end * 1000)
        name = _words(f"{bar.label} {bar.detail}")
        lines.append(f"    {name} :{MERMAID_TAGS[bar.outcome]}r{number}, {start}, {max(end, start + 1)}")
    if len(shown.bars) > most:
        lines.append(f"    section {len(shown.bars) - most} more not drawn")
    peak, began, _ = shown.peak
    if shown.bars:
        lines.append("    section peak")
        at = round(began * 1000)
        lines.append(f"    {peak} in flight :milestone, peak, {at}, {at}")
    return "\n".join(lines)


def _words(text: str) -> str:
    """Text a Mermaid gantt line can hold: a colon starts a task's data, '#' and ';' end a line, '%%' a comment."""
    for bad in (":", "#", ";", "%"):
        text = text.replace(bad, " ")
    return " ".join(text.split())


def markdown(pictures: list[Picture], heading: str = "Requests over time", open_titles: Iterable[str] = ()) -> str:
    """A Markdown section with one folded Mermaid chart per picture, for a GitHub step summary."""
    drawn = [p for p in pictures if p.bars]
    if not drawn:
        return ""
    opened = set(open_titles)
    lines = ["", f"### {heading}", "", MERMAID_LEGEND, ""]
    for shown in drawn:
        attribute = " open" if shown.title in opened else ""
        lines += [
            f"<details{attribute}><summary>{html.escape(shown.title)}: {html.escape(shown.summary)}</summary>",
            "",
            "```mermaid",
            mermaid(shown),
            "```",
            "",
            "</details>",
            "",
        ]
    return "\n".join(lines)


# --- the requests of the checks themselves ---------------------------------------------------


@dataclass(frozen=True)
class CheckRequests:
    """The requests one check made, as its stand-in recorded them: kept by the plugin for --timeline and CI."""

    item_id: str
    check: str
    failed: bool
    spans: tuple[Span, ...]

    def picture(self) -> Picture:
        verdict = "failed" if self.failed else "passed"
        return picture(f"{self.item_id}: {self.check} ({verdict})", self.spans, label=lambda s: s.path)


def every_check(records: Iterable[CheckRequests]) -> list[Picture]:
    return [record.picture() for record in records if record.spans]


def one_per_item(records: Iterable[CheckRequests]) -> list[CheckRequests]:
    """Per item, the first failing check that made requests, else its first check that made any:
    the picture that explains the item's verdict, without one chart per check in a step summary."""
    chosen: dict[str, CheckRequests] = {}
    for record in records:
        if not record.spans:
            continue
        held = chosen.get(record.item_id)
        if held is None or (record.failed and not held.failed):
            chosen[record.item_id] = record
    return list(chosen.values())
