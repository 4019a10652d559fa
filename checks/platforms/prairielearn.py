"""PrairieLearn's external grader: `build` makes the course files and the image, `run` is what run.sh runs.

    python -m checks.platforms.prairielearn build out/prairielearn [--image NAME]

The build writes serverFilesCourse/concurrent_requests/ (the grader and run.sh, its entrypoint),
questions/concurrent-requests/ (info.json and question.html) and image/ (a Dockerfile with Python 3.11,
bubblewrap and the pinned requirements). In the grading container PrairieLearn puts the student's files
in /grade/student, the question's tests/ in /grade/tests and its data in /grade/data/data.json, and
reads /grade/results/results.json. GRADE_ROOT moves /grade (the self-tests lay one out in a temporary folder).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import uuid
from pathlib import Path

from checks.platforms import common
from checks.reports import exports

TEMPLATES = Path(__file__).parent / "templates" / "prairielearn"
FOLDER = "concurrent_requests"
QUESTION = "concurrent-requests"
TIME_LIMIT = 100.0
"""Seconds one grading may take; info.json gives PrairieLearn's own timeout 20 s more, so the runner stops
a hung grading first and still writes its result."""
IMAGE_HELP = "the grading image's name as you will push it (default: a placeholder to replace in info.json)"


def root() -> Path:
    return Path(os.environ.get("GRADE_ROOT", "/grade"))


def build(target: Path, image: str) -> Path:
    """Write the course files and the image's Dockerfile under target."""
    server = target / "serverFilesCourse" / FOLDER
    common.copy_grader(server)
    shutil.copyfile(TEMPLATES / "run.sh", server / "run.sh")
    (server / "run.sh").chmod(0o755)
    question = target / "questions" / QUESTION
    question.mkdir(parents=True, exist_ok=True)
    info = (TEMPLATES / "info.json").read_text(encoding="utf-8")
    info = info.replace("__UUID__", str(uuid.uuid4())).replace("__IMAGE__", image).replace("__TIMEOUT__", f"{TIME_LIMIT + 20:g}")
    json.loads(info)  # the template stays valid JSON once filled
    (question / "info.json").write_text(info, encoding="utf-8")
    shutil.copyfile(TEMPLATES / "question.html", question / "question.html")
    (question / "tests").mkdir(exist_ok=True)
    image_folder = target / "image"
    image_folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(TEMPLATES / "Dockerfile", image_folder / "Dockerfile")
    shutil.copyfile(common.ROOT / "requirements.txt", image_folder / "requirements.txt")
    return target


def results(graded: common.Graded) -> dict:
    """results.json for a grading: a grading that gave no verdict is not gradable, so it costs no attempt."""
    if not graded.verdict:
        return {"gradable": False, "format_errors": graded.notes or ["grading did not finish"], "message": "\n".join(graded.notes)}
    return exports.prairielearn_results(graded.grade, notes=graded.notes)


def run() -> int:
    """Grade /grade/student into /grade/results/results.json, whatever happens on the way."""
    common.on_sigterm_exit()
    here = root()
    graded = common.not_graded("project.py", common.DID_NOT_FINISH.format(why="the runner was stopped"))
    try:
        graded = common.grade_submission(here / "student", TIME_LIMIT)
    finally:
        exports.write_json_file(here / "results" / "results.json", results(graded))
    print(f"{graded.grade.project}: {graded.grade.score} / {graded.grade.max_score} in {graded.seconds:.1f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m checks.platforms.prairielearn", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    making = commands.add_parser("build", help="write the course files and the image's Dockerfile")
    making.add_argument("target", type=Path, help="an empty folder, e.g. out/prairielearn")
    making.add_argument("--image", default="YOUR-REGISTRY/concurrent-requests-grader:1", help=IMAGE_HELP)
    commands.add_parser("run", help="grade /grade/student (what run.sh does)")
    options = parser.parse_args(argv)
    if options.command == "run":
        return run()
    print(f"Wrote {build(options.target, options.image)}: copy serverFilesCourse/ and questions/ into your course.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
