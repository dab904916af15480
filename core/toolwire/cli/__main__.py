"""``python -m toolwire.cli``: the ``toolwire`` command."""

import sys

from ._main import main

sys.exit(main())
