"""Cold start of the AWS resolver: what a fresh Lambda container imports and pays for its first request.

Run from the repository root (about five minutes; ``--quick`` for a smoke run)::

    .venv/bin/python bench/aws_cold_start.py [--runs 11] [--cold-runs 3] [--e2e-runs 5] [--zip-runs 11]

Two paths are measured, each defined by a real event run through a fresh ``Resolver``:

- **callback**: ``POST /v1/promises/{id}/resolve`` with the promise's token (a standalone promise,
  so nothing is triggered) — what a container must import to answer ``notify_done``;
- **trigger**: the same request for the first task of a two-task flow, whose settle triggers the
  second task through databricks-sdk (``jobs/run-now`` to a loopback workspace).

How (``method`` in the JSON says the same):

1. A stage: moto's DynamoDB and Secrets Manager behind a small loopback HTTP endpoint (moto's
   request router, without its Flask server), a ``LocalWorkspace`` for the Jobs API, the table,
   the four secrets and a published flow. Fresh interpreters reach it as a Lambda would reach
   AWS: ``AWS_ENDPOINT_URL``, the template's environment, a Function URL event.
2. The module set of a path: a fresh interpreter records ``sys.modules``, imports
   ``lambda_resolver.aws.handler`` and handles one event of that path; the set is every module
   that appeared, in import order (boto3 and botocore included: the runtime provides them, but
   the container still imports them).
3. Import time of the set: fresh interpreters import exactly that list; wall time around the
   imports (no ``-X importtime`` overhead), under several cache conditions:
   ``warm`` (.pyc present, files in the page cache; median/p90 of ``--runs`` after one discarded run),
   ``no_pyc_project`` (our own packages from a copy without .pyc),
   ``no_pyc_zip`` (every package the Lambda zip ships from a copy without .pyc, as in
   ``/var/task``: the zip carries no .pyc and the directory is read-only, so a cold start
   compiles them; boto3/botocore keep their .pyc, as the runtime's do),
   ``disk_cold`` and ``disk_cold_no_pyc_zip`` (the same after ``sync; echo 3 >
   /proc/sys/vm/drop_caches`` before every run, when permitted).
4. A profile: ``python -X importtime`` of the set, self time summed per top-level package and
   the largest cumulative entries (median of three runs).
5. First request end to end: a fresh interpreter imports the handler and handles two events
   of the path (first = cold container, second = warm container); median of ``--e2e-runs``.
6. The zip: ``scripts/build_lambda.py`` into a scratch directory (``--zip read`` reads
   ``build/lakehook-lambda.zip`` instead).
7. The zip as the runtime imports it (``--zip-runs``, 0 skips it; ``bench/_zip_twin.py``): the
   zip's x86_64 twin, built the same way with its unchecked-hash ``.pyc``, unpacked and imported
   on the callback path by fresh CPython 3.12 interpreters — with the ``.pyc``, without them, and
   without lakehook's own modules (the libraries' floor), interleaved; lakehook's share over that
   floor, which of its modules cost what (``-X importtime``), and the first request end to end.

Prints a table and writes ``bench/results/aws.json`` (``--out``).
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import machine

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "aws.json"
GOAL_MS = 300  # the goal for the callback path
GOAL_SHARE = 0.10  # lakehook's own import share of the callback path, over the libraries it needs
PATHS = ("callback", "trigger")
DOMAIN = "abcdefghijklmnop.lambda-url.us-east-1.on.aws"  # a Function URL host: the handler learns it
TABLE = "lakehook-bench"
PAT = "dapi-bench-token"
OPERATOR_KEY = "bench-operator-key-Xq7Lm2Rt9Vw4Kz8Hn3Bc6Yd1"  # 32+ characters, as the config requires
WEBHOOK_PASSWORD = "bench-webhook-Pa7Qe2Ws9Rd4Tf8Yg3Uh6Ij1"  # noqa: S105 - a fixture
SIGNING = {"active": "k1", "keys": {"k1": base64.b64encode(b"b" * 32).decode()}}
PROJECT_PACKAGES = ("lambda_resolver", "notebook_lib")
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:lakehook-resolver:live"

# Runs in a fresh interpreter: the module set of a path and its first-request timings.
PROBE = r"""
import sys
_before = set(sys.modules)
import json, time
out_path, events_path = sys.argv[1], sys.argv[2]
with open(events_path) as f:
    events = json.load(f)

class Context:
    invoked_function_arn = ARN
    function_name = "lakehook-resolver"
    memory_limit_in_mb = 512
    aws_request_id = "bench"
    def get_remaining_time_in_millis(self):
        return 25_000

t0 = time.perf_counter()
from lambda_resolver.aws.handler import handler
t1 = time.perf_counter()
events_s, walls, statuses, modules = [], [], [], None
for event in events:
    w, s = time.time(), time.perf_counter()
    answer = handler(event, Context())
    events_s.append(time.perf_counter() - s)
    walls.append((w, time.time()))
    statuses.append(answer.get("statusCode"))
    if modules is None:
        modules = [m for m in list(sys.modules) if m not in _before]
origins = {m: getattr(sys.modules.get(m), "__file__", None) for m in ("lambda_resolver", "pydantic")}
with open(out_path, "w") as f:
    json.dump({"import_handler_s": t1 - t0, "events_s": events_s, "walls": walls, "statuses": statuses,
               "modules": modules, "origins": origins}, f)
