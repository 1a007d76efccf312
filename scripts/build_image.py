#!/usr/bin/env python3
"""Build the serving images (make image): see imagebuild/cli.py and the README."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from imagebuild.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
