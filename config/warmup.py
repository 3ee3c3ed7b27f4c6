"""Work a web process does once at start-up, before it serves anyone.

drf-spectacular loads its extensions (authentication schemes, among others)
lazily, on the first schema request, and not thread-safely: the first
concurrent requests of a threaded server could answer 500. Building the
schema once here loads them while only one thread runs.
"""

import logging

logger = logging.getLogger(__name__)


def build_schema_once() -> None:
    from drf_spectacular.generators import SchemaGenerator

    try:
        SchemaGenerator().get_schema(request=None, public=True)
    except Exception:
        logger.exception("Building the API schema at start-up failed; it is built on request")
