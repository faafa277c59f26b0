"""`python -m study.bench`: see study/bench/cli.py."""

import sys

from study.bench.cli import main

if __name__ == "__main__":
    sys.exit(main())
