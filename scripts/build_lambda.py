"""Build the resolver's Lambda zip without Docker: ``build/lakehook-lambda.zip``.

pip installs wheels built for the Lambda runtime (CPython 3.12, manylinux2014 aarch64) into
``build/lambda/``, whatever the build machine is: ``--platform``/``--python-version``/
``--implementation`` with ``--only-binary=:all:``, so nothing is compiled here and no host binary
slips in. Then the project itself goes in without its dependencies, the tree is stripped, every
module is compiled to an unchecked-hash ``.pyc`` by CPython 3.12 (``scripts/lambda_bytecode.py``:
the runtime's code directory is read-only, so without them every cold start compiles), and a
deterministic zip is written. ``lambda_resolver/template.yaml`` points its ``CodeUri`` at that zip.

Without a CPython 3.12 on the build machine the zip is built without ``.pyc``, with a warning
(``--require-pyc`` makes that an error). ``--arch x86_64`` builds the same zip for x86_64: the
template deploys arm64; the twin exists so the zip can be imported and measured on x86_64.

What goes in is an explicit list, not an extra: the base dependencies plus the few distributions of
the ``resolver`` extra that the Lambda needs, each with the version range pyproject.toml pins (one
place to bump). Not shipped: boto3/botocore/s3transfer (the runtime provides them), the CLI's
typer/rich, databricks-bundles (the flow compiler runs on the operator's machine), and powertools'
``[tracer]`` extra (it pulls a second botocore: 55 MB instead of 19).

Usage: ``python scripts/build_lambda.py [--build-dir DIR] [--python PATH] [--require-pyc]
[--arch aarch64|x86_64] [--skip-handler-check]``
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lambda_bytecode import BuildError, compile_for_zip, runtime_python_for_build

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"
BUILD_DIR = ROOT / "build"
PACKAGE_SUBDIR = "lambda"
ZIP_NAME = "lakehook-lambda.zip"
ZIP_PATH = BUILD_DIR / ZIP_NAME  # the template's CodeUri resolves here

OWN_PACKAGES = ("lambda_resolver", "notebook_lib")  # what the project wheel installs
HANDLER_MODULE = "lambda_resolver/aws/handler.py"  # lambda_resolver.aws.handler.handler

PLATFORM = "manylinux2014_aarch64"
# --arch: the wheel platform and the ELF e_machine every shared object must carry.
ARCHES = {"aarch64": ("manylinux2014_aarch64", 183), "x86_64": ("manylinux2014_x86_64", 62)}
PYTHON_VERSION = "3.12"
IMPLEMENTATION = "cp"

# What the Lambda needs from pyproject.toml: (table, distribution). Ranges and extras come from there.
LAMBDA_DISTRIBUTIONS: tuple[tuple[str, str], ...] = (
    ("dependencies", "requests"),
    ("resolver", "aws-lambda-powertools"),
    ("resolver", "databricks-sdk"),
    ("resolver", "PyYAML"),
)
# The python3.12 runtime ships these; removed if anything pulls them in.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer")
# Extras that must never reach the zip.
FORBIDDEN_EXTRAS = {"aws-lambda-powertools": {"tracer", "all", "aws-sdk"}}

# Lambda's limit for the unzipped code of a zip-packaged function.
MAX_UNZIPPED_BYTES = 250 * 1024 * 1024
EM_AARCH64 = 183
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed timestamps: the same tree gives the same zip

_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*?)\s*$")


def normalize(name: str) -> str:
    """PEP 503 name normalisation: ``PyYAML`` == ``pyyaml``, ``aws_lambda`` == ``aws-lambda``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_requirement(text: str) -> tuple[str, set[str], str]:
    """``name[extra,...]spec ; marker`` -> (name, extras, spec). Markers are not supported here."""
    if ";" in text:
        raise BuildError(f"environment markers are not supported in a Lambda requirement: {text!r}")
    match = _REQUIREMENT.match(text)
    if match is None:
        raise BuildError(f"cannot parse requirement {text!r}")
    name, extras, spec = match.groups()
    extra_set = {e.strip() for e in (extras or "[]")[1:-1].split(",") if e.strip()}
    return name, extra_set, spec


def load_toml(path: Path) -> dict[str, object]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ModuleNotFoundError:
            raise BuildError("reading pyproject.toml needs Python 3.11+ (or `pip install tomli`)") from None
    with path.open("rb") as f:
        return tomllib.load(f)


