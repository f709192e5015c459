"""The contract every question type keeps: each registered type (tasks.questions.QUESTION_TYPES) goes through the
same cases, the way Django runs every session backend through one test mixin. A new type needs only its row in
CASES; the test fails until it has one.
"""

import json
import math
from dataclasses import dataclass

import pytest

from tasks.aggregation.per_question import KINDS, Annotation, QuestionAnswers, kind_of, method_of
from tasks.forms import Form, FormError, check_questions
from tasks.questions import QUESTION_TYPES


@dataclass(frozen=True)
class Case:
    definition: dict  # the type's own keys, valid
    invalid_definitions: list[dict]
    valid_answers: list
    invalid_answers: list
    gold: object  # a known answer
    right: object  # an answer the type counts as the same as ``gold``
    wrong: object
    tie: tuple  # two valid answers that split a crowd of two
    bad_gold: str = "surely not an answer"  # a data file's cell that is no answer to the question


def span(start, end, label="PER"):
    return {"start": start, "end": end, "label": label}


def box(x, y, w, h, label="car"):
    return {"x": x, "y": y, "w": w, "h": h, "label": label}


FIVE_SPANS = [span(0, 3), span(4, 12), span(17, 24, "LOC"), span(30, 40), span(45, 50, "LOC")]
FIVE_BOXES = [box(0.1, 0.1, 0.2, 0.2), box(0.5, 0.1, 0.2, 0.2), box(0.1, 0.5, 0.2, 0.2, "person"),
              box(0.5, 0.5, 0.2, 0.2), box(0.8, 0.8, 0.1, 0.1, "person")]  # fmt: skip

