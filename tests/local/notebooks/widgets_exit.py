# Databricks notebook source
# MAGIC %md
# MAGIC # A notebook with widgets
# MAGIC It reads two widgets and exits with a JSON value.

# COMMAND ----------

import json

dbutils.widgets.text("greeting", "hello")
dbutils.widgets.text("name", "nobody")
dbutils.widgets.text("unused", "the default")

# COMMAND ----------

print("cwd is", __import__("os").getcwd())
value = {
    "greeting": dbutils.widgets.get("greeting"),
    "name": dbutils.widgets.get("name"),
    "unused": dbutils.widgets.get("unused"),
}
dbutils.notebook.exit(json.dumps(value))

# COMMAND ----------

raise AssertionError("never reached: notebook.exit stops the notebook")

# ruff: noqa: F821 - dbutils, spark and names from %run are the notebook runtime's globals
