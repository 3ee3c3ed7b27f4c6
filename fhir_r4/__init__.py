"""HL7 FHIR R4: enrolment from EHR bundles, a patient's record and a cohort's bulk export."""
