"""The student: a small model distilled from the label model's posterior.

Both students follow one contract: ``fit(X, posterior)`` on soft labels, then
``predict_proba(X)`` and ``predict(X)`` on any rows, ``save(storage, *parts)`` and
``load(storage, *parts)``. ``X`` is a dense array (sentence embeddings) or a scipy sparse
matrix (TF-IDF). Rows without any program vote carry no label information; the caller leaves
them out when ``StudentHyperparameters.covered_only`` is set.

* :class:`MLPStudent`: a torch MLP trained with soft cross-entropy, on the GPU when present.
* :class:`LogisticStudent`: scikit-learn logistic regression on the same soft labels, a strong
  quick baseline on frozen embeddings.
* :class:`EncoderFineTuneStudent`: reads the texts themselves and fine-tunes the sentence encoder
  end to end with a linear head (the GPU distillation stage; it runs, slowly, on a CPU too).

The first two are registered in :data:`STUDENTS` (inputs are feature matrices), the third in
:data:`TEXT_STUDENTS` (inputs are sequences of texts); :func:`make_student` and
:func:`load_student` know both."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from alchemist_core.errors import InputError, StorageError

if TYPE_CHECKING:
    from alchemist_core.data.storage import Storage
from alchemist_core.students.base import _CONFIG_FILE, StudentHyperparameters
from alchemist_core.students.finetune import FINETUNE_CONFIG, EncoderFineTuneStudent
from alchemist_core.students.logistic import LogisticStudent
from alchemist_core.students.mlp import MLPStudent

STUDENTS: dict[str, type] = {"mlp": MLPStudent, "logreg": LogisticStudent}


"""Students that read a feature matrix (embeddings or TF-IDF)."""


TEXT_STUDENTS: dict[str, type] = {"finetune": EncoderFineTuneStudent}


"""Students that read the texts themselves."""


_ALL_STUDENTS: dict[str, type] = {**STUDENTS, **TEXT_STUDENTS}


Student = MLPStudent | LogisticStudent | EncoderFineTuneStudent


def make_student(name: str, config: StudentHyperparameters | None = None, seed: int = 0, **params: Any) -> Student:
    """A student by name: ``"mlp"``, ``"logreg"`` or ``"finetune"``.

    ``config=None`` gives the kind's defaults (:data:`FINETUNE_CONFIG` for ``"finetune"``,
    ``StudentHyperparameters()`` otherwise); ``params`` go to the student's constructor (e.g. ``C`` for
    ``"logreg"``, ``encoder`` for ``"finetune"``).

    Examples
    --------
    >>> type(make_student("logreg")).__name__
    'LogisticStudent'
    >>> make_student("finetune").config.epochs
    3
    """
    if name not in _ALL_STUDENTS:
        raise InputError(f"unknown student {name!r}; expected one of {sorted(_ALL_STUDENTS)}")
    if config is None:
        config = FINETUNE_CONFIG if name in TEXT_STUDENTS else StudentHyperparameters()
    return _ALL_STUDENTS[name](config, seed=seed, **params)


def load_student(storage: Storage, *parts: str, device: str | None = None) -> Student:
    """Whichever student was saved under ``parts`` (read from its ``config.json``)."""
    kind = storage.read_json(*parts, _CONFIG_FILE).get("kind")
    if kind not in _ALL_STUDENTS:
        raise StorageError(
            f"{storage.uri(*parts)} holds an unknown student kind {kind!r}; expected one of {sorted(_ALL_STUDENTS)}"
        )
    return _ALL_STUDENTS[kind].load(storage, *parts, device=device)
