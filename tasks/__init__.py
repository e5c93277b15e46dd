"""Thin Prefect tasks: read inputs, call ``alchemist_core``, write artifacts, return references.

Tasks pass URIs and content digests, never DataFrames, so cache keys are cheap and right.
Each task that calls the core takes the digest of the core code it depends on as an explicit
input: Prefect's ``TASK_SOURCE`` policy hashes only the task's own body.
"""
