import re
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from alchemist_core.generators import GenerationContext, ProgramGenerator
from alchemist_core.generators.offline import OfflineGenerator
from alchemist_core.programs import apply
from alchemist_core.programs.apply import ValidationReport, label_partition
from alchemist_core.programs.policy import check_program
from alchemist_core.programs.sandbox import SandboxLimits
from alchemist_core.spec import parse_spec

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"

HAM, SPAM = 0, 1

SPEC = parse_spec(
    {
        "name": "youtube_spam",
        "instruction": "Decide whether a YouTube comment is spam.",
        "classes": [
            {"name": "ham", "description": "A genuine comment about the song, the singer or the video."},
            {"name": "spam", "description": "Self-promotion, links, requests to subscribe, scams and giveaways."},
        ],
        "supplementary": {
            "keywords": {"ham": ["song", "voice"], "spam": ["subscribe", "check out", "http"]},
            "rules": ['A comment asking people to visit "my channel" is spam.'],
        },
    }
)

LABELED = [
    ("Check out my channel for more music videos http://bit.ly/abc", SPAM),
    ("Subscribe to my channel please, I upload every day!", SPAM),
    ("Please check out my new video and subscribe", SPAM),
    ("Hey guys check out my channel, you will love it", SPAM),
    ("Make money online fast, visit http://www.easycash.com", SPAM),
    ("Free gift cards at http://giftz.com just sign up", SPAM),
    ("Subscribe and I will subscribe back to you!", SPAM),
    ("CHECK OUT MY CHANNEL!!! new videos every week", SPAM),
    ("I make beats, please subscribe to my channel", SPAM),
    ("Visit my website http://www.promo-site.com for free stuff", SPAM),
    ("please like and subscribe to my channel, thanks", SPAM),
    ("Earn $500 a day working from home, visit http://jobz.net", SPAM),
    ("check out my covers, subscribe if you like them", SPAM),
    ("Win a free iPhone today at http://prize.ly/win", SPAM),
    ("Follow me on instagram and check out my channel", SPAM),
    ("Please help me reach 1000 subscribers, subscribe!", SPAM),
    ("I love this song so much", HAM),
    ("This song never gets old", HAM),
    ("Her voice is amazing in this song", HAM),
    ("Still listening to this in 2015", HAM),
    ("The best song of the year", HAM),
    ("I love the beat of this song", HAM),
    ("Who is watching this in 2016?", HAM),
    ("This video is so beautiful", HAM),
    ("Such a great song, love it", HAM),
    ("The dance in this video is amazing", HAM),
    ("Her voice gives me chills", HAM),
    ("My favourite song of all time", HAM),
    ("I love this music video", HAM),
    ("This song reminds me of summer", HAM),
    ("What a beautiful voice she has", HAM),
    ("Best music video ever made", HAM),
]

UNLABELED = [
    "check out my channel guys",
    "subscribe to me and I will subscribe back",
    "visit http://www.cheap-followers.com now",
    "free followers at http://folo.ly",
    "please subscribe to my channel for covers",
    "my channel has new videos, check it out",
    "love this song",
    "this song is so good",
    "her voice is beautiful",
    "best song ever",
    "I love the video",
    "listening to this song every day",
    "the beat is amazing",
    "who is here in 2016",
    "this song makes me happy",
    "amazing voice",
] * 3  # 48 rows: enough for the zero-shot refinement (20 per class)

HELD_OUT = [
    ("Please subscribe to my channel for daily videos", SPAM),
    ("check out http://www.mysite.com for free gifts", SPAM),
    ("visit my channel and subscribe", SPAM),
    ("I love her voice in this song", HAM),
    ("This song is my favourite", HAM),
    ("such a beautiful song", HAM),
]

FAST = SandboxLimits(program_seconds=5.0)


def bag_of_words_encoder(texts):
    """A tiny stand-in for MiniLM: the normalised sum of a fixed random vector per word."""
    out = np.zeros((len(texts), 384), dtype=np.float32)
    for i, text in enumerate(texts):
        for word in re.findall(r"\w+", text.lower()):
            out[i] += np.random.default_rng(zlib.crc32(word.encode())).standard_normal(384)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.where(norms > 0, norms, 1.0)


def _context(*, labeled=LABELED, unlabeled=UNLABELED, spec=SPEC, seed=0):
    return GenerationContext(
        spec=spec,
        sample_rows=[{"text": t} for t in unlabeled],
        labeled_rows=[({"text": t}, y) for t, y in labeled],
        seed=seed,
    )


