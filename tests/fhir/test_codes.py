"""The pure reading of FHIR codes: stages, results, histology, languages (property tests)."""

from hypothesis import given
from hypothesis import strategies as st

from fhir_r4 import codes

GROUPS = {"0": "0", "1": "I", "2": "II", "3": "III", "4": "IV"}
ROMAN = {"0": "0", "I": "I", "II": "II", "III": "III", "IV": "IV"}


@given(
    group=st.sampled_from(sorted(GROUPS) + sorted(ROMAN)),
    sub=st.sampled_from(["", "A", "B", "C", "A1", "B2"]),
    prefix=st.sampled_from(["", "Stage ", "stage ", "STAGE"]),
)
def test_any_ajcc_group_reads_to_its_main_stage(group, sub, prefix):
    assert codes.stage_of(f"{prefix}{group}{sub}") == {**GROUPS, **ROMAN}[group]


@given(st.sampled_from(codes.STAGES))
def test_the_stage_we_write_reads_back(stage):
    assert codes.stage_of(codes.stage_code(stage)) == stage


@given(st.text(alphabet="xyz -/", max_size=12))
def test_text_without_a_stage_is_not_read_as_one(text):
    assert codes.stage_of(text) is None


@given(st.sampled_from(sorted(codes.RESULT_CODES)))
def test_every_known_result_code_reads(pair):
    assert codes.result_of([("http://other", "x"), pair]) == codes.RESULT_CODES[pair]


def test_result_words_and_ihc_scores():
    assert codes.result_of([], "3+ (positive)") == "positive"
    assert codes.result_of([], "IHC 2+") == "unknown"  # equivocal
    assert codes.result_of([], "Score 1+") == "negative"
    assert codes.result_of([], "Not detected") == "negative"
    assert codes.result_of([], "Equivocal, FISH pending") == "unknown"
    assert codes.result_of([], "see pathology report") is None


@given(st.sampled_from(sorted(codes.HISTOLOGY_OUT)))
def test_the_histology_we_write_reads_back(histology):
    morphology, _ = codes.HISTOLOGY_OUT[histology]
    assert codes.histology_of([(codes.ICD_O_3, morphology)], []) == histology


def test_histology_from_the_disorder_when_no_morphology():
    assert codes.histology_of([], [(codes.SNOMED, "278054005")]) == "lobular"
    assert codes.histology_of([], [(codes.SNOMED, codes.BREAST_CANCER)]) == ""


@given(st.sampled_from(["en", "en-US", "EN-gb", "es", "es-MX", "es-419"]))
def test_english_and_spanish_tags_read(tag):
    assert codes.language_of(["fr-FR", tag]) == tag[:2].lower()
