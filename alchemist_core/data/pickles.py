"""Pickles of earlier versions: label models and featurizers written when the core was flat.

Stored runs keep their pickled label model (``label_model/model.pkl``) and TF-IDF featurizer
(``student/featurizer.pkl``); a relabel run loads them long after. Their classes were then
in flat modules (``alchemist_core.aggregate``); :func:`load_pickle` finds them where they live
now (``alchemist_core.labelmodel.aggregate``).
"""

from __future__ import annotations

import io
import pickle

# Where each flat module of alchemist_core 0.1 moved.
MOVED = {
    # data
    "storage": "data.storage", "layout": "data.layout", "ingest": "data.ingest", "ingest_sources": "data.sources",
    "ingest_readers": "data.readers", "carve": "data.carve", "demo": "data.demo",
    # programs
    "programs": "programs.program_set", "policy": "programs.policy", "sandbox": "programs.sandbox",
    "sandbox_worker": "programs.sandbox_worker", "apply": "programs.apply", "votes": "programs.votes",
    "vote_shards": "programs.vote_shards", "curate": "programs.curate", "label_matrix": "programs.label_matrix",
    # generators
    "generate": "generators.build", "prompts": "generators.prompts", "retrieval": "generators.retrieval",
    # label model
    "aggregate": "labelmodel.aggregate", "pseudolabels": "labelmodel.pseudolabels", "synthetic": "labelmodel.synthetic",
    # students
    "training": "students.training", "features": "students.features", "distill": "students.registry",
    # images
    "images": "images.dataset", "image_pipeline": "images.pipeline", "image_demo": "images.demo",
    "image_report": "images.report", "image_stages": "images.stages", "clip_features": "images.clip",
    "concepts": "images.concepts", "concept_request": "images.concept_request",
    # report
    "report": "report.render", "summary": "report.summary", "evaluate": "report.metrics", "review": "report.review",
}

_OLD_TO_NEW = {f"alchemist_core.{old}": f"alchemist_core.{new}" for old, new in MOVED.items()}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        return super().find_class(_OLD_TO_NEW.get(module, module), name)


def load_pickle(data: bytes):
    """``pickle.loads`` that also reads pickles naming the modules of the flat core.

    Only for artifacts the run itself wrote (never for untrusted bytes).
    """
    return _Unpickler(io.BytesIO(data)).load()
