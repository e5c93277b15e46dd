"""A label model pickled when the core was flat still loads."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from alchemist_core.data.pickles import MOVED, load_pickle
from alchemist_core.digest import module_path
from alchemist_core.labelmodel.aggregate import make_label_model


def test_a_label_model_pickled_under_the_flat_module_names_loads():
    L = np.array([[0, 1, -1], [1, 1, 0], [0, -1, 0], [1, 0, 1]], dtype=np.int8)
    model = make_label_model("weighted", 2, seed=0).fit(L)
    # Protocol 2 names each class's module as a plain line: the form a 0.1 run wrote, renamed back.
    old = pickle.dumps(model, protocol=2).replace(b"alchemist_core.labelmodel.aggregate\n", b"alchemist_core.aggregate\n")
    assert b"alchemist_core.aggregate\n" in old
    with pytest.raises(ModuleNotFoundError):
        pickle.loads(old)
    np.testing.assert_allclose(load_pickle(old).predict_proba(L), model.predict_proba(L))


def test_every_moved_module_exists_where_it_moved():
    assert all(module_path(f"alchemist_core.{new}") for new in MOVED.values())
    assert not any(module_path(f"alchemist_core.{old}") and old not in {"programs", "images", "report"} for old in MOVED)