CASES = {
    "single_choice": Case(
        definition={"options": ["ok", "damaged"]},
        invalid_definitions=[{"options": ["only"]}, {"options": ["a", "a"]}, {"options": "ok,damaged"}],
        valid_answers=["ok", "damaged"],
        invalid_answers=["broken", 1, None, ["ok"], True],
        gold="damaged",
        right="Damaged ",
        wrong="ok",
        tie=("ok", "damaged"),
    ),
    "multiple_choice": Case(
        definition={"options": ["lid", "base", "screw"]},
        invalid_definitions=[{"options": "lid"}, {"options": ["lid"]}, {"options": ["", "base"]}],
        valid_answers=[["lid", "base"], [], ["screw"]],
        invalid_answers=["lid", ["cap"], [1], None, {"lid": True}],
        gold=["base", "lid"],
        right=["lid", "base"],
        wrong=["lid"],
        tie=(["lid"], ["base", "screw"]),
    ),
    "free_text": Case(
        definition={"max_length": 50},
        invalid_definitions=[{"max_length": 0}, {"max_length": "x"}, {"max_length": 10_001}],
        valid_answers=["Paris", ""],
        invalid_answers=[5, "x" * 51, "a\x00b", None, ["Paris"]],
        gold="Paris",
        right=" paris.",
        wrong="Lyon",
        tie=("Paris", "Lyon"),
        bad_gold="x" * 51,
    ),
    "number": Case(
        definition={"min": 0, "max": 100, "integer": True},
        invalid_definitions=[{"min": 5, "max": 1}, {"integer": "yes"}, {"min": "low"}, {"max": math.inf}],
        valid_answers=[3, 0, 100],
        invalid_answers=[101, -1, 2.5, "3", True, math.nan, None],
        gold=3,
        right=3.0,
        wrong=4,
        tie=(2, 4),
    ),
    "rating": Case(
        definition={"scale": 5, "labels": ["blurry", "sharp"]},
        invalid_definitions=[{"scale": 1}, {"scale": 11}, {"scale": 5, "labels": ["one end"]}, {"scale": "5"}],
        valid_answers=[1, 4, 5],
        invalid_answers=[0, 6, 2.5, "3", True, None],
        gold=4,
        right=4,
        wrong=5,
        tie=(2, 4),
    ),
    "pairwise": Case(
        definition={"left": "answer_a", "right": "answer_b", "allow_equal": True},
        invalid_definitions=[{"pairs": "random"}, {"left": "a", "right": "a"}, {"allow_equal": "yes"}],
        valid_answers=["left", "right", "equal"],
        invalid_answers=["up", "Left", 1, None, ["left"], True],
        gold="left",
        right="left",
        wrong="right",
        tie=("left", "right"),
        bad_gold="up",
    ),
    "spans": Case(
        definition={"column": "text", "labels": ["PER", "LOC"]},
        invalid_definitions=[
            {"column": "text", "labels": []},
            {"column": "text", "labels": ["PER", "PER"]},
            {"labels": ["PER"]},
            {"column": "text", "labels": ["PER"], "max_spans": 0},
        ],
        valid_answers=[[span(0, 3)], [], [span(0, 3), span(4, 12, "LOC")]],
        invalid_answers=[
            [span(3, 3)],
            [span(0, 3, "ORG")],
            [{"start": 0, "end": 3}],
            [span(0, 5), span(3, 8)],
            "0-3",
            None,
        ],
        gold=FIVE_SPANS,
        right=FIVE_SPANS[:4],  # span F1 8/9: a near miss passes
        wrong=FIVE_SPANS[:1],
        tie=([span(0, 3)], [span(4, 12, "LOC")]),
    ),
    "boxes": Case(
        definition={"column": "photo", "labels": ["car", "person"]},
        invalid_definitions=[
            {"column": "photo", "labels": []},
            {"labels": ["car"]},
            {"column": "photo", "labels": ["car"], "max_boxes": 501},
        ],
        valid_answers=[[box(0.1, 0.1, 0.2, 0.2)], [], [box(0, 0, 1, 1, "person"), box(0.5, 0.5, 0.25, 0.25)]],
        invalid_answers=[
            [box(0.1, 0.1, 0, 0.2)],
            [box(1.2, 0.1, 0.2, 0.2)],
            [box(0.1, 0.1, 0.2, 0.2, "bus")],
            [{"x": 0.1, "y": 0.1, "w": 0.2, "h": 0.2}],
            "box",
            None,
        ],
        gold=FIVE_BOXES,
        right=FIVE_BOXES[:4],  # box F1 8/9: a near miss passes
        wrong=FIVE_BOXES[:1],
        tie=([box(0.1, 0.1, 0.2, 0.2)], [box(0.6, 0.6, 0.2, 0.2, "person")]),
    ),
}


def test_every_registered_type_has_its_cases():
    missing = set(QUESTION_TYPES) - set(CASES)
    assert not missing, f"add a Case for the question types {sorted(missing)} to CASES"
    assert {plugin.aggregation for plugin in QUESTION_TYPES.values()} <= set(KINDS)


TYPES = sorted(QUESTION_TYPES)


def question_of(type_name: str, **extra):
    definition = check_questions(
        [{"name": "q", "type": type_name, "prompt": "?", **CASES[type_name].definition, **extra}]
    )
    return Form.build([], definition).questions[0]


@pytest.mark.parametrize("type_name", TYPES)
def test_a_valid_definition_is_kept_with_its_own_keys(type_name):
    question = question_of(type_name)
    assert question.type == type_name and question.plugin is QUESTION_TYPES[type_name]
    for key, value in CASES[type_name].definition.items():
        assert question.definition[key] == value
    assert question.plugin.js_module == f"questions/{type_name}.js"


@pytest.mark.parametrize("type_name", TYPES)
def test_an_invalid_definition_is_refused_naming_the_question_and_the_key(type_name):
    for definition in CASES[type_name].invalid_definitions:
        with pytest.raises(FormError) as refused:
            check_questions([{"name": "q", "type": type_name, "prompt": "?", **definition}])
        assert refused.value.field.startswith("questions[0] 'q'"), refused.value.field
        assert refused.value.message


