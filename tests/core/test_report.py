import copy

import numpy as np

from alchemist_core.report.render import render_report

RESULTS = {
    "title": "youtube spam",
    "run": {"run_id": "r-001", "config": {"generator": {"name": "offline", "n_programs": 10}, "seed": 0}},
    "dataset": {
        "name": "youtube",
        "digest": "9f2c",
        "class_names": ["HAM", "SPAM"],
        "rows": {"train": 1686, "valid": 120, "test": 250},
    },
    "programs": [
        {
            "name": "p001_keywords",
            "origin": "offline",
            "coverage": 0.2,
            "overlap": 0.1,
            "conflict": 0.05,
            "accuracy": {"valid": 0.9, "test": None},
            "faults": {"errors": 3},
        },
        {
            "name": "p002_loop",
            "origin": "openai:gpt-4o",
            "coverage": 0.0,
            "overlap": 0.0,
            "conflict": 0.0,
            "faults": {"timed_out": 1},
            "quarantined": "timed out after 2.0 s | on row 17",
        },
    ],
    "label_model": {"chosen": "snorkel", "metric": "accuracy", "scores": {"majority": 0.825, "snorkel": 0.8417}},
    "student": {
        "chosen": "logreg/tfidf/covered", "metric": "accuracy", "fit_rows": 1500,
        "scores": {"logreg/minilm/covered": 0.86, "logreg/tfidf/covered": 0.9},
    },
    "metrics": [
        {"program_set": "10 programs", "model": "label model", "split": "valid", "accuracy": 0.84, "macro_f1": 0.83, "binary_f1": 0.8},
        {"program_set": "10 programs", "model": "student", "split": "test", "accuracy": 0.88, "macro_f1": 0.87},
    ],
    "cost": {
        "ledger": [
            {"model": "gpt-4o", "prompt_tokens": 1200, "completion_tokens": 300, "dollars": 0.006, "cached": False},
            {"model": "gpt-4o", "prompt_tokens": 1200, "completion_tokens": 300, "dollars": 0.0, "cached": True},
            {"model": "gpt-4o-mini", "prompt_tokens": 1000, "completion_tokens": 100, "dollars": 0.004, "cached": False},
        ],
        "full_labeling": {"model": "gpt-4o", "n_rows": 2056, "dollars": 3.0},
    },
    "timings": {"ingest": 0.4, "generate": 12.0, "apply": 3.2},
}


def _lines(text):
    return text.splitlines()


def test_full_report_has_every_section_in_order():
    text = render_report(RESULTS)
    headings = [line for line in _lines(text) if line.startswith("#")]
    assert headings == [
        "# youtube spam",
        "## Run",
        "## Dataset",
        "## Programs (2)",
        "### Quarantined programs",
        "## Label model",
        "## Student",
        "## Metrics",
        "## Cost",
        "## Timings",
    ]


def test_program_table_rows_and_faults():
    lines = _lines(render_report(RESULTS))
    header = next(line for line in lines if line.startswith("| program |"))
    assert "accuracy (valid)" in header and "accuracy (test)" in header and "timed out" in header
    assert "| p001_keywords | offline | 0.2000 | 0.1000 | 0.0500 | 0.9000 | — | 3 | 0 | 0 |" in lines
    assert "| p002_loop (quarantined) | openai:gpt-4o | 0.0000 | 0.0000 | 0.0000 | — | — | 0 | 0 | 1 |" in lines
    # The reason's pipe is escaped so it cannot split a table cell.
    assert "- `p002_loop`: timed out after 2.0 s \\| on row 17" in lines


def test_metrics_table_marks_missing_binary_f1():
    lines = _lines(render_report(RESULTS))
    assert "| 10 programs | label model | valid | 0.8400 | 0.8300 | 0.8000 |" in lines
    assert "| 10 programs | student | test | 0.8800 | 0.8700 | — |" in lines


