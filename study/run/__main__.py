"""`python -m study.run`: see study/run/cli.py."""

import os
import sys

from study.run.cli import main

if __name__ == "__main__":
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    sys.exit(main())
