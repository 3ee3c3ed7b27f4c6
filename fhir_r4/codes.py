"""The codes FHIR resources carry, read and written the way mCODE and the EHRs use them.

Pure (no Django): plain values in, plain values out. docs/fhir.md lists every
code with what it maps to.

- Tumour markers (mCODE TumorMarkerTest): LOINC test codes for ER, PR and
  HER2, results as SNOMED CT qualifiers, LOINC answers, v3 interpretation
  codes or text, HER2 immunohistochemistry scores too. An equivocal (or
  indeterminate) result is "unknown": such a patient stays high risk until
  the result is known.
- Histology: ICD-O-3 morphology (mCODE's histology-morphology-behavior
  extension) or the SNOMED CT disorder of the Condition's code.
- Stage: the AJCC stage group in Condition.stage.summary ("3C", "IIIC",
  "Stage IIIC"), read to its main group.
"""

import re

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD_O_3 = "http://terminology.hl7.org/CodeSystem/icd-o-3"
AJCC = "http://cancerstaging.org"
V2_IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
DATA_ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
LANGUAGE = "urn:ietf:bcp:47"
HISTOLOGY_EXTENSION = (
    "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-histology-morphology-behavior"
)
MCODE_PROFILE = "http://hl7.org/fhir/us/mcode/StructureDefinition/"

# Our own code systems, for what no standard code says (the tiers, the visit kinds).
OURS = "urn:skin-surveillance:fhir:CodeSystem:"
RISK_TIER_SYSTEM = OURS + "risk-tier"
RISK_RULES_SYSTEM = OURS + "risk-rules"
VISIT_KIND_SYSTEM = OURS + "visit-kind"
REMINDER_SYSTEM = OURS + "reminder"
TREATMENT_SYSTEM = OURS + "treatment"
PRIMARY_TREATMENT = "primary-treatment"
FLAG_SYSTEM = OURS + "flag"
QUESTION_SYSTEM = OURS + "lesion-question"

TIMEZONE_EXTENSION = "http://hl7.org/fhir/StructureDefinition/timezone"
PLAN_CATEGORY = "follow-up-plan"  # in REMINDER_SYSTEM: our follow-up CarePlan

MRN_TYPE = "MR"
SURGICAL_PROCEDURE = "387713003"  # SNOMED CT: Surgical procedure
BREAST_CANCER = "254837009"  # SNOMED CT: Malignant neoplasm of breast

RECEPTOR_TESTS: dict[str, str] = {
    # ER
    "85337-4": "er",  # Estrogen receptor Ag [Presence] in Breast cancer specimen by Immune stain
    "16112-5": "er",  # Estrogen receptor [Interpretation] in Tissue
    # PR
    "85339-0": "pr",  # Progesterone receptor Ag [Presence] in Breast cancer specimen by IHC
    "16113-3": "pr",  # Progesterone receptor [Interpretation] in Tissue
    # HER2
    "48676-1": "her2",  # HER2 [Interpretation] in Tissue
    "85319-2": "her2",  # HER2 [Presence] in Breast cancer specimen by Immune stain
    "85318-4": "her2",  # HER2 [Presence] in Breast cancer specimen by FISH
    "18474-7": "her2",  # HER2 Ag [Presence] in Tissue by Immune stain
}
# What we write: the mCODE examples' codes.
RECEPTOR_TEST_OUT: dict[str, tuple[str, str]] = {
    "er": ("85337-4", "Estrogen receptor Ag [Presence] in Breast cancer specimen by Immune stain"),
    "pr": (
        "85339-0",
        "Progesterone receptor Ag [Presence] in Breast cancer specimen by Immune stain",
    ),
    "her2": ("48676-1", "HER2 [Interpretation] in Tissue"),
}