def test_cost_groups_the_ledger_by_model_and_totals():
    text = render_report(RESULTS)
    lines = _lines(text)
    assert "| gpt-4o | 2 | 1 | 2,400 | 600 | $0.0060 |" in lines
    assert "| gpt-4o-mini | 1 | 0 | 1,000 | 100 | $0.0040 |" in lines
    assert "| **total** | **3** | **1** | **3,400** | **700** | **$0.0100** |" in lines
    assert (
        "Labeling all 2,056 rows directly with gpt-4o (what `alchemist annotate` would do) would cost about $3.00; "
        "the programs of this run cost $0.0100, so direct labeling would cost 300× as much." in lines
    )


def test_estimate_names_its_pool_and_a_ratio_below_one():
    cost = {
        "ledger": [{"model": "gpt-4o-mini", "prompt_tokens": 5000, "completion_tokens": 1000, "dollars": 0.0016}],
        "full_labeling": {"model": "gpt-4o-mini", "pool": "train", "n_rows": 1686, "n_calls": 85, "batch_size": 20,
                          "dollars": 0.0009, "price_known": True},
    }  # fmt: skip
    text = render_report({"cost": cost})
    assert "the 1,686 rows of the `train` split" in text and "20 rows per call" in text
    assert "direct labeling would cost 0.56× as much" in text


def test_an_unknown_price_is_never_shown_as_dollars():
    ledger = [
        {"model": "my-local-model", "prompt_tokens": 900, "completion_tokens": 300, "dollars": 0.0, "price_known": False},
        {"model": "gpt-4o-mini", "prompt_tokens": 1000, "completion_tokens": 100, "dollars": 0.0002, "price_known": True},
    ]
    estimate = {"model": "my-local-model", "pool": "train", "n_rows": 500, "n_calls": 25, "dollars": 0.0,
                "price_known": False, "price_table_date": "2024-07-18"}  # fmt: skip
    lines = _lines(render_report({"cost": {"ledger": ledger, "full_labeling": estimate}}))
    assert "| my-local-model | 1 | 0 | 900 | 300 | unknown price |" in lines
    assert "| **total** | **2** | **0** | **1,900** | **400** | **at least $0.000200** |" in lines
    text = "\n".join(lines)
    assert "$0.0000" not in text and "would cost about" not in text
    assert "The price of `my-local-model` is unknown" in text and "--price-table" in text
    assert "at an unknown price: my-local-model is not in the price table (dated 2024-07-18)" in text


def test_sampling_section_shows_each_programs_settings_and_what_was_dropped():
    sampling = {
        "requested": 4, "kept": 4,
        "rounds": [{"round": 0, "asked": 4, "accepted": 2, "rejected": 0, "duplicates": 2},
                   {"round": 1, "asked": 2, "accepted": 2, "rejected": 0, "duplicates": 0}],
        "duplicates": [{"name": "llm_p01_none", "duplicate_of": "llm_p00_none", "by": "source"}],
        "programs": [{"name": "llm_p00_none", "model": "gpt-4o-mini", "supplement_kind": "none", "temperature": 0.7,
                      "seed": 0, "prompt_variant": 0, "repairs": 0, "dollars": 0.0003, "cached": False},
                     {"name": "llm_p05_none", "model": "gpt-4o-mini", "supplement_kind": "none", "temperature": 1.0,
                      "seed": 5, "prompt_variant": 5, "repairs": 1, "dollars": 0.0004, "cached": True}],
    }  # fmt: skip
    lines = _lines(render_report({"sampling": sampling}))
    assert "4 programs requested, 6 candidates asked for in 2 rounds, 4 kept." in lines
    assert "- `llm_p01_none`: the same source as `llm_p00_none`" in lines
    assert "| `llm_p00_none` | gpt-4o-mini | none | 0.70 | 0 | 0 | 0 | $0.000300 | no |" in lines
    assert "| `llm_p05_none` | gpt-4o-mini | none | 1.00 | 5 | 5 | 1 | $0.000400 | yes |" in lines


