"""Job ids from ``databricks bundle summary --output json``: the bundle's resolved configuration.

After a deploy each ``resources.jobs.<key>`` carries ``id`` (a string) and ``url``; a job without
an id is not deployed (``modified_status: "created"``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from lambda_resolver.publish.errors import PublishError, not_deployed
from lambda_resolver.publish.ids import SUMMARY, DeployedJob, IdSource, JobIds

if TYPE_CHECKING:
    from lambda_resolver.compiler import Bundle


def read_summary(text: str, origin: str = "the bundle summary") -> dict[str, Any]:
    """The parsed output of ``databricks bundle summary --output json``."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise PublishError(
            f"{origin} is not JSON ({exc}); write it with `databricks bundle summary -t <target> "
            "--output json` (warnings go to stderr, the JSON to stdout)"
        ) from None
    if not isinstance(doc, dict):
        raise PublishError(f"{origin} is not a JSON object: pass the output of `databricks bundle summary`")
    return doc


def ids_from_summary(
    summary: Mapping[str, Any],
    keys: Iterable[str],
    *,
    target: str,
    bundle_name: str | None = None,
    origin: str = "the bundle summary",
) -> JobIds:
    """The deployed id of each job key from ``databricks bundle summary --output json``.

    The summary is the bundle's resolved configuration for one target; after a deploy each
    ``resources.jobs.<key>`` carries ``id`` (a string) and ``url``. A key without an id (or
    absent) is not deployed: :class:`NotDeployed` names every such key.
    """
    bundle_doc = summary.get("bundle")
    if isinstance(bundle_doc, Mapping):
        seen_target = bundle_doc.get("target")
        if isinstance(seen_target, str) and seen_target and seen_target != target:
            raise PublishError(
                f"{origin} is for target '{seen_target}', not '{target}'; run "
                f"`databricks bundle summary -t {target} --output json`"
            )
        seen_name = bundle_doc.get("name")
        if bundle_name and isinstance(seen_name, str) and seen_name and seen_name != bundle_name:
            raise PublishError(f"{origin} is for bundle '{seen_name}', not '{bundle_name}' (this bundle)")
    resources = summary.get("resources")
    jobs_doc = resources.get("jobs") if isinstance(resources, Mapping) else None
    jobs_doc = jobs_doc if isinstance(jobs_doc, Mapping) else {}
    found: dict[str, DeployedJob] = {}
    missing: list[str] = []
    for key in keys:
        entry = jobs_doc.get(key)
        raw = entry.get("id") if isinstance(entry, Mapping) else None
        if raw is None or raw == "":
            missing.append(key)
            continue
        try:
            job_id = int(str(raw))
        except ValueError:
            raise PublishError(f"{origin}: job '{key}' has id {raw!r}, not a Databricks job id") from None
        assert isinstance(entry, Mapping)
        found[key] = DeployedJob(key, job_id, str(entry.get("name") or ""), str(entry.get("url") or ""))
    if missing:
        raise not_deployed(missing, target, f"no id in {origin}")
    return JobIds(SUMMARY, origin, found)


def summary_source(summary: Mapping[str, Any], *, target: str, origin: str) -> IdSource:
    """An :data:`IdSource` reading ``databricks bundle summary --output json``."""

    def source(bundle: Bundle, keys: list[str]) -> JobIds:
        return ids_from_summary(summary, keys, target=target, bundle_name=bundle.name, origin=origin)

    return source
