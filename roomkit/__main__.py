"""``python -m roomkit`` is the ``roomkit`` command."""

import sys

from roomkit.cli import main

sys.exit(main())