def lambda_requirements(pyproject: Path = PYPROJECT) -> list[str]:
    """The requirement strings to install for the Lambda, exactly as pyproject.toml pins them."""
    project = load_toml(pyproject).get("project")
    if not isinstance(project, dict):
        raise BuildError(f"{pyproject}: no [project] table")
    tables: dict[str, list[str]] = {
        "dependencies": list(project.get("dependencies", [])),
        **{k: list(v) for k, v in dict(project.get("optional-dependencies", {})).items()},
    }
    out: list[str] = []
    for table, wanted in LAMBDA_DISTRIBUTIONS:
        found = [r for r in tables.get(table, []) if normalize(parse_requirement(r)[0]) == normalize(wanted)]
        if len(found) != 1:
            raise BuildError(f"{pyproject}: expected one {wanted!r} requirement in {table!r}, found {found}")
        name, extras, _ = parse_requirement(found[0])
        bad = extras & FORBIDDEN_EXTRAS.get(normalize(name), set())
        if bad:
            raise BuildError(f"{found[0]!r}: the extras {sorted(bad)} must not be shipped in the Lambda")
        out.append(found[0])
    return out


def dependencies_command(target: Path, requirements: Sequence[str], platform: str = PLATFORM) -> list[str]:
    """pip, installing ``requirements`` as Lambda-runtime wheels into ``target``."""
    return [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--target",
        str(target),
        "--platform",
        platform,
        "--python-version",
        PYTHON_VERSION,
        "--implementation",
        IMPLEMENTATION,
        "--only-binary=:all:",
        "--no-compile",
        # With --target, pip checks conflicts against the *running* environment, not the target.
        "--no-warn-conflicts",
        "--disable-pip-version-check",
        "--quiet",
        *requirements,
    ]


def project_command(target: Path, project: Path = ROOT) -> list[str]:
    """pip, installing the project itself (pure Python) into ``target`` without dependencies."""
    return [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--target",
        str(target),
        "--no-deps",
        "--no-compile",
        "--no-warn-conflicts",
        "--disable-pip-version-check",
        "--quiet",
        str(project),
    ]


def _run(step: str, command: Sequence[str]) -> None:
    print(f"[build] {step}", flush=True)
    result = subprocess.run(command, check=False, capture_output=True, text=True)  # noqa: S603
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip()
        raise BuildError(f"{step} failed (pip exit {result.returncode}):\n{detail}")


def _remove_runtime_provided(target: Path) -> list[str]:
    removed = []
    for entry in sorted(target.iterdir()):
        name = entry.name.split("-")[0] if entry.name.endswith(".dist-info") else entry.name
        if normalize(name) in RUNTIME_PROVIDED:
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
            removed.append(entry.name)
    return removed


def strip_tree(target: Path) -> None:
    """Drop what never runs: bytecode caches, console scripts, test suites of dependencies."""
    shutil.rmtree(target / "bin", ignore_errors=True)  # console scripts with a build-host shebang
    for path in sorted(target.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if not path.exists():
            continue
        if path.is_dir() and path.name == "__pycache__":
            shutil.rmtree(path)
        elif path.is_file() and path.suffix in {".pyc", ".pyo"}:
            path.unlink()
        elif (
            path.is_dir()
            and path.name in {"tests", "test"}
            and len(path.relative_to(target).parts) > 1  # inside a package, never a top-level one
            and path.relative_to(target).parts[0] not in OWN_PACKAGES
        ):
            shutil.rmtree(path)


def check_binaries(target: Path, machine: int = EM_AARCH64) -> None:
    """Every shared object must be an ELF for the target (AArch64 unless ``machine`` says otherwise)
    built for this CPython, never a build-host binary."""
    wrong = []
    for path in sorted(target.rglob("*.so*")):
        if not path.is_file():
            continue
        with path.open("rb") as f:
            header = f.read(20)
        # ELF magic, then e_machine (little-endian u16 at offset 18): 183 is EM_AARCH64, 62 x86-64
        is_target = header[:4] == b"\x7fELF" and int.from_bytes(header[18:20], "little") == machine
        abi_tag = f"cpython-{PYTHON_VERSION.replace('.', '')}-"
        other_python = "cpython-" in path.name and abi_tag not in path.name
        if not is_target or other_python:
            wrong.append(str(path.relative_to(target)))
    if wrong:
        arch = next((a for a, (_, m) in ARCHES.items() if m == machine), str(machine))
        raise BuildError(f"shared objects not built for cp{PYTHON_VERSION} {arch}: {wrong}")


def write_zip(source: Path, zip_path: Path) -> None:
    """A deterministic zip of ``source``: sorted entries, fixed timestamps, world-readable modes."""
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = zip_path.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for path in sorted(p for p in source.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(path.relative_to(source).as_posix(), date_time=ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            mode = 0o755 if os.access(path, os.X_OK) else 0o644
            info.external_attr = (0o100000 | mode) << 16
            zf.writestr(info, path.read_bytes(), compresslevel=9)
    tmp.replace(zip_path)


def sizes_by_package(target: Path) -> list[tuple[str, int]]:
    """Unzipped bytes per top-level entry (``*.dist-info`` folded into one ``(metadata)`` row)."""
    sizes: dict[str, int] = {}
    for path in target.rglob("*"):
        if path.is_file():
            top = path.relative_to(target).parts[0]
            key = "(metadata)" if top.endswith(".dist-info") else top
            sizes[key] = sizes.get(key, 0) + path.stat().st_size
    return sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0]))


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MiB"


