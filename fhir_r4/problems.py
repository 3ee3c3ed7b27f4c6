"""What is wrong with a bundle, each problem named by its FHIRPath, as an OperationOutcome."""

from dataclasses import dataclass

from fhir.resources.R4B.operationoutcome import OperationOutcome


@dataclass(frozen=True)
class Problem:
    expression: str  # e.g. "Bundle.entry[3].resource.birthDate"
    message: str

    def __str__(self) -> str:
        return f"{self.expression}: {self.message}"


class BundleRefused(Exception):
    """The bundle cannot be imported; nothing of it was written."""

    def __init__(self, problems: list[Problem]):
        super().__init__("; ".join(str(problem) for problem in problems))
        self.problems = problems


def entry_path(index: int, element: str = "") -> str:
    path = f"Bundle.entry[{index}].resource"
    return f"{path}.{element}" if element else path


def from_pydantic(prefix: str, errors: list[dict]) -> list[Problem]:
    """fhir.resources' validation errors, each at its element under `prefix`."""
    problems = []
    for error in errors:
        element = ""
        for part in error["loc"]:
            element += f"[{part}]" if isinstance(part, int) else f".{part}"
        problems.append(Problem(prefix + element, error["msg"]))
    return problems


def outcome(problems: list[Problem], code: str = "invalid") -> OperationOutcome:
    return OperationOutcome(issue=[_issue(problem, code) for problem in problems])


def _issue(problem: Problem, code: str) -> dict:
    issue = {"severity": "error", "code": code, "diagnostics": problem.message}
    if problem.expression:
        issue["expression"] = [problem.expression]
    return issue
