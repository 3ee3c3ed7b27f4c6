"""The lesion report's questions as a FHIR Questionnaire, and a report's answers to it.

The questions and answer codes are surveillance.triage's (the ones asked by
SMS and on the web form), with their English words.
"""

from surveillance.triage import QUESTIONS, RULE_VERSION
from surveillance.wording import ANSWER_LABELS, QUESTION_LABELS

from . import codes
from .resource_json import resource

QUESTIONNAIRE_URL = codes.OURS.replace("CodeSystem", "Questionnaire") + "lesion-report"
NOTE_ITEM = "note"


def answer_system(question: str) -> str:
    return f"{codes.QUESTION_SYSTEM}:{question}"


def questionnaire() -> dict:
    labels, answers = QUESTION_LABELS["en"], ANSWER_LABELS["en"]
    items = [
        {
            "linkId": question,
            "text": labels[question],
            "type": "choice",
            "answerOption": [
                {"valueCoding": _answer(question, code, answers[question][code])}
                for code in options
            ],
        }
        for question, options in QUESTIONS.items()
    ]
    items.append({"linkId": NOTE_ITEM, "text": "In the patient's or staff's words", "type": "text"})
    return resource(
        "Questionnaire",
        id="lesion-report",
        url=QUESTIONNAIRE_URL,
        version=RULE_VERSION,
        name="LesionReport",
        title="New skin lesion report",
        status="active",
        subjectType=["Patient"],
        item=items,
    )


def _answer(question: str, code: str, display: str) -> dict:
    return {"system": answer_system(question), "code": code, "display": display}


def answer_items(answers: dict, note: str) -> list[dict]:
    """QuestionnaireResponse items for a report's answers (in the questions' order) and note."""
    labels, words = QUESTION_LABELS["en"], ANSWER_LABELS["en"]
    items = [
        {
            "linkId": question,
            "text": labels[question],
            "answer": [
                {
                    "valueCoding": _answer(
                        question, answers[question], words[question][answers[question]]
                    )
                }
            ],
        }
        for question in QUESTIONS
        if answers.get(question) in words[question]
    ]
    if note:
        items.append({"linkId": NOTE_ITEM, "answer": [{"valueString": note}]})
    return items
