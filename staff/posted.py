"""What staff forms post, made ready for the API's own validation.

The pages validate with the API's serializers (one set of rules for both).
A browser's `datetime-local` field has no zone: it is read in the site's
zone, as the coordinator sees the clinic's clock.
"""

from datetime import datetime
from zoneinfo import ZoneInfo

from django.http import QueryDict


def with_site_times(data: QueryDict, zone: str, *names: str) -> dict:
    """The posted fields, the named `datetime-local` ones given the site's UTC offset."""
    ready = {key: data.get(key) for key in data}
    for name in names:
        value = ready.get(name)
        if not value:
            ready.pop(name, None)
            continue
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            continue  # the serializer says what is wrong with it
        if moment.tzinfo is None:
            ready[name] = moment.replace(tzinfo=ZoneInfo(zone)).isoformat()
    return ready


def first_error(errors: dict) -> str:
    """A serializer's errors as one sentence for the page."""
    for field, messages in errors.items():
        text = messages[0] if isinstance(messages, list) else str(messages)
        return str(text) if field == "non_field_errors" else f"{field.replace('_', ' ')}: {text}"
    return ""
