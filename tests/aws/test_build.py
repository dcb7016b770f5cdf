"""The Lambda build script: what it asks pip for, how it checks and zips the result.

The default run never downloads anything; the real build (pip against the registry, ~20 s) is
marked ``slow``.
"""

from __future__ import annotations

import importlib.util
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


@pytest.mark.slow
def test_the_real_build_makes_a_small_arm_zip_without_boto3(tmp_path: Path) -> None:
    zip_path = bl.build(tmp_path, check_handler=False)
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
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert any(n.startswith("pydantic_core/") and "cpython-312-aarch64" in n for n in names)
