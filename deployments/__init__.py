"""Deployment definitions and per-environment parameters (see ``prefect.yaml``)."""
