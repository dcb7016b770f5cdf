# Databricks notebook source
# MAGIC %md
# MAGIC # cleanup
# MAGIC
# MAGIC The last task of ml_pipeline (`run_if: ALL_DONE`): whether the model was deployed, rejected or
# MAGIC never validated, it removes the run's intermediate feature files and keeps the training set,
# MAGIC the model and the deployment or rejection record: `notify_done({"removed": [...]})`.

# COMMAND ----------

# notebook_lib: from the wheel where the job installs it, else from the bundle's files (see extract).
import importlib.util
import os
import sys

if importlib.util.find_spec("notebook_lib") is None:
    sys.path.append(os.path.abspath(os.path.join("..", "..")))

# COMMAND ----------

dbutils.widgets.text("lakehook", "")
dbutils.widgets.text("data_root", "")
dbutils.widgets.text("run_date", "")
dbutils.widgets.text("flow_run", "")

data_root = dbutils.widgets.get("data_root")
if not data_root:
    raise ValueError("the data_root parameter is empty: give it a directory (a volume path on Databricks)")
run = dbutils.widgets.get("run_date") or dbutils.widgets.get("flow_run") or "manual"

# COMMAND ----------

import json

run_dir = os.path.join(data_root, "ml_pipeline", run)
names = sorted(os.listdir(run_dir)) if os.path.isdir(run_dir) else []
removed = []
for name in names:
    if name.startswith("features_") and name.endswith(".json"):
        os.remove(os.path.join(run_dir, name))
        removed.append(name)

# COMMAND ----------

from notebook_lib import notify_done

value = {"removed": removed}
notify_done(value)
dbutils.notebook.exit(json.dumps(value))
