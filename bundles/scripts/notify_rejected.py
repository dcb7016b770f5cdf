"""notify_rejected: record that an ml_pipeline model was not deployed, and why.

A Python file task (spark_python_task) on serverless compute, installed with the lakehook wheel
through the job's environment (bundles/notify_rejected.yml). Job parameters reach a Python file only
as arguments: ``--lakehook=<handle>`` is read by ``notify_done`` itself, the others here.
"""

from __future__ import annotations

import argparse
import json
import os

from notebook_lib import notify_done


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lakehook", default="", help="the callback handle (read by notify_done)")
    parser.add_argument("--model", required=True, help="the rejected model's file")
    parser.add_argument("--auc", type=float, required=True, help="the model's AUC")
    parser.add_argument("--min-auc", type=float, required=True, help="the AUC a model needs")
    args = parser.parse_args(argv)

    record = {"model": args.model, "auc": args.auc, "min_auc": args.min_auc, "status": "rejected"}
    path = os.path.join(os.path.dirname(args.model), "rejection.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(record, f, indent=2, sort_keys=True)
    print(f"model rejected: AUC {args.auc} is below {args.min_auc}; see {path}")

    value = {"rejected": path, "auc": args.auc, "min_auc": args.min_auc}
    notify_done(value)
    return value


if __name__ == "__main__":
    main()
