"""Bytecode for the Lambda zip: unchecked-hash ``.pyc`` compiled by the runtime's own CPython.

Lambda's code directory (``/var/task``) is read-only, so a zip without ``.pyc`` compiles every
module it imports at every cold start that SnapStart does not cover. The ``.pyc`` must be the ones
the runtime looks up: ``__pycache__/<name>.cpython-312.pyc`` beside each source, written by
CPython 3.12 (its magic number). They are *unchecked-hash* ``.pyc`` (PEP 552): the zip's
timestamps are fixed to 1980, so a timestamp ``.pyc`` would never match its source and would be
ignored; an unchecked-hash one is loaded without looking at the source at all.

Used by ``scripts/build_lambda.py``; the interpreter is found by :func:`find_runtime_python`.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

RUNTIME_MINOR = "3.12"  # the template's Runtime: python3.12
CACHE_TAG = "cpython-" + RUNTIME_MINOR.replace(".", "")
TASK_ROOT = "/var/task"  # where Lambda unpacks the zip: the path tracebacks show
PYC_FLAGS_UNCHECKED_HASH = 0b01  # PEP 552: bit 0 hash-based, bit 1 check_source (clear)

# Runs under the runtime's interpreter: compiles a tree, prints the sources that failed.
_COMPILE = r"""
import compileall, py_compile, sys
root, ddir = sys.argv[1], sys.argv[2]
# One process, files in sorted order: the same tree gives the same bytes (marshal's reference
# flags depend on what the process has interned, so a pool of workers would not).
ok = compileall.compile_dir(
    root, ddir=ddir, quiet=1, workers=1, legacy=False, optimize=-1,
    invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
)
print("ok" if ok else "failed")
"""


class BuildError(Exception):
    """A build step failed; the message says which and why."""


class NoRuntimePython(Exception):
    """No interpreter of the runtime's version was found; the message lists where it looked."""


@dataclass(frozen=True)
class Compiled:
    """What :func:`compile_tree` did: the interpreter, the ``.pyc`` written, the sources that failed."""

    python: str
    pyc_files: int
    failed: list[str]


def candidates(explicit: str | None = None) -> list[str]:
    """Where a CPython 3.12 may be, in the order tried: ``explicit``, ``$LAKEHOOK_RUNTIME_PYTHON``,
    this interpreter, ``python3.12`` on ``PATH``, pyenv's versions, the usual prefixes."""
    minor = RUNTIME_MINOR
    found: list[str] = []
    if explicit:
        found.append(explicit)
    env = os.environ.get("LAKEHOOK_RUNTIME_PYTHON")
    if env:
        found.append(env)
    found.append(sys.executable)
    on_path = shutil.which(f"python{minor}")
    if on_path:
        found.append(on_path)
    pyenv_root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    found += sorted(glob.glob(os.path.join(pyenv_root, "versions", f"{minor}*", "bin", f"python{minor}")))
    found += [f"{prefix}/bin/python{minor}" for prefix in ("/usr/local", "/usr", "/opt/python")]
    return list(dict.fromkeys(found))


