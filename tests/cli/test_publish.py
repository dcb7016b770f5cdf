"""``lakehook publish``: job ids from a recorded ``databricks bundle summary`` or from a workspace
listing, flows published to a real resolver (HTTP on loopback, or the direct-invoke door), what
changed printed, runs keeping the version they started with, and every error with exit code 2."""

from __future__ import annotations

import io
import json
import re
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import lambda_resolver.cli.publish_cmd  # noqa: F401 - registers `publish` on the app, as main() does
from lambda_resolver.cli.app import app
from lambda_resolver.client import LakehookClient
from lambda_resolver.compiler import load_bundle
from lambda_resolver.core.models import TaskState
from lambda_resolver.http import Services, create_app, handle_operator_event
from lambda_resolver.http.local_server import LocalServer, serve
from lambda_resolver.local import LocalWorkspace, ManualExecutor
from lambda_resolver.publish import (
    AmbiguousJob,
    CurrentUser,
    HttpResolver,
    LambdaResolver,
    NotDeployed,
    PublishError,
    ResolverError,
    SdkWorkspace,
    describe_changes,
    ids_from_summary,
    name_prefix,
    publish_bundle,
    short_user_name,
    summary_source,
    workspace_source,
)
from lambda_resolver.stores.sqlite import SqliteStore

from support.harness import Harness

REPO = Path(__file__).resolve().parents[2]
SUMMARIES = REPO / "tests" / "fixtures" / "bundle_summary"
OPERATOR_KEY = "publish-test-operator-key-0123456789"
WS_TOKEN = "publish-test-workspace-token"


@dataclass
class LiveResolver:
    """The resolver HTTP API on a free loopback port, and the engine behind it."""

    h: Harness
    server: LocalServer
    services: Services

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, key: str | None = OPERATOR_KEY) -> LakehookClient:
        return LakehookClient(self.url, operator_key=key or "", timeout_s=10)


@pytest.fixture
def resolver(tmp_path: Path) -> Iterator[LiveResolver]:
    store = SqliteStore(tmp_path / "lakehook.db")
    h = Harness(store)
    services = Services(engine=lambda: h.engine, signer=h.signer, operator_key=OPERATOR_KEY)
    server = serve(create_app(services), "127.0.0.1", 0, start=False)
    # Served here rather than by server.start(): a short poll interval makes shutdown quick.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield LiveResolver(h, server, services)
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()
        store.close()


@pytest.fixture
def summary() -> Callable[[str], dict[str, Any]]:
    """``summary("dev")``: a recorded ``databricks bundle summary -t dev --output json``."""

    def load(name: str) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads((SUMMARIES / f"{name}.json").read_text())
        return doc

    return load


@pytest.fixture
def bundle_copy(tmp_path: Path) -> Path:
    """A copy of the repository's bundle (databricks.yml and bundles/) to edit."""
    root = tmp_path / "bundle"
    root.mkdir()
    shutil.copy(REPO / "databricks.yml", root / "databricks.yml")
    shutil.copytree(REPO / "bundles", root / "bundles")
    return root


@pytest.fixture
def workspace() -> Iterator[LocalWorkspace]:
    """An empty local workspace (a loopback Jobs API that databricks-sdk talks to)."""
    with LocalWorkspace(executor=ManualExecutor(), token=WS_TOKEN) as ws:
        yield ws


