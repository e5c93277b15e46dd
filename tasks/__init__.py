"""Thin Prefect tasks: read inputs, call ``alchemist_core``, write artifacts, return references.

Tasks pass URIs and content digests, never DataFrames, so cache keys are cheap and right.
A cached task's key includes the digest of the core code it can run, derived from its source
(:func:`tasks.caching.task_core_modules`): Prefect's ``TASK_SOURCE`` hashes only the task's body.
"""
