# Databricks notebook source
dbutils.jobs.taskValues.set("rows", 10)
dbutils.jobs.taskValues.set("meta", {"table": "events"})
print("set the task values")

# ruff: noqa: F821 - dbutils, spark and names from %run are the notebook runtime's globals
