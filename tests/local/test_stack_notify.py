"""``lakehook dev`` delivers completion webhooks too (issue 12, finding 5): to loopback receivers,
signed with the stack's own secret (kept apart from its callback-token key), from a worker."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from lambda_resolver.local.stack import LocalStack
from lambda_resolver.webhooks import verify

from support.receivers import LoopbackReceiver

BUNDLE = """\
bundle: {name: t}
include: [bundles/*.yml]
"""
WORK = """\
resources:
  jobs:
    work:
      name: work
      parameters:
        - {name: lakehook, default: ""}
      tasks:
        - task_key: main
          notebook_task: {notebook_path: ../src/a.py}
"""
FLOW = """\
resources:
  jobs:
    f:
      tags: {lakehook: flow}
      tasks:
        - task_key: a
          run_job_task: {job_id: "${resources.jobs.work.id}"}
"""


def _bundle(root: Path) -> Path:
    (root / "bundles").mkdir(parents=True)
    (root / "src").mkdir()
    (root / "src" / "a.py").write_text("print('a')\n")
    (root / "databricks.yml").write_text(BUNDLE)
    (root / "bundles" / "work.yml").write_text(WORK)
    (root / "bundles" / "f.yml").write_text(FLOW)
    return root


def _post(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_lakehook_dev_delivers_to_a_loopback_receiver_signed_with_its_own_secret(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with LoopbackReceiver() as receiver, LocalStack(_bundle(tmp_path / "b"), state, port=0) as stack:
        url = f"{receiver.url}/hooks/p-1"
        status, _ = _post(f"{stack.url}/v1/promises", {"id": "p-1", "timeout_s": 60, "notify_url": url})
        assert status == 201
        status, _ = _post(f"{stack.url}/v1/promises/p-1/resolve", {"value": {"rows": 2}})
        assert status == 200
        (got,) = receiver.wait(1)
        secret = json.loads((state / "notify-secret.json").read_text())["secret"]
        payload = verify(secret, got.headers, got.body)
        assert (payload["type"], payload["data"]["id"], payload["data"]["value"]) == (
            "lakehook.promise.finished",
            "p-1",
            {"rows": 2},
        )
        assert secret not in (state / "signing-key.json").read_text()
        assert (state / "notify-secret.json").stat().st_mode & 0o077 == 0

        status, body = _post(
            f"{stack.url}/v1/promises",
            {"id": "p-2", "timeout_s": 60, "notify_url": "http://169.254.169.254/latest/meta-data/"},
        )
        assert status == 400 and "loopback" in body["error"]["message"]
