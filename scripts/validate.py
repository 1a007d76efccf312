#!/usr/bin/env python3
"""Render every overlay (or the kustomizations given) and check schemas and policies.

A thin entry point over the ``bundlecheck`` package (also installed as ``reranker-validate``);
``python scripts/validate.py --help`` lists the options.
"""

import sys
from pathlib import Path

# Run from a checkout without installing the project: bundlecheck sits next to this file.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bundlecheck.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
