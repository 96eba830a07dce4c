"""``python -m thera_local.cli``: what the ``thera`` entry point runs (the background stack starts this way)."""

from __future__ import annotations

import sys

from thera_local.cli.main import main

sys.exit(main())