class FakeLambda:
    """boto3's Lambda client, as far as ``invoke`` goes: the event reaches the resolver's real
    direct-invocation door (:func:`handle_operator_event`), the answer comes back as a payload
    stream. ``fail`` makes the next invoke raise (an IAM refusal, say)."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.calls: list[dict[str, Any]] = []
        self.fail: Exception | None = None
        self.function_error = False

    def invoke(self, *, FunctionName: str, InvocationType: str, Payload: bytes) -> dict[str, Any]:
        if self.fail is not None:
            raise self.fail
        event = json.loads(Payload)
        self.calls.append({"function": FunctionName, "type": InvocationType, **event})
        if self.function_error:
            body = {"errorMessage": "Task timed out after 30.00 seconds", "errorType": "Sandbox.Timedout"}
            return {
                "StatusCode": 200,
                "FunctionError": "Unhandled",
                "Payload": io.BytesIO(json.dumps(body).encode()),
            }
        answer = handle_operator_event(event, self.services)
        return {"StatusCode": 200, "ExecutedVersion": "7", "Payload": io.BytesIO(json.dumps(answer).encode())}


Summary = Callable[[str], dict[str, Any]]
NIGHTLY_JOBS = ["extract_a", "extract_b", "combine", "report"]


def summary_ids(doc: dict[str, Any]) -> dict[str, int]:
    return {k: int(j["id"]) for k, j in doc["resources"]["jobs"].items() if "id" in j}


def flat(text: str) -> str:
    """Rich wraps long lines: compare text with its whitespace collapsed."""
    return " ".join(text.split())


def http(resolver: LiveResolver) -> HttpResolver:
    return HttpResolver(resolver.client())


def publish_summary(resolver: Any, doc: dict[str, Any], root: Path = REPO, **kw: Any) -> Any:
    source = summary_source(doc, target="dev", origin="the recorded summary")
    return publish_bundle(root, "dev", job_ids=source, resolver=resolver, **kw)


# -- ids from `databricks bundle summary --output json` ----------------------------------------------
def test_summary_ids_reach_the_resolver(resolver: LiveResolver, summary: Summary) -> None:
    doc = summary("dev")
    report = publish_summary(http(resolver), doc)

    assert report.ids.source == "summary"
    assert report.published == {"ml_pipeline": 1, "nightly": 1}
    assert [c.line() for c in report.flows] == [
        "ml_pipeline: new → v1 (11 tasks, 10 jobs)",
        "nightly: new → v1 (4 tasks, 4 jobs)",
    ]
    expected = summary_ids(doc)
    for name in ("nightly", "ml_pipeline"):
        stored = resolver.h.store.get_flow(name)
        assert stored is not None and stored.version == 1
        assert {j.key: j.job_id for j in stored.jobs} == {j.key: expected[j.key] for j in stored.jobs}
    nightly = resolver.h.store.get_flow("nightly")
    assert nightly is not None
    assert [j.key for j in nightly.jobs] == NIGHTLY_JOBS
    assert nightly.job("extract_a").job_id == 615427039225796  # "id": "615427039225796", a string
    # What the resolver serves is what was published, the ids included.
    served = resolver.client()._call("GET", "/v1/flows/nightly")
    assert {j["key"]: j["job_id"] for j in served["jobs"]} == {k: expected[k] for k in NIGHTLY_JOBS}


def test_publishing_the_same_deployment_again_changes_nothing(
    resolver: LiveResolver, summary: Summary
) -> None:
    publish_summary(http(resolver), summary("dev"))
    again = publish_summary(http(resolver), summary("dev"))
    assert again.published == {}
    assert [c.line() for c in again.flows] == ["ml_pipeline: unchanged (v1)", "nightly: unchanged (v1)"]
    assert resolver.h.store.get_flow("nightly").version == 1  # type: ignore[union-attr]


def test_redeployed_jobs_make_a_new_version_and_say_which_ids_moved(
    resolver: LiveResolver, summary: Summary
) -> None:
    first, second = summary("dev"), summary("dev_redeployed")
    publish_summary(http(resolver), first)
    report = publish_summary(http(resolver), second)

    old, new = summary_ids(first), summary_ids(second)
    assert report.published == {"nightly": 2}  # ml_pipeline runs neither extract_a nor combine
    assert [c.line() for c in report.flows] == [
        "ml_pipeline: unchanged (v1)",
        f"nightly: v1 → v2 (job ids changed: extract_a {old['extract_a']} → {new['extract_a']}, "
        f"combine {old['combine']} → {new['combine']})",
    ]
    v1, v2 = resolver.h.store.get_flow("nightly", 1), resolver.h.store.get_flow("nightly", 2)
    assert v1 is not None and v2 is not None
    assert v1.job("extract_a").job_id == old["extract_a"]
    assert v2.job("extract_a").job_id == new["extract_a"]


def test_dry_run_shows_the_diff_and_publishes_nothing(
    resolver: LiveResolver, summary: Summary, bundle_copy: Path
) -> None:
    publish_summary(http(resolver), summary("dev"), root=bundle_copy)
    nightly = bundle_copy / "bundles" / "nightly.yml"
    nightly.write_text(
        nightly.read_text() + "        - task_key: audit\n"
        "          depends_on: [{task_key: report}]\n"
        "          run_job_task:\n"
        "            job_id: ${resources.jobs.report.id}\n"
    )
    text = nightly.read_text().replace("max_retries: 2", "max_retries: 3")
    nightly.write_text(text)

    dry = publish_summary(http(resolver), summary("dev"), root=bundle_copy, dry_run=True)
    assert dry.published == {}
    assert (
        dry.flows[1].line(dry_run=True) == "nightly: v1 → v2 (tasks: +audit ~report) [dry run: not published]"
    )
    assert resolver.h.store.get_flow("nightly").version == 1  # type: ignore[union-attr]

    real = publish_summary(http(resolver), summary("dev"), root=bundle_copy)
    assert real.published == {"nightly": 2}
    assert real.flows[1].line() == "nightly: v1 → v2 (tasks: +audit ~report)"


def test_describe_changes_covers_jobs_parameters_and_settings() -> None:
    old = {
        "name": "f",
        "max_concurrent_runs": 1,
        "queue": False,
        "parameters": [{"name": "a", "default": "1"}, {"name": "b", "default": ""}],
        "jobs": [{"key": "x", "name": "x", "job_id": 1, "external": False}],
        "tasks": [{"key": "t", "kind": "job", "job_key": "x"}],
    }
    new = {
        **old,
        "max_concurrent_runs": 2,
        "parameters": [{"name": "a", "default": "2"}, {"name": "c", "default": ""}],
        "jobs": [
            {"key": "x", "name": "x", "job_id": 7, "external": False},
            {"key": "y", "name": "y", "job_id": 8, "external": False},
        ],
    }
    assert describe_changes(old, new) == [
        "job ids changed: x 1 → 7",
        "jobs: +y",
        "parameters: +c -b ~a",
        "max_concurrent_runs: 1 → 2",
    ]


def test_a_summary_for_another_target_is_refused(summary: Summary) -> None:
    with pytest.raises(PublishError, match="is for target 'dev', not 'prod'"):
        ids_from_summary(summary("dev"), ["extract_a"], target="prod")


# -- a run keeps its version ------------------------------------------------------------------------
def test_a_running_run_keeps_its_version_and_a_new_run_takes_the_new_one(
    resolver: LiveResolver, summary: Summary
) -> None:
    h, client = resolver.h, resolver.client()
    old, new = summary_ids(summary("dev")), summary_ids(summary("dev_redeployed"))
    publish_summary(http(resolver), summary("dev"))
    first = client.start_run("nightly", run_id="r-before", params={"run_date": "2026-11-23"})
    assert first["flow_version"] == 1

    report = publish_summary(http(resolver), summary("dev_redeployed"))  # extract_a, combine: new ids
    assert report.published == {"nightly": 2}

    def job_id_of(run_id: str, key: str) -> int:
        task = h.task(run_id, key)
        assert task.promise_id is not None
        return h.launcher.run_for(task.promise_id).request.job_id

    # The run started on v1 goes on with v1's ids, also for the task it starts after the publish.
    h.succeed("r-before", "extract_a", {"rows": 10, "path": "/tmp/a.csv"})
    h.succeed("r-before", "extract_b", {"rows": 7, "path": "/tmp/b.csv"})
    assert h.task("r-before", "combine").state in (TaskState.TRIGGERING, TaskState.RUNNING)
    assert job_id_of("r-before", "extract_a") == old["extract_a"]
    assert job_id_of("r-before", "combine") == old["combine"]
    assert old["combine"] != new["combine"]
    h.succeed("r-before", "combine", {"rows": 17, "path": "/tmp/c.csv"})
    h.succeed("r-before", "report")
    assert job_id_of("r-before", "report") == old["report"]
    done = client.get_run("r-before")
    assert (done["flow_version"], done["state"]) == (1, "SUCCESS")

    # nightly allows one active run (max_concurrent_runs: 1), so the next one starts now, on v2.
    second = client.start_run("nightly", run_id="r-after", params={"run_date": "2026-11-24"})
    assert second["flow_version"] == 2
    assert job_id_of("r-after", "extract_a") == new["extract_a"]
    h.succeed("r-after", "extract_a", {"rows": 1, "path": "/tmp/a2.csv"})
    h.succeed("r-after", "extract_b", {"rows": 1, "path": "/tmp/b2.csv"})
    assert job_id_of("r-after", "combine") == new["combine"]


# -- ids from the workspace -------------------------------------------------------------------------
class JaneWorkspace(SdkWorkspace):
    """The local workspace through databricks-sdk, whose current user is jane (the local
    workspace has no SCIM ``Me`` endpoint; the lookup is injectable instead)."""

    def __init__(self, ws: LocalWorkspace, user: str = "jane@example.com") -> None:
        from databricks.sdk import WorkspaceClient

        super().__init__(client_factory=lambda: WorkspaceClient(host=ws.url, token=WS_TOKEN))
        self.user = user
        self.asked = 0

    def current_user(self) -> CurrentUser:
        self.asked += 1
        return CurrentUser(self.user, "Jane Doe")


def register_bundle(ws: LocalWorkspace, prefix: str, *, skip: tuple[str, ...] = ()) -> dict[str, int]:
    """Register the repo bundle's jobs (flows too, as deploy does) under ``prefix`` + name."""
    bundle = load_bundle(REPO, "dev", environ={}, strict=False)
    return {
        key: ws.register_job(None, prefix + job.name, {"parameters": job.spec.get("parameters", [])})
        for key, job in bundle.jobs.items()
        if key not in skip
    }


