# Databricks notebook source
# MAGIC %pip install definitely-not-installed-pkg==1.0 requests

# COMMAND ----------

# MAGIC %run ./helpers/shared $who="included"

# COMMAND ----------

dbutils.notebook.exit(f"{greet()} / {WHO}")

# ruff: noqa: F821 - dbutils, spark and names from %run are the notebook runtime's globals
