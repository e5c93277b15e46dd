"""Raises on every row: its rows become abstains and are counted as errors."""


def label(x):
    return {"a": 1}[x["text"]]
