"""Label models: turn the votes ``L`` into a posterior over classes for every row.

Every label model follows one contract (scikit-learn style): hyperparameters go to
``__init__``, ``fit(L, L_dev=None, y_dev=None)`` learns from the votes (and, only where given,
a labeled dev set) and returns ``self``, fitted attributes end in ``_``, and
``predict_proba(L)`` returns a posterior of shape ``(n_rows, n_classes)`` whose rows sum to 1.

Three implementations, simplest first:

- :class:`MajorityVote`: each vote counts once (WRENCH's ``MajorityVoting``);
- :class:`WeightedVote`: each program's vote counts with the log-odds of its estimated accuracy;
- :class:`SnorkelLabelModel`: snorkel's matrix-completion ``LabelModel``, fitted on a bounded
  sample of rows and applied in chunks, so memory does not grow with ``n_rows``.

:mod:`alchemist_core.selection` chooses among them out of fold on a validation split, never a test split.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Protocol, Sequence, runtime_checkable

import numpy as np
from sklearn.exceptions import NotFittedError

from alchemist_core.errors import AlchemistError
from alchemist_core.programs.label_matrix import check_label_matrix, vote_counts
from alchemist_core.programs.program_set import ABSTAIN
from alchemist_core.sampling import sample_rows

logger = logging.getLogger(__name__)

TIE_TOLERANCE = 1e-5  # snorkel.utils.probs_to_preds: probabilities closer than this are tied


@runtime_checkable
class LabelModel(Protocol):
    """What every label model offers."""

    n_classes: int

    def fit(self, L: np.ndarray, L_dev: np.ndarray | None = None, y_dev: np.ndarray | None = None) -> "LabelModel":
        """Learn from the votes ``L`` (and a labeled dev set, where given); return ``self``."""
        ...

    def predict_proba(self, L: np.ndarray) -> np.ndarray:
        """Posterior of shape ``(n_rows, n_classes)``; each row sums to 1."""
        ...


# ---------------------------------------------------------------------------------------------
# Shared pieces


def _check_dev(L_dev: Any, y_dev: Any, n_programs: int, n_classes: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The dev set as arrays, or ``None`` when neither part is given."""
    if L_dev is None and y_dev is None:
        return None
    if L_dev is None or y_dev is None:
        raise ValueError(
            "expected both L_dev and y_dev (a labeled dev set) or neither, "
            f"got L_dev={'given' if L_dev is not None else 'None'} and y_dev={'given' if y_dev is not None else 'None'}"
        )
    L_dev = check_label_matrix(L_dev, n_classes)
    y_dev = np.asarray(y_dev)
    if L_dev.shape[1] != n_programs:
        raise ValueError(f"expected L_dev to have {n_programs} programs like L, got {L_dev.shape[1]}")
    if y_dev.shape != (L_dev.shape[0],):
        raise ValueError(f"expected y_dev of shape ({L_dev.shape[0]},), one label per row of L_dev, got {y_dev.shape}")
    return L_dev, y_dev


def _check_predict_input(model: Any, L: Any) -> np.ndarray:
    if not hasattr(model, "n_programs_"):
        raise NotFittedError(f"this {type(model).__name__} is not fitted yet; call fit(L) before predict_proba(L)")
    L = check_label_matrix(L, model.n_classes)
    if L.shape[1] != model.n_programs_:
        raise ValueError(
            f"expected a label matrix with {model.n_programs_} programs (as in fit), got {L.shape[1]}"
        )
    return L


def _check_uncovered(uncovered: str) -> None:
    if uncovered not in ("uniform", "prior"):
        raise ValueError(f"expected uncovered to be 'uniform' or 'prior', got {uncovered!r}")


def _fill_uncovered(posterior: np.ndarray, uncovered_rows: np.ndarray, uncovered: str, prior: np.ndarray) -> None:
    n_classes = posterior.shape[1]
    fill = prior if uncovered == "prior" else np.full(n_classes, 1.0 / n_classes)
    posterior[uncovered_rows] = fill


