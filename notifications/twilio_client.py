"""The official Twilio REST client, built from Django settings.

Only wiring lives here (credentials, an HTTP timeout and, for tests and local
runs, where the REST API is): no business logic.

Settings read:
- TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN: HTTP Basic credentials.
- TWILIO_API_BASE_URL (optional): e.g. ``http://127.0.0.1:54321``; requests the
  SDK addresses to ``https://api.twilio.com`` go there instead.
- TWILIO_TIMEOUT_SECONDS (optional, default 10): connect and read timeout of
  every request. Without it the SDK waits forever on a stalled connection.
"""

from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

DEFAULT_TIMEOUT_SECONDS = 10


class RebasedHttpClient(TwilioHttpClient):
    """A `TwilioHttpClient` that sends the `api` domain's requests to `base_url`.

    Mechanism: a custom HTTP client passed as ``Client(http_client=...)``, the
    extension point Twilio documents ("Custom HTTP clients for the Twilio
    Python helper library", twilio.com/docs/libraries/python/custom-http-clients-python)
    and recommends for sending requests elsewhere (twilio/twilio-python#521).
    The SDK hands this client absolute URLs (``Domain.absolute_url`` joins the
    hard-coded ``ApiBase`` base URL ``https://api.twilio.com`` with the path), so
    rewriting the origin here also covers the ``next_page_uri`` links that
    `list()` follows. The alternative, assigning ``client.api.base_url``, works
    in twilio 9.x but is an undocumented attribute of generated code.

    Only ``api.twilio.com`` (and its edge/region forms ``api.<edge>.<region>.twilio.com``)
    is rebased; other Twilio domains are left untouched.
    """

    def __init__(self, base_url: str, **kwargs):
        super().__init__(**kwargs)
        self.base_url = base_url.rstrip("/")

    def request(self, method, url, *args, **kwargs):
        return super().request(method, self.rebase(url), *args, **kwargs)

    def rebase(self, url: str) -> str:
        parts = urlsplit(url)
        host = parts.hostname or ""
        is_api = host == "api.twilio.com" or (
            host.startswith("api.") and host.endswith(".twilio.com")
        )
        if parts.scheme != "https" or not is_api:
            return url
        base = urlsplit(self.base_url)
        path = base.path.rstrip("/") + parts.path
        return urlunsplit((base.scheme, base.netloc, path, parts.query, parts.fragment))


def build_client() -> Client:
    """A `twilio.rest.Client` configured from settings (see the module docstring).

    The HTTP client keeps the SDK's defaults otherwise; in particular it makes
    no automatic retries (requests' default adapter), so a POST that timed out
    is never silently sent a second time by the transport.
    """
    timeout = float(getattr(settings, "TWILIO_TIMEOUT_SECONDS", DEFAULT_TIMEOUT_SECONDS))
    base_url = getattr(settings, "TWILIO_API_BASE_URL", "") or ""
    if base_url:
        http_client = RebasedHttpClient(base_url, timeout=timeout)
    else:
        http_client = TwilioHttpClient(timeout=timeout)
    return Client(
        settings.TWILIO_ACCOUNT_SID or None,
        settings.TWILIO_AUTH_TOKEN or None,
        http_client=http_client,
    )
