# Databricks notebook source
# MAGIC %md
# MAGIC # combine
# MAGIC
# MAGIC Reads the two extracts of a nightly run — their paths and row counts come from the flow as
# MAGIC `{{tasks.extract_a.values.path}}`, `{{tasks.extract_a.values.rows}}` and the same for b — checks
# MAGIC that each file holds the rows its extract reported, and writes the combined file next to them:
# MAGIC `notify_done({"rows": total, "path": ...})`.

# COMMAND ----------

# notebook_lib: from the wheel where the job installs it, else from the bundle's files (see extract).
import importlib.util
import os
import sys

if importlib.util.find_spec("notebook_lib") is None:
    sys.path.append(os.path.abspath(os.path.join("..", "..")))

# COMMAND ----------

dbutils.widgets.text("lakehook", "")
dbutils.widgets.text("rows_a", "")
dbutils.widgets.text("path_a", "")
dbutils.widgets.text("rows_b", "")
dbutils.widgets.text("path_b", "")

inputs = [
    (dbutils.widgets.get("path_a"), int(dbutils.widgets.get("rows_a"))),
    (dbutils.widgets.get("path_b"), int(dbutils.widgets.get("rows_b"))),
]

# COMMAND ----------

import csv

header = None
combined = []
for path, expected in inputs:
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = list(reader)
    if len(rows) != expected:
        raise ValueError(f"{path} holds {len(rows)} rows, but its extract reported {expected}")
    combined.extend(rows)

path = os.path.join(os.path.dirname(inputs[0][0]), "combined.csv")
with open(path, "w", newline="", encoding="utf-8") as f:
    writer = csv.writer(f)
    writer.writerow(header)
    writer.writerows(combined)

# COMMAND ----------

import json

from notebook_lib import notify_done

value = {"rows": len(combined), "path": path}
notify_done(value)
dbutils.notebook.exit(json.dumps(value))
