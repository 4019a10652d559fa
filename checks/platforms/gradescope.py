"""Gradescope: `build` makes autograder.zip (setup.sh, run_autograder, the grader), `run` is what run_autograder
runs, and `try` grades one submission on this machine as Gradescope would.

    python -m checks.platforms.gradescope build out/autograder.zip [--visibility V] [--item-visibility ID=V ...]
    python -m checks.platforms.gradescope try SUBMISSION [--into EMPTY_FOLDER] [the same options as build]

Gradescope unpacks the zip into /autograder/source, runs setup.sh once, then run_autograder for each
submission (as root, with the submission in /autograder/submission). AUTOGRADER_ROOT moves /autograder
and AUTOGRADER_PYTHON names the interpreter (default: the virtual environment setup.sh makes,
/autograder/venv/bin/python); `try` lays out such a folder and runs run_autograder with this Python.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

from checks.catalogue import BY_ID
from checks.platforms import common
from checks.reports import exports

TEMPLATES = Path(__file__).parent / "templates" / "gradescope"
CONFIG = "gradescope.json"
"""Settings chosen at build time, read by run from the source folder."""
TIME_LIMIT = 480.0
"""Seconds one grading may take: under Gradescope's default autograder timeout (10 minutes), so the
runner, not the platform, stops a grading that hangs and still writes its result."""
EXECUTABLE = 0o100755 << 16
SCRIPTS = ("setup.sh", "run_autograder")

VISIBILITY_HELP = f"when students see each item's result: {', '.join(exports.VISIBILITIES)} (default visible)"
ITEM_VISIBILITY_HELP = "one item's visibility, e.g. fix-3=after_due_date (repeat for more items)"
TIME_LIMIT_HELP = f"seconds one grading may take before it is stopped and reported as such (default {TIME_LIMIT:g})"
SUBMISSION_HELP = "a folder as a student hands it in (or one project.py)"
INTO_HELP = "an empty folder to lay /autograder out in (default: a new temporary folder, kept)"
BUILT = "Wrote {path}: upload it as the autograder (Ubuntu 22.04 or 24.04 base image)."
TRIED = "Gradescope's result: {path} (score {score})"


def root() -> Path:
    return Path(os.environ.get("AUTOGRADER_ROOT", "/autograder"))


def build(target: Path, settings: dict) -> Path:
    """Write autograder.zip: setup.sh and run_autograder at its root, beside the grader and its settings."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as staging:
        folder = Path(staging)
        common.copy_grader(folder)
        (folder / CONFIG).write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name in SCRIPTS:
                info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
                info.external_attr = EXECUTABLE
                archive.writestr(info, (TEMPLATES / name).read_bytes(), zipfile.ZIP_DEFLATED)
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(folder).as_posix())
    return target


def run() -> int:
    """Grade /autograder/submission into /autograder/results/results.json, whatever happens on the way."""
    common.on_sigterm_exit()
    here = root()
    settings = _settings()
    graded = common.not_graded("project.py", common.DID_NOT_FINISH.format(why=common.STOPPED))
    try:
        graded = common.grade_submission(here / "submission", float(settings.get("time_limit", TIME_LIMIT)))
    finally:
        exports.write_json_file(here / "results" / "results.json", results(graded, settings))
    print(common.said(graded))
    return 0


def results(graded: common.Graded, settings: dict) -> dict:
    """results.json for a grading. One that gave no verdict says only why at the top, not a total beside it."""
    made = exports.gradescope_results(
        graded.grade, execution_time=graded.seconds, notes=graded.notes,
        visibility=settings.get("visibility", {}), default_visibility=settings.get("default_visibility", "visible"),
    )
    if not graded.verdict:
        made["output"] = "\n".join(graded.notes)
    return made


def try_locally(submission: Path, into: Path | None, settings: dict) -> Path:
    """Build the zip, lay out /autograder in a folder of its own (source/, run_autograder, submission/,
    results/), run run_autograder there with this Python, and return where results.json is."""
    top = common.trial_folder(into, "gradescope-try-")
    here = top / "autograder"
    archive = build(top / "autograder.zip", settings)
    with zipfile.ZipFile(archive) as unzip:
        unzip.extractall(here / "source")
    for name in SCRIPTS:  # zipfile does not restore modes
        (here / "source" / name).chmod(0o755)
    shutil.copy(here / "source" / "run_autograder", here / "run_autograder")
    common.hand_in(submission, here / "submission")
    (here / "results").mkdir()
    common.run_entrypoint(here / "run_autograder", {"AUTOGRADER_ROOT": str(here), "AUTOGRADER_PYTHON": sys.executable})
    return here / "results" / "results.json"


def _settings() -> dict:
    try:
        return json.loads((common.ROOT / CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _visibility(value: str) -> str:
    if value not in exports.VISIBILITIES:
        raise argparse.ArgumentTypeError(f"{value!r} is not one of {', '.join(exports.VISIBILITIES)}")
    return value


def _item_visibility(value: str) -> tuple[str, str]:
    item_id, _, visibility = value.partition("=")
    if item_id not in BY_ID:
        raise argparse.ArgumentTypeError(f"{item_id!r} is not an item id ({', '.join(BY_ID)})")
    return item_id, _visibility(visibility)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m checks.platforms.gradescope", description=__doc__.splitlines()[0])
    settings = argparse.ArgumentParser(add_help=False)  # what the zip is built with, for build and try alike
    settings.add_argument("--visibility", type=_visibility, default="visible", help=VISIBILITY_HELP)
    settings.add_argument("--item-visibility", type=_item_visibility, action="append", default=[], help=ITEM_VISIBILITY_HELP)
    settings.add_argument("--time-limit", type=float, default=TIME_LIMIT, help=TIME_LIMIT_HELP)
    commands = parser.add_subparsers(dest="command", required=True)
    making = commands.add_parser("build", parents=[settings], help="write autograder.zip")
    making.add_argument("target", type=Path, help="where to write the zip, e.g. out/autograder.zip")
    commands.add_parser("run", help="grade /autograder/submission (what run_autograder does)")
    trying = commands.add_parser("try", parents=[settings],
                                 help="grade one submission here as Gradescope would, and say where its result is")
    trying.add_argument("submission", type=Path, help=SUBMISSION_HELP)
    trying.add_argument("--into", type=Path, default=None, help=INTO_HELP)
    options = parser.parse_args(argv)
    if options.command == "run":
        return run()
    chosen = {"default_visibility": options.visibility, "visibility": dict(options.item_visibility),
              "time_limit": options.time_limit}
    if options.command == "build":
        print(BUILT.format(path=build(options.target, chosen)))
        return 0
    try:
        path = try_locally(options.submission, options.into, chosen)
    except ValueError as error:
        parser.error(str(error))
    print(TRIED.format(path=path, score=_score(path)))
    return 0


def _score(path: Path) -> str:
    try:
        return str(json.loads(path.read_text(encoding="utf-8"))["score"])
    except (OSError, ValueError, KeyError, TypeError):
        return "none: no readable results.json"


if __name__ == "__main__":
    sys.exit(main())
