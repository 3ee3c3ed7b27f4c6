import pytest
from django.core.cache import cache

from notifications.sender_rate import wait_for_slot


class Clock:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self, start: float = 1_000_000.0):
        self.now, self.slept = start, []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()
    yield
    cache.clear()


def test_it_lets_the_allowed_number_through_each_second_and_makes_the_rest_wait():
    clock = Clock()
    sent_at = []
    for _ in range(7):
        wait_for_slot("+12015550100", per_second=3, clock=clock, sleep=clock.sleep)
        sent_at.append(int(clock()))

    assert sent_at == [1_000_000] * 3 + [1_000_001] * 3 + [1_000_002]


def test_it_counts_each_sender_separately():
    clock = Clock()
    for sender in ("+12015550100", "MG0001", "+12015550100", "MG0001"):
        wait_for_slot(sender, per_second=2, clock=clock, sleep=clock.sleep)

    assert clock.slept == []


def test_it_does_not_limit_when_the_rate_is_zero():
    clock = Clock()
    for _ in range(100):
        wait_for_slot("+12015550100", per_second=0, clock=clock, sleep=clock.sleep)

    assert clock.slept == []


def test_it_gives_up_when_the_sender_stays_busy():
    from notifications.sender_rate import NoSlot

    clock = Clock()
    frozen = Clock()  # a clock that never moves: the slot never frees
    wait_for_slot("+12015550100", per_second=1, clock=frozen, sleep=clock.sleep)

    with pytest.raises(NoSlot):
        wait_for_slot(
            "+12015550100",
            per_second=1,
            max_wait=0,
            clock=frozen,
            sleep=lambda seconds: setattr(frozen, "now", frozen.now + 0.001),
        )


def test_a_batch_takes_what_is_left_of_the_second_and_the_rest_waits_for_the_next():
    from notifications.sender_rate import take_slots

    clock = Clock()
    taken = [take_slots("+12015550100", 5, per_second=3, clock=clock, sleep=clock.sleep)]
    taken.append(take_slots("+12015550100", 5, per_second=3, clock=clock, sleep=clock.sleep))

    assert taken == [3, 3]
    assert clock.slept == [1.0]  # the second call found the second used up


def test_a_batch_takes_everything_when_there_is_no_limit():
    from notifications.sender_rate import take_slots

    clock = Clock()
    assert take_slots("+12015550100", 500, per_second=0, clock=clock, sleep=clock.sleep) == 500