def test_workspace_lookup_maps_only_the_dev_users_jobs(
    resolver: LiveResolver, workspace: LocalWorkspace
) -> None:
    register_bundle(workspace, "")  # a production copy under the bare names
    register_bundle(workspace, "[dev bob] ")  # a colleague's dev copy
    jane = register_bundle(workspace, "[dev jane] ")
    lookup = JaneWorkspace(workspace)

    report = publish_bundle(REPO, "dev", job_ids=workspace_source(lookup), resolver=http(resolver))

    assert report.ids.source == "workspace"
    assert "jobs named '[dev jane] ' + name" in report.ids.detail
    assert lookup.asked == 1  # the current user, once
    for name in ("nightly", "ml_pipeline"):
        stored = resolver.h.store.get_flow(name)
        assert stored is not None
        assert {j.key: j.job_id for j in stored.jobs} == {j.key: jane[j.key] for j in stored.jobs}


def test_dev_user_option_replaces_the_current_user_call(
    resolver: LiveResolver, workspace: LocalWorkspace
) -> None:
    jane = register_bundle(workspace, "[dev jane] ")
    lookup = JaneWorkspace(workspace, user="someone-else@example.com")
    publish_bundle(REPO, "dev", job_ids=workspace_source(lookup, dev_user="jane"), resolver=http(resolver))
    assert lookup.asked == 0
    assert resolver.h.store.get_flow("nightly").job("report").job_id == jane["report"]  # type: ignore[union-attr]


