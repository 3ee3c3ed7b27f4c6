"""Keep protected health information out of logs and error reports.

SMS and logs are not private channels. Log records pass through
`RedactPHIFilter`, which masks phone numbers and replaces patient objects by
their id; error reports show no local variables and no request data at all.
"""

import logging
import re

from django.views.debug import SafeExceptionReporterFilter

# E.164 and most ways people type a phone number: 9+ digits with separators.
PHONE_PATTERN = re.compile(r"(?<![\w/])\+?\(?\d(?:[\s().-]{0,2}\d){8,14}(?![\w/])")
REDACTED = "[redacted]"


def redact(text: str) -> str:
    return PHONE_PATTERN.sub(REDACTED, text)


def _safe_arg(arg):
    from cohorts.models import Patient

    if isinstance(arg, Patient):
        return f"patient #{arg.pk}"  # never the name or MRN that __str__ shows
    if isinstance(arg, str):
        return redact(arg)
    return arg


class RedactPHIFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_safe_arg(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _safe_arg(value) for key, value in record.args.items()}
        return True


class PHIExceptionReporterFilter(SafeExceptionReporterFilter):
    """Error reports name the failing code, never the patient it was handling."""

    def get_post_parameters(self, request):
        return {}

    def get_traceback_frame_variables(self, request, tb_frame):
        return [(name, self.cleansed_substitute) for name in tb_frame.f_locals]
