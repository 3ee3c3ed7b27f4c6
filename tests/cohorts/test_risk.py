from dataclasses import replace

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cohorts.risk import (
    RULE_VERSION,
    TIER_RANK,
    Histology,
    Receptor,
    Stage,
    Tier,
    TumourProfile,
    assess,
)

POS, NEG, UNK = Receptor.POSITIVE, Receptor.NEGATIVE, Receptor.UNKNOWN
DUCTAL, LOBULAR, INFLAMMATORY = Histology.DUCTAL, Histology.LOBULAR, Histology.INFLAMMATORY
RECEPTOR_FIELDS = ("er", "pr", "her2")

profiles = st.builds(
    TumourProfile,
    er=st.sampled_from(Receptor),
    pr=st.sampled_from(Receptor),
    her2=st.sampled_from(Receptor),
    histology=st.sampled_from(Histology),
    prior_recurrence=st.booleans(),
    stage=st.sampled_from(Stage),
)
property_settings = settings(max_examples=200, deadline=None, database=None)


def profile(
    er: Receptor = POS,
    pr: Receptor = POS,
    her2: Receptor = NEG,
    histology: Histology = DUCTAL,
    prior_recurrence: bool = False,
) -> TumourProfile:
    return TumourProfile(er, pr, her2, histology, prior_recurrence)


@pytest.mark.parametrize(
    ("er", "pr", "her2", "histology", "prior_recurrence", "tier"),
    [
        (POS, POS, NEG, DUCTAL, False, Tier.STANDARD),
        (POS, NEG, NEG, DUCTAL, False, Tier.STANDARD),
        (NEG, POS, NEG, LOBULAR, False, Tier.STANDARD),
        (POS, POS, NEG, Histology.OTHER, False, Tier.STANDARD),
        (POS, POS, POS, DUCTAL, False, Tier.HIGH),
        (NEG, NEG, POS, DUCTAL, False, Tier.HIGH),
        (NEG, NEG, NEG, DUCTAL, False, Tier.HIGH),
        (UNK, POS, NEG, DUCTAL, False, Tier.HIGH),
        (POS, UNK, NEG, DUCTAL, False, Tier.HIGH),
        (POS, POS, UNK, LOBULAR, False, Tier.HIGH),
        (POS, POS, NEG, INFLAMMATORY, False, Tier.VERY_HIGH),
        (POS, POS, NEG, DUCTAL, True, Tier.VERY_HIGH),
        (NEG, NEG, NEG, DUCTAL, True, Tier.VERY_HIGH),
        (NEG, NEG, POS, INFLAMMATORY, True, Tier.VERY_HIGH),
    ],
)
def test_it_assigns_the_tier_from_the_table(
    er: Receptor,
    pr: Receptor,
    her2: Receptor,
    histology: Histology,
    prior_recurrence: bool,
    tier: Tier,
) -> None:
    assert assess(TumourProfile(er, pr, her2, histology, prior_recurrence)).tier is tier


@pytest.mark.parametrize(
    ("tumour", "reasons"),
    [
        (profile(), ("Hormone-receptor-positive, HER2-negative",)),
        (profile(her2=POS), ("HER2-positive tumour",)),
        (profile(er=NEG, pr=NEG), ("Triple-negative tumour (ER-, PR-, HER2-)",)),
        (
            profile(prior_recurrence=True),
            (
                "Prior local or cutaneous recurrence, or skin metastasis",
                "Hormone-receptor-positive, HER2-negative",
            ),
        ),
        (
            profile(er=NEG, pr=NEG, her2=POS, histology=INFLAMMATORY, prior_recurrence=True),
            (
                "Prior local or cutaneous recurrence, or skin metastasis",
                "Inflammatory breast cancer",
                "HER2-positive tumour",
            ),
        ),
    ],
)
def test_it_records_every_applicable_reason_in_plain_english(
    tumour: TumourProfile, reasons: tuple[str, ...]
) -> None:
    assert assess(tumour).reasons == reasons


