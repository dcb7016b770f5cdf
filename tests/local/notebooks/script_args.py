"""A spark_python_task: argv carries the parameters, notebook_lib finds --lakehook there."""

import json
import sys

from notebook_lib import notify_done

print("argv:", json.dumps(sys.argv[1:]))
notify_done({"argv": sys.argv[1:]})
