from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from notifications.policy import SENDING_ENDS, SENDING_STARTS, Cap, earliest_send

ZONES = [
    "America/New_York",
    "Europe/London",
    "Europe/Madrid",
    "Australia/Sydney",
    "Pacific/Auckland",
    "America/Los_Angeles",
    "UTC",
]
moments = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)
)


def local(moment: datetime, zone: str) -> datetime:
    return moment.astimezone(ZoneInfo(zone))


def test_it_sends_now_inside_sending_hours():
    now = datetime(2026, 6, 1, 14, tzinfo=UTC)  # 10:00 in New York

    decision = earliest_send(now, "America/New_York")

    assert (decision.send_at, decision.reason) == (now, "")


def test_it_holds_a_late_evening_message_until_eight_the_next_morning():
    now = datetime(2026, 6, 2, 2, tzinfo=UTC)  # 22:00 in New York

    decision = earliest_send(now, "America/New_York")

    assert local(decision.send_at, "America/New_York") == datetime(
        2026, 6, 2, 8, tzinfo=ZoneInfo("America/New_York")
    )
    assert decision.reason == "quiet_hours"


def test_it_keeps_eight_oclock_local_across_the_dst_change():
    # 03:00 in New York on the night the clocks go forward (2027-03-14).
    now = datetime(2027, 3, 14, 8, tzinfo=UTC)

    decision = earliest_send(now, "America/New_York")

    assert local(decision.send_at, "America/New_York").time() == time(8, 0)
    assert decision.send_at == datetime(2027, 3, 14, 12, tzinfo=UTC)  # EDT, UTC-4


def test_it_holds_a_second_routine_message_for_a_day():
    now = datetime(2026, 6, 1, 18, tzinfo=UTC)  # 14:00 in New York
    earlier = now - timedelta(hours=3)

    decision = earliest_send(now, "America/New_York", routine_sent_at=[earlier])

    assert decision.send_at == earlier + timedelta(days=1)
    assert decision.reason == "frequency_cap"


def test_it_holds_a_fourth_routine_message_in_a_week():
    now = datetime(2026, 6, 8, 14, tzinfo=UTC)
    sent = [now - timedelta(days=days) for days in (2, 4, 6)]

    decision = earliest_send(now, "America/New_York", routine_sent_at=sent)

    assert decision.send_at == sent[-1] + timedelta(days=7)


def test_it_lets_urgent_messages_and_replies_past_the_cap_but_not_past_quiet_hours():
    now = datetime(2026, 6, 1, 14, tzinfo=UTC)
    night = datetime(2026, 6, 2, 3, tzinfo=UTC)
    sent = [now - timedelta(hours=1)] * 5

    assert earliest_send(now, "America/New_York", routine_sent_at=sent, exempt=True).reason == ""
    assert earliest_send(night, "America/New_York", exempt=True).reason == "quiet_hours"


def test_it_holds_routine_messages_until_a_pause_ends():
    now = datetime(2026, 6, 1, 14, tzinfo=UTC)

    decision = earliest_send(now, "Europe/Madrid", paused_until=date(2026, 6, 10))

    assert local(decision.send_at, "Europe/Madrid") == datetime(
        2026, 6, 11, 8, tzinfo=ZoneInfo("Europe/Madrid")
    )
    assert decision.reason == "paused"


@settings(max_examples=300, deadline=None)
@given(
    now=moments,
    zone=st.sampled_from(ZONES),
    ago=st.lists(st.integers(min_value=0, max_value=10 * 24 * 60), max_size=6),
    per_day=st.integers(min_value=1, max_value=3),
    per_week=st.integers(min_value=1, max_value=7),
    exempt=st.booleans(),
    pause=st.one_of(st.none(), st.integers(min_value=-3, max_value=20)),
)
def test_it_never_sends_in_quiet_hours_early_or_over_the_cap(
    now, zone, ago, per_day, per_week, exempt, pause
):
    sent = [now - timedelta(minutes=minutes) for minutes in ago]
    paused_until = None if pause is None else now.date() + timedelta(days=pause)
    cap = Cap(per_day, per_week)

    decision = earliest_send(
        now, zone, routine_sent_at=sent, cap=cap, exempt=exempt, paused_until=paused_until
    )

    send_at = decision.send_at
    assert send_at >= now
    assert SENDING_STARTS <= local(send_at, zone).time() < SENDING_ENDS
    assert (send_at == now) == (decision.reason == "")
    if not exempt:
        assert sum(send_at - timedelta(days=1) < s <= send_at for s in sent) < per_day
        assert sum(send_at - timedelta(days=7) < s <= send_at for s in sent) < per_week
        if paused_until is not None:
            assert local(send_at, zone).date() > paused_until or local(now, zone).date() > (
                paused_until
            )
