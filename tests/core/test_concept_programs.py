import numpy as np
import pytest

from alchemist_core.data.storage import Storage
from alchemist_core.errors import InputError
from alchemist_core.generators.base import GenerationContext, ProgramGenerator
from alchemist_core.generators.concept_programs import (
    DEFAULT_MARGIN,
    NEVER,
    ConceptLLMGenerator,
    ConceptThresholdGenerator,
    fit_margins,
    margin_votes,
    score_matrix,
)
from alchemist_core.generators.prompts import concept_program_messages
from alchemist_core.images.concepts import parse_concepts
from alchemist_core.llm import Ledger, LLMClient, LLMEndpoint, ResponseCache
from alchemist_core.programs.apply import validate_program
from alchemist_core.spec import parse_spec
from tests.fake_llm import BROKEN, Reply, fake_llm  # noqa: F401

CLASSES = ["circle", "square"]
SPEC = parse_spec({
    "name": "shapes", "instruction": "Circle or square?", "input_fields": ["image"],
    "classes": [{"name": "circle"}, {"name": "square"}],
})  # fmt: skip
CONCEPTS = parse_concepts(
    {
        "subject": "shape",
        "concepts": {
            "corners": {"circle": "no corners", "square": "four right angles"},
            "texture": {"circle": "smooth", "square": "rough"},
            "outline": {"circle": "curved", "square": "straight"},
        },
    },
    CLASSES,
)


