import sys

from dqnlib.cli import main

sys.exit(main())
