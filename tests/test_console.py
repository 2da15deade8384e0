"""The takeover console in a real browser: headless Chromium (Debian's) drives the page the
local server serves at `/`, against the test's database. Each test is one thing an attendant
does in the inbox; its screenshots go to tests/screenshots/ (`make screenshots`: to
docs/screenshots/, the README's)."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args
from uuid import UUID, uuid4

import psycopg
import pytest
from playwright.sync_api import (
    Browser,
    Locator,
    Page,
    Route,
    ViewportSize,
    expect,
    sync_playwright,
)

from functions.local import demo
from functions.local.server import create_app
from functions.webhooks.events import EventType
from tests.conftest import SetEnv
from tests.local_http import serving
from tests.support import Api, conversation, expire, log_rows

CHROMIUM = Path("/usr/bin/chromium")
# CI installs Chromium and sets REQUIRE_BROWSER_TESTS: there a missing browser fails the run.
if not CHROMIUM.exists() and not os.environ.get("REQUIRE_BROWSER_TESTS"):
    pytest.skip(
        "Chromium not installed at /usr/bin/chromium: browser tests skipped",
        allow_module_level=True,
    )

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
SUPPORT = demo.FIRST_CONVERSATION_ID  # Support team: inherits the workspace's 30 min
SALES = demo.SALES_CONVERSATION_ID  # Sales team: its own 120 min
ATTENDANT = str(demo.ATTENDANT_ID)
ADMIN = str(demo.ADMIN_ID)

# The page polls every 2 s; leave room for a loaded machine.
expect.set_options(timeout=10_000)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def server(api: Api) -> Iterator[str]:
    """The local server (functions + console) on a free port, on the test's database."""
    del api  # requested for its effect: the functions now use the test's database
    with serving(create_app()) as url:
        yield url


@dataclass
class Console:
    page: Page
    base: str
    screenshots: Path

    def open(self, conversation_id: UUID = SUPPORT) -> None:
        self.page.goto(f"{self.base}/#{conversation_id}")
        expect(self.page.locator("body")).to_have_attribute("data-ready", "true")

    def by_id(self, element_id: str) -> Locator:
        return self.page.locator(f"#{element_id}")

    def item(self, conversation_id: UUID) -> Locator:
        return self.page.locator(f'.conversation-item[data-id="{conversation_id}"]')

    def event(self, action: str) -> Locator:
        return self.page.locator(f'#timeline li[data-action="{action}"]')

    def duration(self, minutes: int | None) -> Locator:
        """The radio button of a duration in the pause dialog."""
        return self.page.locator(f'#durations input[value="{_key(minutes)}"]')

    def duration_label(self, minutes: int | None) -> Locator:
        return self.page.locator(f'#durations .duration:has(input[value="{_key(minutes)}"])')

    def customer_writes(self, text: str) -> Locator:
        """The customer's message, and the AI agent's answer to it (the gate decides)."""
        return self._send("send-as-customer", text, "from-ai")

    def human_replies(self, text: str) -> Locator:
        """The signed-in person's reply ("Reply as …"), which the page reports to human-reply."""
        return self._send("send-as-attendant", text, "from-attendant")

    def _send(self, button: str, text: str, answer: str) -> Locator:
        """Sends `text` with `button`: the message of class `answer` it brings (this one, not
        whichever comes last later)."""
        answers = self.page.locator(f"#messages .message.{answer}")
        earlier = answers.count()
        self.by_id("composer-text").fill(text)
        self.by_id(button).click()
        return answers.nth(earlier)

    def open_settings_as_admin(self) -> None:
        self.open(SUPPORT)
        self.by_id("identity").select_option("admin")
        self.by_id("open-settings").click()

    def screenshot(self, name: str) -> None:
        self.page.screenshot(
            path=self.screenshots / f"{name}.png", animations="disabled", caret="hide"
        )


@pytest.fixture
def console(browser: Browser, server: str, project_root: Path) -> Iterator[Console]:
    context = browser.new_context(viewport=VIEWPORT, locale="en-US", timezone_id="UTC")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # `make screenshots` points this at docs/screenshots (the README's); by default they go
    # to an ignored folder, so a test run leaves the tree clean.
    screenshots = Path(os.environ.get("SCREENSHOT_DIR", project_root / "tests" / "screenshots"))
    screenshots.mkdir(parents=True, exist_ok=True)
    yield Console(page, server, screenshots)
    context.close()
    assert errors == [], "the page threw"


def _key(minutes: int | None) -> str:
    return "indefinite" if minutes is None else str(minutes)


def actions(db: psycopg.Connection[Any], conversation_id: UUID) -> list[str]:
    return [row["action"] for row in log_rows(db, conversation_id)]


def logged(
    event_id: int,
    action: str,
    minutes: int | None,
    by: str,
    modes: str,
    reason: str | None = None,
    message_id: str | None = None,
    conversation_id: UUID = SUPPORT,
) -> dict[str, Any]:
    """A whole log row as log_rows gives it; `modes` is "previous > new"."""
    previous, new = modes.split(" > ")
    return {
        "id": event_id,
        "conversation_id": str(conversation_id),
        "action": action,
        "reason": reason,
        "duration_minutes": minutes,
        "triggered_by": by,
        "previous_ai_mode": previous,
        "new_ai_mode": new,
        "message_id": message_id,
    }


