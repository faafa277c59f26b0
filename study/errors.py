"""The one exception type a user should ever see from artstudy: a message that says what to do.

Command lines catch `StudyError`, print its message on one line and exit with status 2;
anything else escaping is a bug and keeps its traceback.
"""


class StudyError(Exception):
    """Bad input or a missing resource, with a message a user can act on."""