def _votes(program_set, texts, n_classes=2, encoder=bag_of_words_encoder):
    table = pd.DataFrame({"text": texts, "minilm": [list(map(float, v)) for v in encoder(texts)]})
    return label_partition(table, program_set, n_classes, fields=["text", "minilm"], limits=FAST).L


def _majority(L, n_classes=2):
    counts = np.stack([(L == c).sum(axis=1) for c in range(n_classes)], axis=1)
    return np.where(counts.sum(axis=1) > 0, counts.argmax(axis=1), -1)


def test_protocol_and_name():
    generator = OfflineGenerator()
    assert isinstance(generator, ProgramGenerator)
    assert generator.name == "offline"


def test_from_the_spec_alone():
    result = OfflineGenerator(use_embeddings=False, limits=FAST).generate(GenerationContext(SPEC))
    programs = result.program_set
    assert programs.names == [
        "offline_p01_ham_spec_keywords",
        "offline_p02_spam_spec_keywords",
        "offline_p03_ham_description_words",
        "offline_p04_spam_description_words",
    ]
    assert result.rejected == ()
    assert result.details["n_labeled_rows"] == 0
    assert not result.fitted_to_labeled_rows  # nothing labeled to fit to
    assert all(p.origin["generator"] == "offline" for p in programs)
    spam_source = programs["offline_p02_spam_spec_keywords"].source
    # The quoted term of the rule joins the spec's keywords.
    assert '"subscribe",' in spam_source and '"check out",' in spam_source and '"my channel",' in spam_source

    texts = [
        "Subscribe to my channel!",
        "check   out my stuff",  # any run of non-word characters matches a space
        "I love this song",
        "Her VOICE is great",
        "subscribers are nice",  # whole words only: "subscribe" does not fire
        "nothing to see",
        None,
    ]
    table = pd.DataFrame({"text": texts})
    L = label_partition(table, programs, 2, fields=["text"], limits=FAST).L
    np.testing.assert_array_equal(
        L[:, :2],
        [[-1, SPAM], [-1, SPAM], [HAM, -1], [HAM, -1], [-1, -1], [-1, -1], [-1, -1]],
    )
    # Description words: "genuine", "singer", ... for ham; "self", "promotion", "links", ... for spam.
    assert L[0, 2] == -1 and L[2, 3] == -1


def test_spec_exemplars_count_as_labeled_rows():
    spec = parse_spec(
        {
            **SPEC.model_dump(mode="json"),
            "supplementary": {
                "exemplars": {
                    "ham": ["what a song", "this song is great", "love this song"],
                    "spam": ["visit my page now", "visit my page for free stuff", "please visit my page"],
                }
            },
        }
    )
    result = OfflineGenerator(use_embeddings=False, limits=FAST).generate(GenerationContext(spec))
    assert result.details["n_labeled_rows"] == 6
    assert not result.fitted_to_labeled_rows  # exemplars come from the spec, not from context.labeled_rows
    sources = {p.name: p.source for p in result.program_set}
    spam_words = next(s for n, s in sources.items() if re.search(r"_spam_(strong_)?words$", n))
    assert '"visit my",  # 3/3' in spam_words or '"my page",  # 3/3' in spam_words


def test_every_program_passes_the_policy_and_is_readable():
    result = OfflineGenerator(encoder=bag_of_words_encoder, limits=FAST).generate(_context())
    assert len(result.program_set) >= 5
    for program in result.program_set:
        assert check_program(program.source, name=program.name) == [], program.name
        assert re.fullmatch(r"offline_p\d\d_[a-z0-9_]+", program.name)
        assert "Written by Alchemist's offline generator (no LLM)." in program.source
        assert program.describe()  # a one-line summary
    prototype = result.program_set["offline_p01_multiclass_prototype"]
    assert 'FEATURES = ("minilm",)' in prototype.source and "MARGINS = (" in prototype.source
    # Two example texts per class, as comments.
    assert len(re.findall(r"^    #   \S", prototype.source, flags=re.M)) == 4
    words = next(p for p in result.program_set if re.search(r"_spam_(strong_)?words$", p.name))
    assert "TERMS = (" in words.source and "PATTERN = re.compile(" in words.source
    assert re.search(r'^    "subscribe",  # \d+/\d+$', words.source, flags=re.M)