def cache_tag_of(python: str) -> str | None:
    """``sys.implementation.cache_tag`` of ``python``, or None when it does not run (a pyenv shim
    for a version that is not selected exits non-zero)."""
    try:
        proc = subprocess.run(  # noqa: S603 - an interpreter path, no shell
            [python, "-I", "-c", "import sys; print(sys.implementation.cache_tag)"],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
    except OSError:
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def find_runtime_python(explicit: str | None = None, search: Sequence[str] | None = None) -> str:
    """The first candidate whose cache tag is the runtime's (``cpython-312``), else
    :class:`NoRuntimePython` naming every place tried."""
    tried = []
    for python in candidates(explicit) if search is None else search:
        tag = cache_tag_of(python)
        if tag == CACHE_TAG:
            return python
        tried.append(f"{python} ({tag or 'not runnable'})")
        if python == explicit:
            raise NoRuntimePython(f"--python {explicit} is not CPython 3.12 ({tag or 'not runnable'})")
    raise NoRuntimePython("no CPython 3.12 (the Lambda runtime's Python) found; tried: " + ", ".join(tried))


def compile_tree(target: Path, python: str, *, task_root: str = TASK_ROOT) -> Compiled:
    """Write an unchecked-hash ``.pyc`` beside every ``.py`` under ``target`` with ``python``.

    ``co_filename`` is recorded under ``task_root`` (not the build directory), so the bytes do not
    depend on where the build ran. Sources that do not compile under 3.12 are listed, not fatal:
    they would fail on the runtime too, if anything imported them.
    """
    proc = subprocess.run(  # noqa: S603
        [python, "-I", "-c", _COMPILE, str(target), task_root],
        capture_output=True,
        text=True,
        check=False,
        timeout=1200,
    )
    if proc.returncode != 0:
        raise BuildError(f"compiling with {python} failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
    failed = sorted(
        str(src.relative_to(target)) for src in target.rglob("*.py") if not pyc_path(src).is_file()
    )
    pyc_files = sum(1 for _ in target.rglob(f"__pycache__/*.{CACHE_TAG}.pyc"))
    return Compiled(python, pyc_files, failed)


def pyc_path(source: Path) -> Path:
    """Where the runtime looks for ``source``'s bytecode: ``__pycache__/<stem>.cpython-312.pyc``."""
    return source.parent / "__pycache__" / f"{source.stem}.{CACHE_TAG}.pyc"


def pyc_header(data: bytes) -> tuple[bytes, int]:
    """(magic, flags) of a ``.pyc``: the first 4 bytes, then PEP 552's little-endian flags word."""
    return data[:4], int.from_bytes(data[4:8], "little")


def runtime_python_for_build(
    python: str | None, require_pyc: bool, search: Sequence[str] | None = None
) -> str | None:
    """The interpreter that compiles the zip's ``.pyc``; None (with a warning) when there is none,
    unless ``require_pyc`` or an explicit ``python`` makes that a :class:`BuildError`."""
    try:
        return find_runtime_python(python, search)
    except NoRuntimePython as exc:
        if require_pyc or python is not None:
            raise BuildError(f"{exc}; the zip needs .pyc compiled by the runtime's Python") from None
        print(
            f"[build] WARNING: {exc}. The zip will carry no .pyc, so every cold start compiles what "
            "it imports (about +0.6 s on the callback path). Install CPython 3.12 or pass --python "
            "PATH; --require-pyc makes this an error.",
            file=sys.stderr,
            flush=True,
        )
        return None


def compile_for_zip(target: Path, python: str, own_packages: Sequence[str]) -> Compiled:
    """:func:`compile_tree`, refusing a tree where one of ``own_packages``' modules fails to compile."""
    print(f"[build] bytecode: unchecked-hash .pyc by {python}", flush=True)
    compiled = compile_tree(target, python)
    own = [f for f in compiled.failed if f.split("/", 1)[0] in own_packages]
    if own:
        raise BuildError(f"lakehook's own modules do not compile under CPython {RUNTIME_MINOR}: {own}")
    print(f"[build] bytecode: {compiled.pyc_files} .pyc", flush=True)
    if compiled.failed:  # sources the runtime could not import either (py2-only templates and such)
        shown = ", ".join(compiled.failed[:10])
        print(f"[build] bytecode: {len(compiled.failed)} sources left without .pyc: {shown}", flush=True)
    return compiled


def main(argv: Sequence[str] | None = None) -> int:
    """``python scripts/lambda_bytecode.py [--python PATH]``: print the runtime interpreter found."""
    args = list(sys.argv[1:] if argv is None else argv)
    explicit = args[args.index("--python") + 1] if "--python" in args else None
    try:
        print(find_runtime_python(explicit))
    except NoRuntimePython as exc:
        print(f"lambda_bytecode: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
