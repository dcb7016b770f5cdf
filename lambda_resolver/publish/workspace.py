"""Job ids from the workspace: each job looked up by the name deploy gave it (databricks-sdk).

In ``mode: development`` that name is ``"[dev <short name>] <name>"``, the short name derived from
the current user as the Databricks CLI does it (:func:`short_user_name`); ``presets.name_prefix``,
when set, replaces that prefix. Exactly one job must carry the name. databricks-sdk is imported
only when a client is built.
"""

from __future__ import annotations

import re
import threading
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from lambda_resolver.publish.errors import AmbiguousJob, PublishError, not_deployed
from lambda_resolver.publish.ids import WORKSPACE, DeployedJob, IdSource, JobIds

if TYPE_CHECKING:
    from lambda_resolver.compiler import Bundle

DEV_PREFIX = "[dev {short_name}] "
_USER_REFS = re.compile(r"\$\{workspace\.current_user\.(short_name|userName|user_name)\}")


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
        raise not_deployed(missing, target, where)
    detail = f"workspace {host}" if host else "the workspace"
    if prefix:
        detail += f", jobs named {prefix!r} + name"
    return JobIds(WORKSPACE, detail, found)


def _names_hint(names: Mapping[str, str], missing: Sequence[str]) -> str:
    shown = [repr(names[k]) for k in missing[:3]]
    return ", ".join(shown) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")


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
