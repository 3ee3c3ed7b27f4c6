"""The exactly-once proof with the real sending rules on, under every fault at once.

`make chaos` runs it (about half an hour) and prints its figures. The world: a
PostgreSQL and a Redis of the test's own (so both can be restarted), gunicorn
taking the fake provider's webhooks, two Celery workers, the test playing beat
(dispatch, reconciliation and the due-sweep, every second) and the patients.

The sending rules are the defaults of docs/clinical-defaults.md: quiet hours
(08:00-21:00 in the number's zone), at most 1 routine SMS a day and 3 a week
per number, consent and STOP on the number, a sender rate limit shared by the
workers (25 a second: a messaging service's rate; a single long code's 1 a
second would make 10,000 reminders a three-hour run). What is sped up is only
the machinery's timing: a 6 s lease, a 2 s client timeout, retries from 1 s.

Every process runs on 14 March 2027 from 06:40 UTC (tests.shifted_clock):
New York springs forward at 07:00 UTC, Paris reaches 08:00 then, Kiritimati
reaches 21:00 then, and it is daytime from Moscow to Sydney.

The faults, over the first 1,000 s: a worker SIGKILLed every 20 s (50), Redis
killed and restarted 3 times (everything in it lost), PostgreSQL crashed and
restarted once, a 10-minute provider outage (connections refused), and 20% of
the provider's answers faulty (429, 5xx, timeouts, accepted-then-crashed).
Meanwhile 150 patients reply STOP and 100 report a lesion and answer every
question. Then the faults stop, and the outbox must drain by itself.
"""

import os
import random
import re
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db.models import Count

from notifications.models import Contact, Message
from scheduling.models import ReminderSeries
from surveillance.models import Flag
from surveillance.triage import QUESTIONS
from tests.fake_twilio import FakeTwilio, new_sid, public_url
from tests.integration.private_postgres import PrivatePostgres, database_on, reconnect_after_errors
from tests.integration.sms_world import (
    Beat,
    PrivateRedis,
    WebServer,
    Workers,
    celery_app_on,
    enrol_due_patients,
    phone_number,
    wait_until,
    worker_env,
)

pytestmark = [pytest.mark.integration, pytest.mark.chaos, pytest.mark.timeout(3600)]

START = datetime(2027, 3, 14, 6, 40, tzinfo=UTC)
# CHAOS_SCALE=0.1: a rehearsal with a tenth of the patients, faults and time.
SCALE = float(os.environ.get("CHAOS_SCALE", "1"))
PATIENTS = round(10_000 * SCALE)
RATE = 25
SMS_PATH = "/webhooks/twilio/sms/"

# Patient n lives in ZONES[n % 20]: 70% in daytime, 10% waiting for 08:00 in Paris,
# 5% about to reach 21:00 in Kiritimati, 15% asleep in New York across the DST change.
DAYTIME = ["Europe/Moscow", "Asia/Dubai", "Asia/Kolkata", "Asia/Tokyo", "Australia/Sydney"]
ZONES = [*(DAYTIME * 3)[:14], "Europe/Paris", "Europe/Paris", "Pacific/Kiritimati"]
ZONES += ["America/New_York"] * 3
NEW_YORK_MORNING = datetime(2027, 3, 14, 12, 0, tzinfo=UTC)  # 08:00 EDT, not EST

# Who is who, by n (all daytime but the STOPs in New York).


def _group(remainder: int, share: float) -> set[int]:
    return {n for n in range(PATIENTS) if n % 20 == remainder and n < share * PATIENTS}


SHARED = _group(1, 0.8)  # 400 share the number of patient n-1
SENT_TODAY = _group(2, 0.6)  # 300 numbers got a routine SMS 10 h ago
SENT_THIS_WEEK = _group(3, 0.4)  # 200 numbers got 3 in the past 6 days
STOPS = _group(4, 0.2) | _group(17, 0.1)  # 100 in daytime, 50 asleep in New York
REPORTERS = _group(5, 0.2)  # 100 report a lesion and answer every question

