import io
import logging
import sys

import pytest
from django.test import RequestFactory
from django.views.debug import ExceptionReporter

from tests.factories import PatientFactory

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def console_log():
    """What the configured console handler writes, PHI filter included."""
    [handler] = [h for h in logging.getLogger().handlers if h.name == "console"]
    stream = io.StringIO()
    previous = handler.setStream(stream)
    yield stream
    handler.setStream(previous)


def test_it_keeps_phone_numbers_and_names_out_of_logs(console_log):
    patient = PatientFactory(first_name="Rosalind", last_name="Example", phone="+12015550177")
    logger = logging.getLogger("surveillance.test")

    logger.warning("Could not reach %s at %s", patient, patient.phone)
    logger.warning("Reply from +1 (201) 555-0177 and 201.555.0177 was empty")

    output = console_log.getvalue()
    assert "Rosalind" not in output and "Example" not in output
    assert "5550177" not in output and "555-0177" not in output and "555.0177" not in output
    assert f"patient #{patient.pk}" in output
    assert output.count("[redacted]") == 3


def test_it_keeps_ordinary_numbers_in_logs(console_log):
    logging.getLogger("surveillance.test").warning("Swept 1500 series in 42 ms, batch 2026")

    assert "1500 series in 42 ms, batch 2026" in console_log.getvalue()


def test_it_leaves_patient_data_out_of_error_reports():
    patient = PatientFactory(first_name="Rosalind", mrn="MRN-SECRET-1")
    request = RequestFactory().post("/api/v1/patients/", {"first_name": "Rosalind"})
    try:
        name = patient.first_name  # noqa: F841 - a local an error report would show
        raise RuntimeError("boom")
    except RuntimeError:
        report = ExceptionReporter(request, *sys.exc_info()).get_traceback_text()

    assert "Rosalind" not in report
    assert "MRN-SECRET-1" not in report
    assert "RuntimeError" in report


def test_it_sends_a_content_security_policy(client):
    policy = client.get("/").headers["Content-Security-Policy"]

    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
