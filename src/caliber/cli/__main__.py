"""``python -m caliber.cli``: how `caliber serve` starts its embedded worker."""

import sys

from caliber.cli.main import main

sys.exit(main())
