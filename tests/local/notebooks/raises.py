# Databricks notebook source
print("about to divide")

# COMMAND ----------


def ratio(a, b):
    return a / b


ratio(1, 0)
