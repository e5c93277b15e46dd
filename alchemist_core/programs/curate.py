"""Curate a program set from its votes: drop the programs that cannot help the label model.

A program is dropped, with its reason, when it

* barely votes: its coverage on the sample rows is below ``min_coverage`` (or it never votes);
* is constant: it votes on more than ``constant_coverage`` of the sample rows, always for the
  same class (a program that votes one class wherever it fires is normal; one that fires
  everywhere carries no information);
* is below chance on the labeled rows, when they are given: its accuracy on the labeled rows
  it votes on is below ``1 / n_classes``, and so far below that chance alone would produce
  so few correct votes with probability under ``alpha`` (a one-sided binomial test, so a
  program with two unlucky votes is not dropped);
* duplicates an earlier kept program: the same source digest, or votes that agree on at least
  ``duplicate_agreement`` of the sample rows where either of the two votes. The first one
  is kept.

Nothing here looks at a test split: the labeled rows are the small dev set the user gives.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from alchemist_core.programs.label_matrix import check_label_matrix
from alchemist_core.programs.program_set import ABSTAIN

logger = logging.getLogger(__name__)

# Two programs that vote on only a handful of sample rows are not called duplicates on the
# strength of those rows alone (identical source digests still are).
_MIN_DUPLICATE_ROWS = 5


@dataclass(frozen=True)
class CurationResult:
    """The names of the programs kept (in input order) and the dropped ones with their reasons."""

    keep: tuple[str, ...]
    dropped: tuple[tuple[str, str], ...]

    @property
    def reasons(self) -> dict[str, str]:
        """Dropped program name -> reason."""
        return dict(self.dropped)


def curate_programs(
    L_sample: Any,
    names: Sequence[str],
    *,
    n_classes: int,
    L_labeled: Any = None,
    y_labeled: Any = None,
    digests: Sequence[str] | None = None,
    min_coverage: float = 0.001,
    constant_coverage: float = 0.99,
    duplicate_agreement: float = 0.98,
    alpha: float = 0.05,
) -> CurationResult:
    """Decide which programs to keep from their votes on sample rows (and labeled rows).

    Parameters
    ----------
    L_sample : array-like of int, shape (n_rows, n_programs)
        Votes on unlabeled sample rows, ``ABSTAIN = -1``.
    names : sequence of str
        Program names, one per column, unique.
    n_classes : int
        Number of classes.
    L_labeled : array-like of int, shape (n_labeled, n_programs), optional
        Votes on labeled rows (a dev set, never the test split).
    y_labeled : array-like of int, shape (n_labeled,), optional
        Their classes; required with ``L_labeled``.
    digests : sequence of str, optional
        Source digests, one per program; equal digests are duplicates whatever the votes.
    min_coverage : float
        Lowest share of sample rows a program must vote on; a program with no vote at all is
        always dropped.
    constant_coverage : float
        A program voting on more than this share of sample rows, all for one class, is constant.
    duplicate_agreement : float
        Agreement (same vote, over the rows where either votes) from which a program duplicates
        an earlier kept one.
    alpha : float
        Significance of the below-chance test.

    Returns
    -------
    CurationResult

    Raises
    ------
    ValueError
        When shapes, names or parameters do not fit together.

    Examples
    --------
    >>> L = np.array([[0, -1, 0], [1, -1, 1], [-1, -1, -1], [0, -1, 0], [1, -1, 1], [0, -1, 0]])
    >>> result = curate_programs(L, ["a", "silent", "copy_of_a"], n_classes=2)
    >>> result.keep
    ('a',)
    >>> result.reasons["silent"]
    'never votes on the 6 sample rows'
    """
    L = check_label_matrix(L_sample, n_classes)  # (n_rows, n_programs)
    names = _check_names(names, L.shape[1])
    labeled = _check_labeled(L_labeled, y_labeled, L.shape[1], n_classes)
    if digests is not None and len(digests) != L.shape[1]:
        raise ValueError(f"expected one digest per program ({L.shape[1]}), got {len(digests)}")
    for name, value, low in (("min_coverage", min_coverage, 0.0), ("constant_coverage", constant_coverage, 0.0)):
        if not low <= value <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    if not 0.0 < duplicate_agreement <= 1.0 or not 0.0 < alpha < 1.0:
        raise ValueError(
            f"duplicate_agreement must be in (0, 1] and alpha in (0, 1), got {duplicate_agreement!r} and {alpha!r}"
        )

    n_rows = L.shape[0]
    kept: list[int] = []
    dropped: list[tuple[str, str]] = []
    for j, name in enumerate(names):
        votes = L[:, j]
        reason = _coverage_reason(votes, n_rows, min_coverage, constant_coverage)
        if reason is None and labeled is not None:
            reason = _below_chance_reason(labeled[0][:, j], labeled[1], n_classes, alpha)
        if reason is None:
            reason = _duplicate_reason(j, kept, L, names, digests, duplicate_agreement)
        if reason is None:
            kept.append(j)
        else:
            dropped.append((name, reason))
            logger.info("curate: dropped program %s: %s", name, reason)
    logger.info("curate: kept %d of %d programs", len(kept), len(names))
    return CurationResult(keep=tuple(names[j] for j in kept), dropped=tuple(dropped))


def _check_names(names: Sequence[str], n_programs: int) -> list[str]:
    if isinstance(names, str):
        raise ValueError("expected a sequence of program names, got a single str")
    names = list(names)
    if len(names) != n_programs:
        raise ValueError(f"expected {n_programs} program names (one per column of L_sample), got {len(names)}")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"program names must be unique; repeated: {repeated}")
    return names


def _check_labeled(
    L_labeled: Any, y_labeled: Any, n_programs: int, n_classes: int
) -> tuple[np.ndarray, np.ndarray] | None:
    if L_labeled is None and y_labeled is None:
        return None
    if L_labeled is None or y_labeled is None:
        raise ValueError("give both L_labeled and y_labeled, or neither")
    L = check_label_matrix(L_labeled, n_classes)
    y = np.asarray(y_labeled)
    if y.ndim != 1 or y.shape[0] != L.shape[0]:
        raise ValueError(f"y_labeled must have one class per row of L_labeled ({L.shape[0]}), got shape {y.shape}")
    if L.shape[1] != n_programs:
        raise ValueError(f"L_labeled has {L.shape[1]} programs but L_sample has {n_programs}")
    if y.size and (not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"y_labeled must hold class indices in 0..{n_classes - 1}, got values {np.unique(y)[:10]}")
    return L, y.astype(np.int64)


def _coverage_reason(votes: np.ndarray, n_rows: int, min_coverage: float, constant_coverage: float) -> str | None:
    voted = votes != ABSTAIN
    n_votes = int(voted.sum())
    if n_votes == 0:
        return f"never votes on the {n_rows} sample rows"
    coverage = n_votes / n_rows
    if coverage < min_coverage:
        return f"votes on {n_votes} of {n_rows} sample rows (coverage {coverage:.4f} < min_coverage {min_coverage:g})"
    classes = np.unique(votes[voted])
    if coverage > constant_coverage and len(classes) == 1:
        return f"constant: votes class {int(classes[0])} on {coverage:.1%} of the sample rows"
    return None


def _below_chance_reason(votes: np.ndarray, y: np.ndarray, n_classes: int, alpha: float) -> str | None:
    from scipy.stats import binom

    voted = votes != ABSTAIN
    n_votes = int(voted.sum())
    if n_votes == 0:
        return None
    n_correct = int((votes[voted] == y[voted]).sum())
    chance = 1.0 / n_classes
    if n_correct / n_votes >= chance:
        return None
    # P(at most n_correct right of n_votes) for a program that guesses at chance.
    p_value = float(binom.cdf(n_correct, n_votes, chance))
    if p_value >= alpha:
        return None
    return (
        f"below chance on the labeled rows: right on {n_correct} of the {n_votes} it votes on "
        f"({n_correct / n_votes:.2f} < 1/{n_classes}; p = {p_value:.2g} < {alpha:g})"
    )


def _duplicate_reason(
    j: int,
    kept: list[int],
    L: np.ndarray,
    names: list[str],
    digests: Sequence[str] | None,
    duplicate_agreement: float,
) -> str | None:
    votes = L[:, j]
    for k in kept:
        if digests is not None and digests[k] == digests[j]:
            return f"duplicate of {names[k]!r}: same source digest"
        other = L[:, k]
        either = (votes != ABSTAIN) | (other != ABSTAIN)
        n_either = int(either.sum())
        if n_either < _MIN_DUPLICATE_ROWS:
            continue
        agreement = float((votes[either] == other[either]).mean())
        if agreement >= duplicate_agreement:
            return (
                f"duplicate of {names[k]!r}: agrees on {agreement:.1%} of the {n_either} sample rows "
                "where either votes"
            )
    return None
