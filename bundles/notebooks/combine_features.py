# Databricks notebook source
# MAGIC %md
# MAGIC # combine_features
# MAGIC
# MAGIC Joins the three feature files of an ml_pipeline run (paths from the flow:
# MAGIC `{{tasks.features_users.values.path}}` and so on) into one training set — one row per event,
# MAGIC with its user's and item's features — and hands it on: `notify_done({"rows": n, "path": ...})`.

# COMMAND ----------

# notebook_lib: from the wheel where the job installs it, else from the bundle's files (see extract).
import importlib.util
import os
import sys

if importlib.util.find_spec("notebook_lib") is None:
    sys.path.append(os.path.abspath(os.path.join("..", "..")))

# COMMAND ----------

dbutils.widgets.text("lakehook", "")
dbutils.widgets.text("users_path", "")
dbutils.widgets.text("items_path", "")
dbutils.widgets.text("events_path", "")

users_path = dbutils.widgets.get("users_path")
items_path = dbutils.widgets.get("items_path")
events_path = dbutils.widgets.get("events_path")

# COMMAND ----------

import json


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


users = {u["user"]: u for u in load(users_path)}
items = {i["item"]: i for i in load(items_path)}
training = [
    {
        "age": users[e["user"]]["age"],
        "tenure_days": users[e["user"]]["tenure_days"],
        "price": items[e["item"]]["price"],
        "dwell_seconds": e["dwell_seconds"],
        "clicked": e["clicked"],
    }
    for e in load(events_path)
    if e["user"] in users and e["item"] in items
]
if not training:
    raise ValueError("no event matches a known user and item: the training set would be empty")

path = os.path.join(os.path.dirname(events_path), "training_set.json")
with open(path, "w", encoding="utf-8") as f:
    json.dump(training, f)

# COMMAND ----------

from notebook_lib import notify_done

value = {"rows": len(training), "path": path}
notify_done(value)
dbutils.notebook.exit(json.dumps(value))