KILL_EVERY, KILLS = 20 * SCALE, round(50 * SCALE)
REDIS_RESTARTS, REDIS_DOWN = tuple(t * SCALE for t in (60, 420, 840)), 3
POSTGRES_CRASH, POSTGRES_DOWN = 130 * SCALE, 5
OUTAGE = (180 * SCALE, 780 * SCALE)
FAULTS_UNTIL = 1000 * SCALE
ROUTINE = {"self_exam", "visit_reminder"}


def number_of(n: int) -> str:
    return phone_number(n - 1 if n in SHARED else n)


def seed_history(now: datetime) -> None:
    """Routine SMS the numbers got before the run, for the caps to count."""
    contacts = Contact.objects.in_bulk(
        [number_of(n) for n in SENT_TODAY | SENT_THIS_WEEK], field_name="number"
    )
    sent = [(n, now - timedelta(hours=10)) for n in SENT_TODAY]
    sent += [(n, now - timedelta(days=d)) for n in SENT_THIS_WEEK for d in (1.5, 3.5, 5.5)]
    Message.objects.bulk_create(
        Message(
            contact=contacts[number_of(n)],
            direction="outbound",
            kind="self_exam",
            body="An earlier reminder.",
            to_number=number_of(n),
            status="sent",
            sent_at=at,
            provider_sid=new_sid("SM"),
            idempotency_key=f"history:{n}:{at.isoformat()}",
        )
        for n, at in sent
    )


class Patients:
    """The patients' side: STOPs at set times, lesion reports answered question by question.
    Each inbound SMS is delivered until the service answers 2xx, with the same MessageSid
    (Twilio does so with the webhook's `#rc=...&rp=all` connection override)."""

    def __init__(self, fake: FakeTwilio, web: WebServer, started: float):
        rng = random.Random(2027)
        self.fake, self.web, self.started = fake, web, started
        self.stop_at = {number_of(n): rng.uniform(30, FAULTS_UNTIL - 50) for n in STOPS}
        self.stopped: dict[str, datetime] = {}  # number -> when the service acknowledged STOP
        self.reporters = {number_of(n) for n in REPORTERS}
        self.replied: Counter = Counter()
        self.pending: list[tuple[str, str, str]] = []  # (number, body, MessageSid)
        self.inbound_attempts = 0
        self.last_tick = 0.0

    def tick(self) -> None:
        if time.monotonic() - self.last_tick < 1:
            return
        self.last_tick = time.monotonic()
        elapsed = self.last_tick - self.started
        for number, at in list(self.stop_at.items()):
            if elapsed >= at:
                del self.stop_at[number]
                self.pending.append((number, "STOP", new_sid("SM")))
        received = Counter(m.to for m in self.fake.messages if m.to in self.reporters)
        for number in self.reporters:
            while self.replied[number] < min(received[number], 1 + len(QUESTIONS)):
                body = "2" if self.replied[number] == 0 else "1"
                self.pending.append((number, body, new_sid("SM")))
                self.replied[number] += 1
        self.pending = [sms for sms in self.pending if not self._deliver(*sms)]

    def _deliver(self, number: str, body: str, sid: str) -> bool:
        self.inbound_attempts += 1
        try:
            response = self.fake.signed_inbound_sms(
                public_url(SMS_PATH),
                number,
                body,
                post_to=self.web.url + SMS_PATH,
                timeout=30,
                MessageSid=sid,
                SmsSid=sid,
                SmsMessageSid=sid,
            )
        except Exception:  # noqa: BLE001 - the service is down: Twilio tries again
            return False
        if response.status_code >= 300:
            return False
        if body == "STOP":
            self.stopped[number] = datetime.now(UTC)
        return True

    def done(self) -> bool:
        return (
            not self.stop_at
            and not self.pending
            and all(self.replied[number] == 1 + len(QUESTIONS) for number in self.reporters)
        )


