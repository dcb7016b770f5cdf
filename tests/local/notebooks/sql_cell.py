# Databricks notebook source
print("this cell must not run: the %sql cell is checked before any cell runs")

# COMMAND ----------

# MAGIC %sql
# MAGIC SELECT 1
