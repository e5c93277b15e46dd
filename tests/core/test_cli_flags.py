"""The command line and the config models cannot drift apart.

Every flag that sets a config key names a leaf key its command's model has, with a type the
field accepts; every leaf key of a model has a flag or is listed as settable in a config file
only; no config-backed flag is added by hand beside the table; and help text names only paths,
modules and flags that exist.
"""

from __future__ import annotations

import argparse
import re
import types
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import pytest
from pydantic import BaseModel, TypeAdapter

from alchemist_core.config import load_config
from alchemist_core.images.pipeline import load_image_config
from alchemist_core.relabel import load_relabel_config
from flows.cli import CONFIG_FLAGS, ConfigFlags, build_parser, config_overrides, main

REPO = Path(__file__).resolve().parents[2]

HAND_WRITTEN = {
    # flags of these commands that are not config keys
    "run": {"-h", "--help", "--config", "--dry-run"},
    "generate": {"-h", "--help", "--config", "--dry-run"},
    "run-images": {"-h", "--help", "--config"},
    "relabel": {"-h", "--help", "--config"},
    "annotate": {"-h", "--help", "--run", "--budget", "--dry-run", "--batch-size"},
}


def _without_none(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        kept = [arg for arg in get_args(annotation) if arg is not type(None)]
        return kept[0] if len(kept) == 1 else annotation
    return annotation


def _submodel(annotation: Any) -> type[BaseModel] | None:
    inner = _without_none(annotation)
    return inner if isinstance(inner, type) and issubclass(inner, BaseModel) else None


def _leaves(model: type[BaseModel], prefix: str = "") -> dict[str, Any]:
    """Every leaf key of ``model`` (dotted) and its field."""
    leaves = {}
    for name, field in model.model_fields.items():
        inner = _submodel(field.annotation)
        leaves.update(_leaves(inner, f"{prefix}{name}.") if inner else {f"{prefix}{name}": field})
    return leaves


def _commands(parser: argparse.ArgumentParser, prefix: str = "") -> dict[str, argparse.ArgumentParser]:
    found = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found[f"{prefix}{name}"] = sub
                found.update(_commands(sub, f"{prefix}{name} "))
    return found


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {option: action for action in parser._actions for option in action.option_strings}


def _sample(annotation: Any) -> str:
    """A command-line value of the field's type."""
    inner = _without_none(annotation)
    if get_origin(inner) is list:
        return "1,2,3"
    return {int: "3", float: "0.5", str: "text"}[inner]


def _required(command: str) -> list[str]:
    """The arguments a command cannot parse without."""
    return ["--run", "r", "--budget", "1"] if command == "annotate" else []


@pytest.fixture(scope="module")
def commands() -> dict[str, argparse.ArgumentParser]:
    return _commands(build_parser())


@pytest.mark.parametrize("command", sorted(CONFIG_FLAGS))
def test_every_flag_sets_a_leaf_key_of_its_model_with_a_type_it_accepts(command):
    flags = CONFIG_FLAGS[command]
    leaves = _leaves(flags.model)
    unknown = [f"{spec.flag} -> {spec.key}" for spec in flags.flags if spec.key not in leaves]
    assert not unknown, f"{command}: flags naming keys {flags.model.__name__} has no leaf for: {unknown}"
    assert len({spec.flag for spec in flags.flags}) == len(flags.flags), f"{command}: a flag is declared twice"
    assert len({spec.key for spec in flags.flags}) == len(flags.flags), f"{command}: two flags set the same key"

    options = _options(_commands(build_parser())[command])
    for spec in flags.flags:
        field, action = leaves[spec.key], options[spec.flag]
        annotation = _without_none(field.annotation)
        if annotation is bool:
            assert isinstance(spec.switch, bool) and isinstance(action, argparse._StoreTrueAction), spec
            args = build_parser().parse_args([command, *_required(command), spec.flag])
            assert config_overrides(args, flags)[spec.key] is spec.switch
            continue
        assert spec.switch is None, f"{spec.flag} is a switch, but {spec.key} is not a boolean"
        assert action.default is None, f"{spec.flag} must default to unset, so a config file's value stands"
        if get_origin(annotation) is Literal:
            assert list(action.choices) == list(get_args(annotation)), spec
            text = value = action.choices[0]
        else:
            text = _sample(field.annotation)
            value = action.type(text) if action.type else text
        TypeAdapter(field.annotation).validate_python(value, strict=True)
        args = build_parser().parse_args([command, *_required(command), spec.flag, text])
        assert config_overrides(args, flags)[spec.key] == value


@pytest.mark.parametrize("command", sorted(name for name, flags in CONFIG_FLAGS.items() if not flags.amends_stored))
def test_every_leaf_key_has_a_flag_or_is_set_in_the_config_file_only(command):
    flags: ConfigFlags = CONFIG_FLAGS[command]
    leaves = set(_leaves(flags.model))
    flagged = {spec.key for spec in flags.flags}
    missing = sorted(leaves - flagged - flags.file_only)
    assert not missing, f"{command}: keys of {flags.model.__name__} with neither a flag nor a file_only entry: {missing}"
    stale = sorted(flags.file_only - leaves)
    assert not stale, f"{command}: file_only lists keys {flags.model.__name__} does not have: {stale}"
    both = sorted(flags.file_only & flagged)
    assert not both, f"{command}: keys both flagged and listed as file only: {both}"


@pytest.mark.parametrize("command", sorted(HAND_WRITTEN))
def test_config_backed_flags_come_only_from_the_table(command, commands):
    declared = {spec.flag for spec in CONFIG_FLAGS[command].flags}
    present = set(_options(commands[command]))
    extra = sorted(present - declared - HAND_WRITTEN[command])
    assert not extra, f"{command}: flags added beside CONFIG_FLAGS (declare them there, or in HAND_WRITTEN if not config keys): {extra}"
    assert declared <= present, f"{command}: declared flags the parser lacks: {sorted(declared - present)}"


def test_flags_override_the_config_file_and_unset_flags_leave_it(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("data:\n  label_field: gold\n  split_seed: 7\nstudent:\n  enabled: true\n  epochs: 4\n")
    parser = build_parser()

    args = parser.parse_args(["run", "--config", str(config), "--no-student", "--split-fractions", "0.6,0.2,0.2", "--refresh"])
    run = load_config(args.config, config_overrides(args, CONFIG_FLAGS["run"]))
    assert (run.data.label_field, run.data.split_seed, run.student.epochs) == ("gold", 7, 4)
    assert run.student.enabled is False and run.data.split_fractions == [0.6, 0.2, 0.2] and run.generator.openai.refresh

    args = parser.parse_args(["run", "--config", str(config), "--label-field", "y", "--fields", "title,body"])
    run = load_config(args.config, config_overrides(args, CONFIG_FLAGS["run"]))
    assert (run.data.label_field, run.data.fields, run.student.enabled) == ("y", ["title", "body"], True)

    args = parser.parse_args(["run-images", "--clip-model", "ViT-B-32", "--no-student", "--n-concepts", "3"])
    images = load_image_config(args.config, config_overrides(args, CONFIG_FLAGS["run-images"]))
    assert (images.clip.model, images.student.enabled, images.concepts.n_concepts) == ("ViT-B-32", False, 3)

    args = parser.parse_args(["relabel", "--source-run", "runs/x", "--no-student", "--program-seconds", "5"])
    relabel = load_relabel_config(args.config, config_overrides(args, CONFIG_FLAGS["relabel"]))
    assert (relabel.student, relabel.sandbox.program_seconds) == (False, 5.0)
    args = parser.parse_args(["relabel", "--source-run", "runs/x"])
    assert load_relabel_config(args.config, config_overrides(args, CONFIG_FLAGS["relabel"])).sandbox is None


def test_a_bad_list_value_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--split-fractions", "0.6,x,0.2"])
    assert "--split-fractions" in capsys.readouterr().err


def _texts(parser: argparse.ArgumentParser) -> list[tuple[str, set[str]]]:
    """Each help text of ``parser`` with the flags it may name: its own, or a subcommand's for that subcommand's help."""
    flags = set(_options(parser))
    texts = [(parser.description or "", flags), (parser.epilog or "", flags)]
    for action in parser._actions:
        texts.append((action.help or "", flags))
        if isinstance(action, argparse._SubParsersAction):
            texts += [(choice.help or "", set(_options(action.choices[choice.dest]))) for choice in action._choices_actions]
    return texts


def test_help_names_only_paths_modules_and_flags_that_exist(commands):
    # a path in help starts with a folder of the checkout, or with one a reader would look for there
    folders = "|".join(sorted({p.name for p in REPO.iterdir() if p.is_dir() and not p.name.startswith(".")} | {"configs", "examples"}))
    for name, parser in {"": build_parser(), **commands}.items():
        where = f"`alchemist {name} --help`".replace("  ", " ")
        for text, flags in _texts(parser):
            for path in re.findall(rf"\b((?:{folders})/(?:[\w./-]*\w)?)", text):
                assert (REPO / path).exists(), f"{where} names {path}, which does not exist"
            for dotted in re.findall(r"\b(alchemist_core(?:\.\w+)+)", text):
                module, _, attribute = dotted.rpartition(".")
                assert hasattr(__import__(module, fromlist=[attribute]), attribute), f"{where} names {dotted}, which does not exist"
            for flag in re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", text):
                assert flag in flags, f"{where} names {flag}, which it does not take"
