"""Triage of a patient's report of a new skin lesion. Pure, no Django.

Skin metastases of breast cancer are rare but often the first visible sign of
recurrence: firm, painless nodules, skin-coloured to red or violaceous, most
often near the surgical scar or on the chest wall, which can look like
dermatitis or an infection. The red flags below follow that picture. Every
report becomes a flag that a clinician reviews; triage decides how fast.

- urgent (review within 1 business day, urgent visit suggested): bleeding or
  an open sore; or two or more red flags; or a very-high-risk patient;
- routine (review within 3 business days): everything else.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from cohorts.risk import Tier

RULE_VERSION = "2026.1"


class Urgency(StrEnum):
    URGENT = "urgent"
    ROUTINE = "routine"


# The questions (also asked by SMS and on the web form) and their answers.
QUESTIONS: dict[str, tuple[str, ...]] = {
    "location": ("near_scar", "chest_wall", "elsewhere"),
    "onset": ("sudden_or_fast", "gradual"),
    "feel": ("firm_lump", "flat", "scaly"),
    "colour": ("skin", "pink", "red", "purple"),
    "itch": ("yes", "no"),
    "pain": ("yes", "no"),
    "bleeding": ("yes", "no"),
    "count": ("one", "more_than_one"),
    "duration": ("under_two_weeks", "over_two_weeks"),
}

# Each red flag: the answer that raises it, and how a coordinator reads it.
RED_FLAGS: tuple[tuple[str, frozenset[str], str], ...] = (
    ("location", frozenset({"near_scar", "chest_wall"}), "Near the scar or on the chest wall"),
    ("feel", frozenset({"firm_lump"}), "Firm lump"),
    ("onset", frozenset({"sudden_or_fast"}), "Appeared suddenly or growing fast"),
    ("colour", frozenset({"red", "purple"}), "Red or purple"),
    ("bleeding", frozenset({"yes"}), "Bleeding or an open sore"),
    ("count", frozenset({"more_than_one"}), "More than one"),
    ("itch", frozenset({"no"}), "Not itchy"),
    ("duration", frozenset({"over_two_weeks"}), "Present for over two weeks"),
)


@dataclass(frozen=True)
class Triage:
    urgency: Urgency
    reasons: tuple[str, ...]
    red_flags: int
    rule_version: str = RULE_VERSION


def red_flags(answers: Mapping[str, str]) -> list[str]:
    return [label for question, raising, label in RED_FLAGS if answers.get(question) in raising]


def triage(answers: Mapping[str, str], tier: str, complete: bool = True) -> Triage:
    """Urgency and the reasons for it; unanswered questions raise no flag."""
    flags = red_flags(answers)
    reasons = list(flags)
    urgent = answers.get("bleeding") == "yes" or len(flags) >= 2
    if tier == Tier.VERY_HIGH:
        urgent = True
        reasons.append("Very-high-risk patient: every report is urgent")
    if urgent and answers.get("bleeding") != "yes" and len(flags) >= 2:
        reasons.append(f"{len(flags)} red flags")
    if not complete:
        reasons.append("Questionnaire not finished: answers are partial")
    if not reasons:
        reasons.append("No red flags reported")
    return Triage(Urgency.URGENT if urgent else Urgency.ROUTINE, tuple(reasons), len(flags))


def invalid_answers(answers: Mapping[str, str]) -> dict[str, str]:
    """Questions or answers outside QUESTIONS, with why: for 400s and forms."""
    errors = {}
    for question, answer in answers.items():
        if question not in QUESTIONS:
            errors[question] = "Unknown question."
        elif answer not in QUESTIONS[question]:
            errors[question] = f"Choose one of: {', '.join(QUESTIONS[question])}."
    return errors
