import json

import pytest
import yaml

from alchemist_core.data.storage import Storage
from alchemist_core.errors import InputError
from alchemist_core.generators.prompts import concept_messages
from alchemist_core.images.concept_request import request_concepts
from alchemist_core.images.concepts import (
    ConceptSet,
    load_concept_file,
    load_concepts,
    parse_concept_reply,
    parse_concepts,
    save_concepts,
)
from alchemist_core.llm import Ledger, LLMClient, LLMEndpoint, ResponseCache
from alchemist_core.spec import parse_spec
from tests.fake_llm import Reply, fake_llm  # noqa: F401

CLASSES = ["landbird", "waterbird"]
BIRDS = {
    "subject": "bird",
    "concepts": [
        {"name": "wing shape", "descriptions": {"landbird": "rounded, elliptical", "waterbird": "long, pointed"}},
        {"name": "Bill", "descriptions": {"Landbird": "short and compact", "water_bird": "long and streamlined"}},
        {"name": "foot type", "descriptions": {"landbird": "toed, grasping", "waterbird": "webbed, paddling"}},
    ],
}
SPEC = parse_spec({
    "name": "birds", "instruction": "Is the bird a landbird or a waterbird?", "input_fields": ["image"],
    "classes": [{"name": "landbird", "description": "lives on land"}, {"name": "waterbird", "description": "lives by water"}],
})  # fmt: skip


def test_score_names_and_prompts_follow_concepts_then_classes():
    concepts = parse_concepts(BIRDS, CLASSES)
    assert concepts.score_names == [
        "wing_shape:landbird", "wing_shape:waterbird", "bill:landbird", "bill:waterbird",
        "foot_type:landbird", "foot_type:waterbird",
    ]  # fmt: skip
    assert concepts.prompts[2] == "a photo of a bird whose Bill is short and compact"
    assert concepts.prompts[5] == "a photo of a bird whose foot type is webbed, paddling"
    # Class names matched ignoring case and underscores land on the task's spelling.
    assert concepts.concepts[1].descriptions == ("short and compact", "long and streamlined")


def test_the_mapping_form_and_a_custom_template():
    data = {
        "template": "an image of a {subject}: its {concept} is {description}",
        "concepts": {"colour": {"landbird": "brown", "waterbird": "white"}},
    }
    concepts = parse_concepts(data, CLASSES)
    assert concepts.prompts == ["an image of a object: its colour is brown", "an image of a object: its colour is white"]
    assert concepts.digest != parse_concepts({**data, "subject": "bird"}, CLASSES).digest


@pytest.mark.parametrize(
    "data, message",
    [
        ({"concepts": [{"name": "wing", "descriptions": {"landbird": "round"}}]}, r"lacks descriptions for classes \['waterbird'\]"),
        ({"concepts": [{"name": "wing", "descriptions": {"landbird": "a", "waterbird": "b", "seabird": "c"}}]}, r"unknown classes \['seabird'\]"),
        ({"concepts": []}, "'concepts' is empty"),
        ({"concepts": [{"name": "wing", "descriptions": {"landbird": "", "waterbird": "b"}}]}, "non-empty string"),
        ({"concepts": [{"name": "wing", "desc": {}}]}, "exactly the keys 'name' and 'descriptions'"),
        ({"concepts": {"Wing shape": {"landbird": "a", "waterbird": "b"}, "wing-shape": {"landbird": "a", "waterbird": "b"}}}, "share the key 'wing_shape'"),
        ({"wing": {"landbird": "a", "waterbird": "b"}}, "expected a 'concepts' key"),
        ({"concepts": {"wing": {"landbird": "a", "waterbird": "b"}}, "template": "a {thing}"}, "must contain {description}"),
        ({"concepts": {"wing": {"landbird": "a", "waterbird": "b"}}, "extra": 1}, r"unexpected keys \['extra'\]"),
        (["wing"], "expected a mapping"),
        ({"concepts": {"wing": "round"}}, "must map each class name"),
    ],
)
def test_malformed_concept_files_are_rejected_with_the_reason(data, message):
    with pytest.raises(InputError, match=message):
        parse_concepts(data, CLASSES)