""".replace("ARN", repr(FUNCTION_ARN))

# Runs in a fresh interpreter: imports a module list in order, timed.
IMPORTER = r"""
import sys, time
out_path, mods_path = sys.argv[1], sys.argv[2]
with open(mods_path) as f:
    mods = f.read().split()
t0, c0 = time.perf_counter(), time.process_time()
failed = []
for m in mods:
    if m not in sys.modules:
        try:
            __import__(m)  # the import statement's path: -X importtime traces it, import_module is not
        except Exception:
            failed.append(m)
seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
import json
origins = {m: getattr(sys.modules.get(m), "__file__", None) for m in ("lambda_resolver", "pydantic")}
with open(out_path, "w") as f:
    json.dump({"seconds": seconds, "cpu_seconds": cpu_seconds, "failed": failed, "origins": origins}, f)
"""


# -- the stage: moto behind HTTP, a loopback workspace, the table, the secrets, a flow ---------------
class _MotoEndpoint(BaseHTTPRequestHandler):
    """Hands each AWS request to moto's router, as ``https://{service}.{region}.amazonaws.com``."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else headers and body, written apart, meet delayed ACKs (~40 ms)
    lock = threading.Lock()  # moto is not atomic under concurrent requests
    calls: list[tuple[float, float, str]] = []  # (wall start, seconds in moto, operation)

    def do_POST(self) -> None:
        from botocore.awsrequest import AWSPreparedRequest
        from botocore.compat import HTTPHeaders
        from moto.core.models import botocore_stubber

        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        scope = re.search(r"Credential=[^/]+/\d+/([^/]+)/([^/]+)/", self.headers.get("Authorization", ""))
        region, service = scope.groups() if scope else ("us-east-1", "unknown")
        host = f"{service}.{region}.amazonaws.com"
        headers = HTTPHeaders()
        for k, v in self.headers.items():
            headers[k] = v
        if "Host" in headers:
            headers.replace_header("Host", host)
        else:
            headers.add_header("Host", host)
        request = AWSPreparedRequest(
            method="POST", url=f"https://{host}{self.path}", headers=headers, body=body, stream_output=False
        )
        with self.lock:
            started, t0 = time.time(), time.perf_counter()
            answer = botocore_stubber.process_request(request)
            target = self.headers.get("X-Amz-Target") or service
            self.calls.append((started, time.perf_counter() - t0, target.rsplit(".", 1)[-1]))
        status, out_headers, out_body = answer if answer else (404, {}, b"unknown service")
        data = out_body.encode() if isinstance(out_body, str) else bytes(out_body or b"")
        self.send_response(int(status))
        for k, v in dict(out_headers).items():
            if k.lower() not in ("content-length", "connection", "transfer-encoding", "server", "date"):
                self.send_header(k, str(v))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class Stage:
    """Where the probes' Lambda lives: its environment, and fresh events for each path."""

    env: dict[str, str]
    resolver: Any
    signer: Any
    sink: Any  # the orchestrator's own resolver logs (powertools prints JSON lines) go there
    counter: int = 0

    def event(self, path: str) -> dict[str, Any]:
        """A Function URL event of ``path`` for a fresh promise (so no settle is a duplicate)."""
        self.counter += 1
        n = self.counter
        with redirect_stdout(self.sink):
            if path == "callback":
                pid = f"bench-cb-{n}"
                answer = self.resolver({"lakehook": "create_promise", "id": pid, "timeout_s": 3600}, None)
            else:
                start = {"lakehook": "start_run", "flow": "bench", "run_id": f"bench-{n}"}
                answer = self.resolver(start, None)
                pid = answer["body"]["tasks"][0]["promise_id"] if answer["status"] == 201 else ""
        if answer["status"] != 201:
            raise RuntimeError(f"stage: {answer}")
        from lambda_resolver.http.local_server import request_event

        body = json.dumps({"value": {"rows": n, "table": "main.sales.daily"}}).encode()
        # A token is bound to the promise's creation (its stored nonce), as the launcher mints it.
        nonce = self.resolver._services.get_engine().get_promise(pid).nonce
        headers = [
            ("content-type", "application/json"),
            ("authorization", f"Bearer {self.signer.token(pid, nonce)}"),
            ("host", DOMAIN),
            ("user-agent", "python-requests/2.32 lakehook-notebook"),
        ]
        return request_event(
            "POST", f"/v1/promises/{pid}/resolve", headers, body, source_ip="203.0.113.7", host=DOMAIN
        )


