"""Pages hold the rows a plain OFFSET would, in the list's order, though their ids are
chosen first (config/pagination.py)."""

import pytest
from rest_framework.pagination import PageNumberPagination

from tests.factories import PatientFactory

pytestmark = [pytest.mark.django_db]


def test_every_page_holds_the_next_rows_in_the_lists_order(api, alice, cohort_a, monkeypatch):
    monkeypatch.setattr(PageNumberPagination, "page_size", 3)
    names = ["Zeta", "Alpha", "Mu", "Alpha", "Beta", "Omega", "Kappa"]
    for n, last_name in enumerate(names):
        PatientFactory(cohort=cohort_a, last_name=last_name, first_name=f"P{n}")

    pages, url = [], "/api/v1/patients/"
    while url:
        body = api(alice).get(url).json()
        pages.append([(row["last_name"], row["first_name"]) for row in body["results"]])
        url = body["next"]

    assert [len(page) for page in pages] == [3, 3, 1]
    assert body["count"] == 7
    listed = [row for page in pages for row in page]
    assert listed == sorted((name, f"P{n}") for n, name in enumerate(names))


@pytest.mark.parametrize("page_size", [1, 2, 4, 5, 13])
def test_pages_past_the_middle_read_from_the_end_hold_the_same_rows(
    api, alice, cohort_a, monkeypatch, page_size
):
    """Ties in name are broken by id, from either end."""
    monkeypatch.setattr(PageNumberPagination, "page_size", page_size)
    patients = [
        PatientFactory(cohort=cohort_a, last_name="Same", first_name="Name") for _ in range(6)
    ]
    patients += [PatientFactory(cohort=cohort_a, last_name=f"N{n % 3}") for n in range(7)]
    expected = [p.pk for p in sorted(patients, key=lambda p: (p.last_name, p.first_name, p.pk))]

    listed, url = [], "/api/v1/patients/"
    while url:
        body = api(alice).get(url).json()
        listed += [row["id"] for row in body["results"]]
        url = body["next"]

    assert listed == expected
