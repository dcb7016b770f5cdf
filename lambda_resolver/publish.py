"""``lakehook publish``: hand a deployed bundle's flows to the resolver, with their job ids.

Job ids exist only after ``databricks bundle deploy``. Publishing maps every job key a flow
points at to the id that deploy gave it, and stores each flow whose manifest changed as a new
version (a run keeps the version it started with). Ids come from one of two places:

- the JSON of ``databricks bundle summary -t <target> --output json``: the bundle's resolved
  configuration, where ``resources.jobs.<key>.id`` is the deployed id (a string) and ``url`` its
  page; a job without an id is not deployed (``modified_status: "created"``);
- the workspace itself, through databricks-sdk (unified auth): ``jobs.list(name=...)`` for the
  name each job was deployed under — the bundle's name after the target's presets. In
  ``mode: development`` that is ``"[dev <short name>] <name>"``, the short name derived from the
  current user as the Databricks CLI does it (:func:`short_user_name`); ``presets.name_prefix``,
  when set, replaces that prefix. Exactly one job must carry the name.

Nothing here imports typer; :mod:`lambda_resolver.cli.publish_cmd` is the command. The resolver
is reached over HTTP (:class:`HttpResolver`, ``LAKEHOOK_URL`` + operator key) or by direct Lambda
invocation with IAM (:class:`LambdaResolver`). databricks-sdk and boto3 are imported only when
used.
"""

from __future__ import annotations

import json
import re
import threading
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from lambda_resolver.core.errors import Problem
from lambda_resolver.core.manifest import FlowManifest

if TYPE_CHECKING:
    from lambda_resolver.client import LakehookClient
    from lambda_resolver.compiler import Bundle

SUMMARY = "summary"
WORKSPACE = "workspace"

DEV_PREFIX = "[dev {short_name}] "
_USER_REFS = re.compile(r"\$\{workspace\.current_user\.(short_name|userName|user_name)\}")


