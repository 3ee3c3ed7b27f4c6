"""Risk tiering for follow-up after treatment for breast cancer.

The tier decides how closely a person is followed up (see scheduling.default_protocol). The
rules come from:

* ASCO breast cancer follow-up and management guideline: Khatcheressian JL et al.,
  J Clin Oncol 2013;31:961-965.
* van Maaren MC et al., Int J Cancer 2018: HER2-positive and triple-negative tumours recur
  earliest, with a peak in years 1-3.

The first matching rule decides the tier (very high, then high, then standard), but every
rule that applies contributes a reason, so coordinators see the whole picture. An unknown
receptor status is treated as high risk until it is known: under-surveilling someone because
a lab result is missing is the worse error.

This module is pure (no Django) so the rules can be tested exhaustively.
"""

from dataclasses import dataclass
from enum import StrEnum

RULE_VERSION = "2026.2"
"""Bump whenever the rules below change; it is saved with every assessment.

2026.2: stage III disease is high risk."""


class Tier(StrEnum):
    STANDARD = "standard"
    HIGH = "high"
    VERY_HIGH = "very_high"

    @property
    def rank(self) -> int:
        """Order of the tiers: a higher rank means closer follow-up."""
        return TIER_RANK[self]


TIER_RANK: dict[Tier, int] = {Tier.STANDARD: 0, Tier.HIGH: 1, Tier.VERY_HIGH: 2}


class Receptor(StrEnum):
    POSITIVE = "positive"
    NEGATIVE = "negative"
    UNKNOWN = "unknown"


class Stage(StrEnum):
    STAGE_0 = "0"
    STAGE_I = "I"
    STAGE_II = "II"
    STAGE_III = "III"
    STAGE_IV = "IV"
    UNKNOWN = "unknown"


class Histology(StrEnum):
    DUCTAL = "ductal"
    LOBULAR = "lobular"
    INFLAMMATORY = "inflammatory"
    OTHER = "other"


@dataclass(frozen=True)
class TumourProfile:
    er: Receptor
    pr: Receptor
    her2: Receptor
    histology: Histology
    prior_recurrence: bool
    """Prior local or cutaneous recurrence, or skin metastasis."""
    stage: Stage = Stage.UNKNOWN


@dataclass(frozen=True)
class Assessment:
    tier: Tier
    reasons: tuple[str, ...]
    rule_version: str


def assess(profile: TumourProfile) -> Assessment:
    """Return the risk tier of `profile` with every reason that applies to it."""
    reasons_by_tier = (
        (Tier.VERY_HIGH, _very_high_reasons(profile)),
        (Tier.HIGH, _high_reasons(profile)),
        (Tier.STANDARD, _standard_reasons(profile)),
    )
    # Every receptor combination matches a high or standard rule, so `next` always finds one.
    tier = next(tier for tier, reasons in reasons_by_tier if reasons)
    reasons = tuple(reason for _, tier_reasons in reasons_by_tier for reason in tier_reasons)
    return Assessment(tier=tier, reasons=reasons, rule_version=RULE_VERSION)


def _very_high_reasons(profile: TumourProfile) -> list[str]:
    reasons = []
    if profile.prior_recurrence:
        reasons.append("Prior local or cutaneous recurrence, or skin metastasis")
    if profile.histology is Histology.INFLAMMATORY:
        reasons.append("Inflammatory breast cancer")
    return reasons


def _high_reasons(profile: TumourProfile) -> list[str]:
    reasons = []
    if profile.her2 is Receptor.POSITIVE:
        reasons.append("HER2-positive tumour")
    if _is_triple_negative(profile):
        reasons.append("Triple-negative tumour (ER-, PR-, HER2-)")
    if profile.stage is Stage.STAGE_III:
        reasons.append("Stage III disease: locally advanced, recurs more often")
    receptors = (("ER", profile.er), ("PR", profile.pr), ("HER2", profile.her2))
    reasons.extend(
        f"{name} status unknown: treated as high risk until known"
        for name, status in receptors
        if status is Receptor.UNKNOWN
    )
    return reasons


def _standard_reasons(profile: TumourProfile) -> list[str]:
    """The favourable profile; recorded even when another rule sets a higher tier."""
    hormone_receptor_positive = Receptor.POSITIVE in (profile.er, profile.pr)
    if hormone_receptor_positive and profile.her2 is Receptor.NEGATIVE:
        return ["Hormone-receptor-positive, HER2-negative"]
    return []


def _is_triple_negative(profile: TumourProfile) -> bool:
    return all(status is Receptor.NEGATIVE for status in (profile.er, profile.pr, profile.her2))
