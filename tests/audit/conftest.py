import pytest

from tests.api.conftest import admin_user, alice, api, bob, cohort_a, cohort_b  # noqa: F401
from tests.factories import UserFactory


@pytest.fixture
def superuser(db):
    return UserFactory(username="su", is_superuser=True, is_staff=True)
