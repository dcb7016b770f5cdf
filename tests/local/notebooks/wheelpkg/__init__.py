"""A package run as a python_wheel_task entry point (found as ``wheelpkg.main``)."""

import json
import sys


def main():
    print("wheel argv:", json.dumps(sys.argv[1:]))
