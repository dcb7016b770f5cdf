# Databricks notebook source
import json

dbutils.widgets.text("rows_param", "")
values = {
    "rows": dbutils.jobs.taskValues.get("produce", "rows"),
    "meta": dbutils.jobs.taskValues.get(taskKey="produce", key="meta"),
    "missing": dbutils.jobs.taskValues.get("produce", "missing", default="fallback"),
    "rows_param": dbutils.widgets.get("rows_param"),
}
dbutils.notebook.exit(json.dumps(values))

# ruff: noqa: F821 - dbutils, spark and names from %run are the notebook runtime's globals