def test_mines_discriminative_terms_and_labels_held_out_rows():
    result = OfflineGenerator(encoder=bag_of_words_encoder, limits=FAST).generate(_context())
    details = result.details
    assert details["n_labeled_rows"] == 32 and details["n_sample_rows"] == 48
    assert details["labeled_class_counts"] == [16, 16]
    assert details["mined"]["spam"]["strong_terms"] + details["mined"]["spam"]["broad_terms"] >= 3
    assert details["prototypes"]["source"] == "labeled rows"
    assert result.fitted_to_labeled_rows  # mined on the labeled rows: their scores there are in-sample

    sources = {p.name: p.source for p in result.program_set}
    spam_terms = "".join(s for n, s in sources.items() if "_spam_" in n and "words" in n)
    ham_terms = "".join(s for n, s in sources.items() if "_ham_" in n and "words" in n)
    for term in ("subscribe", "my channel", "http"):
        assert f'"{term}",' in spam_terms
    assert '"song",' in ham_terms
    assert '"song",' not in spam_terms and '"subscribe",' not in ham_terms

    texts = [t for t, _ in HELD_OUT]
    L = _votes(result.program_set, texts)
    np.testing.assert_array_equal(_majority(L), [y for _, y in HELD_OUT])


def test_opening_words_and_shapes_become_regex_programs():
    spec = parse_spec(
        {
            "name": "questions",
            "instruction": "What does the question ask for?",
            "classes": [{"name": "number"}, {"name": "person"}, {"name": "place"}],
        }
    )
    labeled = [
        ("how many legs does a spider have ?", 0),
        ("how many people live in tokyo ?", 0),
        ("how many moons has mars ?", 0),
        ("how many players are on a team ?", 0),
        ("who wrote hamlet ?", 1),
        ("who painted the mona lisa ?", 1),
        ("who invented the telephone ?", 1),
        ("who was the first president ?", 1),
        ("where is the eiffel tower ?", 2),
        ("where is mount everest ?", 2),
        ("where was napoleon born ?", 2),
        ("where do penguins live ?", 2),
    ]
    context = GenerationContext(spec, labeled_rows=[({"text": t}, y) for t, y in labeled])
    result = OfflineGenerator(use_embeddings=False, limits=FAST).generate(context)
    patterns = {p.name: p.source for p in result.program_set if "_patterns" in p.name}
    assert sorted(patterns) == [
        "offline_p01_number_patterns",
        "offline_p02_person_patterns",
        "offline_p03_place_patterns",
    ]
    assert "starts with 'how many'" in patterns["offline_p01_number_patterns"]

    texts = ["How many days are in a year?", "Who discovered penicillin?", "Where is Lima?", "What is love?"]
    L = label_partition(pd.DataFrame({"text": texts}), result.program_set, 3, fields=["text"], limits=FAST).L
    np.testing.assert_array_equal(_majority(L, 3), [0, 1, 2, -1])


def test_any_language():
    spec = parse_spec(
        {
            "name": "otzyvy",
            "instruction": "Положительный или отрицательный отзыв?",
            "classes": [{"name": "положительный"}, {"name": "отрицательный"}],
        }
    )
    labeled = [
        ("Отличный товар, очень доволен", 0),
        ("Отличный сервис и быстрая доставка", 0),
        ("Всё отлично, рекомендую", 0),
        ("Очень доволен покупкой, рекомендую", 0),
        ("Отличное качество, рекомендую всем", 0),
        ("Отличный магазин, доволен", 0),
        ("Ужасный товар, сломался через день", 1),
        ("Ужасное качество, не рекомендую", 1),
        ("Товар сломался, деньги не вернули", 1),
        ("Ужасный сервис, доставка опоздала", 1),
        ("Сломался сразу, ужасный опыт", 1),
    ]
    context = GenerationContext(spec, labeled_rows=[({"text": t}, y) for t, y in labeled])
    result = OfflineGenerator(use_embeddings=False, min_support=2, limits=FAST).generate(context)
    names = result.program_set.names
    # Cyrillic class names become class<index> in program names.
    assert {n.split("_")[2] for n in names} == {"class0", "class1"}
    texts = ["Отличный телефон, рекомендую", "Ужасный магазин, всё сломался", "Нормально"]
    L = label_partition(pd.DataFrame({"text": texts}), result.program_set, 2, fields=["text"], limits=FAST).L
    np.testing.assert_array_equal(_majority(L), [0, 1, -1])


def test_zero_shot_prototypes_from_the_spec_and_sample_rows():
    context = GenerationContext(SPEC, sample_rows=[{"text": t} for t in UNLABELED])
    result = OfflineGenerator(encoder=bag_of_words_encoder, limits=FAST).generate(context)
    assert result.details["prototypes"]["source"] == "task spec refined on sample rows"
    prototypes = [p for p in result.program_set if "prototype" in p.name]
    assert [p.name.split("_", 2)[2] for p in prototypes] == ["multiclass_prototype", "multiclass_prototype_broad"]
    assert "refined on the unlabeled sample rows" in prototypes[0].source
    L = _votes(result.program_set, [t for t, _ in HELD_OUT])
    np.testing.assert_array_equal(_majority(L), [y for _, y in HELD_OUT])


