"""Template filters of the staff pages: deadlines as time left, times in a site's zone."""

from datetime import datetime
from zoneinfo import ZoneInfo

from django import template
from django.utils import timezone

register = template.Library()


def _span(seconds: float) -> str:
    minutes = int(seconds // 60)
    days, hours, minutes = minutes // 1440, minutes // 60 % 24, minutes % 60
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min"


@register.filter
def time_left(deadline: datetime | None) -> str:
    """ "3 h 10 min left", or "overdue by 2 d 4 h"."""
    if deadline is None:
        return ""
    seconds = (deadline - timezone.now()).total_seconds()
    if seconds < 0:
        return f"overdue by {_span(-seconds)}"
    return f"{_span(seconds)} left"


@register.filter
def is_past(moment: datetime | None) -> bool:
    return moment is not None and moment < timezone.now()


@register.filter
def at_site(moment: datetime | None, zone: str) -> str:
    """The moment in the site's own time zone, with the zone's abbreviation."""
    if moment is None:
        return ""
    local = timezone.localtime(moment, ZoneInfo(zone or "UTC"))
    return local.strftime("%a %d %b %Y, %H:%M %Z")


WORDS = {"sms": "SMS", "web": "web form", "staff": "entered by staff"}


@register.filter
def words(code: str) -> str:
    """A stored code in words: "very_high" -> "very high", "sms" -> "SMS"."""
    code = str(code or "")
    return WORDS.get(code, code.replace("_", " "))


@register.filter
def at_site_time(moment: datetime | None, zone: str) -> str:
    """Only the time of day, in the site's zone."""
    if moment is None:
        return ""
    return timezone.localtime(moment, ZoneInfo(zone or "UTC")).strftime("%H:%M")


@register.filter
def make_list_of_words(text: str) -> list[str]:
    return text.split()


@register.filter
def get_item(mapping, key):
    """mapping[key] in a template (a form's values or errors by field name)."""
    return mapping.get(key, "") if hasattr(mapping, "get") else ""
