"""What the admin serves, read from its registry: the matrix in test_admin_matrix.py is
generated from these, so a newly registered model, URL or relation is covered by itself.
"""

import site
import sys
from dataclasses import dataclass
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.contrib.messages.storage.fallback import FallbackStorage
from django.contrib.sessions.backends.db import SessionStore
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.core.handlers.exception import response_for_exception
from django.http import Http404
from django.test import RequestFactory
from django.urls import URLPattern, URLResolver, resolve

# The pages every ModelAdmin has, by the suffix of their URL name, and what they are here.
STANDARD_PAGES = {
    "changelist": "changelist",
    "add": "add",
    "change": "change",
    "delete": "delete",
    "history": "history",
    "simple_history": "revert",  # django-simple-history: one version, and its revert form
}


def our_app_labels() -> set[str]:
    """The installed apps whose code lives in this project (not in the virtual environment)."""
    base = Path(settings.BASE_DIR).resolve()
    elsewhere = [
        Path(path).resolve()
        for path in (sys.prefix, sys.base_prefix, *site.getsitepackages())
        if path
    ]
    labels = set()
    for app_config in apps.get_app_configs():
        path = Path(app_config.path).resolve()
        if path.is_relative_to(base) and not any(path.is_relative_to(e) for e in elsewhere):
            labels.add(app_config.label)
    return labels


def registered() -> dict:
    """Every model registered in the admin, ours and third parties', with its ModelAdmin."""
    return dict(admin.site._registry)


def label(model) -> str:
    return model._meta.label


@dataclass(frozen=True)
class AdminUrl:
    """One URL pattern of a ModelAdmin: its name and, for the standard pages, which page."""

    name: str
    page: str | None  # a key of STANDARD_PAGES' values, or None for a page of its own
    arguments: tuple[str, ...]  # the keyword arguments of the pattern ("" for positional)


def model_urls(model_admin) -> list[AdminUrl]:
    """The named URL patterns of one ModelAdmin (its own extra pages included)."""
    prefix = f"{model_admin.opts.app_label}_{model_admin.opts.model_name}_"
    found = []
    for pattern in model_admin.get_urls():
        if not isinstance(pattern, URLPattern) or not pattern.name:
            continue  # the unnamed "<id>/" redirect to the change page
        suffix = pattern.name.removeprefix(prefix)
        page = STANDARD_PAGES.get(suffix) if pattern.name.startswith(prefix) else None
        converters = tuple(getattr(pattern.pattern, "converters", {}) or ())
        found.append(AdminUrl(pattern.name, page, converters))
    return found


def site_url_names() -> set[str]:
    """The names of the admin site's own URLs (not those of one ModelAdmin)."""
    return {
        pattern.name
        for pattern in admin.site.get_urls()
        if isinstance(pattern, URLPattern) and pattern.name
    }


def site_model_resolvers() -> list[URLResolver]:
    return [pattern for pattern in admin.site.get_urls() if isinstance(pattern, URLResolver)]


def autocomplete_sources() -> dict:
    """Every `(model, field name)` the autocomplete view accepts, by the model it lists.

    The view (`/admin/autocomplete/?app_label=&model_name=&field_name=&term=`) takes
    any relation of any installed model, forward or reverse, to a registered model
    with search fields: not only the `autocomplete_fields` the admin's own forms use.
    """
    targets = {model for model, model_admin in registered().items() if model_admin.search_fields}
    sources = {target: [] for target in targets}
    for model in apps.get_models(include_auto_created=True):
        for field in model._meta.get_fields(include_hidden=True):
            remote = getattr(getattr(field, "remote_field", None), "model", None)
            if remote not in targets or field.name.endswith("+"):
                continue
            try:
                reachable = model._meta.get_field(field.name) is field
            except Exception:  # noqa: BLE001 - a name the view cannot look up
                reachable = False
            if reachable:
                sources[remote].append((model, field.name))
    return {target: found for target, found in sources.items() if found}


def _holders() -> list[tuple]:
    """`(model, admin or inline, is inline)` for every registered admin and its inlines."""
    found = []
    for model, model_admin in registered().items():
        found.append((model, model_admin, False))
        for inline_class in model_admin.inlines:
            inline = inline_class(model, admin.site)
            found.append((inline.model, inline, True))
    return found


def declared_autocomplete_fields() -> list[tuple]:
    """The `(model, field name)` of every autocomplete_fields of every admin and inline."""
    return [(model, name) for model, holder, _ in _holders() for name in holder.autocomplete_fields]


def raw_id_fields() -> list[tuple]:
    """`(holder model, field, holder admin or inline, is inline)` for every raw_id_fields."""
    return [
        (model, model._meta.get_field(name), holder, is_inline)
        for model, holder, is_inline in _holders()
        for name in holder.raw_id_fields
    ]


def call(user, path: str, data: dict | None = None):
    """The response of the view the URLconf resolves `path` to, for `user`.

    Through the admin's own wrapper (its login and staff check, never_cache) but
    without the middleware and without rendering the template: a status, and the
    context the view chose to show, several times faster than the test client. A
    denial or a 404 answers as the handler would; any other exception is raised.
    """
    factory = RequestFactory()
    request = factory.get(path) if data is None else factory.post(path, data)
    request.user = user
    request.session = SessionStore()
    request._messages = FallbackStorage(request)
    request._dont_enforce_csrf_checks = True
    match = resolve(request.path_info)
    request.resolver_match = match
    try:
        return match.func(request, *match.args, **match.kwargs)
    except (Http404, PermissionDenied, SuspiciousOperation) as exc:
        return response_for_exception(request, exc)