def test_several_jobs_with_the_deployed_name_are_ambiguous(
    resolver: LiveResolver, workspace: LocalWorkspace
) -> None:
    register_bundle(workspace, "[dev jane] ")
    stray = workspace.register_job(None, "[dev jane] combine", {})
    with pytest.raises(AmbiguousJob) as caught:
        publish_bundle(
            REPO, "dev", job_ids=workspace_source(JaneWorkspace(workspace)), resolver=http(resolver)
        )
    message = caught.value.message
    assert "'combine' as '[dev jane] combine'" in message
    assert str(stray) in message
    assert "--summary" in message
    assert resolver.h.store.get_flow("nightly") is None


def test_a_job_missing_from_the_workspace_is_not_deployed(
    resolver: LiveResolver, workspace: LocalWorkspace
) -> None:
    register_bundle(workspace, "[dev jane] ", skip=("report", "train"))
    with pytest.raises(NotDeployed) as caught:
        publish_bundle(
            REPO, "dev", job_ids=workspace_source(JaneWorkspace(workspace)), resolver=http(resolver)
        )
    assert caught.value.keys == ["report", "train"]
    assert "'[dev jane] report'" in caught.value.message
    assert "databricks bundle deploy -t dev" in caught.value.message


@pytest.mark.parametrize(
    ("user", "display", "short"),
    [
        ("jane@example.com", "", "jane"),
        ("test.user.1234@example.com", "", "test_user_1234"),
        ("tést.üser@example.com", "", "tést_üser"),
        ("first+tag@email.com", "", "first_tag"),
        ('"_quoted"@domain.com', "", "quoted"),
        ("name-o'mally@website.org", "", "name_o_mally"),
        ("Jane.Doe@Example.com", "", "jane_doe"),
        ("1706906c-c0a2-4c25-9f57-3a7aa3cb8123", "my-service-principal", "my_service_principal"),
        ("1706906c-c0a2-4c25-9f57-3a7aa3cb8123", "", "1706906c_c0a2_4c25_9f57_3a7aa3cb8123"),
    ],
)
def test_short_user_name_matches_the_databricks_cli(user: str, display: str, short: str) -> None:
    assert short_user_name(user, display) == short