def synthetic_rows(n, seed):
    """Corners separates the classes 90 % of the time, outline 70 %, texture is noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        y = i % 2

        def share(accuracy):
            right = rng.uniform(0.55, 0.95) if rng.random() < accuracy else rng.uniform(0.05, 0.45)
            return {0: right, 1: 1 - right}[y]  # the circle score

        corners, outline, texture = share(0.9), share(0.7), rng.uniform(0, 1)
        rows.append(({
            "corners:circle": corners, "corners:square": 1 - corners,
            "outline:circle": outline, "outline:square": 1 - outline,
            "texture:circle": texture, "texture:square": 1 - texture,
        }, y))  # fmt: skip
    return rows


def test_score_matrix_and_margin_votes():
    S = score_matrix([{"corners:circle": 0.8, "corners:square": 0.2}, {"corners:circle": None}], CONCEPTS)
    assert S.shape == (2, 3, 2)
    assert np.isnan(S[1]).all() and S[0, 0].tolist() == [0.8, 0.2]
    votes = margin_votes(np.array([[0.8, 0.2], [0.45, 0.55], [0.1, 0.9], [np.nan, 0.5]]), [0.5, 0.3])
    assert votes.tolist() == [0, -1, 1, -1]


def test_fit_margins_votes_only_classes_clearly_above_chance():
    y = np.array([0] * 20 + [1] * 20)
    scores = np.column_stack([np.r_[np.linspace(0.6, 0.99, 20), np.full(20, 0.7)], np.zeros(40)])
    scores[:, 1] = 1 - scores[:, 0]
    fit = fit_margins(scores, y)
    # Class 0 is "best" everywhere; only high leads are mostly class 0.
    assert fit.margins[1] == NEVER
    assert 0.4 < fit.margins[0] < 0.99
    assert fit.gain > 0 and fit.accuracy == 1.0


def test_the_informative_concepts_get_programs_and_noise_does_not():
    labeled = synthetic_rows(200, seed=1)
    sample = [row for row, _ in synthetic_rows(60, seed=2)]
    context = GenerationContext(SPEC, sample_rows=sample, labeled_rows=labeled, n_programs=10, seed=0)
    generator = ConceptThresholdGenerator(CONCEPTS)
    assert isinstance(generator, ProgramGenerator)
    result = generator.generate(context)
    assert result.fitted_to_labeled_rows
    names = result.program_set.names
    assert "concept_corners" in names and "concept_outline" in names
    assert "concept_texture" not in names
    assert names[0] in ("concept_corners", "concept_mean_top2", "concept_mean_all")
    held_out = synthetic_rows(200, seed=3)
    program = result.program_set["concept_corners"]
    report = validate_program(program, [row for row, _ in held_out], 2)
    assert report.ok
    y = np.array([label for _, label in held_out])
    voted = report.votes != -1
    assert voted.mean() > 0.5 and (report.votes[voted] == y[voted]).mean() > 0.85
    # The sandboxed program votes exactly what the fitted margins say.
    S = score_matrix([row for row, _ in held_out], CONCEPTS)
    margins = program.origin["margins"]
    assert report.votes.tolist() == margin_votes(S[:, 0, :], margins).tolist()
    assert "200 labeled rows" in " ".join(program.source.split()) and 'x.get(name)' in program.source


def test_without_labeled_rows_the_margins_are_generic():
    sample = [row for row, _ in synthetic_rows(30, seed=4)]
    result = ConceptThresholdGenerator(CONCEPTS).generate(GenerationContext(SPEC, sample_rows=sample, n_programs=2))
    assert not result.fitted_to_labeled_rows
    assert result.program_set.names == ["concept_mean_all", "concept_corners"]
    assert result.program_set["concept_corners"].origin["margins"] == [DEFAULT_MARGIN, DEFAULT_MARGIN]
    assert "No labeled rows were given" in " ".join(result.program_set["concept_corners"].source.split())


def test_concepts_for_other_classes_are_refused():
    other = parse_spec({"name": "x", "instruction": "?", "classes": [{"name": "cat"}, {"name": "dog"}]})
    with pytest.raises(InputError, match="the task's classes are"):
        ConceptThresholdGenerator(CONCEPTS).generate(GenerationContext(other, n_programs=1))


def test_the_concept_program_prompt_lists_scores_descriptions_and_the_contract():
    text = concept_program_messages(SPEC, CONCEPTS, variant=2)[1]["content"]
    assert "x['corners:square']: square -> four right angles" in text
    assert "near 1 when the image matches" in text and "return -1 when the evidence is unclear" in text
    assert "x['outline:circle'], x['outline:square']" in text  # the contract's field list
    assert "Average each class's scores over all concepts" in text
    assert "regular expressions" not in text


GOOD = '''```python
def label(x):
    """Corners decide."""
    lead = x["corners:square"] - x["corners:circle"]
    if lead > 0.3:
        return 1
    if lead < -0.3:
        return 0
    return -1
```'''

OTHER = '''```python
def label(x):
    """Outline and corners must agree."""
    circle = x["corners:circle"] + x["outline:circle"]
    square = x["corners:square"] + x["outline:square"]
    if circle > square + 0.5:
        return 0
    if square > circle + 0.5:
        return 1
    return -1
```'''


def test_the_llm_writes_concept_programs_with_repairs_and_a_ledger(fake_llm, tmp_path, monkeypatch):
    monkeypatch.delenv("ALCHEMIST_UNSET_KEY", raising=False)
    endpoint = LLMEndpoint(base_url=fake_llm.url, model="gpt-4o-mini", api_key_env="ALCHEMIST_UNSET_KEY",
                           timeout=2.0, max_retries=0, max_concurrency=1)  # fmt: skip
    storage = Storage(str(tmp_path))
    client = LLMClient(endpoint, cache=ResponseCache(storage.child("cache")), ledger=Ledger(storage))
    fake_llm.enqueue(Reply(GOOD), BROKEN, Reply(GOOD), Reply(OTHER))
    sample = [row for row, _ in synthetic_rows(40, seed=5)]
    result = ConceptLLMGenerator(client, CONCEPTS).generate(GenerationContext(SPEC, sample_rows=sample, n_programs=3, seed=7))
    # Round one: 0 good, 1 broken, 2 the same program as 0 (a duplicate); round two: 1 repaired.
    assert result.program_set.names == ["llm_concept_p00", "llm_concept_p01"]
    assert result.n_duplicates == 1
    assert [e["purpose"] for e in Ledger(storage).entries()] == ["code", "code", "code", "repair"]
    origin = result.program_set["llm_concept_p00"].origin
    assert origin["generator"] == "concept_openai" and origin["concept_set"] == CONCEPTS.digest
    first_prompt = fake_llm.requests[0]["body"]["messages"][1]["content"]
    assert "x['corners:circle']: circle -> no corners" in first_prompt
    repair = fake_llm.requests[3]["body"]["messages"][-1]["content"]
    assert "That program was rejected" in repair