def test_deterministic_for_a_seed():
    first = OfflineGenerator(encoder=bag_of_words_encoder, limits=FAST).generate(_context(seed=7))
    second = OfflineGenerator(encoder=bag_of_words_encoder, limits=FAST).generate(_context(seed=7))
    assert first.program_set.names == second.program_set.names
    assert [p.source for p in first.program_set] == [p.source for p in second.program_set]
    assert first.program_set.digest == second.program_set.digest


def test_max_programs_keeps_the_most_important():
    result = OfflineGenerator(encoder=bag_of_words_encoder, max_programs=2, limits=FAST).generate(_context())
    assert result.program_set.names == ["offline_p01_multiclass_prototype", "offline_p02_ham_spec_keywords"]
    assert result.details["n_over_cap"] >= 3


def test_invalid_candidates_are_rejected_with_the_reason(monkeypatch):
    real = apply.validate_program

    def strict(program, rows, n_classes, **options):
        if program.name.endswith("_patterns"):
            return ValidationReport(False, "raised on 40 of 48 sample rows", np.full(len(rows), -1))
        report = real(program, rows, n_classes, **options)
        # Every other candidate must see the rows it needs, MiniLM features included.
        assert all("minilm" in row and len(row["minilm"]) == 384 for row in rows)
        return report

    monkeypatch.setattr(apply, "validate_program", strict)
    result = OfflineGenerator(encoder=bag_of_words_encoder, limits=FAST).generate(_context())
    rejected = {r.name: r.reason for r in result.rejected}
    assert rejected and all(name.endswith("_patterns") for name in rejected)
    assert set(rejected.values()) == {"raised on 40 of 48 sample rows"}
    assert all(r.source for r in result.rejected)
    assert not set(rejected) & set(result.program_set.names)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_precision": 0.0}, "min_precision must be in"),
        ({"max_coverage": 1.5}, "max_coverage must be in"),
        ({"min_lift": 1.0}, "min_lift must be in"),
        ({"min_support": 0}, "min_support and max_terms must be at least 1"),
        ({"max_programs": 0}, "max_programs must be None or at least 1"),
    ],
)
def test_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        OfflineGenerator(use_embeddings=False, **kwargs).generate(GenerationContext(SPEC))


def test_bad_labeled_rows():
    context = GenerationContext(SPEC, labeled_rows=[({"text": "hi"}, 2)])
    with pytest.raises(ValueError, match=r"labeled_rows\[0\] has class 2; expected an int in 0..1"):
        OfflineGenerator(use_embeddings=False).generate(context)


@pytest.mark.slow
@pytest.mark.shared_data
def test_youtube_valid_programs_cover_and_label_train():
    from alchemist_core.spec import load_spec
    from alchemist_core.students.features import encode_texts
    from tests.core.wrench_protocol import read_wrench_split

    folder = SHARED_DATA / "wrench" / "youtube"
    if not folder.is_dir():
        pytest.skip(f"the WRENCH youtube data is not at {folder}")
    _, valid_rows, valid_labels, _ = read_wrench_split(folder / "valid.json")
    _, train_rows, train_labels, _ = read_wrench_split(folder / "train.json")
    train_texts = [r["text"] for r in train_rows]
    all_texts = train_texts + [r["text"] for r in valid_rows]
    # Embed every text once; the generator and the programs' x["minilm"] share the vectors.
    vectors = dict(zip(all_texts, encode_texts(all_texts)))

    def encoder(texts):
        missing = [t for t in texts if t not in vectors]
        vectors.update(zip(missing, encode_texts(missing)) if missing else ())
        return np.stack([vectors[t] for t in texts])

    context = GenerationContext(
        load_spec("youtube"),
        sample_rows=train_rows[:1000],
        labeled_rows=list(zip(valid_rows, valid_labels.tolist())),
        seed=0,
    )
    result = OfflineGenerator(encoder=encoder).generate(context)
    assert result.rejected == ()
    assert result.details["n_labeled_rows"] >= 100

    L = _votes(result.program_set, train_texts, encoder=encoder)
    predicted = _majority(L)
    covered = predicted != -1
    accuracy = float((predicted[covered] == train_labels[covered]).mean())
    assert covered.mean() > 0.7
    assert accuracy > 0.8  # chance is about 0.5
    for j, name in enumerate(result.program_set.names):
        voted = L[:, j] != -1
        if voted.sum() >= 50:  # a handful of votes says little about a program
            assert (L[voted, j] == train_labels[voted]).mean() > 0.65, name