@pytest.mark.parametrize("field", RECEPTOR_FIELDS)
def test_it_treats_an_unknown_receptor_as_high_risk_and_says_so(field: str) -> None:
    assessment = assess(replace(profile(), **{field: UNK}))

    assert assessment.tier is Tier.HIGH
    name = field.upper()
    assert f"{name} status unknown: treated as high risk until known" in assessment.reasons


def test_it_lists_the_receptor_reasons_behind_a_very_high_tier() -> None:
    assessment = assess(profile(er=NEG, pr=NEG, her2=NEG, histology=INFLAMMATORY))

    assert assessment.tier is Tier.VERY_HIGH
    assert assessment.reasons == (
        "Inflammatory breast cancer",
        "Triple-negative tumour (ER-, PR-, HER2-)",
    )


def test_it_stamps_the_rule_version() -> None:
    assert assess(profile()).rule_version == RULE_VERSION


def test_it_ranks_tiers_in_order_of_closeness_of_follow_up() -> None:
    assert [tier.rank for tier in (Tier.STANDARD, Tier.HIGH, Tier.VERY_HIGH)] == [0, 1, 2]
    assert TIER_RANK == {tier: tier.rank for tier in Tier}


@property_settings
@given(profiles)
def test_it_assesses_every_profile_with_at_least_one_reason(tumour: TumourProfile) -> None:
    assessment = assess(tumour)

    assert assessment.tier in Tier
    assert assessment.reasons
    assert all(isinstance(reason, str) and reason for reason in assessment.reasons)


@property_settings
@given(profiles, st.sampled_from(["prior_recurrence", "inflammatory"]))
def test_it_never_lowers_the_tier_for_recurrence_or_inflammatory_disease(
    tumour: TumourProfile, finding: str
) -> None:
    if finding == "prior_recurrence":
        worse = replace(tumour, prior_recurrence=True)
    else:
        worse = replace(tumour, histology=INFLAMMATORY)

    assert assess(worse).tier.rank >= assess(tumour).tier.rank
    assert assess(worse).tier is Tier.VERY_HIGH


@property_settings
@given(profiles, st.sampled_from(RECEPTOR_FIELDS))
def test_it_never_lowers_the_tier_below_high_when_a_receptor_becomes_unknown(
    tumour: TumourProfile, field: str
) -> None:
    assume(getattr(tumour, field) is not UNK)
    before = assess(tumour)
    after = assess(replace(tumour, **{field: UNK}))

    assert after.tier.rank >= max(before.tier.rank, Tier.HIGH.rank)


# --- Stage ----------------------------------------------------------------------------


def test_it_makes_a_stage_iii_hormone_positive_her2_negative_tumour_high_and_says_why():
    outcome = assess(replace(profile(), stage=Stage.STAGE_III))

    assert outcome.tier is Tier.HIGH
    assert "Stage III disease: locally advanced, recurs more often" in outcome.reasons
    assert "Hormone-receptor-positive, HER2-negative" in outcome.reasons  # every reason kept


@pytest.mark.parametrize("stage", [Stage.STAGE_0, Stage.STAGE_I, Stage.STAGE_II, Stage.UNKNOWN])
def test_it_keeps_earlier_stages_standard(stage):
    assert assess(replace(profile(), stage=stage)).tier is Tier.STANDARD


def test_it_keeps_inflammatory_stage_iii_disease_very_high():
    outcome = assess(replace(profile(histology=INFLAMMATORY), stage=Stage.STAGE_III))

    assert outcome.tier is Tier.VERY_HIGH
    assert any(reason.startswith("Stage III") for reason in outcome.reasons)


@given(profiles)
@property_settings
def test_stage_iii_never_lowers_the_tier(tumour: TumourProfile) -> None:
    raised = assess(replace(tumour, stage=Stage.STAGE_III)).tier
    assert TIER_RANK[raised] >= max(TIER_RANK[assess(tumour).tier], TIER_RANK[Tier.HIGH])