@contextmanager
def stage(home: Path) -> Iterator[Stage]:
    import boto3
    from moto import mock_aws

    from lambda_resolver.aws.handler import Resolver
    from lambda_resolver.core.ids import TokenSigner
    from lambda_resolver.core.manifest import Dependency, FlowManifest, JobRef, TaskKind, TaskSpec
    from lambda_resolver.local import LocalWorkspace, ManualExecutor
    from lambda_resolver.stores.dynamodb import create_table

    fake_keys = {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    saved = {k: os.environ.get(k) for k in fake_keys}
    os.environ.update(fake_keys)
    endpoint = ThreadingHTTPServer(("127.0.0.1", 0), _MotoEndpoint)
    endpoint.daemon_threads = True
    sink = open(os.devnull, "w")  # noqa: SIM115 - closed in the finally below
    try:
        with mock_aws(), LocalWorkspace(executor=ManualExecutor(), token=PAT) as ws:
            threading.Thread(
                target=endpoint.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            ).start()
            ddb = boto3.client("dynamodb", region_name="us-east-1")
            create_table(ddb, TABLE)
            sm = boto3.client("secretsmanager", region_name="us-east-1")
            secrets = {
                "signing": json.dumps({**SIGNING, "notify": "whsec_" + base64.b64encode(b"n" * 32).decode()}),
                "databricks": json.dumps({"token": PAT}),
                "webhook": json.dumps({"username": "databricks", "password": WEBHOOK_PASSWORD}),
                "operator": OPERATOR_KEY,
            }
            arns = {
                k: sm.create_secret(Name=f"lakehook/{k}", SecretString=v)["ARN"] for k, v in secrets.items()
            }
            spec = {
                "parameters": [{"name": "lakehook", "default": ""}],
                "tasks": [{"task_key": "main", "notebook_task": {"notebook_path": "/bench/job"}}],
            }
            ids = {key: ws.register_job(None, key, spec, key=key) for key in ("first", "second")}
            lambda_env = {
                "LAKEHOOK_TABLE": TABLE,
                "LAKEHOOK_SIGNING_KEYS_SECRET": arns["signing"],
                "LAKEHOOK_DATABRICKS_SECRET": arns["databricks"],
                "LAKEHOOK_WEBHOOK_SECRET": arns["webhook"],
                "LAKEHOOK_OPERATOR_KEY_SECRET": arns["operator"],
                "LAKEHOOK_RESONATE_COMPAT": "0",
                "LAKEHOOK_CALLBACK_URL": "",
                "DATABRICKS_HOST": ws.url,
                "POWERTOOLS_SERVICE_NAME": "lakehook",
                "POWERTOOLS_METRICS_NAMESPACE": "lakehook",
                "LOG_LEVEL": "INFO",
                "AWS_LAMBDA_FUNCTION_NAME": "lakehook-resolver",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
                "AWS_REGION": "us-east-1",
            }
            resolver = Resolver(
                {**lambda_env, "LAKEHOOK_CALLBACK_URL": f"https://{DOMAIN}"},
                dynamodb=lambda: ddb,
                secretsmanager=lambda: sm,
            )
            manifest = FlowManifest(
                name="bench",
                tasks=(
                    TaskSpec("first", TaskKind.JOB, job_key="first"),
                    TaskSpec("second", TaskKind.JOB, depends_on=(Dependency("first"),), job_key="second"),
                ),
                jobs=tuple(JobRef(k, k, v) for k, v in ids.items()),
                max_concurrent_runs=1000,
            )
            with redirect_stdout(sink):
                published = resolver({"lakehook": "publish", "manifest": manifest.to_dict()}, None)
            if published["status"] != 201:
                raise RuntimeError(f"stage: publish answered {published}")
            env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "HOME": str(home),  # no ~/.aws or ~/.databrickscfg of the machine
                "LANG": "C.UTF-8",
                "AWS_ENDPOINT_URL": f"http://127.0.0.1:{endpoint.server_address[1]}",
                "AWS_EC2_METADATA_DISABLED": "true",
                **fake_keys,
                **lambda_env,
            }
            signer = TokenSigner({k: base64.b64decode(v) for k, v in SIGNING["keys"].items()}, "k1")
            yield Stage(env, resolver, signer, sink)
    finally:
        endpoint.shutdown()
        endpoint.server_close()
        sink.close()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# -- cache conditions ---------------------------------------------------------------------------------
@dataclass
class Scratch:
    """Copies of packages without .pyc: ``project`` (ours) and ``zip`` (all the Lambda zip ships)."""

    base: Path
    zip_distributions: list[str] = field(default_factory=list)

    def prepare(self) -> None:
        for name in ("project", "zip"):
            target = self.base / name
            for pkg in PROJECT_PACKAGES:
                shutil.copytree(
                    ROOT / pkg, target / pkg, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
                )
        from importlib import metadata

        self.zip_distributions = zip_distributions()
        for dist_name in self.zip_distributions:
            dist = metadata.distribution(dist_name)
            for rel in dist.files or ():
                if rel.parts[0] == ".." or "__pycache__" in rel.parts or rel.suffix in (".pyc", ".pyo"):
                    continue
                src = Path(str(dist.locate_file(rel)))
                dest = self.base / "zip" / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dest)

    def env(self, condition: str) -> dict[str, str]:
        if condition in ("warm", "disk_cold"):
            return {}
        where = "project" if condition == "no_pyc_project" else "zip"
        return {"PYTHONPATH": str(self.base / where), "PYTHONDONTWRITEBYTECODE": "1"}


def zip_distributions() -> list[str]:
    """What ``scripts/build_lambda.py`` ships: its requirements and their dependencies, minus the
    runtime-provided boto3/botocore/s3transfer (and the project itself, copied from the tree)."""
    from importlib import metadata

    from packaging.requirements import Requirement

    build = _build_module()
    todo = [Requirement(r) for r in build.lambda_requirements()]
    seen: dict[str, str] = {}
    while todo:
        req = todo.pop()
        key = build.normalize(req.name)
        if key in seen or key in build.RUNTIME_PROVIDED:
            continue
        dist = metadata.distribution(req.name)
        seen[key] = dist.metadata["Name"]
        for text in dist.requires or ():
            sub = Requirement(text)
            extras = [*req.extras, ""]
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in extras):
                todo.append(sub)
    return sorted(seen.values(), key=str.lower)


