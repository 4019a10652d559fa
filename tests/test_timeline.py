"""The picture of the requests: outcomes and peak from spans, the HTML page in a real browser, the Mermaid chart."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from checks.engine.probe import Probe, Span
from checks.reports import timeline

ROOT = Path(__file__).resolve().parent.parent
BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
NO_BROWSER = "chromium is not installed (Debian: apt-get install chromium, as in the ci:sandbox block of docs/MAINTAINERS.md)"


def _spans(*rows: tuple[float, float | None, str]) -> list[Span]:
    return [Span("aiohttp", f"/posts/{n}", start, end, outcome) for n, (start, end, outcome) in enumerate(rows, 1)]


def test_each_outcome_gets_its_own_colour_and_words() -> None:
    spans = _spans((0, 1, "200"), (0, 1, "404"), (0, 1, "500"), (0, 1, "dropped"), (0, 1, "timeout"),
                   (0, 1, "cancelled"), (0, 1, "answered"), (0, None, "pending"))
    shown = timeline.picture("run", spans, now=2.0)
    assert [b.outcome for b in shown.bars] == ["ok", "error", "error", "dropped", "timeout", "timeout", "ok", "timeout"]
    assert shown.bars[1].detail == "HTTP 404" and shown.bars[-1].end == 2.0
    assert len({colour for _, colour in timeline.OUTCOMES.values()}) == len(timeline.OUTCOMES)


@pytest.mark.parametrize(
    "rows, peak, began, ended",
    [
        ([(0, 1), (1, 2), (2, 3)], 1, 0, 1),  # one at a time: an end and a start at one instant are not two in flight
        ([(0, 1), (0, 1), (0, 1)], 3, 0, 1),
        ([(0, 1), (0.5, 2), (0.6, 1.5), (3, 4)], 3, 0.6, 1),
    ],
)
def test_the_peak_and_when_it_happened_agree_with_the_probe(rows, peak, began, ended) -> None:
    spans = _spans(*[(a, b, "200") for a, b in rows])
    assert timeline.picture("run", spans).peak == (peak, began, ended)
    assert Probe.peak(spans) == peak


def test_the_mermaid_chart_is_a_gantt_that_github_can_parse() -> None:
    spans = [Span("requests", "/posts/1", 0.0, 0.1, "200"), Span("aiohttp", "/posts/2", 0.1, 0.2, "500"),
             Span("aiohttp", "/posts/3", 0.1, 0.1, "dropped"), Span("aiohttp", "/posts/4;x#y", 0.1, 0.4, "timeout")]
    text = timeline.mermaid(timeline.picture("main(10): sync; then # async", spans))
    lines = text.splitlines()
    assert lines[:4] == ["gantt", "    title main(10) sync then async", "    dateFormat x", "    axisFormat %S.%L s"]
    task = re.compile(r"    [^:#;%]+ :(crit, |crit, done, |active, |milestone, )?(r\d+|peak), \d+, \d+")
    body = [line for line in lines[4:] if not line.startswith("    section ")]
    assert body and all(task.fullmatch(line) for line in body), text
    ids = [line.rsplit(":", 1)[1].split(", ")[-3] for line in body]
    assert len(ids) == len(set(ids)), "task ids must be unique"
    assert [line for line in lines if line.startswith("    section ")] == ["    section sync", "    section async", "    section peak"]
    assert "sync /posts/1 answered :r0, 0, 100" in text and ":crit, r1, 100, 200" in text
    assert ":crit, done, r2, 100, 101" in text, "a zero-length bar is drawn one millisecond long"
    assert ":active, r3, 100, 400" in text and "2 in flight :milestone, peak, 100, 100" in text


def test_a_long_run_is_cut_to_a_readable_chart() -> None:
    spans = _spans(*[(i, i + 1, "200") for i in range(100)])
    text = timeline.mermaid(timeline.picture("many", spans))
    assert len(re.findall(r" :r\d+, ", text)) == timeline.MERMAID_ROWS and f"section {100 - timeline.MERMAID_ROWS} more not drawn" in text


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`python -m checks run --html` on the reference: every run the command draws."""
    out = tmp_path_factory.mktemp("report")
    ran = subprocess.run(
        [sys.executable, "-m", "checks", "run", "--project", "solutions/project.py", "--count", "8",
         "--latency", "0.05", "--html", str(out / "report.html"), "--mermaid", str(out / "report.md")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert ran.returncode == 0, ran.stderr
    return out


@pytest.mark.timeout(120)
def test_run_html_draws_every_run_with_its_peak(report: Path) -> None:
    page = (report / "report.html").read_text(encoding="utf-8")
    fetched = re.findall(r"(?:https?:)?//[\w.-]+", page.replace('xmlns="http://www.w3.org/2000/svg"', ""))
    assert "<script" not in page and not fetched, f"self-contained, yet it names {fetched}"
    peaks = dict(re.findall(r'<h2>([^<]+)</h2>\s*<p class="summary">[^<]*at most (\d+) in flight', page))
    assert peaks == {
        "main(8): sync, then async": "8",
        "fetch_async_limited(max_concurrent=3)": "3",
        "fetch_two_endpoints: posts and users in one gather()": "13",
        "fetch_async_safe: post 3 answers 500, post 5 is dropped": "8",
        "fetch_async_with_timeout(timeout=0.1): posts 2 and 7 are slow": "8",
    }
    for outcome in timeline.OUTCOMES:
        assert f'data-outcome="{outcome}"' in page
    safe = page.split("<h2>fetch_async_safe")[0].rsplit("<section", 1)[1] + page.split("<h2>fetch_async_safe")[1]
    safe = safe.split("</section>")[0]
    drawn = int(re.search(r'data-requests="(\d+)"', safe).group(1))
    assert drawn == 8 or "was asked for twice after its connection was dropped" in safe, "a bar more than posts, unexplained"


def _chromium(*arguments: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
         f"--user-data-dir={cwd / 'profile'}", *arguments],
        cwd=cwd, capture_output=True, text=True, timeout=90,
    )


@pytest.mark.skipif(BROWSER is None, reason=NO_BROWSER)
@pytest.mark.timeout(120)
def test_the_page_renders_in_a_real_browser_with_every_outcome_coloured(report: Path) -> None:
    Image = pytest.importorskip("PIL.Image", reason="Pillow is in requirements-dev.txt")
    url = (report / "report.html").as_uri()
    dom = _chromium("--dump-dom", url, cwd=report).stdout
    assert dom.count('<section class="run"') == 5 and dom.count('class="bar"') >= 8 + 8 + 3 + 13 + 8 + 8
    assert "peak: 3 in flight" in dom and "answered" in dom and "timed out" in dom
    shot = report / "shot.png"
    _chromium(f"--screenshot={shot}", "--window-size=1000,2600", url, cwd=report)
    image = Image.open(shot).convert("RGB")
    counts = {rgb: n for n, rgb in image.getcolors(maxcolors=1 << 24)}
    for outcome, (name, colour) in timeline.OUTCOMES.items():
        rgb = tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))
        assert counts.get(rgb, 0) > 200, f"no {name} bars on the screen ({outcome}, {colour})"


