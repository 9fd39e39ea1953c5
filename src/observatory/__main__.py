"""`python -m observatory` is the `observatory` command."""

import sys

from observatory.cli import main

sys.exit(main())