# -- errors --------------------------------------------------------------------------------------------
class PublishError(Exception):
    """Publishing cannot go on. The message says what to do; ``problems`` are a bundle's compile
    problems (to be printed one by one)."""

    def __init__(self, message: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.problems = list(problems)


class NotDeployed(PublishError):
    """Jobs a flow runs have no deployed id for the target."""

    def __init__(self, message: str, keys: Sequence[str]) -> None:
        super().__init__(message)
        self.keys = list(keys)


class AmbiguousJob(PublishError):
    """Several workspace jobs carry the name a bundle job was deployed under."""


class ResolverError(PublishError):
    """The resolver could not be reached, or refused a request."""


# -- job ids ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DeployedJob:
    """A bundle job as deployed: its key, id, deployed name and page (when known)."""

    key: str
    job_id: int
    name: str = ""
    url: str = ""


@dataclass(frozen=True)
class JobIds:
    """Where the ids came from (``source``: "summary" or "workspace", ``detail`` for people)
    and the deployed job of every key asked for."""

    source: str
    detail: str
    jobs: dict[str, DeployedJob]

    @property
    def ids(self) -> dict[str, int]:
        return {key: job.job_id for key, job in self.jobs.items()}


def _not_deployed(keys: Sequence[str], target: str, where: str) -> NotDeployed:
    shown = ", ".join(f"'{k}'" for k in keys)
    noun = "job" if len(keys) == 1 else "jobs"
    verb = "is" if len(keys) == 1 else "are"
    return NotDeployed(
        f"{noun} {shown} {verb} not deployed to target '{target}' ({where}); run "
        f"`databricks bundle deploy -t {target}` first (then `databricks bundle summary -t {target} "
        f"--output json` again if you pass --summary)",
        keys,
    )


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
        raise _not_deployed(missing, target, f"no id in {origin}")
    return JobIds(SUMMARY, origin, found)


# -- names as deployed ----------------------------------------------------------------------------------
def short_user_name(user_name: str, display_name: str = "") -> str:
    """``${workspace.current_user.short_name}`` as the Databricks CLI derives it.

    The part before ``@`` of the user name — a service principal's (its user name is a UUID)
    display name when it has one — lowercased, every character that is not a letter or a digit
    replaced by ``_``, runs of ``_`` collapsed, and ``_`` trimmed from both ends:
    ``jane.doe@example.com`` → ``jane_doe`` (the CLI's ``iamutil.GetShortUserName`` and
    ``textutil.NormalizeString``).
    """
    name = user_name
    if display_name and _is_uuid(user_name):
        name = display_name
    local = name.split("@", 1)[0].lower()
    mapped = "".join(c if c.isalpha() or unicodedata.category(c) == "Nd" else "_" for c in local)
    return re.sub(r"_+", "_", mapped).strip("_")


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class CurrentUser:
    """The workspace identity names are derived from (``current_user.me()``)."""

    user_name: str
    display_name: str = ""

    @property
    def short_name(self) -> str:
        return short_user_name(self.user_name, self.display_name)


def name_prefix(bundle: Bundle, user: Callable[[], CurrentUser]) -> str:
    """What the target's presets put in front of every job name on deploy.

    ``presets.name_prefix`` when set (its ``${workspace.current_user.*}`` filled in); otherwise
    ``"[dev <short name>] "`` in ``mode: development``; otherwise nothing. ``user`` is called only
    when the prefix needs the current user.
    """
    presets = bundle.config.get("presets")
    configured = presets.get("name_prefix") if isinstance(presets, Mapping) else None
    if isinstance(configured, str) and configured:
        if not _USER_REFS.search(configured):
            return configured
        me = user()

        def fill(m: re.Match[str]) -> str:
            return me.short_name if m.group(1) == "short_name" else me.user_name

        return _USER_REFS.sub(fill, configured)
    if bundle.mode == "development":
        return DEV_PREFIX.format(short_name=user().short_name)
    return ""


def deployed_names(bundle: Bundle, keys: Iterable[str], prefix: str) -> dict[str, str]:
    """Job key → the name it was deployed under (the bundle's name with ``prefix``)."""
    return {key: prefix + bundle.job(key).name for key in keys}


# -- the workspace --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ListedJob:
    """One answer of ``jobs/list``."""

    job_id: int
    name: str
    creator: str = ""


class Workspace(Protocol):
    """What looking jobs up needs from a workspace."""

    @property
    def host(self) -> str: ...

    def jobs_named(self, name: str) -> list[ListedJob]: ...

    def current_user(self) -> CurrentUser: ...


class SdkWorkspace:
    """A workspace through databricks-sdk: unified auth (``DATABRICKS_HOST``/``_TOKEN``, OAuth,
    ``~/.databrickscfg`` profiles) with optional ``host``/``profile``. The client is built on first
    use (building it already calls the workspace); ``client_factory`` replaces all of that."""

    def __init__(
        self,
        *,
        host: str | None = None,
        profile: str | None = None,
        client_factory: Callable[[], Any] | None = None,
    ) -> None:
        self._host = host
        self._profile = profile
        self._factory = client_factory
        self._client: Any = None
        self._lock = threading.Lock()

    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                try:
                    self._client = self._factory() if self._factory is not None else self._build()
                except Exception as exc:  # noqa: BLE001 - bad auth or host: one clear message
                    raise PublishError(
                        f"cannot connect to the Databricks workspace: {exc}; configure auth as for the "
                        "Databricks CLI (DATABRICKS_HOST + DATABRICKS_TOKEN, OAuth, or --profile), "
                        "or pass --summary"
                    ) from None
            return self._client

    def _build(self) -> Any:
        from databricks.sdk import WorkspaceClient
        from databricks.sdk.config import Config

        from lambda_resolver import __version__

        fields: dict[str, Any] = {"retry_timeout_seconds": 60}
        if self._host:
            fields["host"] = self._host
        if self._profile:
            fields["profile"] = self._profile
        return WorkspaceClient(config=Config(product="lakehook", product_version=__version__, **fields))

    @property
    def host(self) -> str:
        return str(getattr(self.client().config, "host", "") or "").rstrip("/")

    def jobs_named(self, name: str) -> list[ListedJob]:
        """``jobs/list?name=`` (exact, case-insensitive, as Databricks filters), every page."""
        try:
            listed = list(self.client().jobs.list(name=name))
        except Exception as exc:  # noqa: BLE001 - any SDK error: say what failed
            raise PublishError(f"listing jobs named {name!r} failed: {exc}") from None
        return [
            ListedJob(
                int(j.job_id),
                str(getattr(j.settings, "name", "") or ""),
                str(j.creator_user_name or ""),
            )
            for j in listed
            if j.job_id is not None
        ]

    def current_user(self) -> CurrentUser:
        try:
            me = self.client().current_user.me()
        except Exception as exc:  # noqa: BLE001
            raise PublishError(
                f"cannot read the current user (needed for the '[dev <user>] ' name prefix): {exc}; "
                "pass --dev-user <short name>, or --summary"
            ) from None
        return CurrentUser(str(me.user_name or ""), str(me.display_name or ""))


def ids_from_workspace(
    bundle: Bundle,
    keys: Iterable[str],
    workspace: Workspace,
    *,
    dev_user: str | None = None,
) -> JobIds:
    """The deployed id of each job key, by looking its deployed name up in the workspace.

    ``dev_user`` is the short name to use in the ``[dev <user>]`` prefix instead of asking the
    workspace for its current user. Raises :class:`NotDeployed` (no job carries a name) or
    :class:`AmbiguousJob` (several do), naming every such job.
    """
    keys = list(keys)
    user: Callable[[], CurrentUser] = (
        (lambda: CurrentUser(dev_user)) if dev_user is not None else workspace.current_user
    )
    prefix = name_prefix(bundle, user)
    names = deployed_names(bundle, keys, prefix)
    target = bundle.target or "default"
    found: dict[str, DeployedJob] = {}
    missing: list[str] = []
    ambiguous: list[str] = []
    host = workspace.host
    for key in keys:
        name = names[key]
        listed = workspace.jobs_named(name)
        if len(listed) > 1:  # the API matches case-insensitively; an exact match breaks the tie
            exact = [j for j in listed if j.name == name]
            listed = exact or listed
        if not listed:
            missing.append(key)
        elif len(listed) > 1:
            shown = ", ".join(
                f"{j.job_id} ({j.creator})" if j.creator else str(j.job_id)
                for j in sorted(listed, key=lambda j: j.job_id)
            )
            ambiguous.append(f"'{key}' as {name!r}: jobs {shown}")
        else:
            job = listed[0]
            found[key] = DeployedJob(key, job.job_id, job.name, f"{host}/jobs/{job.job_id}" if host else "")
    where = f"no job named {_names_hint(names, missing)} in {host or 'the workspace'}"
    if ambiguous:
        raise AmbiguousJob(
            "several workspace jobs carry the name a bundle job was deployed under: "
            + "; ".join(ambiguous)
            + f". Pass the ids of this deployment with --summary <(databricks bundle summary -t {target} "
            "--output json), or delete the stray copies"
        )
    if missing:
        raise _not_deployed(missing, target, where)
    detail = f"workspace {host}" if host else "the workspace"
    if prefix:
        detail += f", jobs named {prefix!r} + name"
    return JobIds(WORKSPACE, detail, found)


def _names_hint(names: Mapping[str, str], missing: Sequence[str]) -> str:
    shown = [repr(names[k]) for k in missing[:3]]
    return ", ".join(shown) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")


# -- the resolver ---------------------------------------------------------------------------------------
class Resolver(Protocol):
    """The operator door ``publish`` uses: the latest manifests, and publishing a new version."""

    @property
    def where(self) -> str: ...

    def latest(self) -> dict[str, int]:
        """Every published flow's latest version, by name."""
        ...

    def manifest(self, name: str) -> dict[str, Any]:
        """The latest manifest of ``name`` (``FlowManifest.to_dict`` shape, with ``version``)."""
        ...

    def publish(self, manifest: Mapping[str, Any], *, production: bool = False) -> int:
        """Store ``manifest`` as the flow's next version; returns that version. ``production``:
        the target is ``mode: production`` (a flow's first schedule then starts active)."""
        ...


class HttpResolver:
    """The resolver's HTTP API (``LAKEHOOK_URL``, operator key from ``LAKEHOOK_OPERATOR_KEY``)."""

    def __init__(self, client: LakehookClient | None = None) -> None:
        if client is None:
            from lambda_resolver.client import LakehookClient

            client = LakehookClient()
        self.client = client

    @property
    def where(self) -> str:
        return self.client.url

    def latest(self) -> dict[str, int]:
        flows = self._do(self.client.list_flows)
        return {str(f["name"]): int(f["version"]) for f in flows if isinstance(f, Mapping)}

    def manifest(self, name: str) -> dict[str, Any]:
        doc: dict[str, Any] = self._do(lambda: self.client.get_flow(name))
        return doc

    def publish(self, manifest: Mapping[str, Any], *, production: bool = False) -> int:
        answer = self._do(lambda: self.client.publish(manifest, production=production))
        return int(answer["version"])

    def _do(self, call: Callable[[], Any]) -> Any:
        from lambda_resolver.client import LakehookClientError

        try:
            return call()
        except LakehookClientError as exc:
            if exc.status == 0:
                raise ResolverError(
                    f"cannot reach the resolver at {self.client.url} (LAKEHOOK_URL): {exc.message}; set "
                    "LAKEHOOK_URL to the stack's FunctionUrl output (or start `lakehook dev`), or use "
                    "--lambda <FunctionArn>"
                ) from None
            if exc.status in (401, 403):
                raise ResolverError(
                    f"the resolver at {self.client.url} refused the operator request ({exc.status} "
                    f"{exc.code}: {exc.message}); set LAKEHOOK_OPERATOR_KEY to the operator key, or use "
                    "--lambda <FunctionArn> with IAM"
                ) from None
            raise ResolverError(f"the resolver at {self.client.url} answered {exc}") from None


class LambdaResolver:
    """The operator door by direct Lambda invocation (IAM): ``{"lakehook": "<action>", ...}``
    events answered ``{"status": ..., "body": ...}``. ``function`` is the function's name or ARN
    (the stack's ``FunctionArn`` output, the ``live`` alias); credentials and region come from
    boto3's usual chain, the region from the ARN when it has one."""

    def __init__(self, function: str, *, client_factory: Callable[[], Any] | None = None) -> None:
        self.function = function
        self._factory = client_factory
        self._client: Any = None

    @property
    def where(self) -> str:
        return f"Lambda {self.function}"

    def _lambda(self) -> Any:
        if self._client is None:
            if self._factory is not None:
                self._client = self._factory()
            else:
                import boto3

                parts = self.function.split(":")
                region = parts[3] if self.function.startswith("arn:") and len(parts) > 3 else None
                kwargs: dict[str, Any] = {"region_name": region} if region else {}
                self._client = boto3.client("lambda", **kwargs)
        return self._client

    def invoke(self, action: str, **fields: Any) -> Any:
        """One action; its ``body`` when ``status`` < 400, else :class:`ResolverError`."""
        event = {"lakehook": action, **fields}
        try:
            answer = self._lambda().invoke(
                FunctionName=self.function,
                InvocationType="RequestResponse",
                Payload=json.dumps(event).encode(),
            )
            raw = answer["Payload"].read()
        except Exception as exc:  # noqa: BLE001 - botocore's errors: credentials, IAM, network
            raise ResolverError(
                f"cannot invoke {self.function}: {type(exc).__name__}: {exc}; the caller needs "
                "lambda:InvokeFunction on the `live` alias (attach the stack's OperatorPolicyArn) "
                "and AWS credentials for that account"
            ) from None
        try:
            doc = json.loads(raw or b"null")
        except ValueError:
            doc = None
        if answer.get("FunctionError"):
            message = doc.get("errorMessage") if isinstance(doc, Mapping) else None
            raise ResolverError(f"{self.function} failed: {message or answer['FunctionError']}")
        if not isinstance(doc, Mapping) or "status" not in doc:
            raise ResolverError(f"{self.function} did not answer like the lakehook resolver: {raw[:200]!r}")
        status, body = int(doc["status"]), doc.get("body")
        if status >= 400:
            err = body.get("error") if isinstance(body, Mapping) else None
            err = err if isinstance(err, Mapping) else {}
            raise ResolverError(
                f"{self.function} answered {status} {err.get('code', 'error')}: {err.get('message', body)}"
            )
        return body

    def latest(self) -> dict[str, int]:
        body = self.invoke("list_flows")
        flows = body.get("flows", []) if isinstance(body, Mapping) else []
        return {str(f["name"]): int(f["version"]) for f in flows if isinstance(f, Mapping)}

    def manifest(self, name: str) -> dict[str, Any]:
        body = self.invoke("get_flow", name=name)
        return dict(body) if isinstance(body, Mapping) else {}

    def publish(self, manifest: Mapping[str, Any], *, production: bool = False) -> int:
        body = self.invoke("publish", manifest=dict(manifest), production=production)
        return int(body["version"])


# -- what changed -------------------------------------------------------------------------------------
NEW, CHANGED, UNCHANGED = "new", "changed", "unchanged"


@dataclass
class FlowChange:
    """One flow of the bundle against the resolver's latest version of it."""

    flow: str
    status: str  # new | changed | unchanged
    current_version: int | None
    changes: list[str]
    manifest: FlowManifest
    version: int | None = None  # the version published (None on a dry run)

    def line(self, *, dry_run: bool = False) -> str:
        """``nightly: v3 → v4 (job ids changed: extract_a 101 → 205; tasks: +cleanup)``."""
        if self.status == UNCHANGED:
            return f"{self.flow}: unchanged (v{self.current_version})"
        old = "new" if self.current_version is None else f"v{self.current_version}"
        new = self.version if self.version is not None else (self.current_version or 0) + 1
        detail = "; ".join(self.changes)
        text = f"{self.flow}: {old} → v{new}" + (f" ({detail})" if detail else "")
        return text + (" [dry run: not published]" if dry_run else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "flow": self.flow,
            "status": self.status,
            "from_version": self.current_version,
            "version": self.version,
            "changes": list(self.changes),
            "job_ids": {j.key: j.job_id for j in self.manifest.jobs},
        }


def describe_changes(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[str]:
    """What differs between two manifests (``FlowManifest.to_dict`` shapes), for people:
    job ids first, then tasks, parameters and settings."""
    if old is None:
        first = [f"{len(new.get('tasks', ()))} tasks, {len(new.get('jobs', ()))} jobs"]
        return first + ([f"schedule: {schedule_text(new['schedule'])}"] if new.get("schedule") else [])
    out: list[str] = []
    old_jobs = {j["key"]: j for j in old.get("jobs", ())}
    new_jobs = {j["key"]: j for j in new.get("jobs", ())}
    moved = [
        f"{k} {old_jobs[k].get('job_id')} → {new_jobs[k].get('job_id')}"
        for k in new_jobs
        if k in old_jobs and old_jobs[k].get("job_id") != new_jobs[k].get("job_id")
    ]
    if moved:
        out.append("job ids changed: " + ", ".join(moved))
    other = [
        k
        for k in new_jobs
        if k in old_jobs
        and {**old_jobs[k], "job_id": None} != {**new_jobs[k], "job_id": None}  # name, external
    ]
    jobs_delta = _delta(old_jobs, new_jobs, changed=other)
    if jobs_delta:
        out.append("jobs: " + jobs_delta)
    old_tasks = {t["key"]: t for t in old.get("tasks", ())}
    new_tasks = {t["key"]: t for t in new.get("tasks", ())}
    changed_tasks = [k for k in new_tasks if k in old_tasks and old_tasks[k] != new_tasks[k]]
    tasks_delta = _delta(old_tasks, new_tasks, changed=changed_tasks)
    if tasks_delta:
        out.append("tasks: " + tasks_delta)
    old_params = {p["name"]: p.get("default") for p in old.get("parameters", ())}
    new_params = {p["name"]: p.get("default") for p in new.get("parameters", ())}
    changed_params = [k for k in new_params if k in old_params and old_params[k] != new_params[k]]
    params_delta = _delta(old_params, new_params, changed=changed_params)
    if params_delta:
        out.append("parameters: " + params_delta)
    if old.get("schedule") != new.get("schedule"):
        out.append(f"schedule: {schedule_text(old.get('schedule'))} → {schedule_text(new.get('schedule'))}")
    out.extend(
        f"{name}: {_show(old.get(name))} → {_show(new.get(name))}"
        for name in ("max_concurrent_runs", "queue", "timeout_seconds", "display_name", "source")
        if old.get(name) != new.get(name)
    )
    if not out and _comparable(old) != _comparable(new):
        out.append("manifest changed")
    return out


def schedule_text(schedule: Mapping[str, Any] | None) -> str:
    """A schedule (``FlowSchedule.to_dict``) for people: ``cron "0 0 2 * * ?" Europe/Berlin``,
    ``every 4 HOURS``, or ``none``."""
    if not schedule:
        return "none"
    if schedule.get("kind") == "periodic":
        return f"every {schedule.get('interval')} {schedule.get('unit')}"
    return f'cron "{schedule.get("quartz_cron_expression")}" {schedule.get("timezone_id") or "UTC"}'


def _delta(old: Mapping[str, Any], new: Mapping[str, Any], *, changed: Sequence[str]) -> str:
    parts = [f"+{k}" for k in new if k not in old]
    parts += [f"-{k}" for k in old if k not in new]
    parts += [f"~{k}" for k in changed]
    return " ".join(parts)


def _show(value: Any) -> str:
    return json.dumps(value) if isinstance(value, (str, bool)) or value is None else str(value)


def _comparable(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """A manifest as the store compares it: normalised through FlowManifest, without ``version``."""
    doc = FlowManifest.from_dict(manifest).to_dict()
    doc.pop("version", None)
    return doc


# -- the whole step -------------------------------------------------------------------------------------
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


IdSource = Callable[["Bundle", list[str]], JobIds]


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
        raise _not_deployed(missing, target, f"no id from {ids.detail}")
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
        if _comparable(current) == _comparable(new_doc):
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


def summary_source(summary: Mapping[str, Any], *, target: str, origin: str) -> IdSource:
    """An :data:`IdSource` reading ``databricks bundle summary --output json``."""

    def source(bundle: Bundle, keys: list[str]) -> JobIds:
        return ids_from_summary(summary, keys, target=target, bundle_name=bundle.name, origin=origin)

    return source


def workspace_source(workspace: Workspace, *, dev_user: str | None = None) -> IdSource:
    """An :data:`IdSource` looking deployed names up in ``workspace``."""

    def source(bundle: Bundle, keys: list[str]) -> JobIds:
        return ids_from_workspace(bundle, keys, workspace, dev_user=dev_user)

    return source


def bundle_workspace(bundle: Bundle) -> tuple[str | None, str | None]:
    """``workspace.host`` and ``workspace.profile`` of the bundle's target (when written literally)."""
    ws = bundle.config.get("workspace")
    if not isinstance(ws, Mapping):
        return None, None
    host, profile = ws.get("host"), ws.get("profile")
    literal = [v if isinstance(v, str) and v and "${" not in v else None for v in (host, profile)]
    return literal[0], literal[1]


__all__ = [
    "SUMMARY",
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
