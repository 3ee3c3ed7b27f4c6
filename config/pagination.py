"""Page numbers, with each page's rows chosen by id first.

A deep page (`?page=400`) of a list that joins its related rows makes
PostgreSQL join and sort every row before the OFFSET. Choosing the page's ids
first walks only the index of the list's order (`patient_by_name` for
patients), and the joins run for the fifty rows shown. A page past the middle
is read from the other end (the reversed order, a small OFFSET), so the last
page costs what the first does. Same pages, same order, same
`count`/`next`/`previous` as DRF's PageNumberPagination.

A list made of disjoint parts (a queryset with `.parts`, as
`bulk_sql.parts.in_parts` builds) is counted as the sum of its parts, and
a page's ids are chosen from each part's first rows in the list's order, merged:
each part is a range of its own index, where the whole is an OR PostgreSQL can
only answer from the table. A database that cannot limit each part of a union
(SQLite, the embedded default) reads the whole list's order instead.
"""

from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.utils.functional import cached_property
from rest_framework.pagination import PageNumberPagination


class IdsFirstPaginator(Paginator):
    @cached_property
    def count(self) -> int:
        parts = getattr(self.object_list, "parts", None)
        if parts is None:
            return super().count
        return sum(part.count() for part in parts)

    def page(self, number):
        if not isinstance(self.object_list, QuerySet):
            return super().page(number)
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        return self._get_page(
            list(self.object_list.filter(pk__in=self._ids(bottom, top))), number, self
        )

    def _ids(self, bottom: int, top: int) -> list:
        if not self.object_list.ordered or bottom <= self.count - top:
            return self._slice(bottom, top, reverse=False)
        return self._slice(self.count - top, self.count - bottom, reverse=True)

    def _slice(self, start: int, stop: int, reverse: bool) -> list:
        """The ids of rows `start` to `stop` in the list's order (counted from its end when
        `reverse`)."""
        parts = getattr(self.object_list, "parts", None)
        if parts is None or not _limits_each_part(self.object_list):
            ids = self.object_list.values_list("pk", flat=True)
            return list((ids.reverse() if reverse else ids)[start:stop])
        order = _order(self.object_list)
        if reverse:
            order = [name[1:] if name.startswith("-") else f"-{name}" for name in order]
        columns = [name.lstrip("-") for name in order]
        firsts = [part.order_by(*order).values_list(*columns)[:stop] for part in parts]
        merged = firsts[0].union(*firsts[1:], all=True)
        if merged.query.combinator:  # a union of one part (Django drops empty ones) is that part
            merged = merged.order_by(*order)
        return [row[-1] for row in merged[start:stop]]


def _limits_each_part(queryset: QuerySet) -> bool:
    return connections[queryset.db].features.supports_slicing_ordering_in_compound


def _order(queryset: QuerySet) -> list[str]:
    """The list's order as field names (`-` before a descending one), ending with the
    primary key, which makes it total."""
    query = queryset.query
    pk = queryset.model._meta.pk.attname
    order = [pk if name == "pk" else name for name in query.order_by or query.get_meta().ordering]
    return order if order and order[-1].lstrip("-") == pk else [*order, pk]


class IdsFirstPagination(PageNumberPagination):
    django_paginator_class = IdsFirstPaginator
