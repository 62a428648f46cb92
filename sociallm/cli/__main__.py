import sys

from sociallm.cli.main import main

sys.exit(main())