class Chaos:
    """The fault schedule, run from the test's loop; remembers when the last fault ended."""

    def __init__(self, world, started: float):
        self.world, self.started = world, started
        self.kills = self.redis_restarts = self.postgres_crashes = 0
        self.outage = "before"
        self.faulty = True
        self.last_fault_end = started

    def tick(self) -> None:
        self.world.workers.supervise()
        elapsed = time.monotonic() - self.started
        if self.kills < KILLS and elapsed >= 10 + self.kills * KILL_EVERY:
            self._kill_a_worker()
        if (
            self.redis_restarts < len(REDIS_RESTARTS)
            and elapsed >= REDIS_RESTARTS[self.redis_restarts]
        ):
            self._restart(self.world.redis, REDIS_DOWN)
            self.redis_restarts += 1
        if not self.postgres_crashes and elapsed >= POSTGRES_CRASH:
            self._restart(self.world.postgres, POSTGRES_DOWN, crash=True)
            self.postgres_crashes += 1
        if self.outage == "before" and elapsed >= OUTAGE[0]:
            self.world.fake.stop()
            self.outage = "on"
        if self.outage == "on" and elapsed >= OUTAGE[1]:
            self.world.fake.start()
            self.outage = "over"
            self.last_fault_end = time.monotonic()
        if self.faulty and elapsed >= FAULTS_UNTIL:
            self.world.fake.clear_faults()
            self.faulty = False
            self.last_fault_end = time.monotonic()

    def over(self) -> bool:
        return not self.faulty and self.outage == "over" and self.kills == KILLS

    def _kill_a_worker(self) -> None:
        self.world.workers.kill_oldest()
        self.kills += 1
        self.last_fault_end = time.monotonic()

    def _restart(self, server, down: float, crash: bool = False) -> None:
        server.crash() if crash else server.kill()
        time.sleep(down)
        server.start()
        self.last_fault_end = time.monotonic()


class World:
    def __init__(self, tmp_path):
        self.postgres = PrivatePostgres(tmp_path)
        self.redis = PrivateRedis(tmp_path)
        self.fake = FakeTwilio(timeout_delay=3)
        self.tmp_path = tmp_path
        self.workers: Workers | None = None
        self.web: WebServer | None = None


@pytest.fixture
def world(transactional_db, tmp_path):
    world = World(tmp_path)  # initdb takes seconds: before the clocks are set
    # Every process of the world runs the same distance ahead of the real clock: taken at
    # the moment this one travels, or the workers' clocks would lead this one's (and the
    # fake's timestamps) by however long came in between.
    shift = START.timestamp() - time.time()
    with time_machine.travel(START, tick=True):
        world.postgres.start()
        world.redis.start()
        world.fake.start()
        try:
            with database_on(world.postgres), celery_app_on(world.redis.url):
                env = worker_env(
                    world.fake,
                    SMS_RATE_PER_SECOND=RATE,
                    CELERY_BROKER_URL=world.redis.url,
                    CACHE_URL=world.redis.url,
                    TEST_CLOCK_SHIFT_SECONDS=shift,
                )
                world.workers = Workers(tmp_path, env)
                world.web = WebServer(tmp_path, env).start()
                world.fake.callback_origin = world.web.url
                yield world
        finally:
            if world.workers:
                world.workers.stop()
            if world.web:
                world.web.stop()
            world.fake.stop()
            world.redis.kill()
            world.postgres.stop()