POSITIVE, NEGATIVE, UNKNOWN = "positive", "negative", "unknown"
RESULT_CODES: dict[tuple[str, str], str] = {
    (SNOMED, "10828004"): POSITIVE,  # Positive (qualifier value)
    (SNOMED, "260385009"): NEGATIVE,  # Negative (qualifier value)
    (SNOMED, "42425007"): UNKNOWN,  # Equivocal (qualifier value)
    (SNOMED, "82334004"): UNKNOWN,  # Indeterminate (qualifier value)
    (SNOMED, "261665006"): UNKNOWN,  # Unknown (qualifier value)
    (LOINC, "LA6576-8"): POSITIVE,
    (LOINC, "LA6577-6"): NEGATIVE,
    (INTERPRETATION, "POS"): POSITIVE,
    (INTERPRETATION, "NEG"): NEGATIVE,
    (INTERPRETATION, "IND"): UNKNOWN,
    (INTERPRETATION, "E"): UNKNOWN,  # Equivocal
}
RESULT_OUT: dict[str, tuple[str, str]] = {
    POSITIVE: ("10828004", "Positive (qualifier value)"),
    NEGATIVE: ("260385009", "Negative (qualifier value)"),
}
# Words in a result's text: an IHC score (3+ positive, 2+ equivocal, 0 and 1+ negative) too.
_RESULT_WORDS = (
    (re.compile(r"\b(equivocal|indeterminate|borderline|2\+)", re.I), UNKNOWN),
    (re.compile(r"\b(negative|not detected|absent)\b|(^|\s)(0|1\+)(\s|$)", re.I), NEGATIVE),
    (re.compile(r"\b(positive|detected|present|amplified)\b|3\+", re.I), POSITIVE),
)

HISTOLOGY_MORPHOLOGY: dict[str, str] = {
    "8500/3": "ductal",  # Infiltrating duct carcinoma, NOS
    "8520/3": "lobular",  # Lobular carcinoma, NOS
    "8530/3": "inflammatory",  # Inflammatory carcinoma
}
HISTOLOGY_OUT: dict[str, tuple[str, str]] = {
    "ductal": ("8500/3", "Infiltrating duct carcinoma, NOS"),
    "lobular": ("8520/3", "Lobular carcinoma, NOS"),
    "inflammatory": ("8530/3", "Inflammatory carcinoma"),
    "other": ("8010/3", "Carcinoma, NOS"),
}
HISTOLOGY_DISORDERS: dict[str, str] = {
    "408643008": "ductal",  # Infiltrating duct carcinoma of breast
    "278054005": "lobular",  # Infiltrating lobular carcinoma of breast
}

STAGES = ("0", "I", "II", "III", "IV")
_ROMAN = {"0": "0", "1": "I", "2": "II", "3": "III", "4": "IV"}
_STAGE = re.compile(r"^(?:stage\s*)?(IV|III|II|I|0|[0-4])(?:[ABC]\d?)?\b", re.I)


def receptor_of(coding: list[tuple[str, str]]) -> str | None:
    """ "er", "pr" or "her2" for a test's LOINC codings, None for any other test."""
    for system, code in coding:
        if system == LOINC and code in RECEPTOR_TESTS:
            return RECEPTOR_TESTS[code]
    return None


def result_of(coding: list[tuple[str, str]], text: str = "") -> str | None:
    """positive, negative or unknown from a result's codings or text; None if unreadable."""
    for pair in coding:
        if pair in RESULT_CODES:
            return RESULT_CODES[pair]
    for pattern, result in _RESULT_WORDS:
        if text and pattern.search(text):
            return result
    return None


def histology_of(morphology: list[tuple[str, str]], disorder: list[tuple[str, str]]) -> str:
    """Our histology from ICD-O-3 morphology, else the SNOMED disorder; "" if neither says."""
    for system, code in morphology:
        if system == ICD_O_3:
            return HISTOLOGY_MORPHOLOGY.get(code, "other")
    for system, code in disorder:
        if system == SNOMED and code in HISTOLOGY_DISORDERS:
            return HISTOLOGY_DISORDERS[code]
    return ""


def stage_of(code_or_text: str) -> str | None:
    """The main stage group ("0", "I" .. "IV") of an AJCC group code or text; None if none."""
    match = _STAGE.match(code_or_text.strip())
    if match is None:
        return None
    group = match.group(1).upper()
    return _ROMAN.get(group, group)


def stage_code(stage: str) -> str:
    """AJCC-style main group code for our stage: "III" -> "3"."""
    return {roman: arabic for arabic, roman in _ROMAN.items()}[stage]


def language_of(tags: list[str]) -> str | None:
    """en or es from BCP 47 tags ("es-MX" -> "es"); None for a language we do not send in."""
    for tag in tags:
        primary = tag.split("-")[0].lower()
        if primary in ("en", "es"):
            return primary
    return None