def replies_seen(db: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    """human-reply's message ids, each with the log row its call wrote (None: none)."""
    return db.execute(
        "select conversation_id, message_id, event_id from takeover_private.human_replies"
        " order by created_at, event_id"
    ).fetchall()


def drafts_kept(db: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    """Every kept blocked draft: (conversation, event, agent, message, draft), newest first."""
    return db.execute(
        "select conversation_id, event_id, agent_id, message_id, draft from blocked_drafts"
        " order by event_id desc"
    ).fetchall()


REPLY_ID = re.compile(r"^reply-[0-9a-f]{8}$")  # the page's message id of a human's reply


def test_pause_with_the_default_counts_down_and_blocks_the_ai_reply(
    console: Console, db: psycopg.Connection[Any]
) -> None:
    console.open(SUPPORT)
    expect(console.by_id("ai-state")).to_have_text("AI active")
    expect(console.item(SUPPORT).locator(".item-state")).to_have_text("AI active")

    console.by_id("pause-ai").click()
    expect(console.by_id("pause-dialog")).to_be_visible()
    expect(console.duration(30)).to_be_checked()  # the Support team inherits 30 min
    expect(console.duration_label(30)).to_contain_text("default")
    console.by_id("pause-reason").fill("Customer asked for a human")
    console.screenshot("pause-modal")
    console.by_id("pause-confirm").click()

    expect(console.by_id("ai-state")).to_have_text("AI paused")
    expect(console.by_id("paused-by")).to_have_text("Paused by Alex Rivera (you)")
    countdown = console.by_id("countdown")
    expect(countdown).to_have_text(re.compile(r"^(29:[0-5]\d|30:00) left$"))
    first = countdown.inner_text()
    expect(countdown).not_to_have_text(first)  # it ticks without a reload
    expect(console.item(SUPPORT).locator(".item-state")).to_have_text(
        re.compile(r"^Paused · (29:[0-5]\d|30:00)$")
    )
    expect(console.event("pause_activated")).to_contain_text("Alex Rivera (you) took over · 30 min")
    expect(console.event("pause_activated")).to_contain_text("Customer asked for a human")

    reply = console.customer_writes("Hello? Is anyone there?")
    expect(reply).to_have_attribute("data-status", "blocked")
    expect(reply.locator(".delivery")).to_contain_text("Blocked")
    expect(console.event("interaction_blocked")).to_have_count(1)
    console.screenshot("paused-blocked-reply")

    rows = log_rows(db, SUPPORT)
    assert [row["action"] for row in rows] == ["pause_activated", "interaction_blocked"]
    assert rows[0]["duration_minutes"] == 30
    assert rows[0]["triggered_by"] == ATTENDANT
    assert rows[0]["reason"] == "Customer asked for a human"
    blocked = rows[1]
    assert blocked["triggered_by"] == "ai_agent"
    expect(console.event("interaction_blocked")).to_contain_text(blocked["message_id"])
    expect(reply.locator(".delivery")).to_contain_text(f"log #{blocked['id']}")
    assert conversation(db, SUPPORT)["pause_duration_minutes"] == 30


def test_extend_then_return_to_ai(console: Console, api: Api, db: psycopg.Connection[Any]) -> None:
    paused = api.act("pause-activate", SUPPORT, duration_minutes=15)
    assert paused.status_code == 200
    console.open(SUPPORT)
    expect(console.by_id("countdown")).to_have_text(re.compile(r"^(14:[0-5]\d|15:00) left$"))

    console.by_id("extend").click()
    expect(console.by_id("pause-dialog-title")).to_have_text("Extend the pause")
    expect(console.duration_label(30)).to_have_text("+30 min")
    console.duration_label(30).click()
    expect(console.duration(30)).to_be_checked()
    console.by_id("pause-confirm").click()
    expect(console.by_id("countdown")).to_have_text(re.compile(r"^(44:[0-5]\d|45:00) left$"))
    expect(console.event("extend_pause")).to_contain_text("Alex Rivera (you) added 30 min")
    assert conversation(db, SUPPORT)["pause_duration_minutes"] == 45

    console.by_id("return-to-ai").click()
    expect(console.by_id("ai-state")).to_have_text("AI active")
    expect(console.by_id("pause-ai")).to_be_visible()
    expect(console.by_id("extend")).to_be_hidden()
    expect(console.event("force_resume")).to_contain_text("Alex Rivera (you) handed back")

    reply = console.customer_writes("Thanks! One more question.")
    expect(reply).to_have_attribute("data-status", "delivered")
    expect(reply.locator(".delivery")).to_have_text("✓ Delivered")
    console.screenshot("returned-to-ai")
    assert actions(db, SUPPORT) == ["pause_activated", "extend_pause", "force_resume"]
    assert conversation(db, SUPPORT)["ai_mode"] == "active"


def test_a_human_reply_pauses_the_ai_by_itself_and_later_replies_extend_it(
    console: Console, db: psycopg.Connection[Any]
) -> None:
    console.open(SUPPORT)
    expect(console.by_id("ai-state")).to_have_text("AI active")

    first = console.human_replies("Hi Maria, I'm Alex. Sorry about the jar: let me check.")
    expect(console.by_id("ai-state")).to_have_text("AI paused")
    expect(console.by_id("paused-by")).to_have_text("Paused because Alex Rivera (you) replied")
    expect(console.by_id("countdown")).to_have_text(re.compile(r"^(29:[0-5]\d|30:00) left$"))
    paused = console.event("pause_activated")
    expect(paused.locator(".event-detail")).to_have_text(
        "Paused because Alex Rivera (you) replied · 30 min"
    )
    expect(paused.locator(".event-reason")).to_have_count(0)  # said in words, not quoted

    second = console.human_replies("A new jar ships today; you'll get the tracking number.")
    extended = console.event("extend_pause")
    expect(extended.locator(".event-detail")).to_have_text(
        "Alex Rivera (you) replied · the pause ends 30 min after the reply"
    )
    reply = console.customer_writes("Great, thank you!")
    expect(reply).to_have_attribute("data-status", "blocked")
    console.screenshot("human-reply-pauses")

    rows = log_rows(db, SUPPORT)
    ids = [row["id"] for row in rows]
    assert len(ids) == 3
    # The second reply moved the end to 30 min after it, rounded up to the pause's next
    # whole minute: 31 from the first.
    assert rows == [
        logged(ids[0], "pause_activated", 30, ATTENDANT, "active > paused", "human_replied"),
        logged(ids[1], "extend_pause", 30, ATTENDANT, "paused > paused", "human_replied"),
        logged(
            ids[2],
            "interaction_blocked",
            31,
            "ai_agent",
            "paused > paused",
            message_id=rows[2]["message_id"],
        ),
    ]
    assert conversation(db, SUPPORT)["paused_by"] == demo.ATTENDANT_ID
    assert conversation(db, SUPPORT)["pause_duration_minutes"] == 31
    # One message id per reply, each with the row it wrote.
    seen = replies_seen(db)
    assert [(c, event) for c, _, event in seen] == [(SUPPORT, ids[0]), (SUPPORT, ids[1])]
    assert all(REPLY_ID.match(message) for _, message, _ in seen)
    assert seen[0][1] != seen[1][1]

    expect(first.locator(".delivery")).to_have_text(
        # The time alone when the pause ends today; with its date after midnight.
        re.compile(
            rf"^✓ Sent · AI paused until ([A-Z][a-z]{{2}} \d{{1,2}}, )?\d+:\d\d [AP]M"
            rf" \(log #{ids[0]}\)$"
        )
    )
    expect(second.locator(".delivery")).to_contain_text(f"(log #{ids[1]})")
    expect(paused.locator(".event-meta")).to_have_text(
        f"active → paused · reason human_replied · log #{ids[0]}"
    )


def test_with_pause_on_human_reply_off_a_reply_leaves_the_ai_answering(
    console: Console, api: Api, db: psycopg.Connection[Any]
) -> None:
    switched = api.put(
        "pause-settings",
        {"workspace_id": str(demo.WORKSPACE_ID), "pause_on_human_reply": False},
        token=api.admin,
    )
    assert switched.status_code == 200
    console.open(SUPPORT)

    sent = console.human_replies("Hi Maria, checking this now.")
    expect(sent.locator(".delivery")).to_have_text(
        "✓ Sent · AI not paused: pausing when a human replies is off here"
    )
    expect(console.by_id("ai-state")).to_have_text("AI active")
    reply = console.customer_writes("Thanks!")
    expect(reply).to_have_attribute("data-status", "delivered")

    assert log_rows(db, SUPPORT) == []
    [(conversation_id, message_id, event_id)] = replies_seen(db)
    assert (conversation_id, event_id) == (SUPPORT, None)
    assert REPLY_ID.match(message_id)


def test_the_ais_blocked_drafts_show_under_the_banner_and_one_becomes_the_attendants_reply(
    console: Console, api: Api, db: psycopg.Connection[Any]
) -> None:
    assert api.act("pause-activate", SUPPORT).status_code == 200
    console.open(SUPPORT)
    expect(console.by_id("drafts")).to_be_hidden()  # nothing blocked yet

    console.customer_writes("Hello? Is anyone there?")
    expect(console.page.locator("#messages .message.from-ai").last).to_have_attribute(
        "data-status", "blocked"
    )
    console.customer_writes("I'd like a refund instead, please.")
    drafts = console.page.locator("#draft-list .draft")
    expect(drafts.locator(".draft-text")).to_have_text(
        [  # newest first: the simulated agent's two replies, passed to the gate as drafts
            "I understand. Let me find the best option for you.",
            "Thanks for the details! I'm looking into this for you right now.",
        ]
    )
    expect(console.by_id("drafts-count")).to_have_text("2 blocked replies, newest first")
    blocked = [row for row in log_rows(db, SUPPORT) if row["action"] == "interaction_blocked"]
    assert drafts_kept(db) == [
        (
            SUPPORT,
            blocked[1]["id"],
            "ai_agent",
            blocked[1]["message_id"],
            "I understand. Let me find the best option for you.",
        ),
        (
            SUPPORT,
            blocked[0]["id"],
            "ai_agent",
            blocked[0]["message_id"],
            "Thanks for the details! I'm looking into this for you right now.",
        ),
    ]

    drafts.first.get_by_role("button", name="Use this reply").click()
    composer = console.by_id("composer-text")
    expect(composer).to_have_value("I understand. Let me find the best option for you.")
    expect(composer).to_be_focused()
    console.screenshot("blocked-drafts")
    composer.press_sequentially(" A refund of the jar is on its way.")  # at the end
    console.by_id("send-as-attendant").click()
    sent = console.page.locator("#messages .message.from-attendant").last
    expect(sent.locator(".bubble")).to_have_text(
        "I understand. Let me find the best option for you. A refund of the jar is on its way."
    )
    expect(console.event("extend_pause")).to_have_count(1)
    rows = log_rows(db, SUPPORT)
    assert [(row["action"], row["reason"]) for row in rows] == [
        ("pause_activated", None),
        ("interaction_blocked", None),
        ("interaction_blocked", None),
        ("extend_pause", "human_replied"),
    ]
    assert replies_seen(db)[0][2] == rows[3]["id"]

    # pause-status gives the 10 newest; the page shows those, newest first.
    for n in range(1, 12):
        verdict = api.act(
            "interaction-gate",
            SUPPORT,
            message_id=f"bulk-{n}",
            agent_id="ai_agent",
            draft=f"Draft number {n}",
            token=api.service,
        )
        assert verdict.status_code == 200
    expect(drafts.locator(".draft-text")).to_have_text(
        [f"Draft number {n}" for n in range(11, 1, -1)]
    )
    assert len(drafts_kept(db)) == 13
    # No draft's text went into the append-only log.
    reasons = db.execute(
        "select distinct reason from ai_pause_logs where action = %s", ("interaction_blocked",)
    )
    assert reasons.fetchall() == [(None,)]


def test_a_customer_asking_for_a_human_makes_the_ai_agent_hand_over(
    console: Console, db: psycopg.Connection[Any]
) -> None:
    console.open(SUPPORT)
    reply = console.customer_writes("Can I talk to a human, please?")
    expect(reply.locator(".bubble")).to_have_text(
        "I'm handing you over to a member of our team: they'll answer you here shortly."
    )
    expect(reply).to_have_attribute("data-status", "delivered")
    expect(console.by_id("ai-state")).to_have_text("AI paused")
    expect(console.by_id("paused-by")).to_have_text(
        "The AI agent handed over: the customer asked for a human"
    )
    expect(console.by_id("countdown")).to_have_text(re.compile(r"^(29:[0-5]\d|30:00) left$"))
    handoff = console.event("pause_activated")
    expect(handoff.locator(".event-detail")).to_have_text(
        "The AI agent handed over: the customer asked for a human"
    )
    blocked = console.customer_writes("Hello?")
    expect(blocked).to_have_attribute("data-status", "blocked")
    expect(console.page.locator("#draft-list .draft")).to_have_count(1)
    console.screenshot("ai-handoff")

    rows = log_rows(db, SUPPORT)
    ids = [row["id"] for row in rows]
    assert rows == [
        logged(
            ids[0], "pause_activated", 30, "ai_agent", "active > paused", "customer_asked_for_human"
        ),
        logged(
            ids[1],
            "interaction_blocked",
            30,
            "ai_agent",
            "paused > paused",
            message_id=rows[1]["message_id"],
        ),
    ]
    expect(reply.locator(".delivery")).to_have_text(
        f"✓ Delivered · handed over to a human (log #{ids[0]})"
    )
    expect(handoff.locator(".event-meta")).to_have_text(
        f"active → paused · agent ai_agent · reason customer_asked_for_human · log #{ids[0]}"
    )
    assert conversation(db, SUPPORT)["paused_by"] is None  # no attendant paused it


def test_the_timeline_words_a_services_human_reply_and_another_agents_handoff(
    console: Console, api: Api, db: psycopg.Connection[Any]
) -> None:
    calls = [
        api.act("human-reply", SUPPORT, message_id="wa-1", token=api.service),
        api.act("pause-resume", SUPPORT, token=api.service),
        api.hand_over(SUPPORT, "billing-bot", reason="refund over 500 EUR", duration_minutes=15),
    ]
    assert [call.status_code for call in calls] == [200] * 3
    ids = [row["id"] for row in log_rows(db, SUPPORT)]
    console.open(SUPPORT)

    entries = console.page.locator("#timeline li.event")
    expect(entries.locator(".event-detail")).to_have_text(
        [
            "Another AI agent handed over to a human",
            "An integration handed back to the AI agent",
            "Paused because an integration replied · 30 min",
        ]
    )
    expect(entries.first.locator(".event-reason")).to_have_text("“refund over 500 EUR”")
    expect(entries.locator(".event-meta")).to_have_text(
        [
            f"active → paused · agent billing-bot · log #{ids[2]}",
            f"paused → active · service · log #{ids[1]}",
            f"active → paused · service · reason human_replied · log #{ids[0]}",
        ]
    )
    expect(console.by_id("paused-by")).to_have_text("Another AI agent handed over to a human")


def _write_history(db: psycopg.Connection[Any], rows: list[tuple[str, str, str, str, str]]) -> None:
    """Past log rows of the Support conversation, as (created_at, action, triggered_by,
    previous_ai_mode, new_ai_mode), written as the owner (as supabase/demo_history.sql does)."""
    for at, action, triggered_by, previous, new in rows:
        db.execute(
            "insert into ai_pause_logs (conversation_id, action, duration_minutes, triggered_by,"
            " previous_ai_mode, new_ai_mode, created_at) values (%s, %s, 30, %s, %s, %s, %s)",
            (SUPPORT, action, triggered_by, previous, new, at),
        )


def test_the_timeline_dates_entries_not_from_today_with_the_full_time_on_hover(
    console: Console, db: psycopg.Connection[Any]
) -> None:
    _write_history(
        db,
        [
            ("2025-12-30T09:05:07Z", "pause_activated", ATTENDANT, "active", "paused"),
            ("2025-12-30T09:20:00Z", "force_resume", ATTENDANT, "paused", "active"),
            ("2026-03-09T22:41:30Z", "pause_activated", ADMIN, "active", "paused"),
            ("2026-03-09T23:11:30Z", "auto_resume", "system", "paused", "active"),
            ("2026-03-10T14:55:02Z", "pause_activated", ATTENDANT, "active", "paused"),
            ("2026-03-10T14:58:00Z", "force_resume", ATTENDANT, "paused", "active"),
        ],
    )
    # The browser's today (en-US, UTC): 10 March 2026, 3 pm.
    console.page.clock.set_fixed_time(datetime(2026, 3, 10, 15, 0, tzinfo=UTC))
    console.open(SUPPORT)

    times = console.page.locator("#timeline .event-time")
    expect(times).to_have_text(
        [
            "2:58:00 PM",  # today: the time alone
            "2:55:02 PM",
            "Mar 9, 11:11:30 PM",  # yesterday and earlier this year: the date too
            "Mar 9, 10:41:30 PM",
            "Dec 30, 2025, 9:20:00 AM",  # another year: with the year
            "Dec 30, 2025, 9:05:07 AM",
        ]
    )
    # Hovering gives the full timestamp; the machine-readable one is the log's.
    today = times.nth(1)
    expect(today).to_have_attribute(
        "title", re.compile(r"^Tuesday, March 10, 2026 at 2:55:02\sPM UTC$")
    )
    expect(today).to_have_attribute("datetime", re.compile(r"^2026-03-10T14:55:02(\.0+)?Z$"))
    expect(times.nth(5)).to_have_attribute(
        "title", re.compile(r"^Tuesday, December 30, 2025 at 9:05:07\sAM UTC$")
    )
    console.screenshot("timeline-dates")


def test_timeline_entries_name_people_and_keep_ids_as_secondary_detail(
    console: Console, api: Api, db: psycopg.Connection[Any]
) -> None:
    # A member the console does not know by name (it knows only its two demo members).
    colleague = uuid4()
    db.execute(
        "insert into workspace_members (workspace_id, user_id, role) values (%s, %s, 'attendant')",
        (demo.WORKSPACE_ID, colleague),
    )
    calls = [
        api.act("pause-activate", SUPPORT, reason="VIP", token=api.admin),
        api.act(
            "interaction-gate", SUPPORT, message_id="msg-1", agent_id="ai_agent", token=api.service
        ),
        api.act(
            "pause-logger",
            SUPPORT,
            action="interaction_blocked",
            message_id="msg-2",
            agent_id="billing-bot",
            token=api.service,
        ),
        api.act("pause-extend", SUPPORT, duration_minutes=15),
        api.act("pause-resume", SUPPORT, token=api.service),
        api.act("pause-activate", SUPPORT, triggered_by=str(colleague), token=api.service),
    ]
    assert [call.status_code for call in calls] == [200] * 6
    ids = [row["id"] for row in log_rows(db, SUPPORT)]
    assert len(ids) == 6
    console.open(SUPPORT)

    entries = console.page.locator("#timeline li.event")
    expect(entries).to_have_count(6)
    expect(entries.locator(".event-title")).to_have_text(
        [
            "AI paused",
            "Returned to AI",
            "Pause extended",
            "AI reply blocked",
            "AI reply blocked",
            "AI paused",
        ]
    )
    expect(entries.locator(".event-detail")).to_have_text(
        [
            "Another attendant took over · 30 min",
            "An integration handed back to the AI agent",
            "Alex Rivera (you) added 15 min",
            "Another AI agent's reply to Maria Gonzalez was not sent",
            "The AI agent's reply to Maria Gonzalez was not sent",
            "Sam Okafor took over · 30 min",
        ]
    )
    # The identifiers an audit needs, on the secondary line only.
    expect(entries.locator(".event-meta")).to_have_text(
        [
            f"active → paused · user {colleague} · log #{ids[5]}",
            f"paused → active · service · log #{ids[4]}",
            f"paused → paused · log #{ids[3]}",
            f"paused → paused · agent billing-bot · message msg-2 · log #{ids[2]}",
            f"paused → paused · agent ai_agent · message msg-1 · log #{ids[1]}",
            f"active → paused · log #{ids[0]}",
        ]
    )
    expect(entries.last.locator(".event-reason")).to_have_text("“VIP”")


def test_admin_changes_a_team_default_and_the_modal_preselects_it(
    console: Console, api: Api
) -> None:
    console.open(SUPPORT)
    # The attendant sees the settings but cannot change them.
    console.by_id("open-settings").click()
    support = console.page.locator('tr[data-setting="team-Support"] select')
    expect(support).to_have_value("inherit")
    expect(support).to_be_disabled()
    expect(console.by_id("settings-read-only")).to_be_visible()
    console.by_id("settings-close").click()

    console.by_id("identity").select_option("admin")
    console.by_id("open-settings").click()
    expect(support).to_be_enabled()
    expect(console.page.locator('tr[data-setting="team-Sales"] select')).to_have_value("120")
    support.select_option("60")
    expect(console.by_id("settings-status")).to_have_text("Saved. Support: 1 h.")
    expect(console.page.locator('tr[data-setting="team-Support"] .hint')).to_have_text(
        "Overrides the workspace's"
    )
    console.by_id("settings-title").scroll_into_view_if_needed()  # the dialog scrolls
    console.screenshot("settings")
    console.by_id("settings-close").click()

    console.by_id("pause-ai").click()
    expect(console.duration(60)).to_be_checked()
    expect(console.duration(30)).not_to_be_checked()

    settings = api.get(
        "pause-settings", token=api.admin, workspace_id=str(demo.WORKSPACE_ID)
    ).get_json()
    teams = {team["name"]: team for team in settings["teams"]}
    assert teams["Support"] == {
        "team_id": str(demo.SUPPORT_TEAM_ID),
        "name": "Support",
        "default_duration_minutes": 60,
        "inherits": False,
        "pause_on_human_reply": None,
    }
    assert settings["default_duration_minutes"] == 30


def test_the_settings_dialog_is_titled_by_its_workspace_and_labels_each_team(
    console: Console,
) -> None:
    console.open(SUPPORT)
    console.by_id("open-settings").click()
    expect(console.by_id("settings-title")).to_have_text("Settings · Acme Support")
    rows = console.page.locator("#settings-rows tr[data-setting]")
    expect(rows.locator("th > div:first-child")).to_have_text(
        ["Whole workspace", "Sales team", "Support team"]
    )
    expect(rows.locator(".hint")).to_have_text(
        [
            "Every team that does not override it",
            "Overrides the workspace's",
            "Uses the workspace's",
        ]
    )
    expect(console.page.locator("#settings-rows .settings-group")).to_have_text("Per team")
    expect(console.page.get_by_label("Sales team: default pause duration")).to_have_value("120")
    expect(console.page.get_by_label("Support team: default pause duration")).to_have_value(
        "inherit"
    )


def test_an_admin_sets_who_a_human_reply_pauses_per_team_and_turns_drafts_off(
    console: Console, api: Api, db: psycopg.Connection[Any]
) -> None:
    def settings() -> Any:
        return api.get(
            "pause-settings", token=api.admin, workspace_id=str(demo.WORKSPACE_ID)
        ).get_json()

    # A kept draft, for the switch to delete.
    assert api.act("pause-activate", SALES).status_code == 200
    gate = api.act(
        "interaction-gate",
        SALES,
        message_id="m-1",
        draft="Volume pricing starts at 50 seats.",
        token=api.service,
    )
    assert gate.status_code == 200
    assert api.act("pause-resume", SALES).status_code == 200
    console.open(SUPPORT)
    workspace = console.page.get_by_label("Whole workspace: pause the AI when a human replies")
    support = console.page.get_by_label("Support team: pause the AI when a human replies")
    keep = console.page.get_by_role("switch", name="Keep the AI's blocked drafts")

    console.by_id("open-settings").click()  # the attendant sees them, and cannot change them
    expect(workspace).to_have_value("true")
    expect(support).to_have_value("inherit")
    expect(support.locator("option:checked")).to_have_text("Inherit workspace (On)")
    for control in (workspace, support, keep):
        expect(control).to_be_disabled()
    expect(keep).to_be_checked()
    expect(console.by_id("keep-drafts-hint")).to_contain_text("deleted 24 h after it was written")
    console.by_id("settings-close").click()

    console.by_id("identity").select_option("admin")
    console.by_id("open-settings").click()
    support.select_option("false")
    expect(console.by_id("settings-status")).to_have_text(
        "Saved. Support: a human's reply does not pause the AI."
    )
    rows = console.page.locator("#human-reply-rows tr[data-setting]")
    expect(rows.locator(".hint")).to_have_text(
        [
            "Every team that does not override it",
            "Uses the workspace's",
            "Overrides the workspace's",
        ]
    )

    # Turning drafts off says what it deletes, and deletes nothing until confirmed.
    keep.click()  # asks first: stays on until confirmed
    confirm = console.by_id("drafts-confirm")
    expect(confirm).to_be_visible()
    expect(confirm).to_contain_text(
        "Turning this off deletes every blocked draft kept in this workspace now, and keeps "
        "no new ones."
    )
    expect(keep).to_be_checked()
    console.screenshot("settings-human-replies")
    assert len(drafts_kept(db)) == 1
    console.by_id("drafts-keep").click()
    expect(confirm).to_be_hidden()
    assert settings()["keep_blocked_drafts"] is True

    keep.click()  # asks first: stays on until confirmed
    console.by_id("drafts-delete").click()
    expect(console.by_id("settings-status")).to_have_text(
        "Saved. Blocked drafts are off: the kept ones were deleted."
    )
    expect(keep).not_to_be_checked()
    expect(confirm).to_be_hidden()
    assert drafts_kept(db) == []
    now = settings()
    assert (now["pause_on_human_reply"], now["keep_blocked_drafts"]) == (True, False)
    assert {team["name"]: team["pause_on_human_reply"] for team in now["teams"]} == {
        "Sales": None,
        "Support": False,
    }
    console.by_id("settings-close").click()

    # Support's own Off: Sam's reply leaves the AI answering; Sales inherits On: it pauses.
    sent = console.human_replies("Hi Maria, Sam here.")
    expect(sent.locator(".delivery")).to_contain_text("AI not paused")
    console.item(SALES).locator("button").click()
    console.human_replies("Hi Priya, Sam here: yes, from 50 seats.")
    expect(console.by_id("paused-by")).to_have_text("Paused because Sam Okafor (you) replied")
    assert log_rows(db, SUPPORT) == []
    last = log_rows(db, SALES)[-1]
    assert last == logged(
        last["id"],
        "pause_activated",
        120,
        ADMIN,
        "active > paused",
        "human_replied",
        conversation_id=SALES,
    )


def test_an_expired_pause_resumes_on_screen_without_a_reload(
    console: Console, api: Api, db: psycopg.Connection[Any]
) -> None:
    assert api.act("pause-activate", SALES, token=api.admin).status_code == 200
    console.open(SALES)
    expect(console.by_id("countdown")).to_have_text(re.compile(r"^(1:59:[0-5]\d|2:00:00) left$"))
    expect(console.by_id("paused-by")).to_have_text("Paused by Sam Okafor")

    expire(db, SALES)  # the timer ran out a minute ago; no cron runs here

    expect(console.by_id("ai-state")).to_have_text("AI active")
    expect(console.item(SALES).locator(".item-state")).to_have_text("AI active")
    expect(console.event("auto_resume")).to_contain_text("The timer expired")
    console.screenshot("auto-resumed")
    rows = log_rows(db, SALES)
    assert [row["action"] for row in rows] == ["pause_activated", "auto_resume"]
    assert rows[1]["triggered_by"] == "system"
    assert rows[1]["reason"] == "timer_expired"


def test_a_pause_by_someone_else_meanwhile_gets_a_clear_409(
    console: Console, api: Api, db: psycopg.Connection[Any]
) -> None:
    console.open(SUPPORT)
    console.by_id("pause-ai").click()
    expect(console.duration(30)).to_be_checked()

    # While the modal is open, the admin takes the conversation in another inbox.
    first = api.act("pause-activate", SUPPORT, duration_minutes=120, reason="VIP", token=api.admin)
    assert first.status_code == 200
    console.by_id("pause-confirm").click()

    notice = console.by_id("notice")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("Sam Okafor paused this conversation first")
    expect(notice).to_contain_text("Your pause was not applied")
    expect(console.by_id("paused-by")).to_have_text("Paused by Sam Okafor")
    expect(console.by_id("countdown")).to_have_text(re.compile(r"^(1:59:[0-5]\d|2:00:00) left$"))
    expect(console.by_id("return-to-ai")).to_be_visible()
    console.screenshot("conflict-409")
    rows = log_rows(db, SUPPORT)
    assert [(row["action"], row["triggered_by"]) for row in rows] == [("pause_activated", ADMIN)]


def test_an_expired_session_says_so_and_signing_in_again_recovers(
    console: Console, api: Api
) -> None:
    expired = demo.attendant_token(api.secret, demo.ATTENDANT_ID, -60)
    handed_out: list[str] = []

    def session(route: Route) -> None:
        """The first sign-in hands out a token that has already expired."""
        if handed_out:
            route.continue_()
            return
        answer = route.fetch()
        body = answer.json()
        body["attendant"]["token"] = expired
        handed_out.append(expired)
        route.fulfill(response=answer, json=body)

    console.page.route("**/console/session", session)
    console.open(SUPPORT)

    banner = console.by_id("banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Your session has expired")
    expect(console.by_id("sign-in-again")).to_be_visible()
    console.screenshot("session-expired")

    console.by_id("sign-in-again").click()
    expect(banner).to_be_hidden()
    expect(console.by_id("ai-state")).to_have_text("AI active")
    console.by_id("pause-ai").click()
    console.by_id("pause-confirm").click()
    expect(console.by_id("paused-by")).to_have_text("Paused by Alex Rivera (you)")


def test_an_admin_manages_webhook_endpoints_and_sees_their_deliveries(
    console: Console, api: Api, db: psycopg.Connection[Any]
) -> None:
    from tests.receivers import receiver

    console.open(SUPPORT)
    console.by_id("open-settings").click()
    expect(console.by_id("webhooks-read-only")).to_be_visible()
    expect(console.by_id("webhook-form")).to_be_hidden()
    console.by_id("settings-close").click()

    console.by_id("identity").select_option("admin")
    console.by_id("open-settings").click()
    with receiver() as hooks:
        console.by_id("webhook-url").fill(hooks.url)
        console.by_id("webhook-add").click()
        expect(console.by_id("webhook-secret")).to_contain_text("whsec_")
        endpoint = console.page.locator(".endpoint").first
        expect(endpoint.locator(".endpoint-url")).to_have_text(hooks.url)
        expect(endpoint.locator(".endpoint-types")).to_have_text("All events")

        api.act("pause-activate", SUPPORT)
        api.post("webhook-dispatch", {}, token=api.service)
        assert len(hooks.wait_for(1)) == 1
        endpoint.get_by_role("button", name="Deliveries").click()
        delivered = endpoint.locator('.deliveries td[data-status="delivered"]')
        expect(delivered).to_have_count(1)
        console.screenshot("webhooks")

        first_secret = console.by_id("webhook-secret").text_content()
        endpoint.get_by_role("button", name="Rotate secret").click()
        expect(console.by_id("webhook-status")).to_have_text("Secret rotated.")
        assert console.by_id("webhook-secret").text_content() != first_secret

        console.page.get_by_label(f"Enabled: {hooks.url}").uncheck()
        expect(console.by_id("webhook-status")).to_have_text("Disabled.")
        enabled = db.execute("select enabled from webhook_endpoints").fetchone()
        assert enabled == (False,)

        console.page.locator(".endpoint").first.get_by_role("button", name="Delete").click()
        expect(console.page.locator(".endpoint")).to_have_count(0)


@pytest.fixture
def private_urls(request: pytest.FixtureRequest, setenv: SetEnv) -> bool:
    """The server runs with WEBHOOKS_ALLOW_PRIVATE_URLS as the test's parameter says."""
    setenv(WEBHOOKS_ALLOW_PRIVATE_URLS="1" if request.param else "0")
    return bool(request.param)


@pytest.mark.parametrize(
    ("private_urls", "rule", "tries", "kept"),
    [
        (
            True,
            "Accepted here: https:// or http://, loopback and private addresses included "
            "(WEBHOOKS_ALLOW_PRIVATE_URLS=1, make run's default). Without that setting: "
            "https:// to public addresses only.",
            [
                (
                    "ftp://127.0.0.1/hooks",
                    "The url must start with https:// or http://. (invalid_url)",
                ),
                ("http://127.0.0.1:9/hooks", "Endpoint added."),
            ],
            [("http://127.0.0.1:9/hooks",)],
        ),
        (
            False,
            "Accepted here: https:// to public addresses only (not loopback, private or "
            "link-local ones).",
            [
                ("http://127.0.0.1:9/hooks", "The url must start with https://. (invalid_url)"),
                (
                    "https://127.0.0.1/hooks",
                    "The url points at an address that is not public (global unicast)."
                    " (invalid_url)",
                ),
            ],
            [],
        ),
    ],
    ids=["make-run", "public-only"],
    indirect=["private_urls"],
)
def test_the_webhook_form_says_which_urls_this_server_accepts(
    console: Console,
    db: psycopg.Connection[Any],
    private_urls: bool,
    rule: str,
    tries: list[tuple[str, str]],
    kept: list[tuple[str]],
) -> None:
    console.open_settings_as_admin()
    expect(console.by_id("webhook-url-rule")).to_have_text(rule)
    for url, answer in tries:
        console.by_id("webhook-url").fill(url)
        console.by_id("webhook-add").click()
        expect(console.by_id("webhook-status")).to_have_text(answer)
    expect(console.page.locator(".endpoint-url")).to_have_text([url for (url,) in kept])
    assert db.execute("select url from webhook_endpoints").fetchall() == kept


def test_an_admin_picks_an_endpoints_event_types_and_edits_them(console: Console, api: Api) -> None:
    def subscription() -> Any:
        endpoints = api.get(
            "webhook-endpoints", token=api.admin, workspace_id=str(demo.WORKSPACE_ID)
        ).get_json()["endpoints"]
        assert len(endpoints) == 1
        return endpoints[0]["event_types"]

    console.open_settings_as_admin()
    form = console.by_id("webhook-form")
    # The picker offers exactly the server's six types, all of them by default.
    expect(form.get_by_label("All events")).to_be_checked()
    types = form.locator('.event-types input[type="checkbox"]')
    expect(types).to_have_count(len(get_args(EventType)))
    assert types.evaluate_all("boxes => boxes.map(b => b.value)") == list(get_args(EventType))
    expect(types.first).to_be_hidden()

    console.by_id("webhook-url").fill("http://127.0.0.1:9/hooks")
    form.get_by_label("Only these:").check()
    console.by_id("webhook-add").click()  # none ticked: nothing to subscribe to
    expect(console.by_id("webhook-status")).to_have_text(
        "Tick at least one event type, or choose All events."
    )
    expect(console.page.locator(".endpoint")).to_have_count(0)
    form.get_by_label("AI paused").check()
    form.get_by_label("Returned to AI").check()
    console.by_id("webhook-add").click()
    endpoint = console.page.locator(".endpoint")
    expect(endpoint.locator(".endpoint-types")).to_have_text("Only: AI paused, Returned to AI")
    assert subscription() == ["takeover.pause_activated", "takeover.force_resume"]

    # Its current subscription, shown and editable.
    endpoint.get_by_role("button", name="Edit events").click()
    editor = endpoint.locator(".event-editor")
    expect(editor.get_by_label("Only these:")).to_be_checked()
    ticked = editor.locator('.event-types input[type="checkbox"]:checked')
    assert ticked.evaluate_all("boxes => boxes.map(b => b.value)") == [
        "takeover.pause_activated",
        "takeover.force_resume",
    ]
    editor.get_by_label("Pause about to end").check()
    console.screenshot("webhook-event-types")
    editor.get_by_role("button", name="Save events").click()
    expect(endpoint.locator(".endpoint-types")).to_have_text(
        "Only: AI paused, Returned to AI, Pause about to end"
    )
    assert subscription() == [
        "takeover.pause_activated",
        "takeover.force_resume",
        "takeover.pause_expiring",
    ]

    endpoint.get_by_role("button", name="Edit events").click()
    editor.get_by_label("All events").check()
    editor.get_by_role("button", name="Save events").click()
    expect(endpoint.locator(".endpoint-types")).to_have_text("All events")
    assert subscription() is None


def _minutes(value: float | None) -> str:
    """The page's minutesLabel."""
    if value is None:
        return "\u2013"
    if value < 60:
        return f"{value:g} min"
    hours, minutes = int(value // 60), math.floor(value % 60 + 0.5)  # JavaScript's rounding
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def test_reports_show_the_demo_history_as_the_report_has_it(
    console: Console, api: Api, db_url: str
) -> None:
    demo.load_history(db_url)  # what make run adds to the demo workspace
    console.open(SUPPORT)
    console.by_id("open-reports").click()
    reports = console.by_id("reports")
    expect(reports).to_have_attribute("data-ready", "true")
    expect(console.by_id("inbox")).to_be_hidden()
    expect(console.by_id("report-range")).to_contain_text("all teams · Acme Support")

    report = api.get("pause-report", token=api.attendant, workspace_id=str(demo.WORKSPACE_ID))
    figures = report.get_json()
    assert figures["pauses"] > 20  # the history is there, and the page shows the same
    totals = {
        "pauses": figures["pauses"],
        "auto": figures["resumes"]["auto"],
        "force": figures["resumes"]["force"],
        "extensions": figures["extensions"],
        "blocked": figures["blocked_messages"],
        "p50": _minutes(figures["pause_minutes"]["p50"]),
    }
    for key, value in totals.items():
        expect(console.page.locator(f'[data-total="{key}"] .total-value')).to_have_text(str(value))
    # One pair of bars per UTC day of the 30-day window, zero days included.
    pauses = console.page.locator("#report-chart rect.bar.pauses")
    expect(pauses).to_have_count(len(figures["by_day"]))
    drawn = [
        int(value or 0) for value in pauses.evaluate_all("bars => bars.map(b => b.dataset.value)")
    ]
    assert drawn == [day["pauses"] for day in figures["by_day"]]
    for key in ("p50", "p90", "max"):
        expect(console.page.locator(f'[data-length="{key}"] dd')).to_have_text(
            _minutes(figures["pause_minutes"][key])
        )
    teams = console.page.locator("#report-teams tbody tr")
    expect(teams).to_have_count(len(figures["by_team"]))
    for team in figures["by_team"]:
        row = console.page.locator(f'#report-teams tr[data-team="{team["team_id"] or "none"}"]')
        expect(row.locator("td").nth(0)).to_have_text(team["name"] or "No team")
        expect(row.locator("td").nth(1)).to_have_text(str(team["pauses"]))
        expect(row.locator("td").nth(2)).to_have_text(str(team["blocked_messages"]))
    alex = console.page.locator(f'#report-attendants tr[data-user="{ATTENDANT}"] td')
    mine = next(a for a in figures["by_attendant"] if a["user_id"] == ATTENDANT)
    expect(alex).to_have_text(
        [
            "Alex Rivera (you)",
            str(mine["pauses"]),
            str(mine["force_resumes"]),
            str(mine["extensions"]),
        ]
    )
    # What started the pauses: the demo history has each of the first three sources.
    sources = figures["pauses_by_source"]
    assert min(sources["attendant"], sources["human_reply"], sources["ai_handoff"]) > 0
    for key, value in sources.items():
        expect(
            console.page.locator(f'#report-sources tr[data-source="{key}"] td.number')
        ).to_have_text(str(value))
    expect(console.page.locator("#report-sources .source-label")).to_have_text(
        ["An attendant", "A human's reply", "The AI's handoff", "An integration"]
    )
    console.screenshot("report")

    console.by_id("report-team").select_option(label="Support")
    expect(console.by_id("report-range")).to_contain_text("Support · Acme Support")
    support = api.get(
        "pause-report",
        token=api.attendant,
        workspace_id=str(demo.WORKSPACE_ID),
        team_id=str(demo.SUPPORT_TEAM_ID),
    ).get_json()
    assert 0 < support["pauses"] < figures["pauses"]
    expect(console.page.locator('[data-total="pauses"] .total-value')).to_have_text(
        str(support["pauses"])
    )
    expect(teams).to_have_count(1)

    console.by_id("close-reports").click()
    expect(console.by_id("inbox")).to_be_visible()
    expect(reports).to_be_hidden()