def test_10000_reminders_under_every_fault_with_the_rules_on(world):
    fake = world.fake
    enrol_due_patients(PATIENTS, zones=ZONES, numbers=number_of)
    seed_history(datetime.now(UTC))
    fake.fault_rate(
        0.2,
        kinds=[
            "rate_limit",
            "server_error",
            "timeout",
            "crash_after_accept",
            "timeout_after_accept",
        ],
        seed=2027,
    )
    fake.fault_rate(0.1, kinds=["rate_limit", "server_error"], seed=7, op="list")
    world.workers.start()
    world.workers.start()

    started = time.monotonic()
    beat = Beat(broker_url=world.redis.url, sweep=True)
    chaos = Chaos(world, started)
    patients = Patients(fake, world.web, started)

    def drained():
        """faults over, patients done, every message sent or held by a rule"""
        return chaos.over() and patients.done() and reconnect_after_errors(outbox_settled)

    def tick():
        beat.tick()
        chaos.tick()
        patients.tick()

    try:
        wait_until(drained, timeout=3000, interval=0.25, on_tick=tick)
    except TimeoutError:
        pytest.fail(
            f"not drained: {reconnect_after_errors(outbox_summary)}\n{world.workers.logs()}"
        )
    drain_s = time.monotonic() - chaos.last_fault_end

    figures, problems = check(patients, fake)
    print("\n=== 10,000 reminders, rules on, every fault ===")
    for name, value in {
        **figures,
        "worker_sigkills": chaos.kills,
        "worker_exits_restarted": world.workers.exits,
        "redis_restarts": chaos.redis_restarts,
        "postgres_crashes": chaos.postgres_crashes,
        "provider_outage_s": f"{OUTAGE[1] - OUTAGE[0]:.0f}",
        "provider_faults": dict(Counter(r.fault for r in fake.requests if r.fault)),
        "inbound_deliveries": patients.inbound_attempts,
        "run_s": f"{time.monotonic() - started:.0f}",
        "last_fault_to_drained_s": f"{drain_s:.0f}",
    }.items():
        print(f"  {name:32} {value}")
    assert not problems, problems


def outbox_settled() -> bool:
    """Nothing in flight, nothing due, nothing held but by a sending rule; replies routed."""
    now = datetime.now(UTC)
    outbound = Message.objects.filter(direction="outbound")
    return not (
        outbound.filter(status="sending").exists()
        or outbound.filter(status="queued", send_after__lte=now).exists()
        or outbound.filter(status="queued")
        .exclude(hold_reason__in=["quiet_hours", "frequency_cap"])
        .exists()
        or Message.objects.filter(direction="inbound", routed_at=None).exists()
    )


def outbox_summary() -> dict:
    rows = Message.objects.values_list("direction", "status", "hold_reason").annotate(n=Count("pk"))
    return {f"{d}/{s}/{h}": n for d, s, h, n in rows}


