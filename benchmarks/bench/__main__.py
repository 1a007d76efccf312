"""python -m benchmarks.bench: the side-by-side benchmark (cli.py)."""

import sys

from benchmarks.bench.cli import main

if __name__ == "__main__":
    sys.exit(main())
