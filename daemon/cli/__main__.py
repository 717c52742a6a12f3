"""``python -m actorgrid.daemon.cli``: the same as the ``actorgrid`` console script."""

from __future__ import annotations

import sys

from ._main import main

sys.exit(main())