@pytest.mark.parametrize("type_name", TYPES)
def test_valid_answers_pass_and_invalid_ones_say_what_is_wrong(type_name):
    question = question_of(type_name)
    form = Form.build([], [question.definition])
    for value in CASES[type_name].valid_answers:
        assert question.answer_problem(question.normalise(value)) == "", value
        assert form.answer_problem(value) == ""
    for value in CASES[type_name].invalid_answers:
        assert question.answer_problem(question.normalise(value)), value
        assert form.answer_problem(value).startswith("the answer ")


@pytest.mark.parametrize("type_name", TYPES)
def test_gold_is_read_from_a_data_file_and_checks_answers_right_or_wrong(type_name):
    case, question = CASES[type_name], question_of(type_name)
    gold = question.plugin.parse_gold(question.definition, question.plugin.export_cell(case.gold))  # as a CSV cell
    assert question.same(gold, case.gold)
    assert question.same(gold, case.right)
    assert not question.same(gold, case.wrong)
    with pytest.raises(ValueError):
        question.plugin.parse_gold(question.definition, case.bad_gold)


def answers_of(pairs: list[tuple[int, int, object]]) -> QuestionAnswers:
    answers = QuestionAnswers()
    for item, worker, value in pairs:
        answers.add(item, worker, json.dumps(value))
    return answers


@pytest.mark.parametrize("type_name", TYPES)
def test_a_tie_goes_by_item_id_in_every_pass(type_name):
    """Two workers split on every item: each item gets the same result whichever items a pass holds and in
    whichever order the answers come (the order in which labels are first seen)."""
    case, question = CASES[type_name], question_of(type_name)
    kind, method = kind_of(question), method_of(question, "auto")
    first, second = case.tie
    forward = [(item, worker, value) for item in range(100, 112) for worker, value in ((1, first), (2, second))]
    whole = kind.whole(question, method, answers_of(forward), {}).items
    assert set(whole) == set(range(100, 112))
    backward = kind.whole(question, method, answers_of(forward[::-1]), {}).items
    halves = {
        **kind.few(question, method, answers_of(forward[12:]), None).items,
        **kind.few(question, method, answers_of(forward[:12][::-1]), None).items,
    }
    for item in whole:
        assert whole[item].result == backward[item].result == halves[item].result, item
        assert whole[item].answers == 2
    values = [whole[item].result for item in sorted(whole)]
    if isinstance(kind, Annotation):
        # A merge, not a choice between the answers: what only half the workers marked is left out, on every item.
        assert all(v == values[0] for v in values) and not question.same(values[0], first)
    elif kind.models_workers or type_name == "free_text":
        # A vote between two answers: both win somewhere, neither is favoured.
        assert any(question.same(v, first) for v in values) and any(question.same(v, second) for v in values)


@pytest.mark.parametrize("type_name", TYPES)
def test_a_result_exports_as_a_cell_that_reads_back(type_name):
    case, question = CASES[type_name], question_of(type_name)
    kind, method = kind_of(question), method_of(question, "auto")
    for value in case.valid_answers:
        answers = answers_of([(7, worker, value) for worker in (1, 2, 3)])
        result = kind.whole(question, method, answers, {}).items[7]
        assert question.same(result.result, value) and result.answers == 3
        assert result.confidence > 0.5 and result.agreement == 1.0
        cell = question.plugin.export_cell(result.result)
        assert isinstance(cell, str)
        if cell == "":
            continue  # an empty answer is an empty cell, which a data file reads as "no gold"
        parsed = question.plugin.parse_gold(question.definition, cell)
        if isinstance(kind, Annotation):
            # Merged spans and boxes carry their confidence and workers; read back as gold, they are the answer.
            assert question.same(parsed, result.result) and parsed == question.normalise(value)
        else:
            assert parsed == result.result