PRESETS_BUNDLE = """\
bundle: {name: presets}
include: [bundles/*.yml]
targets:
  dev: {mode: development, default: true}
  staging:
    presets: {name_prefix: "[${workspace.current_user.short_name} staging] "}
  team:
    mode: development
    presets: {name_prefix: "team_"}
  prod: {mode: production}
"""


@pytest.mark.parametrize(
    ("target", "prefix"),
    [("dev", "[dev jane_doe] "), ("staging", "[jane_doe staging] "), ("team", "team_"), ("prod", "")],
)
def test_the_name_prefix_follows_the_targets_presets(tmp_path: Path, target: str, prefix: str) -> None:
    (tmp_path / "databricks.yml").write_text(PRESETS_BUNDLE)
    asked: list[str] = []

    def me() -> CurrentUser:
        asked.append(target)
        return CurrentUser("jane.doe@example.com")

    bundle = load_bundle(tmp_path, target, environ={})
    assert name_prefix(bundle, me) == prefix
    assert bool(asked) == (target in ("dev", "staging"))  # the user is looked up only when needed


# -- what can go wrong ------------------------------------------------------------------------------
def test_a_job_without_an_id_in_the_summary_is_not_deployed(resolver: LiveResolver, summary: Summary) -> None:
    doc = summary("dev_report_not_deployed")
    assert doc["resources"]["jobs"]["report"]["modified_status"] == "created"
    with pytest.raises(NotDeployed) as caught:
        publish_summary(http(resolver), doc)
    assert caught.value.keys == ["report"]
    assert "job 'report' is not deployed to target 'dev'" in caught.value.message
    assert "run `databricks bundle deploy -t dev`" in caught.value.message
    assert resolver.h.store.get_flow("ml_pipeline") is None  # nothing is published on an error


def test_a_bundle_that_does_not_compile_reports_every_problem(bundle_copy: Path, summary: Summary) -> None:
    nightly = bundle_copy / "bundles" / "nightly.yml"
    text = nightly.read_text().replace(
        "depends_on: [{task_key: combine}]", "depends_on: [{task_key: combin}]"
    )
    nightly.write_text(text.replace("{{tasks.extract_a.values.rows}}", "{{tasks.nope.values.rows}}"))
    with pytest.raises(PublishError) as caught:
        publish_summary(Untouchable(), summary("dev"), root=bundle_copy)
    problems = caught.value.problems
    found = {(p.code, p.job, p.task) for p in problems}
    # both planted mistakes (and what follows from the first: report's {{tasks.combine...}} refs)
    assert {("unknown_dependency", "nightly", "report"), ("unknown_reference", "nightly", "combine")} <= found
    assert {p.code for p in problems} == {"unknown_dependency", "unknown_reference"}
    assert all(p.file == "bundles/nightly.yml" and p.line for p in problems)


class Untouchable:
    """A resolver that must not be called: a compile error stops publish before it."""

    where = "nowhere"

    def latest(self) -> dict[str, int]:
        raise AssertionError("the resolver must not be called")

    def manifest(self, name: str) -> dict[str, Any]:
        raise AssertionError("the resolver must not be called")

    def publish(self, manifest: Any) -> int:
        raise AssertionError("the resolver must not be called")


def test_an_unreachable_resolver_names_lakehook_url(summary: Summary) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ResolverError) as caught:
        publish_summary(HttpResolver(LakehookClient(url, timeout_s=2)), summary("dev"))
    assert f"cannot reach the resolver at {url} (LAKEHOOK_URL)" in caught.value.message


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the direct-invoke door (IAM) -------------------------------------------------------------------
ARN = "arn:aws:lambda:eu-west-1:123456789012:function:lakehook-resolver:live"


