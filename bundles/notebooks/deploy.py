# Databricks notebook source
# MAGIC %md
# MAGIC # deploy
# MAGIC
# MAGIC Runs once the approval gate of ml_pipeline is settled. A real job would register the model or
# MAGIC update a serving endpoint; this one writes a deployment record next to the model:
# MAGIC `notify_done({"deployed": path})`.

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
dbutils.widgets.text("auc", "")

model_path = dbutils.widgets.get("model")
auc = float(dbutils.widgets.get("auc"))

# COMMAND ----------

import json

if not os.path.isfile(model_path):
    raise FileNotFoundError(f"no model at {model_path}")
path = os.path.join(os.path.dirname(model_path), "deployment.json")
with open(path, "w", encoding="utf-8") as f:
    json.dump({"model": model_path, "auc": auc, "status": "deployed"}, f, indent=2, sort_keys=True)

# COMMAND ----------

from notebook_lib import notify_done

value = {"deployed": path, "auc": auc}
notify_done(value)
dbutils.notebook.exit(json.dumps(value))
