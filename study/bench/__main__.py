"""`python -m study.bench`: see study/bench/feature_cache.py."""

import sys

from study.bench.feature_cache import main

if __name__ == "__main__":
    sys.exit(main())
