import json
from pathlib import Path

import pytest
import yaml

import alchemist_core.spec
from alchemist_core.data.demo import DEMO_CLASSES, DEMO_SPEC_NAME
from alchemist_core.errors import InputError
from alchemist_core.spec import load_spec, parse_spec

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SPECS = Path(alchemist_core.spec.__file__).parent / "specs"
SHIPPED = sorted(p.stem for p in SPECS.glob("*.yaml"))
# spec name -> its dataset folder under shared/data
DATASETS = {
    "youtube": "wrench/youtube",
    "sms": "wrench/sms",
    "trec": "wrench/trec",
    "semeval": "wrench/semeval",
    "chemprot": "wrench_partial/chemprot",
    "medabs": "extra/medabs",
}

MINIMAL = {
    "name": "tickets",
    "instruction": "Route the ticket.",
    "classes": [{"name": "billing", "description": "money"}, {"name": "technical", "description": "bugs"}],
}


def test_the_expected_specs_are_shipped():
    assert {DEMO_SPEC_NAME, *DATASETS} <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_spec_loads_and_round_trips(name):
    spec = load_spec(name)
    assert spec.name == name
    assert len(spec.instruction) > 40
    assert all(len(c.description) > 10 for c in spec.classes), "every class needs a one-line description"
    assert spec.supplementary.description
    assert parse_spec(yaml.safe_load(spec.to_yaml())) == spec


def test_demo_spec_classes_follow_the_demo_data():
    assert tuple(load_spec(DEMO_SPEC_NAME).class_names) == DEMO_CLASSES


@pytest.mark.shared_data
@pytest.mark.parametrize("name", sorted(DATASETS))
def test_spec_classes_match_label_json(name):
    folder = SHARED_DATA / DATASETS[name]
    if not folder.is_dir():
        pytest.skip(f"{folder} not found (../shared/data is absent)")
    mapping = json.loads((folder / "label.json").read_text(encoding="utf-8"))
    spec = load_spec(name)
    assert spec.n_classes == len(mapping)
    assert spec.class_names == [mapping[str(i)] for i in range(len(mapping))]
    split_file = next(folder / f"{s}.json" for s in ("valid", "test", "train") if (folder / f"{s}.json").exists())
    first_row = next(iter(json.loads(split_file.read_text(encoding="utf-8")).values()))
    assert set(spec.input_fields) <= set(first_row["data"])


def test_parse_spec_minimal_and_class_index():
    spec = parse_spec(MINIMAL)
    assert spec.input_fields == ["text"] and spec.examples == []
    assert spec.class_index("technical") == 1 and spec.class_index(0) == 0
    with pytest.raises(InputError, match=r"unknown class 'shipping'; expected one of \['billing', 'technical'\]"):
        spec.class_index("shipping")


@pytest.mark.parametrize(
    "change, message",
    [
        ({"classes": [{"name": "a"}, {"name": "a"}]}, "appear more than once"),
        ({"classes": [{"name": "a"}]}, "classes"),
        ({"supplementary": {"keywords": {"refunds": ["refund"]}}}, r"unknown classes \['refunds'\]"),
        ({"examples": [{"fields": {"text": "hi"}, "label": "shipping"}]}, "unknown class 'shipping'"),
        ({"colour": "blue"}, "colour"),
        ({"name": "has spaces"}, "name"),
        ({"metric": "auc"}, "metric"),
        ({"classes": [{"name": "a"}, {"name": "b"}, {"name": "c"}], "metric": "binary_f1"}, "needs exactly 2 classes, but 3"),
    ],
)
def test_parse_spec_rejects_bad_specs(change, message):
    with pytest.raises(InputError, match=message):
        parse_spec({**MINIMAL, **change})


def test_load_spec_errors(tmp_path):
    with pytest.raises(InputError, match=r"no task spec at nonexistent.*shipped specs \[.*'demo'"):
        load_spec("nonexistent")
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(InputError, match="not valid YAML"):
        load_spec(broken)
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(InputError, match="expected a YAML mapping"):
        load_spec(listed)


def test_the_selection_metric_is_left_to_the_run_unless_set_and_sms_chooses_by_spam_f1():
    # Empty: the run chooses by accuracy, or macro-F1 on a skewed multi-class split (alchemist_core.selection).
    assert parse_spec(MINIMAL).metric is None
    assert load_spec("sms").metric == "binary_f1"
