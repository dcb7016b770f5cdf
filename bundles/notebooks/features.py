# Databricks notebook source
# MAGIC %md
# MAGIC # features
# MAGIC
# MAGIC Writes one feature set of an ml_pipeline run (`feature_set`: users, items or events) as a JSON
# MAGIC file under `data_root`, then hands it on: `notify_done({"rows": n, "path": ...})`. The three
# MAGIC feature jobs run in parallel; `combine_features` joins their files.
# MAGIC
# MAGIC The values are deterministic (arithmetic on the row number), so runs and retries are repeatable.

# COMMAND ----------

# notebook_lib: from the wheel where the job installs it, else from the bundle's files (see extract).
import importlib.util
import os
import sys

if importlib.util.find_spec("notebook_lib") is None:
    sys.path.append(os.path.abspath(os.path.join("..", "..")))

# COMMAND ----------

dbutils.widgets.text("lakehook", "")
dbutils.widgets.text("feature_set", "users")
dbutils.widgets.text("rows", "50")
dbutils.widgets.text("data_root", "")
dbutils.widgets.text("run_date", "")
dbutils.widgets.text("flow_run", "")

feature_set = dbutils.widgets.get("feature_set")
rows = int(dbutils.widgets.get("rows"))
data_root = dbutils.widgets.get("data_root")
if not data_root:
    raise ValueError("the data_root parameter is empty: give it a directory (a volume path on Databricks)")
run = dbutils.widgets.get("run_date") or dbutils.widgets.get("flow_run") or "manual"

# COMMAND ----------

import json


def user(i):
    return {"user": f"u{i}", "age": 18 + (i * 7) % 50, "tenure_days": (i * 13) % 365}


def item(i):
    return {"item": f"i{i}", "price": 5 + (i * 17) % 95}


def event(i):
    # Users and items by number, as the other two feature sets name them (50 users and 20 items by
    # default; combine_features drops events whose user or item is missing). Clicks follow the dwell
    # time, blurred by a deterministic noise, so a model can learn them but not perfectly.
    dwell = 5 + (i * 37) % 60
    noise = ((i * 7919) % 101) / 100
    return {
        "user": f"u{(i * 7) % 50}",
        "item": f"i{(i * 3) % 20}",
        "dwell_seconds": dwell,
        "clicked": int(dwell + 30 * noise > 50),
    }


makers = {"users": user, "items": item, "events": event}
if feature_set not in makers:
    raise ValueError(f"feature_set {feature_set!r} is not one of {', '.join(makers)}")
records = [makers[feature_set](i) for i in range(rows)]

run_dir = os.path.join(data_root, "ml_pipeline", run)
os.makedirs(run_dir, exist_ok=True)
path = os.path.join(run_dir, f"features_{feature_set}.json")
with open(path, "w", encoding="utf-8") as f:
    json.dump(records, f)

# COMMAND ----------

from notebook_lib import notify_done

value = {"rows": len(records), "path": path}
notify_done(value)
dbutils.notebook.exit(json.dumps(value))
