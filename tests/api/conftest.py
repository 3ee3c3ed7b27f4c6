import pytest
from rest_framework.test import APIClient

from tests.factories import CohortFactory, UserFactory


@pytest.fixture
def alice(db):
    """A coordinator of cohort A."""
    return UserFactory(username="alice", role="coordinator")


@pytest.fixture
def bob(db):
    """A coordinator of cohort B only."""
    return UserFactory(username="bob", role="coordinator")


@pytest.fixture
def admin_user(db):
    return UserFactory(username="root", role="admin")


@pytest.fixture
def cohort_a(alice):
    return CohortFactory(name="Cohort A", site="North Hospital", coordinators=[alice])


@pytest.fixture
def cohort_b(bob):
    return CohortFactory(name="Cohort B", site="South Hospital", coordinators=[bob])


@pytest.fixture
def api():
    def client_for(user):
        client = APIClient()
        client.force_authenticate(user)
        return client

    return client_for
