"""The flow compiler: a Databricks Asset Bundle → one :class:`FlowManifest` per ``lakehook: flow`` job.

Reads ``databricks.yml`` and its includes the way ``databricks bundle validate`` does (offline),
checks every job against the Databricks job schema, and compiles each flow. Every problem is
collected and located (file, line, job, task) — a user fixes a bundle in one pass, not one error
per run. What the CLI only warns about (an unknown field in a plain job, an include in an included
file) is a warning: reported, never a reason to refuse the bundle. Inside a flow job lakehook stays
strict. YAML and databricks-bundles are imported only when a bundle is actually read.

    bundle = load_bundle(Path("."), target="dev")      # jobs, variables, sources
    flows = compile_flows(bundle)                        # raises CompileError(errors)
    problems = validate_bundle(Path("."))                # errors, then warnings; never raises
    report = diagnose_bundle(bundle)                     # flows, errors and warnings apart
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lambda_resolver.compiler.bundle import (
    EXTERNAL,
    FLOW,
    LAKEHOOK_PARAMETER,
    LAKEHOOK_TAG,
    Bundle,
    JobResource,
    Problems,
    Source,
    job_ref_key,
)
from lambda_resolver.core.errors import CompileError, Problem
from lambda_resolver.core.manifest import FlowManifest

__all__ = [
    "EXTERNAL",
    "FLOW",
    "LAKEHOOK_PARAMETER",
    "LAKEHOOK_TAG",
    "Bundle",
    "CompileError",
    "Diagnosis",
    "JobResource",
    "Problem",
    "Source",
    "check_bundle",
    "compile_bundle",
    "compile_flows",
    "diagnose_bundle",
    "job_ref_key",
    "load_bundle",
    "validate_bundle",
]


def load_bundle(
    root: Path | str,
    target: str | None = None,
    variables: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    strict: bool = True,
) -> Bundle:
    """Read the bundle at ``root`` for ``target`` (its default target when None).

    ``variables`` are ``--var`` overrides; ``environ`` defaults to ``os.environ`` (for
    ``BUNDLE_VAR_<name>``). With ``strict`` (the default) a bundle that cannot be read raises
    :class:`CompileError`; otherwise its problems are on ``Bundle.problems``.
    """
    from lambda_resolver.compiler.loader import read_bundle

    bundle = read_bundle(Path(root), target, variables, environ)
    if strict and bundle.problems:
        raise CompileError(list(bundle.problems))
    return bundle


@dataclass(frozen=True)
class Diagnosis:
    """A bundle checked: the flows that compiled, its errors and its warnings (reading included)."""

    flows: dict[str, FlowManifest]
    errors: list[Problem]
    warnings: list[Problem]

    @property
    def problems(self) -> list[Problem]:
        """Errors first, then warnings."""
        return [*self.errors, *self.warnings]


def check_bundle(bundle: Bundle) -> tuple[dict[str, FlowManifest], list[Problem]]:
    """Compile every flow of ``bundle``: the flows that compiled, and every error (reading included).

    Warnings do not stop a bundle; :func:`diagnose_bundle` returns them too.
    """
    report = diagnose_bundle(bundle)
    return report.flows, report.errors


def diagnose_bundle(bundle: Bundle) -> Diagnosis:
    """Compile every flow of ``bundle``, keeping errors and warnings apart."""
    from lambda_resolver.compiler.flows import FlowContext, compile_flow
    from lambda_resolver.compiler.schema import check_job_schema

    problems = Problems(bundle.sources)
    child_uses: dict[str, list[str]] = {}
    contexts: list[FlowContext] = []
    manifests: dict[str, FlowManifest] = {}
    for key, job in bundle.jobs.items():
        role = job.lakehook_role
        if role is not None and role not in (FLOW, EXTERNAL):
            problems.add(
                "bad_lakehook_tag",
                f"tag lakehook: {role!r} is not known; use `lakehook: flow` for a flow or "
                f"`lakehook: external` for a job settled from outside",
                path=("resources", "jobs", key, "tags", LAKEHOOK_TAG),
                job=key,
            )
        check_job_schema(job, problems, flow=job.is_flow)
        if job.is_flow:
            ctx = FlowContext(bundle, job, problems, child_uses)
            manifest = compile_flow(ctx)
            contexts.append(ctx)
            if manifest is not None:
                manifests[key] = manifest
    for child_key, uses in child_uses.items():
        shown = ", ".join(uses[:5]) + (f" and {len(uses) - 5} more" if len(uses) > 5 else "")
        problems.add(
            "missing_lakehook_parameter",
            f"job '{child_key}' is run by flow task {shown} but does not declare the job parameter "
            f'`lakehook`; add `parameters: [{{name: lakehook, default: ""}}]` to it (notify_done reads '
            f"it to call back), or tag it `lakehook: external` if something outside settles it",
            path=("resources", "jobs", child_key),
            job=child_key,
        )
    for ctx in contexts:
        if ctx.failed:
            manifests.pop(ctx.job.key, None)
    return Diagnosis(manifests, [*bundle.problems, *problems.errors], [*bundle.warnings, *problems.warnings])


def compile_flows(bundle: Bundle) -> dict[str, FlowManifest]:
    """Every flow of ``bundle`` by name (the job key); raises :class:`CompileError` listing all problems."""
    manifests, problems = check_bundle(bundle)
    if problems:
        raise CompileError(problems)
    return manifests


def validate_bundle(
    root: Path | str,
    target: str | None = None,
    variables: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> list[Problem]:
    """Every problem of the bundle at ``root``: errors, then warnings (``Problem.severity``).

    Empty for a clean bundle; never raises for a bad one.
    """
    bundle = load_bundle(root, target, variables, environ=environ, strict=False)
    return diagnose_bundle(bundle).problems


def compile_bundle(
    root: Path | str,
    target: str | None = None,
    variables: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> dict[str, FlowManifest]:
    """Read and compile the bundle at ``root``; raises :class:`CompileError` with every problem."""
    bundle = load_bundle(root, target, variables, environ=environ, strict=False)
    return compile_flows(bundle)
