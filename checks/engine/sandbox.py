"""Where a grade that counts runs student code: a bubblewrap sandbox per submission, or says why it cannot.

(Being built: `available()` is the interface batch grading and the plugin rely on.)
"""

from __future__ import annotations

import os
import shutil


def available() -> tuple[bool, str]:
    """(True, how) when a sandbox can be made here, else (False, why not), in words for an instructor."""
    if os.name != "posix" or not hasattr(os, "geteuid"):
        return False, "not a Linux machine"
    if os.geteuid() != 0:
        return False, "not running as root (the sandbox needs root to switch to an unprivileged user)"
    if shutil.which("bwrap") is None:
        return False, "bubblewrap is not installed (apt-get install bubblewrap)"
    return True, "bubblewrap: no network but the grader, read-only grader, private folder, own user and process tree"
