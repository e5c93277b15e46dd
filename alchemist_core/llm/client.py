"""Chat completions from any OpenAI-compatible endpoint, cached, retried and priced.

:class:`LLMClient` wraps ``openai.OpenAI`` (OpenAI itself, or a local vLLM, Ollama or
llama.cpp server through ``base_url``). It does its own retry loop (the SDK's is off):
rate limits (429), 408, 409, server errors (5xx), timeouts, connection errors and malformed
response bodies are retried with exponential backoff and jitter, honouring ``Retry-After``;
other client errors (400, 401, 404, ...) fail at once. Every call, cache hit or not, lands
in the ledger.

The API key is read from the environment variable the endpoint names, at call time, and is
never stored in the endpoint, written to the cache or ledger, logged, or put in an error.
"""

from __future__ import annotations

import email.utils
import json
import logging
import os
import random
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping, Sequence
from urllib.parse import urlsplit, urlunsplit

from alchemist_core.errors import AlchemistError, InputError, StorageError
from alchemist_core.llm.cache import ResponseCache, request_key
from alchemist_core.llm.ledger import PURPOSES, Ledger
from alchemist_core.llm.pricing import ModelPrice, PriceTable, load_price_table

logger = logging.getLogger(__name__)

OPENAI_BASE_URL = "https://api.openai.com/v1"

# Placeholder key for local servers that ignore authentication (vLLM's convention).
_NO_KEY = "EMPTY"

_RETRYABLE_STATUS = frozenset({408, 409, 429})
_SECRET_PATTERN = re.compile(r"\b(sk-[A-Za-z0-9_\-*]{4,})")


class LLMError(AlchemistError):
    """An LLM request failed: a non-retryable error, or retries ran out.

    Attributes
    ----------
    status : int or None
        The HTTP status of the last attempt, ``None`` for timeouts, connection errors and
        malformed responses.
    attempts : int
        How many requests were sent.
    endpoint : str
        The endpoint's base URL, without credentials.
    retryable : bool
        Whether the last error was of a kind that is retried (so retries ran out).
    """

    # NB: keyword defaults keep it picklable (Prefect and Dask move exceptions between processes).
    def __init__(
        self, message: str, *, status: int | None = None, attempts: int = 0, endpoint: str = "", retryable: bool = False
    ):
        super().__init__(message)
        self.status = status
        self.attempts = attempts
        self.endpoint = endpoint
        self.retryable = retryable


class BudgetExceeded(LLMError):
    """A call was not sent: it could have taken spending past the budget cap."""


class SpendingCap:
    """A hard cap on dollars, shared by the threads of one client.

    Before a call that is not cached, its worst case (the estimated prompt plus a reply of
    ``max_tokens``) is reserved; the call is not sent when the reservation would pass the cap
    even once the calls in flight have settled (it waits for them first). After the call, the
    reservation is replaced by what the call cost. ``spent_before`` is
    what earlier commands of the same run spent (from its ledger), so the cap holds across them.

    Examples
    --------
    >>> cap = SpendingCap(1.0, spent_before=0.25)
    >>> cap.reserve(0.5)
    True
    >>> cap.settle(0.5, 0.1); round(cap.spent, 2), round(cap.left, 2)
    (0.35, 0.65)
    >>> cap.reserve(0.7), cap.n_refused
    (False, 1)

    A thread holds at most one reservation: one that cannot fit waits for the others' calls
    to settle, and is refused only when nothing is in flight.
    """

    def __init__(self, cap_usd: float, *, spent_before: float = 0.0):
        if cap_usd < 0:
            raise InputError(f"a budget must be >= 0 dollars, got {cap_usd}")
        self.cap_usd = float(cap_usd)
        self.spent_before = float(spent_before)
        self._spent = 0.0
        self._reserved = 0.0
        self._settled = threading.Condition()
        self.n_refused = 0

    @property
    def spent(self) -> float:
        """Dollars spent under this cap, earlier commands included."""
        return self.spent_before + self._spent

    @property
    def left(self) -> float:
        return max(self.cap_usd - self.spent, 0.0)

    def reserve(self, worst_usd: float) -> bool:
        """Reserve ``worst_usd``; ``False`` (and nothing reserved) when it cannot fit under the cap."""
        with self._settled:
            while self.spent + self._reserved + worst_usd > self.cap_usd + 1e-12:
                if self._reserved <= 0:
                    self.n_refused += 1
                    return False
                self._settled.wait()  # calls in flight may cost less than they reserved
            self._reserved += worst_usd
            return True

    def settle(self, reserved_usd: float, spent_usd: float) -> None:
        """Replace a reservation by what the call cost (0 for a call that failed)."""
        with self._settled:
            self._reserved = max(self._reserved - reserved_usd, 0.0)
            self._spent += spent_usd
            self._settled.notify_all()


