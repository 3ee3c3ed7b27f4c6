"""The API's error answers, declared on every operation of the OpenAPI schema.

drf-spectacular documents the success responses only; clients (and the
schema tests) must know the errors too. Every operation may answer 401
(no or a bad token), 403 (not allowed) and 429 (rate limit); one that takes a
body or query parameters 400 (with field errors); one on a record (a path
parameter) 404, the same for another cohort's record as for a missing one
(a page past the last of a list is a 404 too); one that reads a body 415 (a
body it cannot read as the media type sent, say a broken multipart form);
and an action that moves a record through its workflow 409.
"""

ERROR = {
    "type": "object",
    "description": '`{"detail": "..."}`, or field errors: `{"field": ["..."]}`.',
    "properties": {"detail": {"type": "string"}},
    "additionalProperties": True,
}
_ANSWERS = {
    "400": "Invalid input: field errors, or a detail.",
    "401": "No credentials, or bad ones.",
    "403": "Not allowed for this user.",
    "404": "No such record among the user's (another cohort's is the same as none), "
    "or no such page.",
    "409": "The record's state does not allow this step.",
    "415": "The body is not in a media type this operation reads (JSON, a form).",
    "429": "Rate limit: Retry-After says when to try again.",
}
_WRITES = {"post", "put", "patch", "delete"}


def _answers_for(path: str, method: str, operation: dict) -> list[str]:
    codes = ["401", "403", "429"]
    if method in _WRITES or operation.get("parameters"):
        codes.append("400")
    parameters = {parameter.get("name") for parameter in operation.get("parameters", [])}
    if "{" in path or "page" in parameters:  # a record, or a page past the last
        codes.append("404")
    if method == "post" and "{" in path:
        codes.append("409")
    if "requestBody" in operation:
        codes.append("415")
    return codes


def declare_errors(result, generator, request, public):
    """drf-spectacular post-processing hook: add the error answers to every operation."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("Error", ERROR)
    reference = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for code in _answers_for(path, method, operation):
                responses.setdefault(code, {"description": _ANSWERS[code], "content": reference})
    return result