def test_publish_through_direct_lambda_invoke(resolver: LiveResolver, summary: Summary) -> None:
    fake = FakeLambda(resolver.services)
    door = LambdaResolver(ARN, client_factory=lambda: fake)
    report = publish_summary(door, summary("dev"))
    assert report.resolver == f"Lambda {ARN}"
    assert report.published == {"ml_pipeline": 1, "nightly": 1}
    assert [c["lakehook"] for c in fake.calls] == ["list_flows", "publish", "publish"]
    assert {c["function"] for c in fake.calls} == {ARN}
    again = publish_summary(door, summary("dev_redeployed"))
    assert again.published == {"nightly": 2}
    assert [c["lakehook"] for c in fake.calls[3:]] == ["list_flows", "get_flow", "get_flow", "publish"]


def test_direct_invoke_errors_are_clear(resolver: LiveResolver, summary: Summary) -> None:
    fake = FakeLambda(resolver.services)
    door = LambdaResolver(ARN, client_factory=lambda: fake)
    fake.fail = PermissionError("AccessDeniedException: not authorized to perform lambda:InvokeFunction")
    with pytest.raises(ResolverError, match="OperatorPolicyArn"):
        publish_summary(door, summary("dev"))
    fake.fail, fake.function_error = None, True
    with pytest.raises(ResolverError, match="Task timed out"):
        publish_summary(door, summary("dev"))
    fake.function_error = False
    bad = {"lakehook": "publish", "manifest": {"name": "x", "tasks": []}}
    with pytest.raises(ResolverError, match="400 bad_request: invalid flow manifest"):
        door.invoke(bad["lakehook"], manifest=bad["manifest"])


