"""The Lambda zip as its runtime imports it: the zip's x86_64 twin, unpacked, under CPython 3.12.

The zip the template deploys is arm64 and cannot be imported on an x86_64 machine. Its twin is built
the same way (``scripts/build_lambda.py --arch x86_64 --require-pyc``: the same distributions as
x86_64 wheels, the same unchecked-hash ``.pyc``) and unpacked into a task directory that is never
written (``PYTHONDONTWRITEBYTECODE``, as ``/var/task`` is read-only). boto3 and botocore, which the
runtime provides (compiled), come from a scratch CPython 3.12 environment with the versions of this
one. ``aws_cold_start.measure_twin`` times fresh 3.12 interpreters importing the callback path:

- ``zip_pyc``: the tree as the zip ships it;
- ``zip_no_pyc``: the same tree without ``__pycache__`` (a zip without ``.pyc``: every cold start
  compiles what it imports);
- ``zip_libraries_only``: with ``.pyc``, the module list without lambda_resolver and notebook_lib:
  the floor the libraries set, against which lakehook's own share is read.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import lambda_bytecode  # noqa: E402 - scripts/ is not a package

RUNTIME_PROVIDED = ("boto3", "botocore")  # installed beside the twin, with their dependencies

# Imports a module list with an audit hook on compile(): the sources under the task directory that
# the interpreter compiled instead of loading their .pyc (not timed; it checks the conditions).
_COMPILED = r"""
import json, sys
out_path, mods_path, root = sys.argv[1], sys.argv[2], sys.argv[3]
compiled = []
def hook(event, args):
    if event == "compile" and str(args[1]).startswith(root):
        compiled.append(str(args[1]))
sys.addaudithook(hook)
with open(mods_path) as f:
    mods = f.read().split()
for m in mods:
    if m not in sys.modules:
        try:
            __import__(m)
        except Exception:
            pass
origin = getattr(sys.modules.get("lambda_resolver"), "__file__", None)
with open(out_path, "w") as f:
    json.dump({"compiled": compiled, "lambda_resolver": origin, "version": sys.version.split()[0]}, f)
"""


@dataclass
class Twin:
    """The unpacked twin, its copy without .pyc, and the 3.12 interpreter that imports them."""

    python: str
    task: Path
    task_no_pyc: Path
    facts: dict[str, Any]

    def env(self, condition: str) -> dict[str, str]:
        """What a condition adds to the Lambda environment: the task directory first on the path."""
        task = self.task_no_pyc if condition == "zip_no_pyc" else self.task
        return {"PYTHONPATH": str(task), "PYTHONDONTWRITEBYTECODE": "1"}

    def compiled_sources(self, modules_file: Path, env: Mapping[str, str], cwd: Path) -> dict[str, Any]:
        """Which sources of the task directory importing ``modules_file`` compiled (none with .pyc)."""
        root = env["PYTHONPATH"]
        out = cwd / "compiled.json"
        command = [self.python, "-c", _COMPILED, str(out), str(modules_file), root]
        proc = subprocess.run(command, env=dict(env), cwd=cwd, capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"compile check failed: {proc.stderr[-2000:]}")
        doc: dict[str, Any] = json.loads(out.read_text())
        if doc["lambda_resolver"] is not None and not str(doc["lambda_resolver"]).startswith(root):
            raise RuntimeError(f"lambda_resolver came from {doc['lambda_resolver']}, not {root}")
        return doc


def prepare(work: Path, versions: Mapping[str, str]) -> Twin | str:
    """Build, unpack and provision the twin under ``work``; the reason when it cannot be."""
    try:
        runtime = lambda_bytecode.find_runtime_python()
    except lambda_bytecode.NoRuntimePython as exc:
        return str(exc)
    build_dir = work / "twin-build"
    command = [
        sys.executable,
        str(ROOT / "scripts" / "build_lambda.py"),
        *("--arch", "x86_64", "--require-pyc", "--python", runtime, "--build-dir", str(build_dir)),
    ]
    proc = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
    if proc.returncode != 0:
        return f"the x86_64 build failed: {(proc.stderr or proc.stdout)[-1500:]}"
    zip_path = build_dir / "lakehook-lambda.zip"
    task, bare = work / "twin-task", work / "twin-task-no-pyc"
    with zipfile.ZipFile(zip_path) as zf:
        infos = zf.infolist()
        zf.extractall(task)
    shutil.copytree(task, bare, ignore=shutil.ignore_patterns("__pycache__"))
    env_dir = work / "runtime312"
    pins = [
        f"{name}=={versions[name]}" for name in RUNTIME_PROVIDED if versions.get(name, "absent") != "absent"
    ]
    for step in (
        [runtime, "-m", "venv", str(env_dir)],
        [str(env_dir / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check", *pins],
    ):
        proc = subprocess.run(step, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            return f"{' '.join(step[:4])} failed: {proc.stderr[-1500:]}"
    facts = {
        "build_command": "python scripts/build_lambda.py --arch x86_64 --require-pyc --python <3.12>",
        "runtime_python": runtime,
        "zipped_bytes": zip_path.stat().st_size,
        "unzipped_bytes": sum(i.file_size for i in infos),
        "files": len(infos),
        "py_files": sum(1 for i in infos if i.filename.endswith(".py")),
        "pyc_files": sum(1 for i in infos if i.filename.endswith(".pyc")),
        "pyc_unzipped_bytes": sum(i.file_size for i in infos if i.filename.endswith(".pyc")),
        "runtime_provided": pins,
    }
    return Twin(str(env_dir / "bin" / "python"), task, bare, facts)


def own_module_costs(
    stderr_runs: Sequence[str], own: Sequence[str] = ("lambda_resolver", "notebook_lib")
) -> Any:
    """lakehook's modules in ``-X importtime`` output: median self and cumulative ms, largest first."""
    import re
    import statistics

    line = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|\s*(\S+)\s*$")
    selfs: dict[str, list[int]] = {}
    cums: dict[str, list[int]] = {}
    for stderr in stderr_runs:
        for text in stderr.splitlines():
            m = line.match(text)
            if m and m.group(3).split(".")[0] in own:
                selfs.setdefault(m.group(3), []).append(int(m.group(1)))
                cums.setdefault(m.group(3), []).append(int(m.group(2)))
    rows = [
        {
            "module": mod,
            "self_ms": round(statistics.median(selfs[mod]) / 1000, 1),
            "cumulative_ms": round(statistics.median(cums[mod]) / 1000, 1),
        }
        for mod in selfs
    ]
    rows.sort(key=lambda r: -float(r["self_ms"]))
    return {"self_ms_total": round(sum(float(r["self_ms"]) for r in rows), 1), "modules": rows}
