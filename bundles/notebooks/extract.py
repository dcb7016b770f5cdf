# Databricks notebook source
# MAGIC %md
# MAGIC # extract
# MAGIC
# MAGIC Writes one source's rows for a nightly run as a CSV file under `data_root`, then hands the
# MAGIC file on: `notify_done({"rows": n, "path": ...})`. The flow passes those to `combine` as
# MAGIC `{{tasks.extract_a.values.rows}}` and `{{tasks.extract_a.values.path}}`.
# MAGIC
# MAGIC The rows are deterministic, so a retry of the same run rewrites the same file. Run by hand
# MAGIC (empty `lakehook`), the notebook works the same and `notify_done` only warns.

# COMMAND ----------

# notebook_lib comes from the lakehook wheel where the job installs it (a classic cluster's task
# libraries, a serverless job environment). A serverless notebook task takes no job environment, so
# there it is imported from the bundle's own files, which sit two folders above this notebook.
import importlib.util
import os
import sys

if importlib.util.find_spec("notebook_lib") is None:
    sys.path.append(os.path.abspath(os.path.join("..", "..")))

# COMMAND ----------

dbutils.widgets.text("lakehook", "")
dbutils.widgets.text("source", "a")
dbutils.widgets.text("rows", "10")
dbutils.widgets.text("data_root", "")
dbutils.widgets.text("run_date", "")
dbutils.widgets.text("flow_run", "")

source = dbutils.widgets.get("source")
rows = int(dbutils.widgets.get("rows"))
data_root = dbutils.widgets.get("data_root")
if not data_root:
    raise ValueError("the data_root parameter is empty: give it a directory (a volume path on Databricks)")
run = dbutils.widgets.get("run_date") or dbutils.widgets.get("flow_run") or "manual"

# COMMAND ----------

import csv

run_dir = os.path.join(data_root, "nightly", run)
os.makedirs(run_dir, exist_ok=True)  # volumes are mounted under /Volumes: plain file I/O works
path = os.path.join(run_dir, f"extract_{source}.csv")

with open(path, "w", newline="", encoding="utf-8") as f:
    writer = csv.writer(f)
    writer.writerow(["id", "source", "amount"])
    for i in range(rows):
        writer.writerow([f"{source}-{i:04d}", source, f"{(i * 37 + ord(source[0])) % 100 + 0.25:.2f}"])

# COMMAND ----------

import json

from notebook_lib import notify_done

value = {"rows": rows, "path": path}
notify_done(value)
dbutils.notebook.exit(json.dumps(value))  # the run's output too, for a resolver that lost the callback