def resolve_class_balance(
    class_balance: str | Sequence[float], L: np.ndarray, dev: tuple[np.ndarray, np.ndarray] | None, n_classes: int
) -> np.ndarray:
    """The class prior a label model uses: given, uniform, or estimated (from a dev set when there is one).

    ``class_balance`` is ``"estimate"`` (the dev set's smoothed class frequencies when a dev set
    is given, else :func:`estimate_class_balance` on the votes), ``"uniform"``, or a sequence of
    ``n_classes`` positive numbers (normalised), e.g. :func:`class_balance_from_labels` of the
    labeled rows.

    Examples
    --------
    >>> resolve_class_balance([3, 1], np.zeros((0, 1), dtype=np.int8), None, 2).tolist()
    [0.75, 0.25]
    """
    if isinstance(class_balance, str):
        if class_balance == "uniform":
            return np.full(n_classes, 1.0 / n_classes)
        if class_balance != "estimate":
            raise ValueError(
                f"expected class_balance 'estimate', 'uniform' or a sequence of {n_classes} "
                f"positive floats, got {class_balance!r}"
            )
        if dev is not None:
            return class_balance_from_labels(dev[1], n_classes)
        return estimate_class_balance(L, n_classes)
    balance = np.asarray(class_balance, dtype=float)
    if balance.shape != (n_classes,) or np.any(~np.isfinite(balance)) or np.any(balance <= 0):
        raise ValueError(f"expected class_balance to be {n_classes} positive floats, got {class_balance!r}")
    return balance / balance.sum()


def class_balance_from_labels(y: Any, n_classes: int, *, smoothing: float = 1.0) -> np.ndarray:
    """Class frequencies of the known labels in ``y`` (-1 = unknown), Laplace-smoothed.

    Examples
    --------
    >>> class_balance_from_labels([0, 0, 1, -1], 2).tolist()
    [0.6, 0.4]
    """
    y = np.asarray(y)
    known = y[y != -1].astype(np.int64)
    if known.size and (known.min() < 0 or known.max() >= n_classes):
        raise ValueError(f"expected labels in {{-1, ..., {n_classes - 1}}}, got values in [{known.min()}, {known.max()}]")
    counts = np.bincount(known, minlength=n_classes) + smoothing
    return counts / counts.sum()


def estimate_class_balance(L: Any, n_classes: int, *, smoothing: float = 1.0) -> np.ndarray:
    """Class balance estimated without gold labels: the majority-vote posterior summed over covered rows.

    Each covered row adds its vote shares (ties split evenly); ``smoothing`` is added to every
    class so no class gets a zero prior. With no covered row the result is uniform.

    Examples
    --------
    >>> estimate_class_balance([[0, 0], [0, 1], [-1, -1]], 2, smoothing=0.0).tolist()
    [0.75, 0.25]
    """
    L = check_label_matrix(L, n_classes)
    counts = vote_counts(L, n_classes).astype(float)  # (n_rows, n_classes)
    n_votes = counts.sum(axis=1, keepdims=True)
    covered = n_votes[:, 0] > 0
    shares = counts[covered] / n_votes[covered]
    totals = shares.sum(axis=0) + smoothing
    if totals.sum() <= 0:
        return np.full(n_classes, 1.0 / n_classes)
    return totals / totals.sum()


# ---------------------------------------------------------------------------------------------
# Majority vote


class MajorityVote:
    """Each vote counts once; the posterior is the share of votes per class.

    This is WRENCH's ``MajorityVoting``: a covered row's posterior is its vote counts divided
    by their sum, so a tie stays a tie (break it with :func:`probs_to_preds`).

    Parameters
    ----------
    n_classes : int
        Number of classes.
    uncovered : {"uniform", "prior"}
        Posterior of rows no program votes on: uniform, or the class balance.
    class_balance : "estimate", "uniform" or sequence of float
        The class prior (see :func:`resolve_class_balance`): by default from ``y_dev`` when
        given, otherwise estimated from the votes.

    Attributes
    ----------
    n_programs_ : int
        Number of programs seen in ``fit``.
    class_balance_ : numpy.ndarray of shape (n_classes,)
        Class balance used for uncovered rows when ``uncovered="prior"``.

    Examples
    --------
    >>> model = MajorityVote(n_classes=2).fit(np.array([[0, 0, 1], [-1, -1, -1]]))
    >>> model.predict_proba(np.array([[0, 0, 1], [-1, -1, -1]])).round(3).tolist()
    [[0.667, 0.333], [0.5, 0.5]]
    """

    def __init__(self, n_classes: int, *, uncovered: str = "uniform", class_balance: str | Sequence[float] = "estimate"):
        self.n_classes = n_classes
        self.uncovered = uncovered
        self.class_balance = class_balance

    def fit(self, L: Any, L_dev: Any = None, y_dev: Any = None) -> "MajorityVote":
        """Record the number of programs and the class balance; return ``self``."""
        _check_uncovered(self.uncovered)
        L = check_label_matrix(L, self.n_classes)
        dev = _check_dev(L_dev, y_dev, L.shape[1], self.n_classes)
        self.class_balance_ = resolve_class_balance(self.class_balance, L, dev, self.n_classes)
        self.n_programs_ = L.shape[1]
        return self

    def predict_proba(self, L: Any) -> np.ndarray:
        """Vote shares per class, shape ``(n_rows, n_classes)``; uncovered rows per ``uncovered``."""
        L = _check_predict_input(self, L)
        counts = vote_counts(L, self.n_classes).astype(float)  # (n_rows, n_classes)
        n_votes = counts.sum(axis=1)
        covered = n_votes > 0
        posterior = np.empty_like(counts)
        posterior[covered] = counts[covered] / n_votes[covered, None]
        _fill_uncovered(posterior, ~covered, self.uncovered, self.class_balance_)
        return posterior


