"""The relabel config and what a relabel run reads from its source run."""

from __future__ import annotations

import pytest

from alchemist_core.data.storage import open_storage
from alchemist_core.errors import InputError
from alchemist_core.relabel import load_relabel_config, read_source_run


def test_config_from_yaml_and_flags(tmp_path):
    path = tmp_path / "relabel.yaml"
    path.write_text("source_run: runs/demo-1\ndata:\n  source: a.csv\n  id_field: id\n")
    config = load_relabel_config(str(path), {"data.source": "b.csv", "student": False, "seed": None})
    assert (config.data.source, config.data.id_field, config.student, config.sandbox) == ("b.csv", "id", False, None)
    # The run digest follows the data, not where the run is written or how Dask runs it.
    moved = load_relabel_config(str(path), {"data.source": "b.csv", "student": False, "storage": "s3://b/p", "dask.n_workers": 8})
    assert moved.run_digest("d1") == config.run_digest("d1") != config.run_digest("d2")
    with pytest.raises(InputError, match="source_run: Field required"):
        load_relabel_config(overrides={"data.source": "b.csv"})


def test_source_run_without_a_label_model_is_refused(tmp_path):
    run = open_storage(str(tmp_path))
    run.write_json({"name": "demo"}, "spec.json")
    run.write_json({"digest": "x", "programs": []}, "programs", "manifest.json")
    with pytest.raises(InputError, match=r"missing \['label_model/model.pkl', 'label_model/summary.json'\]"):
        read_source_run(run)


def test_an_empty_source_run_is_refused_by_the_deployment_schema():
    from alchemist_core.relabel import RelabelConfig

    # prefect.yaml fills source_run from $ALCHEMIST_SOURCE_RUN; the server validates deployment
    # parameters against this schema (enforce_parameter_schema), so an unset variable is refused.
    assert RelabelConfig.model_json_schema()["properties"]["source_run"]["minLength"] == 1
    with pytest.raises(InputError, match="source_run"):
        load_relabel_config(overrides={"source_run": "", "data.source": "new.csv"})
