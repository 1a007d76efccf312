#!/usr/bin/env python3
"""Build the serving images (make image): a thin entry point over the ``imagebuild`` package of
the bundle's tools (tools/, installed by ``make setup`` or ``pip install -e ./tools``, also as
``reranker-build-image``); ``python scripts/build_image.py --help`` lists the options."""

import sys

try:
    from imagebuild.cli import main
except ModuleNotFoundError as missing:
    sys.exit(
        f"scripts/build_image.py: {missing}: install the bundle's tools with `make setup` or `pip install -e ./tools`"
    )

if __name__ == "__main__":
    sys.exit(main())
