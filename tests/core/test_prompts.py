import pytest

from alchemist_core.errors import ProgramError
from alchemist_core.generators.prompts import (
    ALLOWED_IMPORTS_IN_PROMPT,
    MAX_FIELD_CHARS,
    SUPPLEMENT_KINDS,
    AnnotationReplyError,
    annotate_messages,
    code_messages,
    extract_program_source,
    parse_annotation_reply,
    repair_messages,
    supplement_from_spec,
    supplement_messages,
)
from alchemist_core.programs.policy import ALLOWED_IMPORTS
from alchemist_core.spec import parse_spec

SPEC = parse_spec(
    {
        "name": "youtube",
        "instruction": "Decide whether a YouTube comment is spam.",
        "classes": [
            {"name": "ham", "description": "a comment about the video"},
            {"name": "spam", "description": "self-promotion or links"},
        ],
    }
)

SPEC_WITH_SUPPLEMENT = parse_spec(
    {
        "name": "youtube",
        "instruction": "Decide whether a YouTube comment is spam.",
        "classes": [{"name": "ham"}, {"name": "spam"}],
        "input_fields": ["author", "text"],
        "supplementary": {
            "description": "Comments under music videos.",
            "keywords": {"spam": ["subscribe", "check out"], "ham": ["song"]},
            "exemplars": {"spam": ["Check out my channel!"]},
            "rules": ["Links are spam.", "Talk about the song is ham."],
        },
    }
)


def user_text(messages):
    assert [m["role"] for m in messages] == ["system", "user"]
    return messages[1]["content"]


def test_one_stage_prompt_states_task_classes_signature_and_contract():
    text = user_text(code_messages(SPEC))
    assert "Decide whether a YouTube comment is spam." in text
    assert "- 0 = ham: a comment about the video" in text
    assert "- 1 = spam: self-promotion or links" in text
    assert "-1 = abstain" in text
    assert "def label(x):" in text
    assert "x['text']" in text and "may be None" in text
    for module in ALLOWED_IMPORTS_IN_PROMPT:
        assert module in text
    banned = ("eval", "exec", "getattr", "open", "type", "hash", "no classes", "`with`", "global", "bare `except:`")
    for word in banned:
        assert word in text
    assert "ONE ```python fenced code block" in text
    assert "useful information" not in text
    # task description, then labeling instructions, then the signature (the paper's order)
    assert text.index("Task description") < text.index("Labeling instructions") < text.index("Function signature")


def test_prompt_allows_exactly_the_imports_the_policy_allows():
    assert set(ALLOWED_IMPORTS_IN_PROMPT) == set(ALLOWED_IMPORTS)


def test_two_stage_prompt_puts_supplement_before_task_description():
    supplement = "Spam asks you to subscribe."
    text = user_text(code_messages(SPEC, supplement=supplement, supplement_kind="keywords"))
    assert text.index("useful information (keywords)") < text.index(supplement) < text.index("Task description")


def test_blank_supplement_gives_the_one_stage_prompt():
    assert code_messages(SPEC, supplement="  ", supplement_kind="rules") == code_messages(SPEC)


def test_variants_differ_and_variant_zero_is_the_plain_prompt():
    texts = {user_text(code_messages(SPEC, variant=v)) for v in range(5)}
    assert len(texts) == 5
    assert code_messages(SPEC, variant=0) == code_messages(SPEC)
    with pytest.raises(ValueError, match="variant must be >= 0"):
        code_messages(SPEC, variant=-1)


def test_input_fields_are_listed():
    text = user_text(code_messages(SPEC_WITH_SUPPLEMENT))
    assert "x['author'], x['text']" in text


@pytest.mark.parametrize(
    "kind, phrase",
    [
        ("description", "dataset and class description"),
        ("exemplars", "5 data examples for each class"),
        ("keywords", "keywords and short phrases"),
        ("rules", "labeling heuristics, rules, and guidance"),
    ],
)
def test_supplement_messages_ask_for_their_kind(kind, phrase):
    messages = supplement_messages(SPEC, kind)
    assert phrase in messages[0]["content"] and phrase in messages[1]["content"]
    assert "- 1 = spam" in messages[1]["content"]
    assert "do not write code" in messages[1]["content"]


def test_supplement_messages_include_retrieved_passages():
    text = supplement_messages(SPEC, "rules", retrieved=["Spammers post links.", " "])[1]["content"]
    assert "Excerpts from the user's documents" in text and "Spammers post links." in text
    assert "Excerpts" not in supplement_messages(SPEC, "rules")[1]["content"]


def test_unknown_supplement_kind_is_rejected():
    with pytest.raises(ValueError, match="unknown supplementary information kind 'facts'"):
        supplement_messages(SPEC, "facts")
    with pytest.raises(ValueError, match="unknown supplementary"):
        code_messages(SPEC, supplement="x", supplement_kind="facts")


