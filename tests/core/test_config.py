import pytest

from alchemist_core.config import RunConfig, load_config
from alchemist_core.errors import InputError


def test_defaults_are_the_embedded_demo():
    config = load_config()
    assert (config.spec, config.data.source, config.generator.kind) == ("demo", "demo", "offline")


def test_yaml_and_overrides(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("spec: youtube\ngenerator:\n  kind: library\n  library_path: progs\nseed: 1\n")
    config = load_config(path, {"seed": 5, "dask.address": "synchronous", "student.enabled": None})
    assert config.spec == "youtube" and config.generator.library_path == "progs"
    assert config.seed == 5 and config.dask.address == "synchronous" and config.student.enabled


def test_digest_ignores_where_it_runs_but_not_what_it_computes():
    base = RunConfig()
    assert base.digest == RunConfig(dask={"address": "tcp://x:1"}, storage="/elsewhere", run_id="r").digest
    assert base.digest != RunConfig(seed=1).digest


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"generator.kind": "gpt"}, "generator.kind"),
        ({"seed": "x"}, "seed"),
        ({"data.shard_rows": 3}, "shard_rows"),
        ({"student.candidates": ["logreg-tfidf"]}, "model/features/rows"),
        ({"student.candidates": ["svm/tfidf/covered"]}, "model must be one of"),
        ({"student.model": "svm"}, "student.model"),
    ],
)
def test_invalid_config_names_the_field(overrides, message):
    with pytest.raises(InputError, match=message):
        load_config(overrides=overrides)


def test_unknown_key_rejected(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("generater:\n  kind: offline\n")
    with pytest.raises(InputError, match="generater"):
        load_config(path)


def test_the_student_and_label_model_are_chosen_on_valid_by_default():
    config = RunConfig()
    assert config.student.model == "auto" and config.student.candidates is None
    assert config.label_model.name == "auto" and config.label_model.use_valid_labels
    assert RunConfig(student={"candidates": ["logreg/tfidf/all"]}).student.candidates == ["logreg/tfidf/all"]


def test_every_setting_of_every_flow_form_has_a_description():
    import types
    import typing

    from pydantic import BaseModel

    from alchemist_core.images.pipeline import ImageRunConfig
    from alchemist_core.relabel import RelabelConfig

    def inner(annotation):
        if typing.get_origin(annotation) in (typing.Union, types.UnionType):
            kept = [a for a in typing.get_args(annotation) if a is not type(None)]
            return kept[0] if len(kept) == 1 else annotation
        return annotation

    def undescribed(model, prefix=""):
        for name, field in model.model_fields.items():
            section = inner(field.annotation)
            if isinstance(section, type) and issubclass(section, BaseModel):
                yield from undescribed(section, f"{prefix}{name}.")
            elif not field.description:
                yield prefix + name

    # the Prefect UI shows each description under its field of the run form
    assert {m.__name__: list(undescribed(m)) for m in (RunConfig, ImageRunConfig, RelabelConfig)} == {
        "RunConfig": [], "ImageRunConfig": [], "RelabelConfig": []
    }


def test_llm_settings_are_one_optional_section_of_the_form():
    schema = RunConfig.model_json_schema()
    openai = schema["$defs"]["GeneratorConfig"]["properties"]["openai"]
    assert openai["default"] is None and {"type": "null"} in openai["anyOf"]  # the form folds it away
    assert RunConfig().generator.openai is None  # an offline run carries no LLM settings
    assert load_config(overrides={"generator.kind": "openai"}).generator.openai.model == "gpt-4o-mini"
    assert RunConfig().generator.llm.model == "gpt-4o-mini"  # what an offline run's report prices
