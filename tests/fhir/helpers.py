"""Bundles written for the tests (synthetic patients), and small ways to vary them."""

import copy
import json
from pathlib import Path

from django.test import Client

BUNDLES = Path(__file__).parent / "bundles"
FHIR_JSON = "application/fhir+json"


def bundle(name: str = "her2-positive") -> dict:
    return json.loads((BUNDLES / f"{name}.json").read_text())


def resource(data: dict, kind: str, index: int = 0) -> dict:
    """The `index`-th resource of type `kind` in the bundle (to change it in place)."""
    return [e["resource"] for e in data["entry"] if e["resource"]["resourceType"] == kind][index]


def marker(data: dict, loinc: str) -> dict:
    return next(
        e["resource"]
        for e in data["entry"]
        if e["resource"]["resourceType"] == "Observation"
        and e["resource"]["code"]["coding"][0]["code"] == loinc
    )


def as_bytes(data: dict) -> bytes:
    return json.dumps(data).encode()


def varied(data: dict, **changes) -> dict:
    """A copy with top-level bundle fields changed (e.g. timestamp)."""
    changed = copy.deepcopy(data)
    changed.update(changes)
    return changed


def post_bundle(client, data: dict, cohort_id: int, content_type: str = FHIR_JSON):
    return client.post(
        f"/fhir/r4/?cohort={cohort_id}", data=as_bytes(data), content_type=content_type
    )


def session_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client
