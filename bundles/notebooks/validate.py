# Databricks notebook source
# MAGIC %md
# MAGIC # validate
# MAGIC
# MAGIC Scores the training set with the model of an ml_pipeline run and reports the AUC (the chance
# MAGIC that a clicked row scores above a not-clicked one): `notify_done({"auc": ..., "model": ...})`.
# MAGIC The flow's `check_metric` compares it with the `min_auc` flow parameter. A non-empty
# MAGIC `force_auc` is reported instead of the computed AUC, so demos and tests can take either branch.

# COMMAND ----------

# notebook_lib: from the wheel where the job installs it, else from the bundle's files (see extract).
import importlib.util
import os
import sys

if importlib.util.find_spec("notebook_lib") is None:
    sys.path.append(os.path.abspath(os.path.join("..", "..")))

# COMMAND ----------

dbutils.widgets.text("lakehook", "")
dbutils.widgets.text("model", "")
dbutils.widgets.text("training_set", "")
dbutils.widgets.text("force_auc", "")

model_path = dbutils.widgets.get("model")
training_set = dbutils.widgets.get("training_set")
force_auc = dbutils.widgets.get("force_auc").strip()

# COMMAND ----------

import json

with open(model_path, encoding="utf-8") as f:
    model = json.load(f)
with open(training_set, encoding="utf-8") as f:
    rows = json.load(f)


def score(row):
    return sum(
        model["weight"][name] * (row[name] - model["mean"][name]) / model["std"][name]
        for name in model["features"]
    )


positives = [score(r) for r in rows if r["clicked"]]
negatives = [score(r) for r in rows if not r["clicked"]]
wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in positives for n in negatives)
computed = wins / (len(positives) * len(negatives)) if positives and negatives else 0.5
auc = round(float(force_auc) if force_auc else computed, 4)
print(f"AUC {auc} (computed {computed:.4f}{', forced' if force_auc else ''})")

# COMMAND ----------

from notebook_lib import notify_done

value = {"auc": auc, "model": model_path}
notify_done(value)
dbutils.notebook.exit(json.dumps(value))
