"""Page numbers, with each page's rows chosen by id first.

A deep page (`?page=400`) of a list that joins its related rows makes
PostgreSQL join and sort every row before the OFFSET. Choosing the page's ids
first walks only the index of the list's order (`patient_by_name` for
patients), and the joins run for the fifty rows shown. Same pages, same
order, same `count`/`next`/`previous` as DRF's PageNumberPagination.
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
        ids = list(self.object_list.values_list("pk", flat=True)[bottom:top])
        return self._get_page(list(self.object_list.filter(pk__in=ids)), number, self)


class IdsFirstPagination(PageNumberPagination):
    django_paginator_class = IdsFirstPaginator
