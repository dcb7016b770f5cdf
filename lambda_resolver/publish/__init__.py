"""``lakehook publish``: hand a deployed bundle's flows to the resolver, with their job ids.

Job ids exist only after ``databricks bundle deploy``. Publishing maps every job key a flow
points at to the id that deploy gave it, and stores each flow whose manifest changed as a new
version (a run keeps the version it started with). Ids come from one of two places:

- the JSON of ``databricks bundle summary -t <target> --output json`` (:mod:`.summary`);
- the workspace itself, through databricks-sdk (unified auth), by the name each job was deployed
  under (:mod:`.workspace`).

The resolver is reached over HTTP or by direct Lambda invocation with IAM (:mod:`.resolvers`);
:mod:`.diff` says what changed, :mod:`.step` is the whole step. Nothing here imports typer;
:mod:`lambda_resolver.cli.publish_cmd` is the command. databricks-sdk and boto3 are imported only
when used.
"""

from __future__ import annotations

from lambda_resolver.publish.diff import CHANGED, NEW, UNCHANGED, FlowChange, describe_changes
from lambda_resolver.publish.errors import AmbiguousJob, NotDeployed, PublishError, ResolverError
from lambda_resolver.publish.ids import SUMMARY, WORKSPACE, DeployedJob, IdSource, JobIds
from lambda_resolver.publish.resolvers import HttpResolver, LambdaResolver, Resolver
from lambda_resolver.publish.step import (
    PublishReport,
    compile_target,
    plan,
    publish_bundle,
    referenced_jobs,
    with_ids,
)
from lambda_resolver.publish.summary import ids_from_summary, read_summary, summary_source
from lambda_resolver.publish.workspace import (
    DEV_PREFIX,
    CurrentUser,
    ListedJob,
    SdkWorkspace,
    Workspace,
    bundle_workspace,
    deployed_names,
    ids_from_workspace,
    name_prefix,
    short_user_name,
    workspace_source,
)

__all__ = [
    "CHANGED",
    "DEV_PREFIX",
    "NEW",
    "SUMMARY",
    "UNCHANGED",
    "WORKSPACE",
    "AmbiguousJob",
    "CurrentUser",
    "DeployedJob",
    "FlowChange",
    "HttpResolver",
    "IdSource",
    "JobIds",
    "LambdaResolver",
    "ListedJob",
    "NotDeployed",
    "PublishError",
    "PublishReport",
    "Resolver",
    "ResolverError",
    "SdkWorkspace",
    "Workspace",
    "bundle_workspace",
    "compile_target",
    "deployed_names",
    "describe_changes",
    "ids_from_summary",
    "ids_from_workspace",
    "name_prefix",
    "plan",
    "publish_bundle",
    "read_summary",
    "referenced_jobs",
    "short_user_name",
    "summary_source",
    "with_ids",
    "workspace_source",
]
