"""The one exception type a user should ever see from artstudy: a message that says what to do.

Command lines catch `StudyError`, print its message on one line and exit with status 2;
anything else escaping is a bug and keeps its traceback.
"""


class StudyError(Exception):
    """Bad input or a missing resource, with a message a user can act on."""


def exit_on_error(err: StudyError) -> int:
    """What every command line does with a StudyError: its message on one stderr line, status 2."""
    import sys

    print(f"error: {' '.join(str(err).split())}", file=sys.stderr)
    return 2
