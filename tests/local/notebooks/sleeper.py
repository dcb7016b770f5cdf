# Databricks notebook source
import os
import signal
import time

if dbutils.widgets.get("ignore_sigterm") == "yes":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
with open(dbutils.widgets.get("pid_file"), "w") as f:
    f.write(str(os.getpid()))
time.sleep(60)

# ruff: noqa: F821 - dbutils, spark and names from %run are the notebook runtime's globals