# -- the command, end to end ------------------------------------------------------------------------
@pytest.fixture
def runner(resolver: LiveResolver, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.setenv("LAKEHOOK_URL", resolver.url)
    monkeypatch.setenv("LAKEHOOK_OPERATOR_KEY", OPERATOR_KEY)
    monkeypatch.setenv("COLUMNS", "200")
    for name in ("DATABRICKS_HOST", "DATABRICKS_TOKEN", "DATABRICKS_CONFIG_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "no-databrickscfg"))
    return CliRunner()


def cli(runner: CliRunner, *args: str, stdin: str | None = None) -> Any:
    return runner.invoke(app, ["publish", *args], input=stdin, catch_exceptions=False)


def test_cli_publishes_from_a_summary_file(runner: CliRunner, resolver: LiveResolver) -> None:
    summary_file = SUMMARIES / "dev.json"
    result = cli(runner, "-t", "dev", "--bundle", str(REPO), "--summary", str(summary_file))
    assert result.exit_code == 0, result.output
    text = flat(result.stdout)
    assert f"job ids: from the bundle summary {summary_file} (target dev)" in text
    assert f"resolver: {resolver.url}" in text
    assert "ml_pipeline: new → v1 (11 tasks, 10 jobs)" in text
    assert "nightly: new → v1 (4 tasks, 4 jobs)" in text

    again = cli(
        runner, "-t", "dev", "--bundle", str(REPO), "--summary", str(SUMMARIES / "dev_redeployed.json")
    )
    assert again.exit_code == 0, again.output
    assert re.search(
        r"nightly: v1 → v2 \(job ids changed: extract_a \d+ → \d+, combine \d+ → \d+\)", flat(again.stdout)
    )
    assert "ml_pipeline: unchanged (v1)" in flat(again.stdout)


def test_cli_reads_the_summary_from_stdin_and_prints_json(runner: CliRunner, resolver: LiveResolver) -> None:
    text = (SUMMARIES / "dev.json").read_text()
    dry = cli(runner, "-t", "dev", "-b", str(REPO), "--summary", "-", "--dry-run", "--json", stdin=text)
    assert dry.exit_code == 0, dry.output
    doc = json.loads(dry.stdout)
    assert doc["dry_run"] is True and doc["ids_from"] == "summary"
    assert [(f["flow"], f["status"], f["version"]) for f in doc["flows"]] == [
        ("ml_pipeline", "new", None),
        ("nightly", "new", None),
    ]
    assert resolver.h.store.get_flow("nightly") is None

    real = cli(runner, "-t", "dev", "-b", str(REPO), "--summary", "-", "--json", stdin=text)
    doc = json.loads(real.stdout)
    nightly = doc["flows"][1]
    assert (nightly["status"], nightly["from_version"], nightly["version"]) == ("new", None, 1)
    assert nightly["job_ids"]["extract_a"] == 615427039225796


def test_cli_looks_jobs_up_in_the_workspace(
    runner: CliRunner, resolver: LiveResolver, workspace: LocalWorkspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    register_bundle(workspace, "[dev bob] ")
    jane = register_bundle(workspace, "[dev jane] ")
    monkeypatch.setenv("DATABRICKS_HOST", workspace.url)
    monkeypatch.setenv("DATABRICKS_TOKEN", WS_TOKEN)
    result = cli(runner, "-t", "dev", "-b", str(REPO), "--dev-user", "jane")
    assert result.exit_code == 0, result.output
    assert f"job ids: from workspace {workspace.url}, jobs named '[dev jane] ' + name" in flat(result.stdout)
    assert resolver.h.store.get_flow("nightly").job("combine").job_id == jane["combine"]  # type: ignore[union-attr]


def test_cli_exit_2_when_a_job_is_not_deployed(runner: CliRunner, resolver: LiveResolver) -> None:
    summary_file = SUMMARIES / "dev_report_not_deployed.json"
    result = cli(runner, "-t", "dev", "-b", str(REPO), "--summary", str(summary_file))
    assert result.exit_code == 2
    assert "job 'report' is not deployed to target 'dev'" in flat(result.stderr)
    assert resolver.h.store.get_flow("nightly") is None


def test_cli_exit_2_with_every_compile_problem(runner: CliRunner, bundle_copy: Path) -> None:
    nightly = bundle_copy / "bundles" / "nightly.yml"
    nightly.write_text(
        nightly.read_text().replace("depends_on: [{task_key: combine}]", "depends_on: [{task_key: x}]")
    )
    result = cli(runner, "-t", "dev", "-b", str(bundle_copy), "--summary", str(SUMMARIES / "dev.json"))
    assert result.exit_code == 2
    err = flat(result.stderr)
    assert "problem(s) in the bundle" in err
    assert "bundles/nightly.yml" in err and "job nightly task report" in err
    assert "the bundle does not compile for target 'dev'" in err


def test_cli_exit_2_when_the_resolver_is_unreachable(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("LAKEHOOK_URL", url)
    result = cli(runner, "-t", "dev", "-b", str(REPO), "--summary", str(SUMMARIES / "dev.json"))
    assert result.exit_code == 2
    assert f"cannot reach the resolver at {url} (LAKEHOOK_URL)" in flat(result.stderr)


def test_cli_exit_2_when_the_operator_key_is_wrong(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAKEHOOK_OPERATOR_KEY", "not-the-operator-key-at-all")
    result = cli(runner, "-t", "dev", "-b", str(REPO), "--summary", str(SUMMARIES / "dev.json"))
    assert result.exit_code == 2
    assert "set LAKEHOOK_OPERATOR_KEY" in flat(result.stderr)


def test_cli_exit_2_on_a_bad_summary(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "summary.json"
    bad.write_text("Warning: unknown field: alerts\n{}")
    result = cli(runner, "-t", "dev", "-b", str(REPO), "--summary", str(bad))
    assert result.exit_code == 2
    assert "is not JSON" in flat(result.stderr)
    missing = cli(runner, "-t", "dev", "-b", str(REPO), "--summary", str(tmp_path / "nope.json"))
    assert missing.exit_code == 2
    assert "cannot read --summary" in flat(missing.stderr)


def test_cli_publishes_through_lambda(
    runner: CliRunner, resolver: LiveResolver, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    fake = FakeLambda(resolver.services)
    made: list[dict[str, Any]] = []

    def client(service: str, **kw: Any) -> FakeLambda:
        made.append({"service": service, **kw})
        return fake

    monkeypatch.setattr(boto3, "client", client)
    monkeypatch.setenv("LAKEHOOK_URL", "http://127.0.0.1:9")  # not used with --lambda
    result = cli(
        runner, "-t", "dev", "-b", str(REPO), "--summary", str(SUMMARIES / "dev.json"), "--lambda", ARN
    )
    assert result.exit_code == 0, result.output
    assert made == [{"service": "lambda", "region_name": "eu-west-1"}]
    assert f"resolver: Lambda {ARN}" in flat(result.stdout)
    assert resolver.h.store.get_flow("nightly").version == 1  # type: ignore[union-attr]
