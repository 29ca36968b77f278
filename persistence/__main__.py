"""`python -m persistence`: the same CLI as the `persistence` command."""

import sys

from .cli import main

sys.exit(main())