def test_label_model_and_timings():
    lines = _lines(render_report(RESULTS))
    assert "Chosen: **snorkel** (best out-of-fold accuracy on the valid split)" in lines
    assert "| snorkel ✓ | 0.8417 |" in lines and "| majority | 0.8250 |" in lines
    assert "| **total** | **15.6** |" in lines


def test_run_config_is_flattened():
    lines = _lines(render_report(RESULTS))
    assert "| `generator.n_programs` | 10 |" in lines
    assert "- run id: `r-001`" in lines
    assert "| train | 1,686 |" in lines
    assert "- classes: 0 = HAM, 1 = SPAM" in lines


def test_missing_sections_are_left_out():
    text = render_report({"dataset": {"name": "sms", "rows": {"test": 500}}})
    assert text.startswith("# Alchemist run report\n")
    assert "## Dataset" in text
    for absent in ("## Run", "## Programs", "## Label model", "## Metrics", "## Cost", "## Timings"):
        assert absent not in text
    assert render_report({}) == "# Alchemist run report\n"


def test_report_is_deterministic_and_does_not_mutate_input():
    results = copy.deepcopy(RESULTS)
    assert render_report(results) == render_report(results)
    assert results == RESULTS


def test_numpy_numbers_render_like_python_numbers():
    results = {"dataset": {"rows": {"train": np.int64(1686)}}, "timings": {"fit": np.float64(2.0)}}
    text = render_report(results)
    assert "| train | 1,686 |" in text and "| fit | 2.0 |" in text


def test_estimate_without_ledger():
    text = render_report({"cost": {"full_labeling": {"model": "gpt-4o", "n_rows": 10, "dollars": 0.5}}})
    assert "Labeling all 10 rows directly with gpt-4o (what `alchemist annotate` would do) would cost about $0.5000." in text


def test_cost_section_lists_every_call_with_its_purpose():
    from alchemist_core.report.render import render_report

    ledger = [
        {"purpose": "supplement", "model": "gpt-4", "prompt_tokens": 100, "completion_tokens": 50, "dollars": 0.006, "cached": False, "latency_s": 1.5},
        {"purpose": "code", "model": "gpt-3.5-turbo", "prompt_tokens": 300, "completion_tokens": 200, "dollars": 0.00045, "cached": True, "latency_s": 0.0},
    ]
    text = render_report({"cost": {"ledger": ledger, "full_labeling": {"model": "gpt-3.5-turbo", "n_rows": 1000, "dollars": 0.5}}})
    assert "| 1 | supplement | gpt-4 | 100 | 50 | $0.0060 | no | 1.50 |" in text
    assert "| 2 | code | gpt-3.5-turbo | 300 | 200 | $0.000450 | yes | 0.00 |" in text


def test_student_section_names_the_choice_and_the_candidates():
    lines = _lines(render_report({"student": RESULTS["student"]}))
    assert "Chosen: **logreg/tfidf/covered** (best validation accuracy), trained on 1,500 rows." in lines
    assert "| logreg/tfidf/covered ✓ | 0.9000 |" in lines and "| logreg/minilm/covered | 0.8600 |" in lines
    fixed = _lines(render_report({"student": {"chosen": "mlp/minilm/covered", "scores": {}}}))
    assert "Chosen: **mlp/minilm/covered** (fixed in the config)." in fixed


def test_in_sample_warning_follows_the_metrics_when_the_generator_fitted_valid_rows():
    fitted = {**RESULTS, "generation": {"generator": "offline", "valid_rows_seen": 120, "valid_split": "valid"}}
    text = render_report(fitted)
    warning = "**In-sample valid scores.** The offline generator fitted its programs to 120 labeled rows of the `valid` split"
    assert warning in text
    # Right after the metrics table, before the cost section.
    assert text.index("## Metrics") < text.index(warning) < text.index("## Cost")
    # Nothing fitted (a library, an LLM, or no labeled valid rows): no warning.
    for generation in ({"generator": "library", "valid_rows_seen": 0}, None):
        assert "In-sample" not in render_report({**RESULTS, "generation": generation})


