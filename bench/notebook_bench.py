"""Benchmark of the notebook side: wheel size and dependencies, import cost, one callback's latency.

Run from the repository root::

    .venv/bin/python bench/notebook_bench.py [--calls 200] [--import-runs 11]

1. Builds the project wheel (``python -m pip wheel --no-deps``) from a scratch copy of the
   work tree (so no ``build/`` or ``*.egg-info`` is left behind), reports its size and checks
   that its only ``Requires-Dist`` outside extras is ``requests``.
2. Installs that wheel into a scratch directory the way pip does (unzip + byte-compile) and
   measures ``python -X importtime -c 'import notebook_lib'`` in fresh interpreters: the
   cumulative microseconds of ``notebook_lib``, median of N runs; also without ``.pyc`` files.
3. Times ``notify_done`` round trips against a loopback HTTP server: the default path (a new
   connection per call) and with a shared ``requests.Session`` (``session=``).

Prints a table and writes ``bench/results/notebook.json``.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "notebook.json"
SKIP = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".lakehook", ".*_cache", "bench", "tests"
)


def build_wheel(scratch: Path) -> Path:
    src = scratch / "src"
    shutil.copytree(ROOT, src, ignore=SKIP)
    out = scratch / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(src)],
        check=True,
        capture_output=True,
        text=True,
    )
    (wheel,) = out.glob("lakehook-*.whl")
    return wheel


def wheel_facts(wheel: Path) -> dict[str, Any]:
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        (meta_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = zf.read(meta_name).decode()
        nb_infos = [i for i in zf.infolist() if i.filename.startswith("notebook_lib/")]
    requires = [
        line.split(":", 1)[1].strip() for line in metadata.splitlines() if line.startswith("Requires-Dist:")
    ]
    core = [r for r in requires if "extra ==" not in r]
    core_names = sorted({re.split(r"[\s<>=!~;\[(]", r, maxsplit=1)[0].lower() for r in core})
    return {
        "file": wheel.name,
        "size_bytes": wheel.stat().st_size,
        "packages": sorted({n.split("/", 1)[0] for n in names if "/" in n and ".dist-info" not in n}),
        "notebook_lib_files": sorted(n for n in names if n.startswith("notebook_lib/")),
        "notebook_lib_bytes": sum(i.file_size for i in nb_infos),
        "notebook_lib_compressed_bytes": sum(i.compress_size for i in nb_infos),
        "requires_dist_core": core,
        "only_core_dependency_is_requests": core_names == ["requests"],
        "requires_dist_in_extras": len(requires) - len(core),
    }


def install_like_pip(wheel: Path, target: Path, *, compile_pyc: bool) -> None:
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(target)
    if compile_pyc:
        compileall.compile_dir(str(target / "notebook_lib"), quiet=1)


def import_us(site: Path, runs: int) -> list[int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEHOOK")}
    env["PYTHONPATH"] = str(site)
    samples = []
    for _ in range(runs):
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", "import notebook_lib"],
            capture_output=True,
            text=True,
            env=env,
            cwd=str(site),
            check=True,
        )
        line = next(ln for ln in proc.stderr.splitlines() if ln.rstrip().endswith("| notebook_lib"))
        samples.append(int(line.split("|")[1]))
    return samples


class _Resolver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so a shared session can reuse its connection
    disable_nagle_algorithm = True  # else headers and body, written apart, meet delayed ACKs (~40 ms)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        doc = {
            "id": self.path.split("/")[-2],
            "state": "RESOLVED",
            "value": json.loads(body).get("value"),
            "error": None,
            "created_at": "2026-11-23T10:00:00.000Z",
            "settled_at": "2026-11-23T10:00:01.000Z",
            "timeout_at": "2026-11-23T11:00:00.000Z",
        }
        data = json.dumps(doc).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


FIRST_CALL = """
import time
t0 = time.perf_counter()
from notebook_lib import notify_done
notify_done({"rows": 1}, handle=HANDLE)
print((time.perf_counter() - t0) * 1000)
"""


def first_call_ms(handle: str, runs: int) -> list[float]:
    """Import plus the first notify_done of a fresh process (it pays for importing requests)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEHOOK")}
    env["PYTHONPATH"] = str(ROOT)
    code = FIRST_CALL.replace("HANDLE", repr(handle))
    return [
        float(
            subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
            ).stdout
        )
        for _ in range(runs)
    ]


