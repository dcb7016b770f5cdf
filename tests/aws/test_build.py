"""The Lambda build script: what it asks pip for, how it checks, compiles and zips the result.

The default run never downloads anything; the real build (pip against the registry, ~20 s) is
marked ``slow``. The bytecode tests need a CPython 3.12 (the runtime's Python): without one they
skip locally, and fail under CI=true (``.ci/run`` checks that one exists).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load_build_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_lambda", ROOT / "scripts" / "build_lambda.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bl = _load_build_script()
bc = sys.modules["lambda_bytecode"]  # scripts/lambda_bytecode.py, imported by the build script


@pytest.fixture(scope="module")
def runtime_python() -> str:
    """A CPython 3.12, as the build finds it; CI must have one, elsewhere its absence skips."""
    try:
        return str(bc.find_runtime_python())
    except bc.NoRuntimePython as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{exc}: CI must compile the zip's bytecode (.ci/run checks for it)")
        pytest.skip(f"{exc} (install it, or set LAKEHOOK_RUNTIME_PYTHON)")


def _names(requirements: list[str]) -> dict[str, str]:
    return {bl.normalize(bl.parse_requirement(r)[0]): r for r in requirements}


def test_the_lambda_gets_exactly_four_distributions_pinned_as_in_pyproject() -> None:
    project = bl.load_toml(ROOT / "pyproject.toml")["project"]
    pinned = [*project["dependencies"], *project["optional-dependencies"]["resolver"]]
    requirements = bl.lambda_requirements()
    assert set(_names(requirements)) == {"requests", "aws-lambda-powertools", "databricks-sdk", "pyyaml"}
    assert all(r in pinned for r in requirements)


def test_powertools_comes_with_parser_and_without_tracer() -> None:
    _, extras, _ = bl.parse_requirement(_names(bl.lambda_requirements())["aws-lambda-powertools"])
    assert extras == {"parser"}


def test_boto3_and_botocore_are_left_to_the_runtime() -> None:
    assert not set(_names(bl.lambda_requirements())) & {"boto3", "botocore", "s3transfer"}
    assert set(bl.RUNTIME_PROVIDED) == {"boto3", "botocore", "s3transfer"}


def test_the_x86_64_twin_asks_for_x86_64_wheels_and_checks_x86_64_binaries(tmp_path: Path) -> None:
    platform, machine = bl.ARCHES["x86_64"]
    assert "--platform manylinux2014_x86_64" in " ".join(bl.dependencies_command(tmp_path, ["x"], platform))
    so = tmp_path / "pkg" / "_speedups.cpython-312-x86_64-linux-gnu.so"
    so.parent.mkdir()
    so.write_bytes(_elf(62))
    bl.check_binaries(tmp_path, machine)
    with pytest.raises(bl.BuildError, match="aarch64"):
        bl.check_binaries(tmp_path)  # the default, arm64 zip refuses it


def test_dependencies_are_fetched_as_wheels_for_python_312_on_arm(tmp_path: Path) -> None:
    command = bl.dependencies_command(tmp_path / "t", ["requests>=2.28,<3"])
    joined = " ".join(command)
    for flag in (
        f"--target {tmp_path / 't'}",
        "--platform manylinux2014_aarch64",
        "--python-version 3.12",
        "--implementation cp",
        "--only-binary=:all:",
        "--no-compile",
    ):
        assert flag in joined
    assert command[-1] == "requests>=2.28,<3"


def test_the_project_itself_goes_in_without_dependencies(tmp_path: Path) -> None:
    command = bl.project_command(tmp_path / "t", tmp_path / "src")
    assert "--no-deps" in command
    assert "--platform" not in command
    assert command[-1] == str(tmp_path / "src")


def test_a_tracer_extra_or_a_missing_pin_is_refused(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    resolver = (
        '"aws-lambda-powertools[parser,tracer]>=3.20,<4", "databricks-sdk>=0.100,<0.157", "PyYAML>=6,<7"'
    )
    base = '[project]\ndependencies = ["requests>=2.28,<3"]\n[project.optional-dependencies]\n'
    pyproject.write_text(f"{base}resolver = [{resolver}]\n")
    with pytest.raises(bl.BuildError, match="tracer"):
        bl.lambda_requirements(pyproject)
    pyproject.write_text(
        '[project]\ndependencies = []\n[project.optional-dependencies]\nresolver = ["PyYAML"]\n'
    )
    with pytest.raises(bl.BuildError, match="requests"):
        bl.lambda_requirements(pyproject)


def _elf(machine: int) -> bytes:
    return b"\x7fELF" + bytes(14) + machine.to_bytes(2, "little") + bytes(12)


def test_only_aarch64_cpython_312_extensions_pass(tmp_path: Path) -> None:
    good = tmp_path / "pkg" / "_speedups.cpython-312-aarch64-linux-gnu.so"
    good.parent.mkdir()
    good.write_bytes(_elf(183))
    bl.check_binaries(tmp_path)

    host = tmp_path / "pkg" / "_rust.abi3.so"
    host.write_bytes(_elf(62))  # x86-64: a wheel for the build machine slipped in
    with pytest.raises(bl.BuildError, match=r"_rust\.abi3\.so"):
        bl.check_binaries(tmp_path)
    host.unlink()

    (tmp_path / "pkg" / "_old.cpython-311-aarch64-linux-gnu.so").write_bytes(_elf(183))
    with pytest.raises(bl.BuildError, match="cpython-311"):
        bl.check_binaries(tmp_path)


def test_strip_drops_caches_scripts_and_dependency_tests_but_not_our_code(tmp_path: Path) -> None:
    for rel in (
        "bin/normalizer",
        "dep/__pycache__/x.cpython-312.pyc",
        "dep/tests/test_x.py",
        "dep/core.py",
        "lambda_resolver/core/tests/keep.py",
    ):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    bl.strip_tree(tmp_path)
    left = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert left == ["dep/core.py", "lambda_resolver/core/tests/keep.py"]


def test_the_zip_is_deterministic_and_world_readable(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "pkg").mkdir(parents=True)
    (tree / "pkg" / "b.py").write_text("b = 2\n")
    (tree / "pkg" / "a.py").write_text("a = 1\n")
    bl.write_zip(tree, tmp_path / "one.zip")
    bl.write_zip(tree, tmp_path / "two.zip")
    assert (tmp_path / "one.zip").read_bytes() == (tmp_path / "two.zip").read_bytes()
    with zipfile.ZipFile(tmp_path / "one.zip") as zf:
        assert zf.namelist() == ["pkg/a.py", "pkg/b.py"]
        assert {(i.external_attr >> 16) & 0o777 for i in zf.infolist()} == {0o644}


# -- bytecode --------------------------------------------------------------------------------------
def _own_tree(dest: Path) -> Path:
    """lakehook's packages as pip puts them in the build: sources only."""
    for pkg in bl.OWN_PACKAGES:
        shutil.copytree(ROOT / pkg, dest / pkg, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dest


def _magic(python: str) -> bytes:
    code = "import importlib.util; print(importlib.util.MAGIC_NUMBER.hex())"
    proc = subprocess.run([python, "-I", "-c", code], capture_output=True, text=True, check=True)
    return bytes.fromhex(proc.stdout)


def test_the_zip_carries_an_unchecked_hash_pyc_of_the_runtime_for_every_own_module(
    tmp_path: Path, runtime_python: str
) -> None:
    tree = _own_tree(tmp_path / "tree")
    zip_path = bl.package_tree(tree, tmp_path / "lambda.zip", runtime_python=runtime_python)
    with zipfile.ZipFile(zip_path) as zf:
        names = set(zf.namelist())
        sources = sorted(n for n in names if n.endswith(".py"))
        assert len(sources) > 50 and all(n.split("/")[0] in bl.OWN_PACKAGES for n in sources)
        magic = _magic(runtime_python)
        for source in sources:
            folder, _, file = source.rpartition("/")
            pyc = f"{folder}/__pycache__/{file[:-3]}.cpython-312.pyc"  # what 3.12 looks up
            assert pyc in names, f"no {pyc}"
            header = zf.read(pyc)[:16]
            assert header[:4] == magic  # written by the runtime's CPython, not the build's
            flags = int.from_bytes(header[4:8], "little")
            assert flags == 0b01, f"{pyc}: flags {flags:#04b}, not unchecked-hash (PEP 552)"
        assert not [n for n in names if n.endswith(".pyc") and ".cpython-312." not in n]


# Imports every module of lakehook that imports without its dependencies; records each source the
# interpreter compiles (the builtin compile() raises the "compile" audit event, importlib uses it).
_IMPORT_ALL = r"""
import json, os, sys
root = sys.argv[1]
sys.path.insert(0, root)
compiled = []
def hook(event, args):
    if event == "compile" and str(args[1]).startswith(root):
        compiled.append(str(args[1]))
sys.addaudithook(hook)
imported, skipped = [], []
for pkg in ("lambda_resolver", "notebook_lib"):
    for folder, _, files in sorted(os.walk(os.path.join(root, pkg))):
        for f in sorted(files):
            if f.endswith(".py"):
                rel = os.path.relpath(os.path.join(folder, f), root)[:-3].replace(os.sep, ".")
                name = rel.removesuffix(".__init__")
                try:
                    __import__(name)
                    imported.append(name)
                except ImportError as exc:  # a dependency absent from this bare interpreter
                    skipped.append(name)
print(json.dumps({"compiled": compiled, "imported": imported, "skipped": len(skipped)}))
"""


def _import_all(python: str, tree: Path) -> dict[str, list[str]]:
    proc = subprocess.run(
        [python, "-I", "-B", "-c", _IMPORT_ALL, str(tree)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc: dict[str, list[str]] = json.loads(proc.stdout)
    return doc


def test_imports_from_the_unpacked_zip_use_its_pyc_and_compile_nothing(
    tmp_path: Path, runtime_python: str
) -> None:
    zip_path = bl.package_tree(
        _own_tree(tmp_path / "tree"), tmp_path / "lambda.zip", runtime_python=runtime_python
    )
    task = tmp_path / "task"  # /var/task: unpacked, never written (-B), as on Lambda
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(task)
    with_pyc = _import_all(runtime_python, task)
    assert {"lambda_resolver", "lambda_resolver.core.manifest", "notebook_lib"} <= set(with_pyc["imported"])
    assert with_pyc["compiled"] == []

    # The same imports without the .pyc compile every module: the check above can see compilation.
    for cache in task.rglob("__pycache__"):
        shutil.rmtree(cache)
    without = _import_all(runtime_python, task)
    assert without["imported"] == with_pyc["imported"]
    assert len(without["compiled"]) >= len(with_pyc["imported"])


def test_the_bytecode_is_the_same_wherever_the_build_ran(tmp_path: Path, runtime_python: str) -> None:
    one = bl.package_tree(
        _own_tree(tmp_path / "a" / "tree"), tmp_path / "one.zip", runtime_python=runtime_python
    )
    two = bl.package_tree(
        _own_tree(tmp_path / "b" / "x"), tmp_path / "two.zip", runtime_python=runtime_python
    )
    assert one.read_bytes() == two.read_bytes()


def test_without_a_runtime_python_the_build_warns_or_with_require_pyc_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    not_312 = tmp_path / "python3.12"  # answers like a 3.10
    not_312.write_text("#!/bin/sh\necho cpython-310\n")
    not_312.chmod(0o755)
    with pytest.raises(bl.BuildError, match=r"is not CPython 3\.12"):
        bc.runtime_python_for_build(str(not_312), require_pyc=False)  # an explicit one must be right
    search = [str(not_312), str(tmp_path / "absent")]
    assert bc.runtime_python_for_build(None, require_pyc=False, search=search) is None
    warning = capsys.readouterr().err
    assert "WARNING: no CPython 3.12" in warning and "no .pyc" in warning and str(not_312) in warning
    with pytest.raises(bl.BuildError, match=r"no CPython 3\.12"):
        bc.runtime_python_for_build(None, require_pyc=True, search=search)


@pytest.mark.slow
def test_the_real_build_makes_a_small_arm_zip_without_boto3(tmp_path: Path, runtime_python: str) -> None:
    zip_path = bl.build(tmp_path, check_handler=False, python=runtime_python, require_pyc=True)
    assert zip_path.stat().st_size < 50 * 1024 * 1024  # Lambda's direct-upload limit
    with zipfile.ZipFile(zip_path) as zf:
        names = zf.namelist()
    tops = {n.split("/")[0] for n in names}
    assert {
        "lambda_resolver",
        "notebook_lib",
        "aws_lambda_powertools",
        "databricks",
        "yaml",
        "requests",
    } <= tops
    assert not tops & {"boto3", "botocore", "s3transfer", "bin"}
    sources = [n for n in names if n.endswith(".py") and n.split("/")[0] in bl.OWN_PACKAGES]
    pycs = {n for n in names if n.endswith(".pyc")}
    missing = [n for n in sources if bc.pyc_path(Path(n)).as_posix() not in pycs]
    assert sources and not missing  # the dependencies' too, but lakehook's own at the least
    assert any(n.startswith("pydantic_core/") and "cpython-312-aarch64" in n for n in names)
