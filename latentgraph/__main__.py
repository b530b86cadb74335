import sys

from latentgraph.cli import main

sys.exit(main())
