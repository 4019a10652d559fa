"""PrairieLearn's external grader: `build` makes the course files and the image, `run` is what run.sh runs, and
`try` grades one submission on this machine as PrairieLearn would.

    python -m checks.platforms.prairielearn build out/prairielearn [--image NAME] [--uuid UUID]
    python -m checks.platforms.prairielearn try SUBMISSION [--into EMPTY_FOLDER]

The build writes serverFilesCourse/concurrent_requests/ (the grader and run.sh, its entrypoint),
questions/concurrent-requests/ (info.json and question.html) and image/ (a Dockerfile with Python 3.11,
bubblewrap and the pinned requirements). The question keeps its identity: a build into a folder that
already holds its info.json keeps that uuid, `--uuid` sets one, and only a first build makes a new one.
In the grading container PrairieLearn puts the student's files in /grade/student, the question's tests/
in /grade/tests and its data in /grade/data/data.json, and reads /grade/results/results.json. GRADE_ROOT
moves /grade and GRADER_PYTHON names the interpreter (default python3); `try` lays out such a folder
and runs run.sh with this Python.
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
UUID_HELP = (
    "the question's uuid (default: the one in TARGET's existing info.json; a new one only on a first build). "
    "Copy it from your course's info.json when you build into a fresh folder"
)
SUBMISSION_HELP = "a folder as a student hands it in (or one project.py)"
INTO_HELP = "an empty folder to lay /grade out in (default: a new temporary folder, kept)"
BAD_UUID = "--uuid takes a UUID such as 0b7d7e5e-4b8e-4a53-9b0a-3f4f3c1a2d10; got {text!r}"
UNREADABLE_INFO = "{path} exists but holds no uuid that can be read ({why}): pass --uuid UUID, or delete it for a new question"
BUILT = "Wrote {path}: copy serverFilesCourse/ and questions/ into your course. Question uuid {uuid} ({how})."
KEPT = "kept from the existing info.json"
GIVEN = "from --uuid"
NEW = "new: build into this folder again, or pass --uuid, to keep it"
TRIED = "PrairieLearn's result: {path} ({verdict})"


def root() -> Path:
    return Path(os.environ.get("GRADE_ROOT", "/grade"))


def build(target: Path, image: str, question_uuid: str | None = None) -> tuple[Path, str, str]:
    """Write the course files and the image's Dockerfile under target; (target, the question's uuid, where
    that uuid came from). ValueError, in words for the command line, for a uuid that cannot be kept."""
    question = target / "questions" / QUESTION
    chosen, how = _question_uuid(question / "info.json", question_uuid)
    server = target / "serverFilesCourse" / FOLDER
    shutil.rmtree(server, ignore_errors=True)  # a rebuild must not keep a check module the grader no longer has
    common.copy_grader(server)
    shutil.copyfile(TEMPLATES / "run.sh", server / "run.sh")
    (server / "run.sh").chmod(0o755)
    question.mkdir(parents=True, exist_ok=True)
    info = (TEMPLATES / "info.json").read_text(encoding="utf-8")
    info = info.replace("__UUID__", chosen).replace("__IMAGE__", image).replace("__TIMEOUT__", f"{TIME_LIMIT + 20:g}")
    json.loads(info)  # the template stays valid JSON once filled
    (question / "info.json").write_text(info, encoding="utf-8")
    shutil.copyfile(TEMPLATES / "question.html", question / "question.html")
    (question / "tests").mkdir(exist_ok=True)
    image_folder = target / "image"
    image_folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(TEMPLATES / "Dockerfile", image_folder / "Dockerfile")
    shutil.copyfile(common.ROOT / "requirements.txt", image_folder / "requirements.txt")
    return target, chosen, how


def _question_uuid(info: Path, given: str | None) -> tuple[str, str]:
    """The uuid to write: the one given, else the existing info.json's, else a new one; and which it was.
    PrairieLearn knows a question by its uuid, so a rebuild that changed it would make a new question."""
    if given is not None:
        try:
            return str(uuid.UUID(given)), GIVEN
        except ValueError:
            raise ValueError(BAD_UUID.format(text=given)) from None
    if not info.exists():
        return str(uuid.uuid4()), NEW
    try:
        return str(uuid.UUID(json.loads(info.read_text(encoding="utf-8"))["uuid"])), KEPT
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise ValueError(UNREADABLE_INFO.format(path=info, why=type(error).__name__)) from None


def results(graded: common.Graded) -> dict:
    """results.json for a grading: a grading that gave no verdict is not gradable, so it costs no attempt."""
    if not graded.verdict:
        return {"gradable": False, "format_errors": graded.notes or ["grading did not finish"], "message": "\n".join(graded.notes)}
    return exports.prairielearn_results(graded.grade, notes=graded.notes)


def run() -> int:
    """Grade /grade/student into /grade/results/results.json, whatever happens on the way."""
    common.on_sigterm_exit()
    here = root()
    graded = common.not_graded("project.py", common.DID_NOT_FINISH.format(why=common.STOPPED))
    try:
        graded = common.grade_submission(here / "student", TIME_LIMIT)
    finally:
        exports.write_json_file(here / "results" / "results.json", results(graded))
    print(common.said(graded))
    return 0


def try_locally(submission: Path, into: Path | None = None) -> Path:
    """Build the course files, lay out /grade in a folder of its own (serverFilesCourse/, student/, tests/,
    data/data.json, results/), run run.sh there with this Python, and return where results.json is."""
    top = common.trial_folder(into, "prairielearn-try-")
    built, _, _ = build(top / "course", "local-trial")
    here = top / "grade"
    shutil.copytree(built / "serverFilesCourse", here / "serverFilesCourse")
    shutil.copytree(built / "questions" / QUESTION / "tests", here / "tests")
    (here / "data").mkdir()
    (here / "data" / "data.json").write_text(json.dumps({"params": {}, "submitted_answers": {}}) + "\n", encoding="utf-8")
    common.hand_in(submission, here / "student")
    (here / "results").mkdir()
    script = here / "serverFilesCourse" / FOLDER / "run.sh"
    common.run_entrypoint(script, {"GRADE_ROOT": str(here), "GRADER_PYTHON": sys.executable})
    return here / "results" / "results.json"


def _verdict(path: Path) -> str:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "no readable results.json"
    if not isinstance(data, dict) or not data.get("gradable", True):
        return "not gradable, so no attempt is counted"
    return f"score {data.get('score')} of 1"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m checks.platforms.prairielearn", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    making = commands.add_parser("build", help="write the course files and the image's Dockerfile")
    making.add_argument("target", type=Path, help="a folder for the course files, e.g. out/prairielearn")
    making.add_argument("--image", default="YOUR-REGISTRY/concurrent-requests-grader:1", help=IMAGE_HELP)
    making.add_argument("--uuid", default=None, help=UUID_HELP)
    commands.add_parser("run", help="grade /grade/student (what run.sh does)")
    trying = commands.add_parser("try", help="grade one submission here as PrairieLearn would, and say where its result is")
    trying.add_argument("submission", type=Path, help=SUBMISSION_HELP)
    trying.add_argument("--into", type=Path, default=None, help=INTO_HELP)
    options = parser.parse_args(argv)
    if options.command == "run":
        return run()
    try:
        if options.command == "try":
            path = try_locally(options.submission, options.into)
            print(TRIED.format(path=path, verdict=_verdict(path)))
            return 0
        target, chosen, how = build(options.target, options.image, options.uuid)
    except ValueError as error:
        parser.error(str(error))
    print(BUILT.format(path=target, uuid=chosen, how=how))
    return 0


if __name__ == "__main__":
    sys.exit(main())
