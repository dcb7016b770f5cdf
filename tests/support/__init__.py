"""Shared test support: fakes and builders. Imported as ``support`` (pytest pythonpath)."""