def _build_module() -> Any:
    spec = importlib.util.spec_from_file_location("build_lambda", ROOT / "scripts" / "build_lambda.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def drop_caches() -> str | None:
    """Empty the page cache (root, and a kernel that allows it); the reason when it cannot."""
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


# -- fresh interpreters -------------------------------------------------------------------------------
def run_python(
    code: str,
    args: Sequence[str],
    env: Mapping[str, str],
    cwd: Path,
    *,
    importtime: bool = False,
    python: str = sys.executable,
) -> tuple[dict[str, Any], str]:
    """Run ``code`` in a fresh interpreter; its JSON result and its stderr."""
    out = cwd / "result.json"
    out.unlink(missing_ok=True)
    flags = ["-X", "importtime"] if importtime else []
    proc = subprocess.run(
        [python, *flags, "-c", code, str(out), *args],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if proc.returncode != 0 or not out.exists():
        tail = "\n".join((proc.stderr or proc.stdout).splitlines()[-15:])
        raise RuntimeError(f"fresh interpreter failed (exit {proc.returncode}):\n{tail}")
    return json.loads(out.read_text()), proc.stderr


def probe(
    st: Stage, path: str, events: int, env: Mapping[str, str], cwd: Path, *, python: str = sys.executable
) -> dict[str, Any]:
    """A fresh container handling ``events`` requests of ``path``."""
    batch = cwd / "events.json"
    batch.write_text(json.dumps([st.event(path) for _ in range(events)]))
    _MotoEndpoint.calls.clear()
    result, _ = run_python(PROBE, [str(batch)], {**st.env, **env}, cwd, python=python)
    if any(s != 200 for s in result["statuses"]):
        raise RuntimeError(f"{path} probe answered {result['statuses']}")
    result["aws"] = []
    for begin, end in result["walls"]:  # AWS calls each event made, and the time moto took for them
        calls = [c for c in _MotoEndpoint.calls if begin <= c[0] <= end]
        ops: dict[str, int] = defaultdict(int)
        for _, _, op in calls:
            ops[op] += 1
        result["aws"].append({"ops": dict(sorted(ops.items())), "moto_s": sum(c[1] for c in calls)})
    return result


def import_once(
    modules_file: Path,
    env: Mapping[str, str],
    cwd: Path,
    *,
    importtime: bool = False,
    python: str = sys.executable,
) -> Any:
    result, stderr = run_python(IMPORTER, [str(modules_file)], env, cwd, importtime=importtime, python=python)
    if importtime:
        return result, stderr
    return result


def check_origins(origins: Mapping[str, str | None], condition: str, scratch: Scratch) -> None:
    """The copies without .pyc must be what was imported, or the condition measured nothing."""
    expect = scratch.env(condition).get("PYTHONPATH")
    if expect is None:
        return
    pkgs = ["lambda_resolver"] + (["pydantic"] if condition.endswith("zip") else [])
    for pkg in pkgs:
        if not str(origins.get(pkg) or "").startswith(expect):
            raise RuntimeError(f"{condition}: {pkg} came from {origins.get(pkg)}, not {expect}")


def stats_ms(samples_s: Sequence[float]) -> dict[str, Any]:
    """Median, p90 (nearest rank), min, max in milliseconds."""
    ms = sorted(s * 1000 for s in samples_s)
    p90 = ms[max(0, math.ceil(0.9 * len(ms)) - 1)]
    return {
        "n": len(ms),
        "median_ms": round(statistics.median(ms), 1),
        "p90_ms": round(p90, 1),
        "min_ms": round(ms[0], 1),
        "max_ms": round(ms[-1], 1),
    }


# -- the profile --------------------------------------------------------------------------------------
_LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|( *)(\S+)\s*$")


def parse_importtime(stderr: str, wanted: set[str]) -> list[tuple[str, int, int]]:
    """``(module, self_us, cumulative_us)`` for each module of ``wanted`` in ``-X importtime`` output."""
    rows = []
    for line in stderr.splitlines():
        m = _LINE.match(line)
        if m and m.group(4) in wanted:
            rows.append((m.group(4), int(m.group(1)), int(m.group(2))))
    return rows


def package_of(module: str) -> str:
    parts = module.split(".")
    if parts[0] in ("databricks", "google") and len(parts) > 1:  # namespace packages
        return ".".join(parts[:2])
    return parts[0]


def profile(
    modules: list[str],
    modules_file: Path,
    env: Mapping[str, str],
    cwd: Path,
    *,
    runs: int,
    python: str = sys.executable,
) -> dict[str, Any]:
    wanted = set(modules)
    per_package: dict[str, list[float]] = defaultdict(list)
    cumulative: dict[str, list[int]] = defaultdict(list)
    selfs: dict[str, list[int]] = defaultdict(list)
    walls, failed = [], 0
    for _ in range(runs):
        result, stderr = import_once(modules_file, env, cwd, importtime=True, python=python)
        walls.append(result["seconds"])
        failed = len(result["failed"])
        sums: dict[str, int] = defaultdict(int)
        for mod, self_us, cum_us in parse_importtime(stderr, wanted):
            sums[package_of(mod)] += self_us
            cumulative[mod].append(cum_us)
            selfs[mod].append(self_us)
        for pkg, us in sums.items():
            per_package[pkg].append(us / 1000)
    packages = sorted(((p, statistics.median(v)) for p, v in per_package.items()), key=lambda kv: -kv[1])
    top = sorted(((m, statistics.median(v)) for m, v in cumulative.items()), key=lambda kv: -kv[1])[:15]
    return {
        # the wall time of these runs, inflated by the tracing: what --quick reports as its import
        "wall_ms_under_importtime": {**stats_ms(walls), "modules_not_importable_alone": failed},
        "self_ms_by_package": {p: round(v, 1) for p, v in packages if v >= 0.5},
        "self_ms_total": round(sum(v for _, v in packages), 1),
        "top_cumulative": [
            {
                "module": m,
                "cumulative_ms": round(c / 1000, 1),
                "self_ms": round(statistics.median(selfs[m]) / 1000, 1),
            }
            for m, c in top
        ],
    }


# -- the zip ------------------------------------------------------------------------------------------
def zip_facts(mode: str, scratch_dir: Path) -> dict[str, Any]:
    if mode == "skip":
        return {"skipped": "--zip skip"}
    built = ROOT / "build" / "lakehook-lambda.zip"
    out: dict[str, Any] = {}
    if mode == "build":
        command = [sys.executable, str(ROOT / "scripts" / "build_lambda.py"), "--build-dir", str(scratch_dir)]
        t0 = time.perf_counter()
        proc = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
        out["build_command"] = "python scripts/build_lambda.py --build-dir <scratch>"
        out["build_seconds"] = round(time.perf_counter() - t0, 1)
        if proc.returncode == 0:
            built = scratch_dir / "lakehook-lambda.zip"
            out["build_output"] = proc.stdout.strip().splitlines()
        else:
            out["build_failed"] = (proc.stderr or proc.stdout).strip()[-2000:]
            out["source"] = "build/lakehook-lambda.zip (last build)" if built.exists() else None
    else:
        out["source"] = "build/lakehook-lambda.zip (last build)"
    if not built.exists():
        out["missing"] = str(built)
        return out
    with zipfile.ZipFile(built) as zf:
        infos = zf.infolist()
    sizes: dict[str, int] = defaultdict(int)
    for info in infos:
        top = info.filename.split("/", 1)[0]
        sizes["(metadata)" if top.endswith(".dist-info") else top] += info.file_size
    out.update(
        {
            "zipped_bytes": built.stat().st_size,
            "unzipped_bytes": sum(i.file_size for i in infos),
            "files": len(infos),
            "pyc_files": sum(1 for i in infos if i.filename.endswith(".pyc")),
            "top_unzipped_bytes": dict(sorted(sizes.items(), key=lambda kv: -kv[1])[:10]),
        }
    )
    return out


# -- the whole run ------------------------------------------------------------------------------------
def measure_path(
    st: Stage,
    path: str,
    *,
    args: argparse.Namespace,
    scratch: Scratch,
    conditions: list[str],
    work: Path,
    cold_note: str | None,
) -> dict[str, Any]:
    discovery = probe(st, path, 2, {}, work)  # also writes the .pyc the warm runs use
    modules: list[str] = discovery["modules"]
    modules_file = work / f"{path}.modules"
    modules_file.write_text("\n".join(modules))
    if args.modules_dir is not None:
        args.modules_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy2(modules_file, args.modules_dir / modules_file.name)
    packages: dict[str, int] = defaultdict(int)
    for m in modules:
        packages[package_of(m)] += 1
    out: dict[str, Any] = {
        "event": {
            "callback": "POST /v1/promises/{id}/resolve with the promise token, of a standalone "
            "promise (nothing triggered)",
            "trigger": "POST /v1/promises/{id}/resolve of a flow's first task; the settle triggers the next "
            "task with jobs/run-now through databricks-sdk",
        }[path],
        "modules": len(modules),
        "modules_by_package": dict(sorted(packages.items(), key=lambda kv: -kv[1])),
        "databricks_sdk_imported": any(m == "databricks.sdk" for m in modules),
        "import_ms": {},
    }
    for condition in [] if args.quick else conditions:  # --quick: the profile run is the sample
        if condition.startswith("disk_cold") and cold_note is not None:
            out["import_ms"][condition] = {"skipped": cold_note}
            continue
        env = {**st.env, **scratch.env(condition)}
        runs = args.runs if condition == "warm" else args.cold_runs
        if condition == "warm" and not args.quick:
            import_once(modules_file, env, work)  # discarded: the first run after the probe
        samples, failed = [], []
        for _ in range(runs):
            if condition.startswith("disk_cold"):
                drop_caches()
            result = import_once(modules_file, env, work)
            check_origins(result["origins"], condition, scratch)
            samples.append(result["seconds"])
            failed = result["failed"]
        out["import_ms"][condition] = {
            **stats_ms(samples),
            "modules_not_importable_alone": len(failed),
            "load_1m": round(os.getloadavg()[0], 2),  # other work on the machine inflates medians
        }
    if not args.quick:
        out["import_ms"]["libraries_only_warm"] = libraries_floor(modules, work, path, st.env, args.runs)
    out["profile_warm"] = profile(modules, modules_file, st.env, work, runs=args.profile_runs)
    if args.quick:
        wall = out["profile_warm"]["wall_ms_under_importtime"]
        out["import_ms"]["warm"] = {**wall, "load_1m": round(os.getloadavg()[0], 2), "under_importtime": True}
    if "no_pyc_zip" in conditions:
        env = {**st.env, **scratch.env("no_pyc_zip")}
        out["profile_no_pyc_zip"] = profile(modules, modules_file, env, work, runs=args.profile_runs)
    out["aws_calls"] = {"first_event": discovery["aws"][0]["ops"], "second_event": discovery["aws"][1]["ops"]}
    out["first_request_ms"] = {}
    if args.e2e_runs < 1:  # a smoke run: the discovery probe is the only sample
        out["first_request_ms"]["discovery_only"] = first_request([discovery])
    for condition in ("warm", "no_pyc_zip"):
        if condition in conditions and args.e2e_runs >= 1:
            probes = [probe(st, path, 2, scratch.env(condition), work) for _ in range(args.e2e_runs)]
            for r in probes:
                check_origins(r["origins"], condition, scratch)
            out["first_request_ms"][condition] = {
                **first_request(probes),
                "load_1m": round(os.getloadavg()[0], 2),
            }
    return out


def libraries_floor(modules: Sequence[str], work: Path, path: str, env: Mapping[str, str], runs: int) -> Any:
    """The same import, warm, without the project's own modules: what the libraries the path
    needs (powertools with validation, pydantic, botocore, ...) cost by themselves — a floor no
    change to lakehook's code can go below."""
    own = ("lambda_resolver", "notebook_lib")
    theirs = [m for m in modules if package_of(m) not in own]
    floor_file = work / f"{path}.libraries.modules"
    floor_file.write_text("\n".join(theirs))
    import_once(floor_file, env, work)  # discarded, as for warm
    samples = [import_once(floor_file, env, work)["seconds"] for _ in range(runs)]
    return {**stats_ms(samples), "modules": len(theirs), "load_1m": round(os.getloadavg()[0], 2)}


def measure_twin(st: Stage, twin: Any, *, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """The callback path from the zip's x86_64 twin under CPython 3.12 (bench/_zip_twin.py): import
    time with and without the zip's .pyc, the libraries' floor, lakehook's share over it, which of
    lakehook's modules cost what, and the first request end to end."""
    from _zip_twin import own_module_costs

    envs = {c: {**st.env, **twin.env(c)} for c in ("zip_pyc", "zip_no_pyc")}
    discovery = probe(st, "callback", 2, envs["zip_pyc"], work, python=twin.python)
    modules: list[str] = discovery["modules"]
    full, floor = work / "twin.modules", work / "twin.libraries.modules"
    full.write_text("\n".join(modules))
    floor.write_text("\n".join(m for m in modules if package_of(m) not in PROJECT_PACKAGES))
    runs = {
        "zip_pyc": (full, envs["zip_pyc"]),
        "zip_no_pyc": (full, envs["zip_no_pyc"]),
        "zip_libraries_only": (floor, envs["zip_pyc"]),
    }
    checks = {c: twin.compiled_sources(f, e, work) for c, (f, e) in runs.items()}
    if checks["zip_pyc"]["compiled"] or not checks["zip_no_pyc"]["compiled"]:
        raise RuntimeError(f"twin: {len(checks['zip_pyc']['compiled'])} sources compiled despite the .pyc")
    samples: dict[str, list[float]] = {c: [] for c in runs}
    cpu: dict[str, list[float]] = {c: [] for c in runs}
    for i in range(args.zip_runs + 1):  # interleaved, so load drifts hit every condition alike
        for condition, (modules_file, env) in runs.items():
            result = import_once(modules_file, env, work, python=twin.python)
            if result["failed"]:
                raise RuntimeError(f"twin {condition}: {result['failed'][:5]} did not import")
            if i > 0:  # the first round is discarded, as for warm
                samples[condition].append(result["seconds"])
                cpu[condition].append(result["cpu_seconds"])
    out: dict[str, Any] = {
        "python": checks["zip_pyc"]["version"],
        "modules": len(modules),
        "modules_by_package": dict(
            sorted(defaultdict_count(package_of(m) for m in modules).items(), key=lambda kv: -kv[1])
        ),
        "sources_compiled": {c: len(d["compiled"]) for c, d in checks.items()},
        "import_ms": {c: stats_ms(v) for c, v in samples.items()},
        "import_cpu_ms": {c: stats_ms(v) for c, v in cpu.items()},
    }
    # CPU time is the figure the goal is read on: other work on the machine stretches wall time
    # (and the floor can then come out slower than the whole), much less a process's own CPU time.
    out["lakehook_share"] = {"goal": GOAL_SHARE, "cpu": share(cpu), "wall": share(samples)}
    cpu_share = out["lakehook_share"]["cpu"]["of_medians"]
    out["lakehook_share"]["met"] = None if cpu_share < 0 else cpu_share <= GOAL_SHARE
    stderrs = [
        import_once(full, envs["zip_pyc"], work, importtime=True, python=twin.python)[1]
        for _ in range(args.profile_runs)
    ]
    out["own_modules_pyc"] = own_module_costs(stderrs)
    out["profile_pyc"] = profile(
        modules, full, envs["zip_pyc"], work, runs=args.profile_runs, python=twin.python
    )
    if args.e2e_runs >= 1:
        probes: dict[str, list[Any]] = {"zip_pyc": [], "zip_no_pyc": []}
        for _ in range(args.e2e_runs):
            for condition, done in probes.items():
                done.append(probe(st, "callback", 2, envs[condition], work, python=twin.python))
        out["first_request_ms"] = {c: first_request(p) for c, p in probes.items()}
    out["load_1m"] = round(os.getloadavg()[0], 2)
    return out


def share(samples: Mapping[str, Sequence[float]]) -> dict[str, Any]:
    """lakehook's share over the libraries' floor: of the medians, and per interleaved round."""
    full, floor = samples["zip_pyc"], samples["zip_libraries_only"]
    pairs = sorted((a - b) / b for a, b in zip(full, floor, strict=True))
    med_full, med_floor = statistics.median(full), statistics.median(floor)
    return {
        "of_medians": round((med_full - med_floor) / med_floor, 3),
        "lakehook_ms_of_medians": round((med_full - med_floor) * 1000, 1),
        "median_of_runs": round(statistics.median(pairs), 3),
        "p90_of_runs": round(pairs[max(0, math.ceil(0.9 * len(pairs)) - 1)], 3),
    }


def defaultdict_count(items: Any) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for item in items:
        counts[item] += 1
    return counts


def first_request(probes: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Stats of fresh containers: importing the handler, their first and second events, and the
    part of each event spent inside moto (what real DynamoDB/Secrets Manager latency replaces)."""
    return {
        "import_handler": stats_ms([r["import_handler_s"] for r in probes]),
        "first_event": stats_ms([r["events_s"][0] for r in probes]),
        "total": stats_ms([r["import_handler_s"] + r["events_s"][0] for r in probes]),
        "second_event": stats_ms([r["events_s"][1] for r in probes]),
        "first_event_in_moto": stats_ms([r["aws"][0]["moto_s"] for r in probes]),
        "second_event_in_moto": stats_ms([r["aws"][1]["moto_s"] for r in probes]),
    }


def versions() -> dict[str, str]:
    from importlib import metadata

    names = (
        "boto3",
        "botocore",
        "aws-lambda-powertools",
        "pydantic",
        "pydantic-core",
        "databricks-sdk",
        "moto",
    )
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=11, help="warm import runs per path (default 11)")
    parser.add_argument("--cold-runs", type=int, default=3, help="runs per no-.pyc / disk-cold condition")
    parser.add_argument(
        "--e2e-runs", type=int, default=5, help="fresh containers per path for the first request"
    )
    parser.add_argument("--profile-runs", type=int, default=3, help="-X importtime runs per profile")
    parser.add_argument("--paths", default=",".join(PATHS), help="callback,trigger")
    parser.add_argument("--zip", choices=("build", "read", "skip"), default="build")
    parser.add_argument(
        "--zip-runs",
        type=int,
        default=11,
        help="import runs per condition of the zip's x86_64 twin under CPython 3.12 (0: skip the twin)",
    )
    parser.add_argument("--no-drop-caches", action="store_true", help="skip the disk_cold conditions")
    parser.add_argument("--quick", action="store_true", help="smoke run: callback path, warm, 1 run, no zip")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--modules-dir", type=Path, help="also write each path's module list there")
    args = parser.parse_args(argv)
    paths = [p for p in args.paths.split(",") if p]
    conditions = ["warm", "no_pyc_project", "no_pyc_zip", "disk_cold", "disk_cold_no_pyc_zip"]
    if args.quick:
        args.runs, args.e2e_runs, args.profile_runs, args.zip, args.zip_runs = 1, 0, 1, "skip", 0
        paths, conditions = ["callback"], ["warm"]
    cold_note = "--no-drop-caches" if args.no_drop_caches else None

    started, load_before = time.perf_counter(), os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="lakehook-aws-bench-") as tmp:
        work = Path(tmp)
        (work / "home").mkdir()
        scratch = Scratch(work / "copies")
        if any(c != "warm" for c in conditions):
            scratch.prepare()
        if cold_note is None and any(c.startswith("disk_cold") for c in conditions):
            cold_note = drop_caches()
            if cold_note is not None:
                cold_note = f"cannot drop the page cache: {cold_note}"
        results: dict[str, Any] = {}
        twin: Any = "--zip-runs 0" if args.zip_runs < 1 else None
        if twin is None:
            from _zip_twin import prepare

            print("[bench] the zip's x86_64 twin: build, unpack, CPython 3.12 environment", flush=True)
            twin = prepare(work, versions())
        twin_out: dict[str, Any] = {"skipped": twin} if isinstance(twin, str) else {"build": twin.facts}
        with stage(work / "home") as st:
            if not isinstance(twin, str) and "callback" in paths:
                twin_out.update(measure_twin(st, twin, args=args, work=work))
            for path in paths:
                results[path] = measure_path(
                    st,
                    path,
                    args=args,
                    scratch=scratch,
                    conditions=conditions,
                    work=work,
                    cold_note=cold_note,
                )
        zip_out = zip_facts(args.zip, work / "build")

    callback = results.get("callback", {}).get("import_ms", {})
    doc = {
        "measured_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": "python bench/aws_cold_start.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": machine(load_before),
        "versions": versions(),
        "goal": {
            "callback_path_import_ms": GOAL_MS,
            "met_warm": bool(callback.get("warm", {}).get("median_ms", math.inf) <= GOAL_MS),
            "met_no_pyc_zip": bool(callback.get("no_pyc_zip", {}).get("median_ms", math.inf) <= GOAL_MS)
            if "no_pyc_zip" in callback
            else None,
            "lakehook_share_of_callback_import": GOAL_SHARE,
            "met_share_zip_py312": twin_out["lakehook_share"]["met"]
            if "lakehook_share" in twin_out
            else None,
        },
        "method": {
            "module_set": "sys.modules new after importing lambda_resolver.aws.handler and handling one "
            "event of the path in a fresh interpreter (boto3 clients to moto over loopback HTTP)",
            "import_ms": "wall time of importing that list, in order, in a fresh interpreter "
            "(no -X importtime)",
            "conditions": {
                "warm": ".pyc present, page cache warm; one discarded run first",
                "no_pyc_project": "lambda_resolver and notebook_lib from a copy without .pyc",
                "no_pyc_zip": "every distribution the Lambda zip ships from a copy without .pyc "
                "(boto3/botocore from the venv with .pyc, as the runtime provides them)",
                "disk_cold": "sync; echo 3 > /proc/sys/vm/drop_caches before every run",
                "disk_cold_no_pyc_zip": "both of the above",
                "libraries_only_warm": "warm, the same module list without lambda_resolver and "
                "notebook_lib: the floor set by the libraries themselves",
            },
            "zip_twin_py312": "the callback path from the Lambda zip's x86_64 twin (build_lambda.py "
            "--arch x86_64, unchecked-hash .pyc by CPython 3.12), unpacked, imported by fresh 3.12 "
            "interpreters with PYTHONDONTWRITEBYTECODE; boto3/botocore from a 3.12 environment; "
            "zip_pyc / zip_no_pyc / zip_libraries_only interleaved, one discarded round; "
            "sources_compiled is an audit-hook check of each condition; lakehook_share = (zip_pyc - "
            "zip_libraries_only) / zip_libraries_only, on process CPU time (the goal) and on wall time; "
            "met is null when the floor came out slower than the whole (noise)",
            "p90": "nearest rank",
            "first_request_ms": "fresh interpreter: import the handler, then two events; first_event "
            "includes secrets, boto3 clients, DynamoDB calls against moto over loopback HTTP",
        },
        "zip_distributions": scratch.zip_distributions or None,
        "paths": results,
        "zip_twin_py312": twin_out,
        "zip": zip_out,
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print_table(doc)
    print(f"wrote {args.out}")
    return 0


def print_table(doc: Mapping[str, Any]) -> None:
    m = doc["machine"]
    print(
        f"{m['platform']}, {m['cpu_count']} CPU(s), Python {m['python']} — {doc['measured_at']} "
        f"(load {m['load_average_1m'][0]} before, {m['load_average_1m'][1]} after)"
    )
    rows: list[tuple[str, str]] = []
    for path, r in doc["paths"].items():
        rows.append(
            (f"{path}: modules imported", f"{r['modules']} (databricks.sdk: {r['databricks_sdk_imported']})")
        )
        for cond, s in r["import_ms"].items():
            value = (
                f"skipped ({s['skipped']})"
                if "skipped" in s
                else f"median {s['median_ms']} ms, p90 {s['p90_ms']} ms "
                f"(n={s['n']}, {s['min_ms']}-{s['max_ms']}; load {s['load_1m']})"
            )
            rows.append((f"{path}: import, {cond}", value))
        top = list(r["profile_warm"]["self_ms_by_package"].items())[:5]
        rows.append((f"{path}: warm self ms by package", ", ".join(f"{p} {v}" for p, v in top)))
        for cond, parts in r["first_request_ms"].items():
            rows.append(
                (
                    f"{path}: first request, {cond}",
                    f"median {parts['total']['median_ms']} ms (import {parts['import_handler']['median_ms']}"
                    f" + event {parts['first_event']['median_ms']}); "
                    f"next request {parts['second_event']['median_ms']} ms",
                )
            )
    t = doc.get("zip_twin_py312", {})
    if "import_ms" in t:
        for cond, st in t["import_ms"].items():
            rows.append(
                (
                    f"zip twin, Python {t['python']}: callback import, {cond}",
                    f"median {st['median_ms']} ms, p90 {st['p90_ms']} ms "
                    f"(n={st['n']}, {st['min_ms']}-{st['max_ms']})",
                )
            )
        for cond, st in t["import_cpu_ms"].items():
            rows.append(
                (
                    f"zip twin: callback import CPU time, {cond}",
                    f"median {st['median_ms']} ms, p90 {st['p90_ms']} ms",
                )
            )
        for kind in ("cpu", "wall"):
            sh = t["lakehook_share"][kind]
            rows.append(
                (
                    f"zip twin: lakehook's share over the libraries ({kind})",
                    f"{sh['of_medians']:.1%} of medians ({sh['lakehook_ms_of_medians']} ms), "
                    f"per round median {sh['median_of_runs']:.1%}, p90 {sh['p90_of_runs']:.1%} "
                    f"(goal <= {t['lakehook_share']['goal']:.0%})",
                )
            )
        top = t["own_modules_pyc"]["modules"][:6]
        rows.append(
            (
                "zip twin: lakehook's costliest modules (self)",
                ", ".join(f"{r['module']} {r['self_ms']}" for r in top),
            )
        )
        for cond, parts in t.get("first_request_ms", {}).items():
            rows.append(
                (
                    f"zip twin: first request, {cond}",
                    f"median {parts['total']['median_ms']} ms (import {parts['import_handler']['median_ms']}"
                    f" + event {parts['first_event']['median_ms']})",
                )
            )
    elif "skipped" in t:
        rows.append(("zip twin", f"skipped: {t['skipped']}"))
    z = doc["zip"]
    if "zipped_bytes" in z:
        rows.append(
            (
                "zip",
                f"{z['zipped_bytes']:,} bytes zipped, {z['unzipped_bytes']:,} unzipped, {z['files']} files",
            )
        )
    else:
        rows.append(("zip", json.dumps(z)[:200]))
    width = max(len(k) for k, _ in rows)
    for key, val in rows:
        print(f"{key:<{width}}  {val}")


if __name__ == "__main__":
    sys.exit(main())
