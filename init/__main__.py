"""`python3 -m llmos.init`: the PID-1 supervisor (/usr/sbin/init execs this)."""

import sys

from .pid1 import main

sys.exit(main())
