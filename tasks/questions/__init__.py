"""Question types as plugins: one class per type, one module per class (docs/FORMS.md, docs/ANNOTATION.md).

To add a type: write ``tasks/questions/<type>.py`` with a ``QuestionType`` subclass, register it below, and write
``frontend/js/questions/<type>.js``. The contract test (tests/tasks_tests/test_question_types.py) runs every
registered type through the same cases.
"""

from .base import DefinitionError, QuestionType
from .boxes import Boxes
from .choice import MultipleChoice, SingleChoice
from .free_text import FreeText
from .number import Number
from .pairwise import Pairwise
from .rating import Rating
from .spans import Spans

QUESTION_TYPES: dict[str, QuestionType] = {
    plugin.name: plugin
    for plugin in (SingleChoice(), MultipleChoice(), FreeText(), Number(), Rating(), Pairwise(), Spans(), Boxes())
}


def question_type(name: str) -> QuestionType:
    """The plugin for a type name; raises DefinitionError for an unknown one."""
    try:
        return QUESTION_TYPES[name]
    except (KeyError, TypeError):
        raise DefinitionError(
            f"unknown question type {name!r}; use one of: {', '.join(QUESTION_TYPES)}", "type"
        ) from None


__all__ = ["QUESTION_TYPES", "DefinitionError", "QuestionType", "question_type"]