def check(patients: Patients, fake: FakeTwilio) -> tuple[dict, list[str]]:
    """The run's figures, and what broke a rule (empty when nothing did)."""
    rows = {
        m.pk: m
        for m in Message.objects.filter(direction="outbound")
        .exclude(idempotency_key__startswith="history:")
        .select_related("contact")
    }
    history = defaultdict(list)
    for to, at in Message.objects.filter(idempotency_key__startswith="history:").values_list(
        "to_number", "sent_at"
    ):
        history[to].append(at)
    at_provider = fake.messages
    by_sid = {m.provider_sid: m for m in rows.values() if m.provider_sid}
    per_row = Counter(
        re.search(r"message=(\d+)", m.status_callback or "").group(1) for m in at_provider
    )

    reminders = [m for m in rows.values() if m.kind == "self_exam"]
    statuses = Counter(m.status for m in rows.values())
    held = Counter(m.hold_reason for m in rows.values() if m.status == "queued")
    figures = {
        "patients": PATIENTS,
        "reminder_rows": len(reminders),
        "outbound_rows": dict(statuses),
        "held": dict(held),
        "at_provider": len(at_provider),
        "duplicated_at_provider": len(at_provider)
        - len({m.sid for m in at_provider} & set(by_sid)),
        "sent_twice_for_one_row": sum(n - 1 for n in per_row.values() if n > 1),
        "lost": 0,
        "sent_in_quiet_hours": 0,
        "over_a_cap": 0,
        "after_stop": 0,
        "max_per_second": max(
            Counter(int(m.date_created.timestamp()) for m in at_provider).values()
        ),
    }
    # Lost: a patient without their reminder, a series left due, a reminder that failed, or
    # one that expired though no later reminder of its series superseded it.
    patients_with_reminder = Counter(m.subject_id for m in reminders)
    latest = defaultdict(str)
    for m in reminders:
        series, stamp = m.idempotency_key.rsplit(":", 1)
        latest[series] = max(latest[series], stamp)
    not_superseded = [
        m
        for m in reminders
        if m.status == "expired"
        and m.idempotency_key.rsplit(":", 1)[1] == latest[m.idempotency_key.rsplit(":", 1)[0]]
    ]
    figures["series_left_due"] = ReminderSeries.objects.filter(
        is_active=True, next_due_at__lte=datetime.now(UTC)
    ).count()
    figures["expired_superseded"] = statuses["expired"] - len(not_superseded)
    figures["lost"] = (
        PATIENTS
        - len(patients_with_reminder)
        + figures["series_left_due"]
        + sum(1 for m in reminders if m.status in ("failed", "cancelled"))
        + len(not_superseded)
        + sum(
            1 for m in rows.values() if m.status in ("sent", "delivered") and m.provider_sid is None
        )
    )
    # Quiet hours, caps and STOP at the provider, in each number's own time zone.
    zones = dict(Contact.objects.values_list("number", "timezone"))
    routine = defaultdict(list, {to: list(at) for to, at in history.items()})
    for message in at_provider:
        local = message.date_created.astimezone(ZoneInfo(zones[message.to])).time()
        figures["sent_in_quiet_hours"] += not (8 <= local.hour < 21)
        row = by_sid.get(message.sid)
        if row is not None and row.kind in ROUTINE and not (row.urgent or row.is_reply):
            routine[message.to].append(message.date_created)
        stopped = patients.stopped.get(message.to)
        figures["after_stop"] += stopped is not None and message.date_created > stopped
    over = []
    for number, times in routine.items():
        times.sort()
        day = max(sum(1 for t in times if s <= t < s + timedelta(days=1)) for s in times)
        week = max(sum(1 for t in times if s <= t < s + timedelta(days=7)) for s in times)
        figures["over_a_cap"] += max(day - 1, 0) + max(week - 3, 0)
        if day > 1 or week > 3:
            over.append(number)
    for number in over:  # what happened, for whoever reads a failed run
        print(f"\nover a cap: {number}")
        for m in Message.objects.filter(contact__number=number).order_by("pk"):
            print(
                f"  row {m.pk} {m.kind} {m.idempotency_key} {m.status} attempts={m.attempts}"
                f" sent_at={m.sent_at} started={m.attempt_started_at} sid={m.provider_sid}"
                f" hold={m.hold_reason} error={m.error[:80]!r}"
            )
        for m in at_provider:
            if m.to == number:
                print(f"  provider {m.sid} {m.date_created} {m.status_callback}")
    seconds = Counter(int(m.date_created.timestamp()) for m in at_provider)
    busiest_ten = max(sum(seconds[s + i] for i in range(10)) for s in seconds)

    problems = [
        name
        for name in (
            "lost",
            "duplicated_at_provider",
            "sent_twice_for_one_row",
            "sent_in_quiet_hours",
            "over_a_cap",
            "after_stop",
        )
        if figures[name]
    ]
    if not set(statuses) <= {"sent", "delivered", "queued", "undeliverable", "expired"}:
        problems.append(f"statuses {dict(statuses)}")
    if any(
        m.error != "The number opted out (STOP)."
        for m in rows.values()
        if m.status == "undeliverable"
    ):
        problems.append("undeliverable for another reason than STOP")
    # The limiter counts by the second a slot was taken; a request lands within a second.
    if busiest_ten > 11 * RATE:
        problems.append(f"{busiest_ten} sent in the busiest 10 s, over {11 * RATE}")
    # New York's held reminders wait for 08:00 *daylight* time, after the change.
    new_york = [
        m for m in reminders if m.contact.timezone == "America/New_York" and m.status == "queued"
    ]
    if not new_york or any(m.send_after != NEW_YORK_MORNING for m in new_york):
        problems.append("New York not held until 08:00 EDT")
    # Every reporter's report is one flag, whatever died while they answered.
    reporters = Flag.objects.filter(patient__contact__number__in=patients.reporters)
    if reporters.count() != len(patients.reporters):
        problems.append(f"{reporters.count()} flags for {len(patients.reporters)} reporters")
    figures["busiest_10_s"] = busiest_ten
    return figures, problems
