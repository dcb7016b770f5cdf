# Databricks notebook source
from notebook_lib import notify_done

rows = int(dbutils.widgets.get("rows"))
notify_done({"rows": rows, "table": "main.raw.events"})
dbutils.notebook.exit("notified")

# ruff: noqa: F821 - dbutils, spark and names from %run are the notebook runtime's globals
