# Databricks notebook source
import json

dbutils.notebook.exit(
    json.dumps(
        {
            "env": dbutils.secrets.get("my-scope", "api.key"),
            "file": dbutils.secrets.get(scope="file_scope", key="password"),
            "scopes": [s.name for s in dbutils.secrets.listScopes()],
        }
    )
)

# ruff: noqa: F821 - dbutils, spark and names from %run are the notebook runtime's globals