def build(
    build_dir: Path = BUILD_DIR,
    *,
    check_handler: bool = True,
    python: str | None = None,
    require_pyc: bool = False,
    arch: str = "aarch64",
) -> Path:
    """Build ``<build_dir>/lakehook-lambda.zip`` and return its path.

    ``python`` is the CPython 3.12 that compiles the ``.pyc`` (found on PATH or in pyenv when
    None); without one the zip has no ``.pyc``, or, with ``require_pyc``, :class:`BuildError`.
    """
    platform, machine = ARCHES[arch]
    runtime_python = runtime_python_for_build(python, require_pyc)
    target = build_dir / PACKAGE_SUBDIR
    zip_path = build_dir / ZIP_NAME
    requirements = lambda_requirements()
    shutil.rmtree(target, ignore_errors=True)
    zip_path.unlink(missing_ok=True)
    target.mkdir(parents=True)

    _run(
        f"dependencies for cp{PYTHON_VERSION} {platform}: {', '.join(requirements)}",
        dependencies_command(target, requirements, platform),
    )
    # The project's own wheel is built in a scratch copy of nothing but what it needs, so setuptools
    # leaves no build/ or egg-info debris in the working tree.
    with tempfile.TemporaryDirectory(prefix="lakehook-src-") as scratch:
        src = Path(scratch)
        for name in ("pyproject.toml", "README.md", *OWN_PACKAGES):
            item = ROOT / name
            if item.is_dir():
                shutil.copytree(item, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            elif item.exists():
                shutil.copy2(item, src / name)
        _run("the lakehook project (no dependencies)", project_command(target, src))

    return package_tree(
        target, zip_path, runtime_python=runtime_python, machine=machine, check_handler=check_handler
    )


def package_tree(
    target: Path,
    zip_path: Path,
    *,
    runtime_python: str | None,
    machine: int = EM_AARCH64,
    check_handler: bool = True,
) -> Path:
    """What follows pip: strip and check ``target``, compile its ``.pyc`` with ``runtime_python``
    (none when None), zip it to ``zip_path``."""
    removed = _remove_runtime_provided(target)
    if removed:
        print(f"[build] removed (provided by the runtime): {', '.join(removed)}")
    strip_tree(target)
    check_binaries(target, machine)
    if check_handler and not (target / HANDLER_MODULE).is_file():
        raise BuildError(
            f"{HANDLER_MODULE} is not in the build: the function's handler "
            "lambda_resolver.aws.handler.handler would not import (use --skip-handler-check to build anyway)"
        )
    if runtime_python is not None:
        compile_for_zip(target, runtime_python, OWN_PACKAGES)
    unzipped = sum(size for _, size in sizes_by_package(target))
    if unzipped > MAX_UNZIPPED_BYTES:
        raise BuildError(f"unzipped size {_mib(unzipped)} exceeds Lambda's {_mib(MAX_UNZIPPED_BYTES)}")
    write_zip(target, zip_path)
    report(target, zip_path, unzipped)
    return zip_path


def report(target: Path, zip_path: Path, unzipped: int) -> None:
    print(f"[build] wrote {zip_path}")
    print(f"  zipped:   {zip_path.stat().st_size:>12,d} bytes ({_mib(zip_path.stat().st_size)})")
    print(f"  unzipped: {unzipped:>12,d} bytes ({_mib(unzipped)})")
    print(f"  .pyc:     {sum(1 for _ in target.rglob('*.pyc')):>12,d} files")
    print("  top 10 by unzipped size:")
    for name, size in sizes_by_package(target)[:10]:
        print(f"    {name:<32} {_mib(size):>10}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--build-dir", type=Path, default=BUILD_DIR, help=f"default: {BUILD_DIR}")
    parser.add_argument(
        "--skip-handler-check",
        action="store_true",
        help=f"build even if {HANDLER_MODULE} does not exist yet",
    )
    parser.add_argument("--python", help="the CPython 3.12 that compiles the .pyc (default: PATH, pyenv)")
    parser.add_argument("--require-pyc", action="store_true", help="fail instead of building without .pyc")
    parser.add_argument(
        "--arch",
        choices=sorted(ARCHES),
        default="aarch64",
        help="aarch64 (the template's arm64, default) or x86_64 (a twin to measure on x86_64)",
    )
    args = parser.parse_args(argv)
    try:
        build(
            args.build_dir,
            check_handler=not args.skip_handler_check,
            python=args.python,
            require_pyc=args.require_pyc,
            arch=args.arch,
        )
    except BuildError as exc:
        print(f"build_lambda: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
