# Databricks notebook source
# MAGIC %md
# MAGIC # train
# MAGIC
# MAGIC Fits a tiny linear scorer on the training set of an ml_pipeline run: each feature is
# MAGIC standardised and weighted by how far apart its mean is for clicked and not-clicked rows. Pure
# MAGIC Python, so it runs anywhere in well under a second; a real job would train with Spark or MLflow
# MAGIC here. This job runs on a classic cluster with the lakehook wheel as a task library.
# MAGIC
# MAGIC `step()` settles the task from how the block ends: `notify_done(s.value)` on success, or
# MAGIC `notify_failed(exc)` and the exception re-raised — the flow then retries the task (`max_retries: 2`).

# COMMAND ----------

# notebook_lib: from the wheel where the job installs it, else from the bundle's files (see extract).
import importlib.util
import os
import sys

if importlib.util.find_spec("notebook_lib") is None:
    sys.path.append(os.path.abspath(os.path.join("..", "..")))

# COMMAND ----------

dbutils.widgets.text("lakehook", "")
dbutils.widgets.text("training_set", "")

training_set = dbutils.widgets.get("training_set")

# COMMAND ----------

import json
import statistics

from notebook_lib import step

FEATURES = ("age", "tenure_days", "price", "dwell_seconds")

with step() as s:
    with open(training_set, encoding="utf-8") as f:
        rows = json.load(f)
    clicked = [r for r in rows if r["clicked"]]
    skipped = [r for r in rows if not r["clicked"]]
    if not clicked or not skipped:
        raise ValueError("the training set needs clicked and not-clicked rows")
    model = {"features": list(FEATURES), "mean": {}, "std": {}, "weight": {}}
    for name in FEATURES:
        values = [r[name] for r in rows]
        mean, std = statistics.fmean(values), statistics.pstdev(values) or 1.0
        gap = statistics.fmean(r[name] for r in clicked) - statistics.fmean(r[name] for r in skipped)
        model["mean"][name], model["std"][name] = mean, std
        model["weight"][name] = round(gap / std, 6)
    path = os.path.join(os.path.dirname(training_set), "model.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(model, f, indent=2, sort_keys=True)
    s.value = {"model": path, "rows": len(rows)}

# COMMAND ----------

dbutils.notebook.exit(json.dumps(s.value))  # after the step, never inside it
