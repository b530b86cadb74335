import sys

from latentgraph.app.cli import main

sys.exit(main())
