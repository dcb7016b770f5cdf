# Databricks notebook source
print("cell 1 ran")

# COMMAND ----------

# MAGIC %sh
# MAGIC ls -la /tmp
