"""FHIR's answers: resources as application/fhir+json, every error an OperationOutcome."""

from django.http import HttpResponse
from fhir.resources.R4B.resource import Resource
from rest_framework.views import APIView

from .problems import Problem, outcome

FHIR_JSON = "application/fhir+json"
NDJSON = "application/fhir+ndjson"
ISSUE_CODES = {400: "invalid", 401: "login", 403: "forbidden", 404: "not-found", 429: "throttled"}
KEPT_HEADERS = ("WWW-Authenticate", "Retry-After", "Allow")


def resource_response(resource: Resource, status: int = 200, **headers) -> HttpResponse:
    response = HttpResponse(resource.model_dump_json(), status=status, content_type=FHIR_JSON)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def problem_response(status: int, message: str, expression: str = "") -> HttpResponse:
    issue = Problem(expression, message)
    return outcome_response(status, [issue])


def outcome_response(status: int, problems: list[Problem]) -> HttpResponse:
    code = ISSUE_CODES.get(status, "exception")
    return resource_response(outcome(problems, code), status=status)


class FhirView(APIView):
    """A DRF view (our tokens, sessions, throttles) whose errors are OperationOutcomes.

    Left out of the API's OpenAPI schema: FHIR clients read the CapabilityStatement.
    """

    schema = None

    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        data = response.data
        detail = data.get("detail", data) if isinstance(data, dict) else data
        answer = problem_response(response.status_code, str(detail))
        for name in KEPT_HEADERS:
            if name in response:
                answer[name] = response[name]
        return answer
