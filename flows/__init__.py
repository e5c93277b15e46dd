"""Prefect flows: they compose the tasks in ``tasks/`` and do no data work themselves."""