# ---------------------------------------------------------------------------------------------
# Weighted vote


class WeightedVote:
    """Each program's vote counts with the log-odds of its estimated accuracy.

    Under a one-coin model (a program is right with probability ``a``, otherwise it picks a
    wrong class uniformly) the posterior of class ``c`` is proportional to
    ``exp(sum of weights of the programs voting c)`` with weight ``log((k - 1) a / (1 - a))``.

    Accuracies are estimated without gold labels by default: on the rows where a program
    votes and some other program votes too, the share of rows on which it agrees with the
    majority vote of the *other* programs (ties count fractionally). With a labeled dev set
    (``fit(L, L_dev, y_dev)``) the accuracy on the dev rows it votes on is used instead. Both
    are shrunk towards ``prior_accuracy`` with the weight of ``prior_strength`` rows, so a
    program that rarely overlaps keeps a sensible weight. A program estimated at or below
    chance gets weight 0 (it is ignored rather than inverted).

    Parameters
    ----------
    n_classes : int
        Number of classes.
    prior_accuracy : float
        Accuracy assumed before seeing any evidence, above chance (snorkel's ``prec_init``
        default is also 0.7).
    prior_strength : float
        How many rows of evidence the prior is worth.
    uncovered : {"uniform", "prior"}
        Posterior of rows no program votes on (see :class:`MajorityVote`).
    class_balance : "estimate", "uniform" or sequence of float
        The class prior (see :class:`MajorityVote`).

    Attributes
    ----------
    n_programs_ : int
    program_accuracies_ : numpy.ndarray of shape (n_programs,)
        Estimated accuracy of each program.
    weights_ : numpy.ndarray of shape (n_programs,)
        Log-odds weight of each program's vote (0 for programs at or below chance).
    class_balance_ : numpy.ndarray of shape (n_classes,)

    Examples
    --------
    >>> L = np.array([[0, 0, 1], [0, 0, 0], [1, 1, 0], [1, 1, 1]])
    >>> model = WeightedVote(n_classes=2).fit(L)
    >>> bool(model.weights_[0] > model.weights_[2])
    True
    """

    def __init__(
        self,
        n_classes: int,
        *,
        prior_accuracy: float = 0.7,
        prior_strength: float = 2.0,
        uncovered: str = "uniform",
        class_balance: str | Sequence[float] = "estimate",
    ):
        self.n_classes = n_classes
        self.prior_accuracy = prior_accuracy
        self.prior_strength = prior_strength
        self.uncovered = uncovered
        self.class_balance = class_balance

    def fit(self, L: Any, L_dev: Any = None, y_dev: Any = None) -> "WeightedVote":
        """Estimate each program's accuracy and weight; return ``self``."""
        _check_uncovered(self.uncovered)
        if not 0.0 < self.prior_accuracy < 1.0 or self.prior_strength < 0:
            raise ValueError(
                "expected 0 < prior_accuracy < 1 and prior_strength >= 0, "
                f"got prior_accuracy={self.prior_accuracy} and prior_strength={self.prior_strength}"
            )
        L = check_label_matrix(L, self.n_classes)
        dev = _check_dev(L_dev, y_dev, L.shape[1], self.n_classes)
        if dev is not None:
            agree, n_evidence = self._dev_evidence(*dev)
        else:
            agree, n_evidence = self._agreement_evidence(L)
        self.class_balance_ = resolve_class_balance(self.class_balance, L, dev, self.n_classes)
        accuracies = (agree + self.prior_strength * self.prior_accuracy) / (n_evidence + self.prior_strength)
        accuracies = np.clip(accuracies, 1e-6, 1 - 1e-6)
        self.program_accuracies_ = accuracies
        self.weights_ = np.maximum(np.log((self.n_classes - 1) * accuracies / (1 - accuracies)), 0.0)
        self.n_programs_ = L.shape[1]
        logger.debug("weighted vote: program accuracies %s", np.round(accuracies, 3).tolist())
        return self

    def _dev_evidence(self, L_dev: np.ndarray, y_dev: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        known = (L_dev != ABSTAIN) & (y_dev != -1)[:, None]  # (n_dev, n_programs)
        correct = known & (L_dev == y_dev[:, None])
        return correct.sum(axis=0).astype(float), known.sum(axis=0).astype(float)

    def _agreement_evidence(self, L: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        counts = vote_counts(L, self.n_classes)  # (n_rows, n_classes)
        n_programs = L.shape[1]
        agree = np.zeros(n_programs)
        n_evidence = np.zeros(n_programs)
        # NB: a loop over programs (not rows): each step is vectorised over the rows one program votes on.
        for j in range(n_programs):
            rows = np.flatnonzero(L[:, j] != ABSTAIN)
            votes = L[rows, j].astype(np.intp)
            others = counts[rows].copy()  # (n_voted, n_classes)
            others[np.arange(len(rows)), votes] -= 1
            overlapping = others.sum(axis=1) > 0
            others, votes = others[overlapping], votes[overlapping]
            tied = others == others.max(axis=1, keepdims=True)
            agree[j] = (tied[np.arange(len(votes)), votes] / tied.sum(axis=1)).sum()
            n_evidence[j] = len(votes)
        return agree, n_evidence

    def predict_proba(self, L: Any) -> np.ndarray:
        """Softmax of the weighted votes per class, shape ``(n_rows, n_classes)``."""
        L = _check_predict_input(self, L)
        rows, programs = np.nonzero(L != ABSTAIN)
        flat = rows * self.n_classes + L[rows, programs].astype(np.int64)
        scores = np.bincount(flat, weights=self.weights_[programs], minlength=L.shape[0] * self.n_classes)
        scores = scores.reshape(L.shape[0], self.n_classes)
        scores -= scores.max(axis=1, keepdims=True)  # stable softmax
        posterior = np.exp(scores)
        posterior /= posterior.sum(axis=1, keepdims=True)
        covered = (L != ABSTAIN).any(axis=1)
        _fill_uncovered(posterior, ~covered, self.uncovered, self.class_balance_)
        return posterior


# ---------------------------------------------------------------------------------------------
# Snorkel


@contextmanager
def _torch_threads(n_threads: int | None) -> Iterator[None]:
    """Run the block with ``n_threads`` torch intra-op threads, then restore the previous count."""
    if n_threads is None:
        yield
        return
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class SnorkelLabelModel:
    """snorkel's ``LabelModel`` behind the common contract, with bounded memory.

    snorkel densifies ``L`` to a one-hot float64 matrix of ``n_rows * n_programs * n_classes``
    entries, so the model is fitted on at most ``max_fit_rows`` rows sampled with ``seed`` by
    :func:`alchemist_core.sampling.sample_rows` (all rows when there are fewer), and
    ``predict_proba`` works ``chunk_rows`` rows at a time from the learned conditional
    probabilities (in log space, so many programs cannot underflow the posterior).

    snorkel's ``fit`` seeds the global ``random``, ``numpy.random`` and ``torch`` generators
    with ``seed``; nothing else global is touched (its logging and progress bar stay off).

    Parameters
    ----------
    n_classes : int
        Number of classes (snorkel's ``cardinality``).
    n_epochs, lr, l2 : int, float, float
        snorkel's training settings, passed to its ``fit``.
    seed : int
        Seeds the row sample and snorkel's ``fit``.
    class_balance : "estimate", "uniform" or sequence of float
        The class prior: estimated from the votes without gold labels (majority-vote shares
        over covered rows, smoothed), uniform, or given. A dev set given to ``fit`` replaces
        ``"estimate"`` with its smoothed class frequencies.
    max_fit_rows : int
        At most this many rows are used to fit.
    chunk_rows : int
        Rows per chunk in ``predict_proba``.
    device : str
        Torch device for fitting, e.g. ``"cpu"`` or ``"cuda"``; the fit is tiny, so the CPU
        is the default.
    torch_threads : int or None
        Torch intra-op threads while fitting, restored afterwards; ``None`` leaves torch's
        setting alone. snorkel's tensors are tiny (``n_programs * n_classes`` square), and
        on a 2-core machine two threads made a 500-epoch fit on WRENCH youtube take about
        30 s instead of 0.5 s with one.

    Attributes
    ----------
    n_programs_ : int
    n_fit_rows_ : int
        Rows the model was fitted on.
    class_balance_ : numpy.ndarray of shape (n_classes,)
    model_ : snorkel.labeling.model.LabelModel
    program_accuracies_ : numpy.ndarray of shape (n_programs,)
        snorkel's learned accuracy of each program (``get_weights``).
    log_conditional_ : numpy.ndarray of shape (n_programs, n_classes, n_classes)
        ``log P(program votes v | Y = y)`` at ``[program, v, y]``, from snorkel's
        ``get_conditional_probs``.
    """

    def __init__(
        self,
        n_classes: int,
        *,
        n_epochs: int = 500,
        lr: float = 0.01,
        l2: float = 0.0,
        seed: int = 0,
        class_balance: str | Sequence[float] = "estimate",
        max_fit_rows: int = 200_000,
        chunk_rows: int = 100_000,
        device: str = "cpu",
        torch_threads: int | None = 1,
    ):
        self.n_classes = n_classes
        self.n_epochs = n_epochs
        self.lr = lr
        self.l2 = l2
        self.seed = seed
        self.class_balance = class_balance
        self.max_fit_rows = max_fit_rows
        self.chunk_rows = chunk_rows
        self.device = device
        self.torch_threads = torch_threads

    def _prior(self, L_fit: np.ndarray, dev: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
        return resolve_class_balance(self.class_balance, L_fit, dev, self.n_classes)

    def fit(self, L: Any, L_dev: Any = None, y_dev: Any = None) -> "SnorkelLabelModel":
        """Fit snorkel's model on a seeded sample of at most ``max_fit_rows`` rows; return ``self``."""
        from snorkel.labeling.model import LabelModel as _SnorkelModel

        L = check_label_matrix(L, self.n_classes)
        n_rows, n_programs = L.shape
        if n_programs < 3:
            raise ValueError(
                f"snorkel's label model needs at least 3 programs, got {n_programs}; "
                "use the 'majority' or 'weighted' label model instead"
            )
        if self.max_fit_rows < 1 or self.chunk_rows < 1:
            raise ValueError(
                f"expected max_fit_rows >= 1 and chunk_rows >= 1, got {self.max_fit_rows} and {self.chunk_rows}"
            )
        dev = _check_dev(L_dev, y_dev, n_programs, self.n_classes)
        rows = sample_rows(n_rows, self.max_fit_rows, self.seed)
        L_fit = L if rows is None else L[rows]
        L_fit = L_fit.astype(np.int64)
        self.class_balance_ = self._prior(L_fit, dev)
        model = _SnorkelModel(cardinality=self.n_classes, verbose=False, device=self.device)
        logger.debug(
            "fitting snorkel's label model on %d of %d rows, %d programs", len(L_fit), n_rows, n_programs
        )
        try:
            with _torch_threads(self.torch_threads):
                model.fit(
                    L_fit,
                    class_balance=self.class_balance_.tolist(),
                    n_epochs=self.n_epochs,
                    lr=self.lr,
                    l2=self.l2,
                    seed=self.seed,
                    progress_bar=False,
                )
        except Exception as error:
            # snorkel raises a bare Exception when the loss diverges.
            if "NaN" in str(error):
                raise AlchemistError(
                    f"snorkel's label model diverged (loss is NaN) with lr={self.lr}, n_epochs={self.n_epochs}; "
                    "try a smaller lr"
                ) from error
            raise
        self.model_ = model
        self.n_fit_rows_ = len(L_fit)
        self.n_programs_ = n_programs
        self.program_accuracies_ = np.asarray(model.get_weights(), dtype=float)
        # Abstains are dropped, as in snorkel's own posterior.
        self.log_conditional_ = np.log(model.get_conditional_probs()[:, 1:, :])
        return self

    def predict_proba(self, L: Any) -> np.ndarray:
        """Posterior ``P(Y | votes)`` from the fitted model, ``chunk_rows`` rows at a time."""
        L = _check_predict_input(self, L)
        posterior = np.empty((L.shape[0], self.n_classes))
        log_prior = np.log(self.class_balance_)
        for start in range(0, L.shape[0], self.chunk_rows):
            chunk = L[start : start + self.chunk_rows]
            rows, programs = np.nonzero(chunk != ABSTAIN)
            # (n_votes, n_classes): memory follows the votes cast, not chunk * n_programs * n_classes.
            terms = self.log_conditional_[programs, chunk[rows, programs]]
            scores = np.tile(log_prior, (len(chunk), 1))  # (chunk, n_classes)
            for c in range(self.n_classes):
                scores[:, c] += np.bincount(rows, weights=terms[:, c], minlength=len(chunk))
            scores -= scores.max(axis=1, keepdims=True)
            probs = np.exp(scores)
            posterior[start : start + len(chunk)] = probs / probs.sum(axis=1, keepdims=True)
        return posterior


# ---------------------------------------------------------------------------------------------
# Registry and selection


LABEL_MODELS: dict[str, Callable[..., LabelModel]] = {
    "majority": MajorityVote,
    "weighted": WeightedVote,
    "snorkel": SnorkelLabelModel,
}

def make_label_model(name: str, n_classes: int, *, seed: int, **params: Any) -> LabelModel:
    """Build the label model registered as ``name``.

    ``seed`` is passed to the models that use randomness and ignored by the others.

    Raises
    ------
    ValueError
        If ``name`` is not registered, or ``params`` holds a setting the model does not take.

    Examples
    --------
    >>> type(make_label_model("majority", 2, seed=0)).__name__
    'MajorityVote'
    """
    if name not in LABEL_MODELS:
        raise ValueError(f"unknown label model {name!r}; expected one of {sorted(LABEL_MODELS)}")
    factory = LABEL_MODELS[name]
    accepted = set(inspect.signature(factory).parameters) - {"n_classes"}
    unknown = sorted(set(params) - accepted)
    if unknown:
        raise ValueError(
            f"label model {name!r} does not take {unknown}; its settings are {sorted(accepted - {'seed'})}"
        )
    if "seed" in accepted:
        params = {**params, "seed": seed}
    return factory(n_classes, **params)


# ---------------------------------------------------------------------------------------------
# From posterior to predictions


def _sha1_index(i: int) -> int:
    return int(hashlib.sha1(str(i).encode("utf-8")).hexdigest(), 16)


def probs_to_preds(
    proba: Any,
    *,
    tie_break: str = "lowest",
    tol: float = TIE_TOLERANCE,
    row_offset: int = 0,
) -> np.ndarray:
    """Turn a posterior into class predictions, breaking ties by policy.

    Classes whose probability is within ``tol`` of the row maximum are tied.

    Parameters
    ----------
    proba : array-like of float, shape (n_rows, n_classes)
    tie_break : {"lowest", "wrench", "abstain"}
        ``"lowest"``: the lowest tied class. ``"wrench"``: the tied class at position
        ``sha1(str(i)) % n_tied`` for row index ``i``, exactly as
        ``snorkel.utils.probs_to_preds(tie_break_policy="random")`` does (WRENCH's protocol).
        ``"abstain"``: ``ABSTAIN`` (-1).
    tol : float
        Tie tolerance (snorkel's default).
    row_offset : int
        Index of the first row, for ``"wrench"`` on a chunk of a larger posterior.

    Returns
    -------
    numpy.ndarray of int64, shape (n_rows,)

    Examples
    --------
    >>> probs_to_preds(np.array([[0.2, 0.8], [0.5, 0.5]])).tolist()
    [1, 0]
    >>> probs_to_preds(np.array([[0.5, 0.5]]), tie_break="abstain").tolist()
    [-1]
    """
    if tie_break not in ("lowest", "wrench", "abstain"):
        raise ValueError(f"expected tie_break 'lowest', 'wrench' or 'abstain', got {tie_break!r}")
    proba = np.asarray(proba, dtype=float)
    if proba.ndim != 2 or proba.shape[1] < 2:
        raise ValueError(f"expected a posterior of shape (n_rows, n_classes) with n_classes >= 2, got {proba.shape}")
    tied = np.abs(proba - proba.max(axis=1, keepdims=True)) < tol  # (n_rows, n_classes)
    preds = tied.argmax(axis=1).astype(np.int64)  # the lowest tied class
    n_tied = tied.sum(axis=1)
    if tie_break == "abstain":
        preds[n_tied > 1] = ABSTAIN
    elif tie_break == "wrench":
        for i in np.flatnonzero(n_tied > 1):
            candidates = np.flatnonzero(tied[i])
            preds[i] = candidates[_sha1_index(int(i) + row_offset) % len(candidates)]
    return preds
