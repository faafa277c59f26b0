"""What analysis says when it cannot read an experiment, and how it says what it could only half read.

`AnalysisError` is a user-facing error (not an experiment folder, an empty one): its message says what to
do, and `python -m analysis.report` prints it as `error: <message>` and exits 2, like the project's other
command lines. It does not derive from `study.errors.StudyError` on purpose: analysis imports nothing from
`study` but its pure-Python file helpers (`study.atomic`, `study.spreadsheet`), so it runs with pandas,
matplotlib and the folder alone; `study.run` catches both.

`AnalysisWarning` is issued for what is read with caveats (a result line cut off mid-write, trials of
different spaces mixed, study.json missing); the report lists the same messages.
"""


class AnalysisError(Exception):
    """The folder cannot be analysed at all; the message says why and what to pass instead."""


class AnalysisWarning(UserWarning):
    """Something in the folder was skipped or guessed; the report still goes on."""
