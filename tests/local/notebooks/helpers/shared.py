# Databricks notebook source
WHO = dbutils.widgets.get("who")


def greet():
    return "hello from shared"


# ruff: noqa: F821 - dbutils, spark and names from %run are the notebook runtime's globals
