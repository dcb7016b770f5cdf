# Databricks notebook source
# MAGIC %md
# MAGIC # approval gate
# MAGIC
# MAGIC The `approve` job is tagged `lakehook: external`: in a lakehook flow its task starts no run and
# MAGIC waits until a person or another system settles it, for example
# MAGIC
# MAGIC ```sh
# MAGIC lakehook resolve <promise id> --value '{"approved_by": "jane@example.com"}'
# MAGIC ```
# MAGIC
# MAGIC (the promise id is in `lakehook status <run>`). This notebook only exists so the job can be
# MAGIC deployed; run by hand, it says so and ends.

# COMMAND ----------

dbutils.notebook.exit("approve is an approval gate: settle it with `lakehook resolve`, not by running it")
