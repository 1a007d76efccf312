"""``python -m reranker``: the same as the ``reranker-server`` command."""

import sys

from .cli import main

sys.exit(main())