SELECTION = {
    "metric": {"name": "macro_f1", "reason": "macro_f1: the spec sets no metric, and the largest of the 3 classes ('positive') holds 69%", "explicit": False},
    "n_folds": 5, "n_labeled": 773, "seed": 0, "valid_shares": [0.69, 0.2, 0.11],
    "label_models": [
        {"name": "majority", "role": "label model", "accuracy": 0.71, "macro_f1": 0.41, "binary_f1": None,
         "train_shares": [0.93, 0.05, 0.02], "collapsed": True, "note": ""},
        {"name": "weighted+valid", "role": "label model", "accuracy": 0.7, "macro_f1": 0.44, "binary_f1": None,
         "train_shares": [0.85, 0.1, 0.05], "collapsed": False, "note": ""},
    ],
    "label_model": "weighted+valid",
    "candidates": [
        {"name": "label_model", "role": "label model", "accuracy": 0.706, "macro_f1": 0.29, "binary_f1": None,
         "train_shares": [0.999, 0.001, 0.0], "collapsed": True, "note": "weighted+valid; logreg/tfidf/gold where no program votes"},
        {"name": "logreg/tfidf/covered+gold", "role": "student", "accuracy": 0.72, "macro_f1": 0.55, "binary_f1": None,
         "train_shares": [0.7, 0.2, 0.1], "collapsed": False, "note": ""},
        {"name": "logreg/tfidf/gold", "role": "supervised", "accuracy": 0.70, "macro_f1": 0.52, "binary_f1": None,
         "train_shares": [0.72, 0.18, 0.1], "collapsed": False, "note": ""},
    ],
    "winner": "logreg/tfidf/covered+gold", "fallback_student": "logreg/tfidf/covered+gold", "chosen_by": "macro_f1",
    "warnings": ["label_model puts 100% of the training rows in one class while the labeled valid rows have two or more classes above 10%"],
    "dropped": {}, "margins": {"runner_up": 0.03, "label_model": 0.26, "supervised": 0.03}, "interval": [0.51, 0.59],
    "corrected": {"accuracy": 0.70, "macro_f1": 0.53, "binary_f1": None},
}


def test_a_run_that_chose_out_of_fold_shows_every_candidate_and_no_in_sample_warning():
    results = {**RESULTS, "selection": SELECTION, "generation": {"generator": "offline", "valid_rows_seen": 773, "valid_split": "valid"}}
    text = render_report(results)
    lines = _lines(text)
    assert "## How the final labels were chosen" in lines
    assert any(line.startswith("- metric: macro_f1: the spec sets no metric") for line in lines)
    assert (
        "- final labels from **logreg/tfidf/covered+gold**: out-of-fold macro_f1 0.5500 (95% interval 0.5100 to 0.5900); "
        "accuracy 0.7200, macro-F1 0.5500; ahead of the runner-up by +0.0300, the label model by +0.2600, the supervised floor by +0.0300"
    ) in lines
    # The winner's score corrected for the choice among the candidates.
    assert any(line.startswith("- corrected for having been picked among 3 candidates: macro_f1 0.5300 (a cautious figure") for line in lines)
    assert any(line.startswith("- **warning:** label_model puts 100%") for line in lines)
    # Accuracy and macro-F1 side by side, the largest class on train, the collapse flag.
    assert "| label_model (weighted+valid; logreg/tfidf/gold where no program votes) | label model | 0.7060 | 0.2900 | 100% | collapsed |" in lines
    assert "| **logreg/tfidf/covered+gold** ✓ | student | 0.7200 | 0.5500 | 70% |  |" in lines
    # The label model and student sections of a run without such a choice are not shown, nor the in-sample caveat.
    assert "## Label model" not in lines and "## Student" not in lines and "In-sample" not in text
