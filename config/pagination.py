"""Page numbers, with each page's rows chosen by id first.

A deep page (`?page=400`) of a list that joins its related rows makes
PostgreSQL join and sort every row before the OFFSET. Choosing the page's ids
first walks only the index of the list's order (`patient_by_name` for
patients), and the joins run for the fifty rows shown. A page past the middle
is read from the other end (the reversed order, a small OFFSET), so the last
page costs what the first does. Same pages, same order, same
`count`/`next`/`previous` as DRF's PageNumberPagination.
"""

from django.core.paginator import Paginator
from django.db.models import QuerySet
from rest_framework.pagination import PageNumberPagination


class IdsFirstPaginator(Paginator):
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
        ids = self.object_list.values_list("pk", flat=True)
        if not self.object_list.ordered or bottom <= self.count - top:
            return list(ids[bottom:top])
        return list(ids.reverse()[self.count - top : self.count - bottom])


class IdsFirstPagination(PageNumberPagination):
    django_paginator_class = IdsFirstPaginator