def _display_url(url: str) -> str:
    """``url`` without user info, query or fragment (where credentials could hide)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))


@dataclass(frozen=True)
class LLMEndpoint:
    """Where and how to call an OpenAI-compatible chat API.

    Parameters
    ----------
    base_url : str or None
        For example ``http://127.0.0.1:8000/v1`` (vLLM); ``None`` means OpenAI
        (or ``$OPENAI_BASE_URL`` when set).
    model : str
        Default model for calls that do not name one.
    api_key_env : str
        The environment variable holding the key. The key itself is never stored here.
    timeout : float
        Seconds per attempt.
    max_retries : int
        Retries after the first attempt for retryable errors.
    max_concurrency : int
        Most requests in flight at once.
    temperature : float
        Default sampling temperature.
    max_tokens : int
        Completion-token limit per call.
    backoff_base, backoff_max : float
        Exponential backoff: ``min(backoff_max, backoff_base * 2**(attempt - 1))`` seconds,
        times a random factor in [0.5, 1) (jitter).
    retry_after_max : float
        Cap on a server's ``Retry-After``.
    """

    base_url: str | None
    model: str
    api_key_env: str = "OPENAI_API_KEY"
    timeout: float = 60.0
    max_retries: int = 4
    max_concurrency: int = 4
    temperature: float = 0.7
    max_tokens: int = 1000
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    retry_after_max: float = 60.0

    def __post_init__(self) -> None:
        if not self.model:
            raise InputError("LLMEndpoint needs a model name, got an empty string")
        checks = (
            ("timeout", self.timeout > 0), ("max_retries", self.max_retries >= 0),
            ("max_concurrency", self.max_concurrency >= 1), ("max_tokens", self.max_tokens >= 1),
            ("backoff_base", self.backoff_base >= 0), ("backoff_max", self.backoff_max >= 0),
            ("retry_after_max", self.retry_after_max >= 0),
        )  # fmt: skip
        for name, ok in checks:
            if not ok:
                raise InputError(f"LLMEndpoint.{name} is out of range: {getattr(self, name)!r}")

    def resolved_base_url(self) -> str:
        """The URL requests go to (read at call time)."""
        return self.base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_BASE_URL

    @property
    def display_url(self) -> str:
        """The base URL without credentials: safe for logs, errors, caches and ledgers."""
        return _display_url(self.resolved_base_url())

    def api_key(self) -> str:
        """The key from ``$api_key_env``, or a placeholder for a keyless local server.

        Raises
        ------
        InputError
            When neither a key nor a ``base_url`` is configured.
        """
        key = os.environ.get(self.api_key_env, "").strip()
        if key:
            return key
        if self.base_url or os.environ.get("OPENAI_BASE_URL"):
            return _NO_KEY
        raise InputError(
            f"no LLM endpoint configured: set {self.api_key_env} or give --llm-base-url "
            "(the URL of an OpenAI-compatible server such as vLLM, Ollama or llama.cpp)"
        )


@dataclass(frozen=True)
class ChatRequest:
    """One chat request for :meth:`LLMClient.complete_many`; see :meth:`LLMClient.complete`."""

    messages: Sequence[Mapping[str, str]]
    purpose: str
    model: str | None = None
    temperature: float | None = None
    seed: int | None = None
    n_sample: int = 0
    refresh: bool = False


@dataclass(frozen=True)
class Completion:
    """A reply and what it cost.

    ``dollars`` is 0 for a cache hit (``cached=True``); the token counts are those the API
    reported when the reply was first made (0 when it reported none: ``usage_reported=False``).
    """

    text: str
    prompt_tokens: int
    completion_tokens: int
    cached: bool
    latency_s: float
    model: str
    dollars: float = 0.0
    usage_reported: bool = True
    price_known: bool = True
    request_key: str = ""
    attempts: int = 0


class _Retryable(Exception):
    """An attempt failed in a way worth retrying."""

    def __init__(self, what: str, status: int | None = None, wait_s: float | None = None):
        super().__init__(what)
        self.what = what
        self.status = status
        self.wait_s = wait_s


class _Fatal(Exception):
    def __init__(self, what: str, status: int | None = None):
        super().__init__(what)
        self.what = what
        self.status = status


def retry_after_seconds(headers: Mapping[str, str], *, cap: float, now: datetime | None = None) -> float | None:
    """The wait a server asks for in ``Retry-After`` (seconds or an HTTP date) or ``retry-after-ms``, capped.

    Examples
    --------
    >>> retry_after_seconds({"retry-after": "7"}, cap=60)
    7.0
    >>> retry_after_seconds({"retry-after": "3600"}, cap=60)
    60.0
    >>> retry_after_seconds({}, cap=60) is None
    True
    """
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    seconds: float | None = None
    if "retry-after-ms" in lowered:
        try:
            seconds = float(lowered["retry-after-ms"]) / 1000.0
        except ValueError:
            seconds = None
    if seconds is None and "retry-after" in lowered:
        value = lowered["retry-after"].strip()
        try:
            seconds = float(value)
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                return None
            if when.tzinfo is None:
                when = when.replace(tzinfo=timezone.utc)
            seconds = (when - (now or datetime.now(timezone.utc))).total_seconds()
    if seconds is None or seconds != seconds:  # NaN
        return None
    return float(min(max(seconds, 0.0), cap))


class LLMClient:
    """Cached, retried, priced chat completions.

    Parameters
    ----------
    endpoint : LLMEndpoint
    cache : ResponseCache, optional
        Replies are read from and written to it; a hit makes no HTTP request.
    ledger : Ledger, optional
        Every call is recorded in it.
    prices : PriceTable, optional
        The shipped table when ``None``.
    budget : SpendingCap, optional
        A hard cap on dollars: a call that could pass it is not sent (:class:`BudgetExceeded`).

    Notes
    -----
    The ``openai.OpenAI`` client is made on the first request that misses the cache, so a
    fully cached rerun needs no key and no network.
    """

    def __init__(
        self,
        endpoint: LLMEndpoint,
        *,
        cache: ResponseCache | None = None,
        ledger: Ledger | None = None,
        prices: PriceTable | None = None,
        budget: SpendingCap | None = None,
    ):
        self.endpoint = endpoint
        self.budget = budget
        self._n_calls = 0
        self._count_lock = threading.Lock()
        self.cache = cache
        self.ledger = ledger
        self.prices = prices if prices is not None else load_price_table()
        self._openai: Any = None
        self._secret = ""
        self._openai_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(endpoint.max_concurrency)
        self._jitter = random.Random()

    # -- public ----------------------------------------------------------------------------------
    def complete(
        self,
        messages: Sequence[Mapping[str, str]],
        *,
        purpose: str,
        model: str | None = None,
        temperature: float | None = None,
        seed: int | None = None,
        n_sample: int = 0,
        refresh: bool = False,
    ) -> Completion:
        """One chat completion, from the cache when possible.

        Parameters
        ----------
        messages : sequence of dict
            ``{"role", "content"}`` messages.
        purpose : str
            One of :data:`alchemist_core.llm.ledger.PURPOSES`, recorded in the ledger.
        model, temperature : optional
            Override the endpoint's defaults.
        seed : int, optional
            Passed to the API (best-effort determinism) and part of the cache key.
        n_sample : int
            Sample index: the same prompt with different indices is a different request
            (and cache entry), which is how N samples of one prompt are drawn.
        refresh : bool
            Skip the cache read (the new reply overwrites the entry).

        Returns
        -------
        Completion

        Raises
        ------
        LLMError
            When the request fails for good.
        InputError
            When no endpoint is configured (no key and no ``base_url``).
        """
        request = ChatRequest(messages, purpose, model, temperature, seed, n_sample, refresh)
        return self._complete(request)

    def complete_many(self, requests: Sequence[ChatRequest]) -> list[Completion]:
        """Several completions, at most ``endpoint.max_concurrency`` in flight, in input order.

        Every request runs to its end (so successful replies are cached) before the first
        :class:`LLMError`, in input order, is raised.
        """
        results = self.try_complete_many(requests)
        for result in results:
            if isinstance(result, LLMError):
                raise result
        return results  # type: ignore[return-value]

    def try_complete_many(self, requests: Sequence[ChatRequest]) -> list[Completion | LLMError]:
        """Like :meth:`complete_many`, but a failed request gives its :class:`LLMError` in its place."""

        def run(request: ChatRequest) -> Completion | LLMError:
            try:
                return self._complete(request)
            except LLMError as error:
                return error

        if not requests:
            return []
        workers = min(self.endpoint.max_concurrency, len(requests))
        if workers == 1:
            return [run(request) for request in requests]
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="alchemist-llm") as pool:
            return list(pool.map(run, requests))

    def is_cached(self, request: ChatRequest) -> bool:
        """Whether ``request`` would be answered from the cache (no HTTP request, no cost)."""
        if self.cache is None or request.refresh:
            return False
        return self.cache.contains(self._key(request))

    def cached_text(self, request: ChatRequest) -> str | None:
        """The cached reply to ``request`` (``None`` when a call would be sent); makes no call and records nothing."""
        if not self.is_cached(request):
            return None
        entry = self.cache.get(self._key(request))  # type: ignore[union-attr]
        return None if entry is None else str(entry["text"])

    def price(self, model: str | None = None) -> ModelPrice:
        """The price of ``model`` (the endpoint's default model when ``None``)."""
        return self.prices.price(model or self.endpoint.model)

    # -- internals -------------------------------------------------------------------------------
    def _settings(self, request: ChatRequest) -> tuple[str, float]:
        model = request.model or self.endpoint.model
        temperature = self.endpoint.temperature if request.temperature is None else float(request.temperature)
        return model, temperature

    def _key(self, request: ChatRequest) -> str:
        model, temperature = self._settings(request)
        return request_key(
            base_url=self.endpoint.display_url,
            model=model,
            messages=request.messages,
            temperature=temperature,
            max_tokens=self.endpoint.max_tokens,
            seed=request.seed,
            n_sample=request.n_sample,
        )

    def _complete(self, request: ChatRequest) -> Completion:
        if request.purpose not in PURPOSES:
            raise ValueError(f"unknown purpose {request.purpose!r}; expected one of {PURPOSES}")
        model, temperature = self._settings(request)
        key = self._key(request)
        started = time.perf_counter()
        if self.cache is not None and not request.refresh:
            entry = self.cache.get(key)
            if entry is not None:
                price = self.prices.price(model)
                usage = entry.get("usage", {})
                completion = Completion(
                    text=entry["text"],
                    prompt_tokens=int(usage.get("prompt_tokens", 0)),
                    completion_tokens=int(usage.get("completion_tokens", 0)),
                    cached=True,
                    latency_s=time.perf_counter() - started,
                    model=model,
                    dollars=0.0,
                    usage_reported=bool(usage.get("reported", True)),
                    price_known=price.known,
                    request_key=key,
                )
                self._record(completion, request.purpose, price)
                return completion
        price = self.prices.price(model)
        reserved = self._reserve(request, model, price)
        try:
            client = self._client()  # the first one imports openai (seconds): not part of the latency
            started = time.perf_counter()
            text, prompt_tokens, completion_tokens, usage_reported, attempts = self._call(
                client, request, model, temperature
            )
        except BaseException:
            if self.budget is not None:
                self.budget.settle(reserved, 0.0)
            raise
        latency = time.perf_counter() - started
        completion = Completion(
            text=text,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cached=False,
            latency_s=latency,
            model=model,
            dollars=price.cost(prompt_tokens, completion_tokens),
            usage_reported=usage_reported,
            price_known=price.known,
            request_key=key,
            attempts=attempts,
        )
        if self.budget is not None:
            self.budget.settle(reserved, completion.dollars)
        if self.cache is not None:
            self._store(
                key,
                text=text,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                usage_reported=usage_reported,
                latency_s=latency,
                request={
                    "endpoint": self.endpoint.display_url,
                    "model": model,
                    "temperature": temperature,
                    "max_tokens": self.endpoint.max_tokens,
                    "seed": request.seed,
                    "sample": request.n_sample,
                    "purpose": request.purpose,
                    "messages": [{"role": m["role"], "content": m["content"]} for m in request.messages],
                },
            )
        self._record(completion, request.purpose, price)
        return completion

    def worst_case_dollars(self, messages: Sequence[Mapping[str, str]], model: str | None = None) -> float:
        """What a call could cost at most: the estimated prompt and a reply of ``max_tokens``."""
        from alchemist_core.llm.pricing import estimate_message_tokens

        price = self.prices.price(model or self.endpoint.model)
        return price.cost(estimate_message_tokens(messages), self.endpoint.max_tokens)

    def _reserve(self, request: ChatRequest, model: str, price: ModelPrice) -> float:
        if self.budget is None:
            return 0.0
        from alchemist_core.llm.pricing import estimate_message_tokens

        worst = price.cost(estimate_message_tokens(request.messages), self.endpoint.max_tokens)
        if not self.budget.reserve(worst):
            budget = self.budget
            raise BudgetExceeded(
                f"not sent ({request.purpose} call to {model}): the budget cap of ${budget.cap_usd:,.4f} would be passed "
                f"(spent ${budget.spent:,.4f}; this call could cost up to ${worst:,.4f} with a {self.endpoint.max_tokens}-token reply)",
                endpoint=self.endpoint.display_url,
            )
        return worst

    def _store(self, key: str, **entry: Any) -> None:
        # A reply that was paid for is still returned when the cache cannot keep it.
        try:
            self.cache.put(key, **entry)  # type: ignore[union-attr]
        except StorageError as error:
            logger.warning("could not cache an LLM reply (a rerun will ask again): %s", error)

    def _record(self, completion: Completion, purpose: str, price: ModelPrice) -> None:
        with self._count_lock:
            self._n_calls += 1
            number = self._n_calls
        if completion.cached:
            cost = "from the cache, $0"
        elif not price.known:
            cost = "price unknown"
        else:
            cost = f"${completion.dollars:.6f}" if completion.dollars < 0.001 else f"${completion.dollars:.4f}"
        logger.info(
            "LLM call %d: %s, %s, %s + %s tokens, %s%s",
            number, purpose, completion.model, f"{completion.prompt_tokens:,}", f"{completion.completion_tokens:,}", cost,
            "" if completion.cached else f", {completion.latency_s:.1f} s",
        )  # fmt: skip
        if self.ledger is None:
            return
        self.ledger.record(
            {
                "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                "purpose": purpose,
                "model": completion.model,
                "endpoint": self.endpoint.display_url,
                "prompt_tokens": completion.prompt_tokens,
                "completion_tokens": completion.completion_tokens,
                "usage_reported": completion.usage_reported,
                "price_entry": price.entry,
                "price_known": price.known,
                "price_prompt_per_1k": price.prompt_per_1k,
                "price_completion_per_1k": price.completion_per_1k,
                "price_table_date": self.prices.date,
                "dollars": completion.dollars,
                "latency_s": round(completion.latency_s, 4),
                "cached": completion.cached,
                "attempts": completion.attempts,
                "request_key": completion.request_key,
            }
        )

    def _client(self) -> Any:
        with self._openai_lock:
            if self._openai is None:
                self._secret = self.endpoint.api_key()
                import openai

                # NB: max_retries=0: the SDK's own retries would multiply ours and ignore our caps.
                self._openai = openai.OpenAI(
                    base_url=self.endpoint.resolved_base_url(),
                    api_key=self._secret,
                    timeout=self.endpoint.timeout,
                    max_retries=0,
                )
            return self._openai

    def _redact(self, text: str) -> str:
        if self._secret and self._secret != _NO_KEY:
            text = text.replace(self._secret, "***")
        return _SECRET_PATTERN.sub("sk-***", text)

    def _call(
        self, client: Any, request: ChatRequest, model: str, temperature: float
    ) -> tuple[str, int, int, bool, int]:
        arguments: dict[str, Any] = {
            "model": model,
            "messages": [{"role": m["role"], "content": m["content"]} for m in request.messages],
            "temperature": temperature,
            "max_tokens": self.endpoint.max_tokens,
        }
        if request.seed is not None:
            arguments["seed"] = request.seed
        endpoint = self.endpoint
        where = f"LLM request to {endpoint.display_url} (model {model!r}, purpose {request.purpose})"
        attempts = 0
        while True:
            attempts += 1
            try:
                with self._slots:
                    response = self._attempt(client, arguments)
                return (*_read_completion(response), attempts)
            except _Fatal as error:
                hint = _hint(error.status, endpoint)
                raise LLMError(
                    self._redact(f"{where} failed with {error.what} (not retried){hint}"),
                    status=error.status,
                    attempts=attempts,
                    endpoint=endpoint.display_url,
                    retryable=False,
                ) from None
            except _Retryable as error:
                if attempts > endpoint.max_retries:
                    raise LLMError(
                        self._redact(f"{where} failed after {attempts} attempt(s); last error: {error.what}"),
                        status=error.status,
                        attempts=attempts,
                        endpoint=endpoint.display_url,
                        retryable=True,
                    ) from None
                if error.wait_s is not None:
                    delay = error.wait_s
                else:
                    backoff = min(endpoint.backoff_max, endpoint.backoff_base * 2 ** (attempts - 1))
                    delay = backoff * (0.5 + 0.5 * self._jitter.random())
                logger.warning(
                    "%s: attempt %d of %d failed (%s); retrying in %.2f s",
                    where, attempts, endpoint.max_retries + 1, self._redact(error.what), delay,
                )  # fmt: skip
                time.sleep(delay)

    def _attempt(self, client: Any, arguments: Mapping[str, Any]) -> Any:
        """One request; SDK errors become :class:`_Retryable` or :class:`_Fatal`."""
        import openai

        endpoint = self.endpoint
        try:
            return client.chat.completions.create(**arguments)
        except openai.APIStatusError as error:
            status = error.status_code
            what = f"HTTP {status}: {_status_message(error)}"
            if status in _RETRYABLE_STATUS or status >= 500:
                wait = retry_after_seconds(error.response.headers, cap=endpoint.retry_after_max)
                raise _Retryable(what, status, wait) from None
            raise _Fatal(what, status) from None
        except openai.APITimeoutError:
            raise _Retryable(f"timed out after {endpoint.timeout:g} s") from None
        except openai.APIConnectionError as error:
            cause = error.__cause__ or error.__context__
            detail = f": {type(cause).__name__}" if cause is not None else ""
            raise _Retryable(f"connection error{detail}") from None
        except (openai.APIResponseValidationError, json.JSONDecodeError, UnicodeDecodeError) as error:
            raise _Retryable(f"malformed response body ({type(error).__name__})") from None
        except openai.OpenAIError as error:
            raise _Fatal(f"{type(error).__name__}: {error}") from None


def _status_message(error: Any) -> str:
    body = getattr(error, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, dict) else None
        if message:
            return str(message)[:500]
    return str(getattr(error, "message", "") or "")[:500]


def _hint(status: int | None, endpoint: LLMEndpoint) -> str:
    if status in (401, 403):
        return f"; check the API key in ${endpoint.api_key_env}"
    if status == 404:
        return "; check the model name and the base URL"
    return ""


def _read_completion(response: Any) -> tuple[str, int, int, bool]:
    """(text, prompt_tokens, completion_tokens, usage_reported) of a chat completion."""
    try:
        choices = response.choices
        message = choices[0].message
        content = message.content
    except (AttributeError, IndexError, KeyError, TypeError):
        raise _Retryable(f"malformed response: no choices[0].message in {str(response)[:200]!r}") from None
    text = content if isinstance(content, str) else ""
    usage = getattr(response, "usage", None)
    prompt_tokens = getattr(usage, "prompt_tokens", None) if usage is not None else None
    completion_tokens = getattr(usage, "completion_tokens", None) if usage is not None else None
    if isinstance(prompt_tokens, int) and isinstance(completion_tokens, int):
        return text, prompt_tokens, completion_tokens, True
    return text, 0, 0, False
