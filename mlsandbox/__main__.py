import sys

from mlsandbox.cli import main

sys.exit(main())
