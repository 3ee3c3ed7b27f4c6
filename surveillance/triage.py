"""Triage of a patient's report of a new skin lesion. Pure, no Django.

Skin metastases of breast cancer are rare but often the first visible sign of
recurrence: firm, painless nodules, skin-coloured to red or violaceous, most
often near the surgical scar or on the chest wall, which can look like
dermatitis or an infection. The red flags below follow that picture. Every
report becomes a flag that a clinician reviews; triage decides how fast.

- urgent (review within 1 business day, urgent visit suggested): bleeding or
  an open sore; or two or more red flags; or a very-high-risk patient; or the
  patient's own words say it bleeds, is an open sore or grows fast (English
  or Spanish: a patient who writes "it's bleeding" and stops answering is
  not left routine);
- routine (review within 3 business days): everything else.

Reading words errs towards urgent: "not bleeding" still reads as bleeding. A
clinician reads every report; the words only decide how fast.
"""

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from cohorts.risk import Tier

RULE_VERSION = "2026.2"  # 2026.2: the patient's own words are read


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


# Phrases in a patient's own words that make a report urgent, accents and case removed.
URGENT_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "Patient's words: bleeding or an open sore",
        (
            "bleed", "bleeds", "bleeding", "bled", "blood", "bloody", "open sore",
            "open wound", "ulcer", "oozing", "weeping",
            "sangra", "sangrando", "sangrado", "sangre", "herida abierta", "llaga abierta",
            "ulcera", "supura",
        ),
    ),
    (
        "Patient's words: growing fast",
        (
            "growing fast", "growing quickly", "growing rapidly", "grows fast",
            "grew fast", "getting bigger", "getting larger", "got bigger",
            "crece rapido", "creciendo rapido", "crece muy rapido", "crecio rapido",
            "mas grande", "creciendo mucho",
        ),
    ),
)  # fmt: skip


def _plain(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text).casefold())
    return " ".join(
        re.findall(r"\w+", "".join(c for c in decomposed if not unicodedata.combining(c)))
    )


def words_reasons(text: str) -> list[str]:
    """What the patient's own words say that makes a report urgent (whole words only)."""
    plain = f" {_plain(text or '')} "
    return [
        reason
        for reason, phrases in URGENT_WORDS
        if any(f" {phrase} " in plain for phrase in phrases)
    ]


@dataclass(frozen=True)
class Triage:
    urgency: Urgency
    reasons: tuple[str, ...]
    red_flags: int
    rule_version: str = RULE_VERSION


def red_flags(answers: Mapping[str, str]) -> list[str]:
    return [label for question, raising, label in RED_FLAGS if answers.get(question) in raising]


def triage(answers: Mapping[str, str], tier: str, complete: bool = True, words: str = "") -> Triage:
    """Urgency and the reasons for it; unanswered questions raise no flag.

    `words` is what the patient wrote in their own words (the report's note).
    """
    flags = red_flags(answers)
    said = words_reasons(words)
    reasons = list(flags) + said
    urgent = answers.get("bleeding") == "yes" or len(flags) >= 2 or bool(said)
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
