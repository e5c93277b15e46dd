"""What export refuses before it reads anything."""

import pytest

from alchemist_core.data.storage import Storage
from alchemist_core.errors import InputError
from alchemist_core.export import export_run


def test_export_refuses_what_it_cannot_write(tmp_path):
    run = Storage(str(tmp_path / "runs" / "r"))
    with pytest.raises(InputError, match="export writes a local file"):
        export_run(run, "s3://bucket/labels.csv")
    with pytest.raises(InputError, match=r"one of \['csv', 'parquet', 'jsonl'\]"):
        export_run(run, str(tmp_path / "labels.xlsx"))
    with pytest.raises(InputError, match="expected a finished run"):
        export_run(run, str(tmp_path / "labels.csv"))
    assert not (tmp_path / "labels.csv").exists()