MERMAID_JS = os.environ.get("MERMAID_JS", "")


@pytest.mark.skipif(BROWSER is None or not Path(MERMAID_JS).is_file(),
                    reason="set MERMAID_JS to a mermaid.min.js (npm's mermaid package) to render the charts offline")
@pytest.mark.timeout(120)
def test_the_mermaid_charts_render_with_mermaid_itself(report: Path) -> None:
    charts = re.findall(r"```mermaid\n(.*?)```", (report / "report.md").read_text(encoding="utf-8"), re.S)
    page = report / "mermaid.html"
    page.write_text(
        f'<!doctype html><body><script src="{Path(MERMAID_JS).as_uri()}"></script><script>'
        "mermaid.initialize({startOnLoad: false});"
        f"const charts = {json.dumps(charts)};"
        "(async () => { for (const [i, c] of charts.entries()) { const d = document.createElement('div');"
        " try { d.innerHTML = (await mermaid.render('g' + i, c)).svg; d.className = 'drawn'; }"
        " catch (e) { d.className = 'broken'; d.textContent = String(e); } document.body.appendChild(d); } })();"
        "</script></body>",
        encoding="utf-8",
    )
    dom = _chromium("--allow-file-access-from-files", "--virtual-time-budget=15000", "--dump-dom", page.as_uri(), cwd=report).stdout
    assert dom.count('class="drawn"') == len(charts) == 5 and 'class="broken"' not in dom


@pytest.mark.timeout(120)
def test_the_step_summary_shows_the_failing_check_as_a_mermaid_chart(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    project = tmp_path / "project.py"  # the reference, with fetch_async awaiting each request in turn
    gathered = "        return await asyncio.gather(*(fetch_one(session, post_id) for post_id in post_ids))\n"
    reference = (ROOT / "solutions" / "project.py").read_text(encoding="utf-8")
    assert reference.count(gathered) == 1
    project.write_text(reference.replace(gathered, "        return [await fetch_one(session, i) for i in post_ids]\n"))
    env = {**os.environ, "GITHUB_STEP_SUMMARY": str(summary)}
    env.pop("GITHUB_ACTIONS", None)
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--project={project}",
         f"--timeline={tmp_path / 'pictures'}", "--progress=off", str(ROOT / "checks" / "test_base.py")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=110,
    )
    text = summary.read_text(encoding="utf-8")
    assert "### Requests over time" in text and "<details open><summary>base: " in text
    chart = re.search(r"<details open>.*?```mermaid\n(gantt\n.*?)```", text, re.S)
    assert chart and "at most 1 in flight" in text.split("<details open>")[1].split("</summary>")[0]
    assert (tmp_path / "pictures" / "timeline.html").read_text(encoding="utf-8").count('<section class="run"') >= 1


def test_a_request_sent_again_after_a_dropped_connection_is_explained() -> None:
    """aiohttp resends a GET whose reused connection was dropped: 10 posts can draw 11 bars, said why."""
    spans = [Span("aiohttp", f"/posts/{n}", 0.0, 0.1, "200") for n in (1, 2, 3, 4, 6, 7, 8, 9, 10)]
    spans += [Span("aiohttp", "/posts/5", 0.0, 0.05, "dropped"), Span("aiohttp", "/posts/5", 0.05, 0.06, "dropped")]
    shown = timeline.picture("fetch_async_safe", spans)
    assert len(shown.bars) == 11 and len(shown.retries) == 1
    assert shown.retries[0].startswith("async /posts/5 was asked for twice after its connection was dropped")
    assert html.escape(shown.retries[0]) in timeline.html_page([shown])
    asked_twice = timeline.picture("repeated ids", [Span("aiohttp", "/posts/1", 0.0, 0.1, "200")] * 2)
    assert asked_twice.retries == []  # an id asked for twice on purpose is no retry
