"""The whole publish: compile the target, fill in the deployed ids, publish what changed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lambda_resolver.core.manifest import FlowManifest
from lambda_resolver.publish.diff import CHANGED, NEW, UNCHANGED, FlowChange, comparable, describe_changes
from lambda_resolver.publish.errors import PublishError, not_deployed
from lambda_resolver.publish.ids import IdSource, JobIds
from lambda_resolver.publish.resolvers import Resolver

if TYPE_CHECKING:
    from lambda_resolver.compiler import Bundle


@dataclass
class PublishReport:
    """What ``publish`` did (or, on a dry run, would do)."""

    target: str
    ids: JobIds
    resolver: str
    dry_run: bool
    flows: list[FlowChange] = field(default_factory=list)
    elsewhere: list[str] = field(default_factory=list)  # flows on the resolver, not in the bundle

    @property
    def published(self) -> dict[str, int]:
        return {c.flow: c.version for c in self.flows if c.version is not None}

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "ids_from": self.ids.source,
            "ids_detail": self.ids.detail,
            "resolver": self.resolver,
            "dry_run": self.dry_run,
            "flows": [c.to_dict() for c in self.flows],
            "not_in_bundle": list(self.elsewhere),
        }


def compile_target(
    root: Path | str,
    target: str,
    variables: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> tuple[Bundle, dict[str, FlowManifest]]:
    """Read and compile the bundle for ``target``; :class:`PublishError` with every problem."""
    from lambda_resolver.compiler import check_bundle, load_bundle

    bundle = load_bundle(root, target, variables, environ=environ, strict=False)
    flows, problems = check_bundle(bundle)
    if problems:
        raise PublishError(f"the bundle does not compile for target '{target}'", problems)
    if not flows:
        raise PublishError(
            f"the bundle has no flows for target '{target}': tag a job `lakehook: flow` "
            "(see bundles/nightly.yml)"
        )
    return bundle, flows


def referenced_jobs(flows: Mapping[str, FlowManifest]) -> list[str]:
    """Every job key a flow points at, sorted, once."""
    return sorted({j.key for m in flows.values() for j in m.jobs})


def with_ids(flows: Mapping[str, FlowManifest], ids: JobIds, target: str) -> dict[str, FlowManifest]:
    """Each flow with its jobs' deployed ids; every job a flow references must have one."""
    out: dict[str, FlowManifest] = {}
    missing: list[str] = []
    for name, manifest in sorted(flows.items()):
        candidate = manifest.with_job_ids(ids.ids)
        missing += [j.key for j in candidate.jobs if j.job_id is None and j.key not in missing]
        out[name] = candidate
    if missing:
        raise not_deployed(missing, target, f"no id from {ids.detail}")
    return out


def plan(flows: Mapping[str, FlowManifest], resolver: Resolver) -> tuple[list[FlowChange], list[str]]:
    """Each flow against the resolver's latest version; and the resolver's flows not in the bundle."""
    latest = resolver.latest()
    changes: list[FlowChange] = []
    for name, manifest in sorted(flows.items()):
        new_doc = manifest.to_dict()
        if name not in latest:
            changes.append(FlowChange(name, NEW, None, describe_changes(None, new_doc), manifest))
            continue
        current = resolver.manifest(name)
        version = int(current.get("version", latest[name]))
        if comparable(current) == comparable(new_doc):
            changes.append(FlowChange(name, UNCHANGED, version, [], manifest))
        else:
            changes.append(FlowChange(name, CHANGED, version, describe_changes(current, new_doc), manifest))
    return changes, sorted(n for n in latest if n not in flows)


def publish_bundle(
    root: Path | str,
    target: str,
    *,
    job_ids: IdSource,
    resolver: Resolver,
    variables: Mapping[str, Any] | None = None,
    dry_run: bool = False,
    environ: Mapping[str, str] | None = None,
) -> PublishReport:
    """Compile the bundle for ``target``, fill in the deployed job ids from ``job_ids``, and
    publish every flow that differs from the resolver's latest version (nothing on a dry run)."""
    bundle, flows = compile_target(root, target, variables, environ=environ)
    ids = job_ids(bundle, referenced_jobs(flows))
    candidates = with_ids(flows, ids, target)
    changes, elsewhere = plan(candidates, resolver)
    report = PublishReport(target, ids, resolver.where, dry_run, changes, elsewhere)
    if not dry_run:
        for change in changes:
            if change.status != UNCHANGED:
                change.version = resolver.publish(change.manifest.to_dict(), production=bundle.production)
    return report
