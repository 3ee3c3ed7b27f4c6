import pytest

from tests.factories import PatientFactory, UserFactory


@pytest.fixture
def patient(cohort_a):
    """A high-tier patient of cohort A, in New York: reminders every two weeks, visits planned."""
    cohort_a.timezone = "America/New_York"
    cohort_a.save()
    return PatientFactory(cohort=cohort_a, tier="high", first_name="Ada", last_name="Lovelace")


@pytest.fixture
def lead(cohort_a):
    user = UserFactory(username="lena", role="clinical_lead")
    cohort_a.clinical_leads.add(user)
    return user