def test_replies_without_valid_json_are_rejected():
    with pytest.raises(InputError, match="no JSON object"):
        parse_concept_reply("I think wings matter.", CLASSES)
    with pytest.raises(InputError, match="malformed"):
        parse_concept_reply('```json\n{"concepts": [{"name": "wing",}]}\n```', CLASSES)
    with pytest.raises(InputError, match="lacks descriptions"):
        parse_concept_reply(json.dumps({"concepts": {"wing": {"landbird": "round"}}}), CLASSES)
    reply = "Here you go:\n```json\n" + json.dumps(BIRDS) + "\n```\nHope it helps."
    concepts = parse_concept_reply(reply, CLASSES)
    assert concepts.source == "llm" and len(concepts.concepts) == 3


def test_concept_files_in_yaml_and_json_and_the_run_copy(tmp_path):
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(BIRDS))
    (tmp_path / "c.json").write_text(json.dumps(BIRDS))
    from_yaml = load_concept_file(tmp_path / "c.yaml", CLASSES)
    assert from_yaml.digest == load_concept_file(tmp_path / "c.json", CLASSES).digest
    storage = Storage(str(tmp_path / "run"))
    save_concepts(from_yaml, storage, "concepts.json")
    again = load_concepts(storage, "concepts.json")
    assert again == from_yaml and again.source == str(tmp_path / "c.yaml")
    with pytest.raises(InputError, match="written for classes"):
        parse_concepts(from_yaml.to_json(), ["a", "b"])
    with pytest.raises(InputError, match="expected a concept file"):
        load_concept_file(tmp_path / "none.yaml", CLASSES)
    (tmp_path / "bad.yaml").write_text("concepts: [unclosed")
    with pytest.raises(InputError, match="not valid YAML"):
        load_concept_file(tmp_path / "bad.yaml", CLASSES)


def test_the_concept_prompt_names_every_class_and_the_json_form():
    messages = concept_messages(SPEC, n_concepts=4, subject="bird")
    text = messages[1]["content"]
    assert "List 4 visual primitive concepts" in text
    assert '"landbird", "waterbird"' in text
    assert "not its surroundings or background" in text
    assert "The images show a bird." in text


def make_client(url, root):
    endpoint = LLMEndpoint(base_url=url, model="gpt-4o-mini", api_key_env="ALCHEMIST_UNSET_KEY", timeout=2.0, max_retries=0)
    storage = Storage(str(root))
    return LLMClient(endpoint, cache=ResponseCache(storage.child("cache", "llm")), ledger=Ledger(storage))


def test_request_concepts_repairs_a_bad_reply_and_is_cached(fake_llm, tmp_path, monkeypatch):
    monkeypatch.delenv("ALCHEMIST_UNSET_KEY", raising=False)
    bad = json.dumps({"concepts": {"wing": {"landbird": "round"}}})
    fake_llm.enqueue(Reply(bad), Reply("```json\n" + json.dumps(BIRDS) + "\n```"))
    client = make_client(fake_llm.url, tmp_path)
    result = request_concepts(client, SPEC, n_concepts=3, seed=1)
    assert isinstance(result.concept_set, ConceptSet) and result.n_repairs == 1
    assert result.concept_set.subject == "bird"
    assert fake_llm.request_count == 2
    repair = fake_llm.requests[1]["body"]["messages"]
    assert repair[-2] == {"role": "assistant", "content": bad}
    assert "lacks descriptions for classes ['waterbird']" in repair[-1]["content"]
    entries = Ledger(Storage(str(tmp_path))).entries()
    assert [e["purpose"] for e in entries] == ["concepts", "concepts"]
    assert all(e["prompt_tokens"] > 0 for e in entries)

    again = request_concepts(make_client(fake_llm.url, tmp_path), SPEC, n_concepts=3, seed=1)
    assert again.concept_set == result.concept_set
    assert fake_llm.request_count == 2  # both replies came from the response cache
    assert all(c.cached and c.dollars == 0 for c in again.completions)


def test_request_concepts_gives_up_with_the_last_problem(fake_llm, tmp_path):
    fake_llm.enqueue(Reply("no json here"), Reply('{"concepts": {"wing": {"seabird": "x", "landbird": "y", "waterbird": "z"}}}'))
    with pytest.raises(InputError, match=r"no valid concept file in 2 replies; last problem: .*unknown classes \['seabird'\]"):
        request_concepts(make_client(fake_llm.url, tmp_path), SPEC, n_concepts=2, max_repairs=1)
