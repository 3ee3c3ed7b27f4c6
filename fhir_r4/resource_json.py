"""Resources as the JSON FHIR exchanges, each checked by fhir.resources before it leaves.

Builders give plain JSON-ready dicts (`resource`); `validated` parses one with
fhir.resources' R4B model of its type, which refuses anything R4 does not
allow. A bundle of one patient is written through the models; a bulk export
writes each validated dict with the standard JSON encoder (`ndjson_line`),
several times faster than the models' own serializer at a cohort's scale.
"""

import json

from django.core.serializers.json import DjangoJSONEncoder
from fhir.resources.R4B import get_fhir_model_class

ABSENT = (None, [], "")


def resource(kind: str, **elements) -> dict:
    """A resource of type `kind`; elements given as None, "" or [] are left out."""
    return {"resourceType": kind, **{k: v for k, v in elements.items() if v not in ABSENT}}


def validated(data: dict):
    """The fhir.resources model of `data` (pydantic ValidationError if R4 refuses it)."""
    return get_fhir_model_class(data["resourceType"]).model_validate(data)


def ndjson_line(data: dict) -> str:
    return json.dumps(data, cls=DjangoJSONEncoder, separators=(",", ":"), ensure_ascii=False)
