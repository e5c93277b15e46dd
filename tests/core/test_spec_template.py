"""`alchemist spec init` and spec errors: a spec a person can write without copying a shipped one."""

from __future__ import annotations

import json

import pytest
import yaml

from alchemist_core.errors import InputError
from alchemist_core.spec import load_spec, parse_spec
from alchemist_core.spec_template import spec_template, summarize_data
from flows.cli import main as cli


@pytest.fixture
def tickets(tmp_path):
    path = tmp_path / "support tickets.csv"
    rows = ["id,subject,body,team,split"]
    for i in range(60):
        team = ["billing", "technical", "shipping"][i % 3]
        rows.append(f"t{i},re: {i},my {team} problem number {i} needs help quickly please,{team},train")
    path.write_text("\n".join(rows) + "\n")
    return path


def test_the_template_is_a_valid_spec_from_the_data(tickets):
    summary = summarize_data(str(tickets), label_field="team")
    assert summary.text_fields == ("body",) and summary.label_counts == (("billing", 20), ("shipping", 20), ("technical", 20))
    spec = parse_spec(yaml.safe_load(spec_template(summary)))
    assert spec.name == "support-tickets" and spec.class_names == ["billing", "shipping", "technical"]
    assert spec.input_fields == ["body"]
    assert "# one line: what makes a row this class" in spec_template(summary)


def test_integer_labels_and_wrench_folders_get_named_classes(tmp_path):
    jsonl = tmp_path / "reviews.jsonl"
    jsonl.write_text("".join(json.dumps({"review": f"a long enough review text number {i}", "stars": i % 3}) + "\n" for i in range(30)))
    spec = parse_spec(yaml.safe_load(spec_template(summarize_data(str(jsonl), label_field="stars"))))
    assert spec.class_names == ["class_0", "class_1", "class_2"] and spec.input_fields == ["review"]
    wrench = tmp_path / "spam"
    wrench.mkdir()
    (wrench / "label.json").write_text(json.dumps({"0": "ham", "1": "spam"}))
    (wrench / "train.json").write_text(json.dumps({str(i): {"data": {"text": f"comment {i}"}, "label": i % 2, "weak_labels": []} for i in range(10)}))
    spec = parse_spec(yaml.safe_load(spec_template(summarize_data(str(wrench)))))
    assert spec.class_names == ["ham", "spam"] and spec.input_fields == ["text"]


def test_bad_data_for_a_template_is_named(tickets, tmp_path):
    with pytest.raises(InputError, match=r"has no label column 'label'; its columns are \['id', 'subject', 'body', 'team', 'split'\]"):
        summarize_data(str(tickets))
    with pytest.raises(InputError, match="no data at"):
        summarize_data(str(tmp_path / "missing.csv"))


def test_a_spec_error_names_the_field_what_it_expects_and_an_example():
    with pytest.raises(InputError) as error:
        parse_spec({"name": "tickets", "instruction": "Route tickets.", "classes": {"billing": 0}, "fields": ["text"]})
    message = str(error.value)
    assert "classes: Input should be a valid list (expected a list, in class-index order, of {name: ..., description: ...}" in message
    assert "fields: unknown key; did you mean 'input_fields'?" in message
    assert "alchemist spec init --data <your file>" in message and "Writing a task spec" in message


def test_spec_init_and_check_at_the_command_line(tickets, tmp_path, capsys):
    out = tmp_path / "tickets.yaml"
    assert cli(["spec", "init", "--data", str(tickets), "--label-field", "team", "--out", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out and load_spec(out).n_classes == 3
    assert cli(["spec", "init", "--data", str(tickets), "--label-field", "team", "--out", str(out)]) == 2
    assert "exists; give --out another path, or --force" in capsys.readouterr().err
    assert cli(["spec", "check", str(out)]) == 0
    assert "classes without a description (an LLM generator reads them): billing, shipping, technical" in capsys.readouterr().out


def test_the_readme_example_spec_is_valid():
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    block = readme.split("A complete spec, with every key:\n\n```yaml\n")[1].split("```")[0]
    spec = parse_spec(yaml.safe_load(block), source="README.md")
    assert spec.input_fields == ["subject", "body"] and spec.metric == "macro_f1" and len(spec.examples) == 1
    assert set(yaml.safe_load(block)) == set(type(spec).model_fields)  # every key is shown
