# Databricks notebook source
print("before spark")

# COMMAND ----------

spark.range(3).count()

# ruff: noqa: F821 - dbutils, spark and names from %run are the notebook runtime's globals
