"""A dated, user-editable price table, and cost estimates made before any call.

Prices live in ``prices.yaml`` next to this module (or a file the user passes). Every call is
priced at the rate of the model that served it, so a two-stage run whose stage-one and code
models differ is priced correctly (the reference code priced both stages at the code rate).

Token counts for estimates are approximate: no tokenizer ships with Alchemist, so prompts
count one token per four characters and a JSON label reply two tokens per row. Billed calls
use the token counts the API reports.

Examples
--------
>>> table = load_price_table()
>>> round(table.cost("gpt-3.5-turbo-0125", prompt_tokens=1000, completion_tokens=1000), 6)
0.002
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from alchemist_core.errors import InputError
from alchemist_core.generators.prompts import annotate_messages
from alchemist_core.spec import TaskSpec

logger = logging.getLogger(__name__)

DEFAULT_PRICES_PATH = Path(__file__).with_name("prices.yaml")

_UNITS = {"per_1k_tokens": 1.0, "per_1m_tokens": 1000.0}

# Chat formats add a few tokens per message and per reply (OpenAI's published rule of thumb).
_TOKENS_PER_MESSAGE = 4
_TOKENS_PER_REPLY = 3
_REPLY_TOKENS_PER_ROW = 2


@dataclass(frozen=True)
class ModelPrice:
    """The price of one model, in dollars per 1,000 tokens.

    ``known`` is False for the table's ``default`` entry: calls to a model the table does not
    list are priced with it (0 unless the user sets a value) and flagged.
    """

    entry: str
    prompt_per_1k: float
    completion_per_1k: float
    known: bool = True

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.prompt_per_1k + completion_tokens * self.completion_per_1k) / 1000.0


@dataclass
class PriceTable:
    """Model prices as of ``date``; see :func:`load_price_table`."""

    date: str
    prices: Mapping[str, ModelPrice]
    source: str = "<memory>"
    _warned: set[str] = field(default_factory=set, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def price(self, model: str) -> ModelPrice:
        """The price of ``model``: an exact entry, else the longest entry it starts with, else ``default``."""
        for name in (model, model.rsplit("/", 1)[-1]):
            if name in self.prices:
                return self.prices[name]
            prefixes = [entry for entry in self.prices if entry != "default" and name.startswith(entry + "-")]
            if prefixes:
                return self.prices[max(prefixes, key=len)]
        fallback = self.prices.get("default", ModelPrice("default", 0.0, 0.0, known=False))
        with self._lock:
            first = model not in self._warned
            self._warned.add(model)
        if first:
            logger.warning(
                "model %r is not in the price table %s (dated %s); its calls are priced with 'default' "
                "($%g / $%g per 1K tokens) and marked unknown; add it to the table for real costs",
                model, self.source, self.date, fallback.prompt_per_1k, fallback.completion_per_1k,
            )  # fmt: skip
        return fallback

    def cost(self, model: str, *, prompt_tokens: int, completion_tokens: int) -> float:
        """Dollars for one call to ``model``."""
        return self.price(model).cost(prompt_tokens, completion_tokens)


_UNKNOWN_DEFAULT = ModelPrice("default", 0.0, 0.0, known=False)


def load_price_table(path: str | Path | None = None) -> PriceTable:
    """Read a price table (the shipped ``prices.yaml`` when ``path`` is None).

    The file has ``date``, ``unit`` (``per_1k_tokens`` or ``per_1m_tokens``) and ``models``:
    a mapping of model name to ``{prompt, completion}`` prices, optionally ``unknown: true``.

    Raises
    ------
    InputError
        When the file is missing or malformed.
    """
    source = Path(path) if path is not None else DEFAULT_PRICES_PATH
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"no price table at {source}; give a YAML file with date, unit and models") from None
    except yaml.YAMLError as error:
        raise InputError(f"price table {source} is not valid YAML: {error}") from None
    if not isinstance(data, dict) or not isinstance(data.get("models"), dict) or "date" not in data:
        raise InputError(f"price table {source}: expected a mapping with 'date', 'unit' and 'models'")
    unit = data.get("unit", "per_1k_tokens")
    if unit not in _UNITS:
        raise InputError(f"price table {source}: unit {unit!r} is unknown; expected one of {sorted(_UNITS)}")
    divisor = _UNITS[unit]
    prices = {}
    for model, entry in data["models"].items():
        prices[str(model)] = _parse_entry(str(model), entry, divisor, source)
    if "default" not in prices:
        prices["default"] = _UNKNOWN_DEFAULT
    return PriceTable(date=str(data["date"]), prices=prices, source=str(source))


def configured_price_table(
    path: str | Path | None = None,
    *,
    model: str | None = None,
    input_per_1m: float | None = None,
    output_per_1m: float | None = None,
) -> PriceTable:
    """The shipped table, with the entries of the user's table at ``path`` replacing or adding to it,
    and ``model`` priced at ``input_per_1m`` / ``output_per_1m`` dollars per million tokens when given.

    A user's table need not repeat the shipped entries; its ``date`` becomes the table's date.

    Examples
    --------
    >>> table = configured_price_table(model="my-local-model", input_per_1m=0.2, output_per_1m=0.6)
    >>> table.price("my-local-model").known, round(table.cost("my-local-model", prompt_tokens=10**6, completion_tokens=0), 6)
    (True, 0.2)
    """
    table = load_price_table()
    prices = dict(table.prices)
    date, source = table.date, table.source
    if path is not None:
        user = load_price_table(path)
        # A table without a default gets an unknown $0 one: it must not replace the shipped default.
        prices.update({name: price for name, price in user.prices.items() if name != "default" or price != _UNKNOWN_DEFAULT})
        date, source = user.date, f"{user.source} over {table.source}"
    if (input_per_1m is None) != (output_per_1m is None):
        raise InputError("give both the input and the output price per 1M tokens, or neither")
    if input_per_1m is not None:
        if not model:
            raise InputError("a price per 1M tokens needs the model it prices")
        prices[model] = ModelPrice(model, float(input_per_1m) / 1000.0, float(output_per_1m) / 1000.0)
        source = f"{source}, {model} from the config"
    return PriceTable(date=date, prices=prices, source=source)


def _parse_entry(model: str, entry: Any, divisor: float, source: Path) -> ModelPrice:
    if not isinstance(entry, dict) or not {"prompt", "completion"} <= set(entry):
        raise InputError(f"price table {source}: entry {model!r} needs 'prompt' and 'completion' prices, got {entry!r}")
    values = []
    for key in ("prompt", "completion"):
        value = entry[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise InputError(f"price table {source}: {model}.{key} must be a number >= 0, got {value!r}")
        values.append(float(value) / divisor)
    known = not bool(entry.get("unknown", False))
    return ModelPrice(model, values[0], values[1], known=known)


# -- estimates -----------------------------------------------------------------------------------
def estimate_tokens(text: str) -> int:
    """Approximate token count of ``text``: one token per four characters (an estimate)."""
    return math.ceil(len(text) / 4)


def estimate_message_tokens(messages: Sequence[Mapping[str, str]]) -> int:
    """Approximate prompt tokens of a chat request (an estimate, see :func:`estimate_tokens`)."""
    return sum(_TOKENS_PER_MESSAGE + estimate_tokens(m["content"]) for m in messages) + _TOKENS_PER_REPLY


def estimate_reply_tokens(n_rows: int) -> int:
    """Approximate completion tokens of a JSON label list for ``n_rows`` rows."""
    return 2 + _REPLY_TOKENS_PER_ROW * n_rows


@dataclass(frozen=True)
class CostEstimate:
    """The estimated cost of labeling every row with an LLM (zero-shot, batched)."""

    model: str
    n_rows: int
    batch_size: int
    n_calls: int
    prompt_tokens: int
    completion_tokens: int
    dollars: float
    price_known: bool
    price_table_date: str
    method: str = "estimate: prompt tokens = characters / 4, reply tokens = 2 per row (no tokenizer)"

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def estimate_annotation_cost(
    spec: TaskSpec,
    rows_sample: Sequence[Mapping[str, Any]],
    n_rows_total: int,
    model: str,
    prices: PriceTable,
    batch_size: int,
) -> CostEstimate:
    """Estimate what labeling ``n_rows_total`` rows with ``model`` would cost.

    The prompt of a batch is the fixed instructions plus one line per row; the per-row share
    is measured on ``rows_sample`` (rendered exactly as :func:`annotate_messages` renders it).

    Parameters
    ----------
    spec : TaskSpec
    rows_sample : sequence of mappings
        Representative rows (a few hundred are plenty); may be empty only when ``n_rows_total`` is 0.
    n_rows_total : int
    model : str
    prices : PriceTable
    batch_size : int
        Rows per call.

    Returns
    -------
    CostEstimate
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if n_rows_total < 0:
        raise ValueError(f"n_rows_total must be >= 0, got {n_rows_total}")
    if n_rows_total and not rows_sample:
        raise ValueError("rows_sample is empty; give a few representative rows to estimate from")
    n_calls = math.ceil(n_rows_total / batch_size)
    overhead = estimate_message_tokens(annotate_messages(spec, []))
    if rows_sample:
        with_rows = estimate_message_tokens(annotate_messages(spec, rows_sample))
        per_row = max(with_rows - overhead, 0) / len(rows_sample)
    else:
        per_row = 0.0
    prompt_tokens = math.ceil(n_calls * overhead + n_rows_total * per_row)
    completion_tokens = n_calls * estimate_reply_tokens(0) + _REPLY_TOKENS_PER_ROW * n_rows_total
    price = prices.price(model)
    return CostEstimate(
        model=model,
        n_rows=n_rows_total,
        batch_size=batch_size,
        n_calls=n_calls,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        dollars=price.cost(prompt_tokens, completion_tokens),
        price_known=price.known,
        price_table_date=prices.date,
    )
