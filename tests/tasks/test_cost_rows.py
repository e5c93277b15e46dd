"""The cost table published to the Prefect UI never shows an unknown price as dollars."""

from tasks.artifacts import cost_rows


def test_unknown_prices_are_named_not_priced_at_zero():
    cost = {
        "ledger": [
            {"model": "local-llama", "prompt_tokens": 900, "completion_tokens": 300, "dollars": 0.0, "price_known": False},
            {"model": "gpt-4o-mini", "prompt_tokens": 1000, "completion_tokens": 100, "dollars": 0.0002, "price_known": True},
        ],
        "full_labeling": {"model": "local-llama", "pool": "train", "n_rows": 500, "n_calls": 25, "dollars": 0.0, "price_known": False},
    }
    rows = {row["item"]: row for row in cost_rows(cost)}
    assert rows["local-llama (price unknown)"]["dollars"] is None
    assert rows["gpt-4o-mini"]["dollars"] == 0.0002
    assert rows["this run (total, prices of some models unknown)"]["dollars"] == 0.0002
    estimate = rows["labeling the 500 rows of the 'train' split with local-llama (estimate, price unknown)"]
    assert estimate["dollars"] is None and estimate["calls"] == 25
