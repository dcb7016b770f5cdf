"""A script that succeeds and says so."""

import sys

print("ok:", " ".join(sys.argv[1:]))
