"""A seeded synthetic support-ticket dataset for demos, tests and benchmarks.

Each ticket is routed to one of four teams (``billing``, ``technical``, ``shipping``,
``account``). The text is built from templates with synonyms, vague tickets with few cue
words, tickets that also mention a second topic, negations ("this is not a billing
question") and typos, so that a set of keyword programs gets most tickets right but not all.
Labels are exact: a hard ticket is ambiguous to read, never mislabeled.

The task spec is shipped as ``alchemist_core/specs/demo.yaml`` (``load_spec(DEMO_SPEC_NAME)``);
its classes are in the order of :data:`DEMO_CLASSES`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

DEMO_SPEC_NAME = "demo"
DEMO_CLASSES = ("billing", "technical", "shipping", "account")
DEMO_SPLITS = ("train", "valid", "test")

_CLASS_SHARES = (0.3, 0.3, 0.22, 0.18)
_SPLIT_SHARES = (0.7, 0.1, 0.2)
# plain ticket, vague (few cue words), a second topic mentioned too, a negated other topic
_STYLE_SHARES = (0.62, 0.14, 0.14, 0.10)
_TYPO_SHARE = 0.08

# Per class: nouns, problems, full templates, and vague sentences with few cue words.
_THINGS = {
    "billing": [
        "invoice", "bill", "receipt", "subscription", "statement", "payment", "card on file", "annual plan",
        "monthly fee",
    ],
    "technical": [
        "app", "website", "dashboard", "mobile app", "desktop client", "export tool", "search page", "API",
        "sync feature",
    ],
    "shipping": ["package", "parcel", "order", "delivery", "shipment", "box"],
    "account": [
        "password", "username", "email address", "profile", "account", "two-factor code", "login",
        "security question",
    ],
}
_ISSUES = {
    "billing": [
        "charged twice", "double charged", "overcharged", "billed the wrong amount", "charged after I cancelled",
        "billed for a plan I never ordered", "charged a late fee", "refunded only half",
    ],
    "technical": [
        "keeps crashing", "freezes on startup", "shows error 500", "won't load", "is extremely slow",
        "throws a timeout error", "shows a blank screen", "stopped syncing", "has a bug since the last update",
    ],
    "shipping": [
        "hasn't arrived yet", "arrived damaged", "was delivered to the wrong address", "is stuck in transit",
        "is missing an item", "was marked delivered but isn't here", "has been delayed again",
        "was returned to the sender",
    ],
    "account": [
        "is not accepted", "was changed without my permission", "doesn't work anymore", "keeps getting rejected",
        "needs to be reset", "is locked", "was never confirmed", "shows someone else's details",
    ],
}
_TEMPLATES = {
    "billing": [
        "I was {issue} on my {thing} this month.",
        "My {thing} shows I was {issue}, can you refund the difference?",
        "Why was I {issue}? Please check my {thing}.",
        "Could you send me a copy of my {thing} for {month}?",
        "I need a refund, I was {issue}.",
        "The price on my {thing} is higher than what was advertised.",
        "The payment for my {thing} failed but the money left my bank account.",
        "Please cancel the auto-renewal and refund the last charge.",
        "There is a charge of ${amount} on my {thing} that I don't recognise.",
        "I was {issue} for {month}, please fix the {thing}.",
    ],
    "technical": [
        "The {thing} {issue}.",
        "Since the latest update the {thing} {issue}.",
        "Every time I open the {thing} it {issue}.",
        "I reinstalled the {thing} but it still {issue}.",
        "Getting an error on {device}: the {thing} {issue}.",
        "Bug report: the {thing} {issue} when I click save.",
        "Is there an outage? The {thing} {issue} for me on {device}.",
        "On {device} the {thing} {issue}, I already cleared the cache.",
    ],
    "shipping": [
        "My {thing} {issue}.",
        "Order #{order}: the {thing} {issue}.",
        "The tracking page says my {thing} {issue}.",
        "The courier told me the {thing} {issue}, what now?",
        "When will my {thing} ship? It {issue}.",
        "Can I change the delivery address for order #{order}?",
        "I'd like express shipping instead of standard for my {thing}.",
        "It's {month} and my {thing} {issue}.",
    ],
    "account": [
        "I can't log in, my {thing} {issue}.",
        "Please reset my {thing}, it {issue}.",
        "I'm locked out of my account after too many attempts.",
        "How do I change the {thing} on my account?",
        "I never received the password reset email.",
        "Please delete my account and all my data.",
        "Someone else may have signed in to my account, my {thing} {issue}.",
        "The two-factor code never arrives on {device}.",
        "My {thing} {issue} when I try to sign in.",
    ],
}
_VAGUE = {
    "billing": [
        "The amount looks wrong to me.", "I think you took too much money this time.",
        "Something is off with what I paid.", "The numbers don't add up on the last one you sent.",
        "Can someone explain the ${amount}?", "I want my money back.",
    ],
    "technical": [
        "It just doesn't work anymore.", "Nothing happens when I press the button.", "Something broke after yesterday.",
        "The page is stuck.", "It was fine last week, now it isn't.", "The spinning wheel never goes away.",
    ],
    "shipping": [
        "Still waiting on it, it's been two weeks.", "Where is my stuff?", "It never showed up.",
        "Nobody has come by with it yet.", "What I got was crushed and half of it is missing.",
        "Is it still on its way?",
    ],
    "account": [
        "I can't get in.", "It says my details are wrong but they're not.", "I want to close everything with you.",
        "I need to update my info.", "It won't let me in since I moved.", "Who changed my details?",
    ],
}
# A second topic, mentioned in passing: the ticket stays with its main class.
_ASIDES = {
    "billing": [
        "Also, I was charged for express delivery.", "I might want a refund later too.",
        "And my last invoice looked odd.",
    ],
    "technical": [
        "The app also crashed while I was writing this.", "Also your website is really slow today.",
        "The page gave me an error too.",
    ],
    "shipping": [
        "My last package also arrived late.", "Also the delivery driver was rude.",
        "The box for my earlier order was fine.",
    ],
    "account": [
        "I also had to reset my password twice.", "I'm logged in on my phone right now.",
        "Also please update the email on my account.",
    ],
}
# Another topic, named only to say it is not the problem.
_NEGATIONS = {
    "billing": ["This is not a billing question.", "I was not charged twice, that part is fine.", "No refund needed."],
    "technical": [
        "The app works fine, it's not a bug.", "This is not a technical problem.", "No error messages at all.",
    ],
    "shipping": ["The delivery itself was on time.", "It's not about shipping.", "The package is not the issue."],
    "account": ["My password is fine, I can log in.", "Not an account problem.", "Logging in works."],
}
_OPENERS = ["", "", "", "Hi,", "Hello team,", "Hey there.", "Good morning,", "Hi support,", "Urgent:", "Hello,"]
_CLOSERS = [
    "", "", "", "Thanks.", "Please help!", "Any update would be appreciated.", "Thank you in advance.", "Regards.",
    "Cheers",
]
_MONTHS = [
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
]
_DEVICES = ["my iPhone", "Android", "Windows 11", "a Mac", "Chrome", "Firefox", "my tablet"]


def make_demo_dataset(path: str | Path, *, n_rows: int = 3000, seed: int = 0) -> Path:
    """Write a seeded synthetic support-ticket CSV with columns ``id, text, label, split``.

    Parameters
    ----------
    path : str or Path
        The CSV file to write (its folder is created).
    n_rows : int
        Rows to write; about 70 % ``train``, 10 % ``valid``, 20 % ``test``.
    seed : int
        The same seed and ``n_rows`` give the same bytes.

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> csv_path = make_demo_dataset(pathlib.Path(tempfile.mkdtemp()) / "tickets.csv", n_rows=5)
    >>> csv_path.read_text().splitlines()[0]
    '"id","text","label","split"'
    """
    table = demo_table(n_rows=n_rows, seed=seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        pacsv.write_csv(table, str(tmp))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def demo_table(*, n_rows: int = 3000, seed: int = 0) -> pa.Table:
    """The demo tickets as a ``pyarrow.Table`` (``id, text, label, split``), without writing a file."""
    if not isinstance(n_rows, int) or n_rows < 1:
        raise ValueError(f"n_rows must be a positive int, got {n_rows!r}")
    rng = np.random.default_rng(seed)
    k = len(DEMO_CLASSES)
    # Every choice is drawn and looked up as a whole column, so the per-row loop below only
    # formats strings: a million rows take a few seconds.
    label = rng.choice(k, size=n_rows, p=_CLASS_SHARES)
    split = rng.choice(len(DEMO_SPLITS), size=n_rows, p=_SPLIT_SHARES)
    style = rng.choice(len(_STYLE_SHARES), size=n_rows, p=_STYLE_SHARES)
    other = (label + rng.integers(1, k, size=n_rows)) % k  # a different class, for asides and negations
    u = rng.random((9, n_rows))
    order = rng.integers(100_000, 999_999, size=n_rows)
    amount = rng.integers(5, 500, size=n_rows)
    aside_first = rng.random(n_rows) < 0.4
    typo = rng.random(n_rows) < _TYPO_SHARE

    template = np.where(style == 1, _by_class(_VAGUE, label, u[0]), _by_class(_TEMPLATES, label, u[0]))
    side = np.where(
        style == 2, _by_class(_ASIDES, other, u[7]), np.where(style == 3, _by_class(_NEGATIONS, other, u[7]), "")
    )
    # Text around the body: "<opener> [<aside>] <body> [<aside or negation>] <closer>".
    opener = _pick([f"{o} " if o else "" for o in _OPENERS], u[5])
    closer = _pick([f" {c}" if c else "" for c in _CLOSERS], u[6])
    before = aside_first & (style == 2)
    prefix = opener + np.where(before, side + " ", "")
    suffix = np.where(before | (style < 2), "", " " + side) + closer
    columns = zip(
        prefix.tolist(),
        template.tolist(),
        _by_class(_THINGS, label, u[1]).tolist(),
        _by_class(_ISSUES, label, u[2]).tolist(),
        _pick(_MONTHS, u[3]).tolist(),
        _pick(_DEVICES, u[4]).tolist(),
        order.tolist(),
        amount.tolist(),
        suffix.tolist(),
    )
    texts = [
        head + body.format(thing=thing, issue=issue, month=month, device=device, order=order_i, amount=amount_i) + tail
        for head, body, thing, issue, month, device, order_i, amount_i, tail in columns
    ]
    for i in np.flatnonzero(typo).tolist():
        texts[i] = _typo(texts[i], float(u[8, i]))

    return pa.table(
        {
            "id": pa.array([f"ticket-{i:07d}" for i in range(n_rows)]),
            "text": pa.array(texts),
            "label": pa.array(np.asarray(DEMO_CLASSES, dtype=object)[label].tolist()),
            "split": pa.array(np.asarray(DEMO_SPLITS, dtype=object)[split].tolist()),
        }
    )


def _pick(options: list[str], u: np.ndarray) -> np.ndarray:
    """``options[floor(u * len(options))]`` for each ``u`` in ``[0, 1)``, as an object array."""
    return np.asarray(options, dtype=object)[(u * len(options)).astype(np.int64)]


def _by_class(options: dict[str, list[str]], classes: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Like :func:`_pick`, choosing among the options of each row's class."""
    out = np.empty(len(classes), dtype=object)
    for index, name in enumerate(DEMO_CLASSES):
        rows = classes == index
        out[rows] = _pick(options[name], u[rows])
    return out


def _typo(text: str, u: float) -> str:
    """Swap two letters inside one longer word, the way fast typing does."""
    words = text.split(" ")
    long_words = [j for j, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
    if not long_words:
        return text
    j = long_words[int(u * len(long_words))]
    word = words[j]
    at = 1 + int(u * 997) % (len(word) - 2)
    words[j] = word[:at] + word[at + 1] + word[at] + word[at + 2 :]
    return " ".join(words)
