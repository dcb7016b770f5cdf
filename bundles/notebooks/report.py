# Databricks notebook source
# MAGIC %md
# MAGIC # report
# MAGIC
# MAGIC Reads the combined file of a nightly run (`{{tasks.combine.values.path}}`) and writes a short
# MAGIC report next to it: rows and amount per source. Ends with
# MAGIC `notify_done({"report": path, "rows": total})`, the flow run's final value.

# COMMAND ----------

# notebook_lib: from the wheel where the job installs it, else from the bundle's files (see extract).
import importlib.util
import os
import sys

if importlib.util.find_spec("notebook_lib") is None:
    sys.path.append(os.path.abspath(os.path.join("..", "..")))

# COMMAND ----------

dbutils.widgets.text("lakehook", "")
dbutils.widgets.text("rows", "")
dbutils.widgets.text("path", "")

source_path = dbutils.widgets.get("path")
expected = int(dbutils.widgets.get("rows"))

# COMMAND ----------

import csv
import json

per_source = {}
with open(source_path, newline="", encoding="utf-8") as f:
    for row in csv.DictReader(f):
        entry = per_source.setdefault(row["source"], {"rows": 0, "amount": 0.0})
        entry["rows"] += 1
        entry["amount"] = round(entry["amount"] + float(row["amount"]), 2)
total = sum(entry["rows"] for entry in per_source.values())
if total != expected:
    raise ValueError(f"{source_path} holds {total} rows, but combine reported {expected}")

report = {
    "rows": total,
    "amount": round(sum(entry["amount"] for entry in per_source.values()), 2),
    "sources": dict(sorted(per_source.items())),
}
path = os.path.join(os.path.dirname(source_path), "report.json")
with open(path, "w", encoding="utf-8") as f:
    json.dump(report, f, indent=2, sort_keys=True)
    f.write("\n")
print(json.dumps(report, indent=2, sort_keys=True))

# COMMAND ----------

from notebook_lib import notify_done

value = {"report": path, "rows": total}
notify_done(value)
dbutils.notebook.exit(json.dumps(value))