def test_supplement_from_spec_renders_what_the_user_gave():
    assert supplement_from_spec(SPEC_WITH_SUPPLEMENT, "description") == "Comments under music videos."
    assert supplement_from_spec(SPEC_WITH_SUPPLEMENT, "keywords") == "ham (0): song\nspam (1): subscribe, check out"
    assert supplement_from_spec(SPEC_WITH_SUPPLEMENT, "exemplars") == "spam (1):\n- Check out my channel!"
    assert supplement_from_spec(SPEC_WITH_SUPPLEMENT, "rules") == "- Links are spam.\n- Talk about the song is ham."
    for kind in SUPPLEMENT_KINDS:
        assert supplement_from_spec(SPEC, kind) is None


def test_repair_messages_extend_the_conversation_with_the_error():
    first = code_messages(SPEC)
    repaired = repair_messages(first, "```python\ndef label(x)\n```", "line 1: syntax error: expected ':'")
    assert repaired[: len(first)] == first
    assert repaired[-2] == {"role": "assistant", "content": "```python\ndef label(x)\n```"}
    assert repaired[-1]["role"] == "user"
    assert "line 1: syntax error: expected ':'" in repaired[-1]["content"]
    assert len(first) == 2  # the input is not modified


PROGRAM = "def label(x):\n    return -1\n"


@pytest.mark.parametrize(
    "reply",
    [
        f"Sure:\n```python\n{PROGRAM}```\nDone.",
        f"```\n{PROGRAM}```",
        f"```py\n{PROGRAM}```",
        f"```Python3\n{PROGRAM}\n```",
        # an earlier block without label and a non-Python block are skipped
        f"```python\nimport re\n```\n```text\ndef label(x): pass\n```\n```python\n{PROGRAM}```",
        # cut off by max_tokens: no closing fence
        f"Here it is\n```python\n{PROGRAM}",
    ],
)
def test_extract_program_source_takes_the_first_block_defining_label(reply):
    assert extract_program_source(reply) == PROGRAM


def test_extract_program_source_takes_the_first_of_several_programs():
    second = "def label(x):\n    return 1\n"
    assert extract_program_source(f"```python\n{PROGRAM}```\n```python\n{second}```") == PROGRAM


@pytest.mark.parametrize(
    "reply",
    ["def label(x):\n    return 1", "I cannot help with that.", "```python\nimport re\n```", ""],
)
def test_reply_without_a_fenced_label_block_is_a_program_error(reply):
    with pytest.raises(ProgramError, match="reply has no fenced Python block defining label\\(x\\); first 200 chars"):
        extract_program_source(reply)


def test_program_error_shows_the_start_of_the_reply():
    with pytest.raises(ProgramError, match="I cannot help"):
        extract_program_source("I cannot help with that. " * 20)


def test_annotate_messages_number_one_line_per_row():
    rows = [{"text": "hello\nworld"}, {"text": None}, {"text": "x" * (MAX_FIELD_CHARS + 50)}]
    text = user_text(annotate_messages(SPEC, rows))
    assert "Row 1: hello world\n" in text
    assert "Row 2: \n" in text
    assert "Row 3: " + "x" * MAX_FIELD_CHARS + " ..." in text
    assert "JSON list of 3 integers" in text
    assert "- 1 = spam" in text


def test_annotate_messages_show_every_input_field():
    text = user_text(annotate_messages(SPEC_WITH_SUPPLEMENT, [{"author": "Ann", "text": "nice"}]))
    assert "Row 1: author=Ann; text=nice" in text


@pytest.mark.parametrize(
    "reply, expected",
    [
        ("[1, 0, -1]", [1, 0, -1]),
        ("Labels: [1,0,1]", [1, 0, 1]),
        ("```json\n[0, 0, 1]\n```", [0, 0, 1]),
    ],
)
def test_parse_annotation_reply(reply, expected):
    assert parse_annotation_reply(reply, n_rows=3, n_classes=2) == expected


@pytest.mark.parametrize(
    "reply, message",
    [
        ("spam, ham, spam", "the reply has no list"),
        ("[1, 0]", "got 2 values"),
        ("[1, 0, 2]", "value 3 is 2"),
        ("[1, 0, true]", "value 3 is True"),
        ('[1, 0, "1"]', "value 3 is '1'"),
        ("[1, 0, 1.0]", "value 3 is 1.0"),
        ("[1, 0, ", "the reply has no list"),
        ("[1, 0, oops]", "not valid JSON"),
    ],
)
def test_parse_annotation_reply_is_strict(reply, message):
    with pytest.raises(AnnotationReplyError, match="expected a JSON list of 3 class indices in -1..1") as raised:
        parse_annotation_reply(reply, n_rows=3, n_classes=2)
    assert message in str(raised.value)
