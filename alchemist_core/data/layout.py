"""Where a run's artifacts live under the storage root.

```
<root>/datasets/<dataset-digest-12>/      ingested shards, gold labels (shared by runs)
<root>/cache/{votes,embeddings,clip,llm}/ content-addressed caches (alchemist_core.cache_admin prunes them)
<root>/runs/<run-id>/manifest.json        config, digests, versions, timings
                     spec.json, config.json
                     programs/<name>.py + programs/manifest.json
                     votes/<split>/shard-00000.parquet
                     labels/<split>/shard-00000.parquet
                     label_model/  student/  ledger.jsonl  metrics.json  report.md
```
"""

from __future__ import annotations

from dataclasses import dataclass

from alchemist_core.data.storage import Storage


@dataclass(frozen=True)
class RunLayout:
    """Names of the artifacts of one run."""

    root: Storage
    run_id: str

    @property
    def run(self) -> Storage:
        return self.root.child("runs", self.run_id)

    def dataset(self, digest: str) -> Storage:
        return self.root.child("datasets", digest[:16])

    @property
    def cache(self) -> Storage:
        return self.root.child("cache")

    @staticmethod
    def shard_name(index: int) -> str:
        return f"shard-{index:05d}.parquet"
