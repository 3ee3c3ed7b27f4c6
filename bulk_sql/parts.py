"""Lists made of disjoint parts, each part a range of an index of its own.

PostgreSQL answers an OR of conditions from a bitmap of the indexes and the
table's rows, or tests the whole OR on every row; each condition alone, it
answers from its index. A list built `in_parts` keeps each part's queryset as
`.parts`, and a paginator that knows them (`config.pagination`) counts the whole
as the sum of the parts and chooses a page's ids from each part's first rows.
"""

import operator
from collections.abc import Callable
from functools import reduce

from django.db.models import Q, QuerySet


def in_parts(queryset: QuerySet, parts: list[Q]) -> QuerySet:
    """`queryset` narrowed to the rows of any of `parts`, which must be disjoint, with each
    part's own queryset kept as `.parts`. Any later filter must go through `filtered`:
    a queryset's copies (`.filter()`) do not keep the parts."""
    combined = queryset.filter(reduce(operator.or_, parts))
    combined.parts = [queryset.filter(part) for part in parts]
    return combined


def filtered(queryset: QuerySet, narrow: Callable[[QuerySet], QuerySet]) -> QuerySet:
    """`narrow(queryset)`, with each of its parts (if it has any) narrowed the same way."""
    result = narrow(queryset)
    parts = getattr(queryset, "parts", None)
    if parts is not None:
        result.parts = [narrow(part) for part in parts]
    return result
