"""Data in and out: storage roots, the run layout, ingest (sources, readers), the carve, the demo dataset."""
