#!/usr/bin/env python3
"""Render every overlay (or the kustomizations given) and check schemas and policies.

A thin entry point over the ``bundlecheck`` package of the bundle's tools (tools/, installed by
``make setup`` or ``pip install -e ./tools``, also as ``reranker-validate``);
``python scripts/validate.py --help`` lists the options.
"""

import sys

try:
    from bundlecheck.cli import main
except ModuleNotFoundError as missing:
    sys.exit(
        f"scripts/validate.py: {missing}: install the bundle's tools with `make setup` or `pip install -e ./tools`"
    )

if __name__ == "__main__":
    sys.exit(main())