def round_trips(calls: int, first_runs: int) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    import requests

    from notebook_lib import encode_handle, notify_done

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Resolver)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    handle = encode_handle(f"http://127.0.0.1:{httpd.server_address[1]}", "bench-1", "bench-token")
    value = {"rows": 123456, "table": "main.sales.daily", "date": "2026-11-23"}
    out: dict[str, Any] = {}
    try:
        with requests.Session() as shared:
            for name, session in (("new_connection_per_call", None), ("shared_session", shared)):
                for _ in range(10):  # warm-up
                    notify_done(value, handle=handle, session=session)
                samples = []
                for _ in range(calls):
                    t0 = time.perf_counter()
                    notify_done(value, handle=handle, session=session)
                    samples.append((time.perf_counter() - t0) * 1000)
                samples.sort()
                out[name] = {
                    "calls": calls,
                    "median_ms": round(statistics.median(samples), 2),
                    "p95_ms": round(samples[int(0.95 * (len(samples) - 1))], 2),
                    "max_ms": round(samples[-1], 2),
                }
        first = first_call_ms(handle, first_runs)
        out["first_call_in_a_fresh_process"] = {
            "runs": first_runs,
            "median_ms": round(statistics.median(first), 1),
            "max_ms": round(max(first), 1),
        }
    finally:
        httpd.shutdown()
        httpd.server_close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--import-runs", type=int, default=11)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="lakehook-bench-") as tmp:
        scratch = Path(tmp)
        wheel = build_wheel(scratch)
        facts = wheel_facts(wheel)
        with_pyc, without_pyc = scratch / "site", scratch / "site-nopyc"
        install_like_pip(wheel, with_pyc, compile_pyc=True)
        install_like_pip(wheel, without_pyc, compile_pyc=False)
        imp = import_us(with_pyc, args.import_runs)
        imp_src = import_us(without_pyc, args.import_runs)
    rtt = round_trips(args.calls, first_runs=5)

    result = {
        "measured_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": "python bench/notebook_bench.py",
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU(s)",
        "wheel": facts,
        "import_notebook_lib": {
            "runs": args.import_runs,
            "median_us": int(statistics.median(imp)),
            "min_us": min(imp),
            "max_us": max(imp),
            "median_us_without_pyc": int(statistics.median(imp_src)),
        },
        "notify_done_round_trip": rtt,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")

    rows = [
        ("wheel", f"{facts['file']}: {facts['size_bytes']:,} bytes ({', '.join(facts['packages'])})"),
        (
            "notebook_lib in it",
            f"{len(facts['notebook_lib_files'])} files, {facts['notebook_lib_bytes']:,} bytes "
            f"({facts['notebook_lib_compressed_bytes']:,} compressed)",
        ),
        ("Requires-Dist (no extra)", ", ".join(facts["requires_dist_core"])),
        ("only requests outside extras", str(facts["only_core_dependency_is_requests"])),
        (
            f"import notebook_lib (median of {args.import_runs})",
            f"{result['import_notebook_lib']['median_us']:,} µs "
            f"(min {min(imp):,}, max {max(imp):,}; without .pyc {int(statistics.median(imp_src)):,} µs)",
        ),
    ]
    for name, r in rtt.items():
        spread = f"p95 {r['p95_ms']} ms" if "p95_ms" in r else f"max {r['max_ms']} ms"
        rows.append((f"notify_done, {name.replace('_', ' ')}", f"median {r['median_ms']} ms, {spread}"))
    width = max(len(k) for k, _ in rows)
    for key, val in rows:
        print(f"{key:<{width}}  {val}")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
