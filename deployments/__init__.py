"""Deployment parameters per environment (``*.yaml``); ``prefect.yaml`` defines the deployments.

``local.yaml`` holds :class:`alchemist_core.config.RunConfig` parameters of the
label-dataset deployment, ``relabel.yaml`` :class:`alchemist_core.relabel.RelabelConfig`
parameters of the relabel deployment.
"""
