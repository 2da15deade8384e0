// The takeover console: a support inbox where an attendant pauses the AI agent on a
// conversation and hands it back. It talks to the functions as the inbox product would:
// Bearer tokens on /functions/v1/<name>. The customer and the AI agent are simulated here;
// the agent asks interaction-gate before each reply, as a real agent must, and hands over
// to a human when the customer asks for one. Each human reply is reported to human-reply,
// so the AI pauses by itself instead of answering on top of the human.
"use strict";

const POLL_MS = 2000; // statuses and the timeline: an expired pause shows as resumed within ~2 s
const AGENT_THINKS_MS = 500; // a little pause before the simulated agent answers

const DURATIONS = [
  { minutes: 15, label: "15 min" },
  { minutes: 30, label: "30 min" },
  { minutes: 60, label: "1 h" },
  { minutes: 120, label: "2 h" },
  { minutes: null, label: "Indefinite" },
];

// The log's own reasons (docs/api.md, Human replies and handoffs), said in words.
const HUMAN_REPLIED = "human_replied";
const HANDOFF_REASONS = { customer_asked_for_human: "the customer asked for a human" };

// The simulated agent's handoff: a customer asking for a person gets this reply, then the
// agent pauses itself (pause-activate with its agent_id).
const ASKS_FOR_HUMAN =
  /\b(human|real person|a person|someone real|an agent|representative|operator)\b/i;
const HANDOFF_REPLY =
  "I'm handing you over to a member of our team: they'll answer you here shortly.";

const AI_REPLIES = [
  "Thanks for the details! I'm looking into this for you right now.",
  "I understand. Let me find the best option for you.",
  "Got it. Could you confirm the email address on your account?",
  "I've noted that. Is there anything else I can help you with?",
];

const state = {
  session: null, // GET /console/session
  who: "attendant", // "attendant" | "admin": whose token the page acts with
  selectedId: null,
  status: {}, // conversation id -> its pause state (pause-status)
  events: [], // the selected conversation's audit log, oldest first
  messages: {}, // conversation id -> [{from, text, at, status, note}]
  settings: null, // pause-settings
  webhooks: [], // webhook-endpoints of the workspace (admins)
  newEndpointTypes: null, // the event-type picker of the add-endpoint form
  teams: null, // the workspace's teams, for the report's filter
  report: null, // pause-report
  signedOut: false, // a 401: polling stops until the user signs in again
  changes: 0, // bumped by every action, so that a poll started before it is discarded
  modalMode: "pause", // the pause dialog pauses or extends
  dialogKey: null, // Idempotency-Key of the open dialog: a double submit pauses once
  replies: 0,
};

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------------------
// Talking to the functions
// ---------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

function me() {
  return state.session[state.who];
}

async function call(method, name, { query, body, token, idempotencyKey } = {}) {
  const url = new URL(`/functions/v1/${name}`, location.origin);
  for (const [key, value] of Object.entries(query || {})) url.searchParams.set(key, value);
  const headers = { Authorization: `Bearer ${token || me().token}` };
  if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (cause) {
    throw new ApiError(0, "network_error", "The server is not answering. Is it running?");
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = (data && data.error) || {};
    const failure = new ApiError(
      response.status,
      error.code || `http_${response.status}`,
      error.message || response.statusText,
      error.details,
    );
    if (response.status === 401) signedOut(failure);
    throw failure;
  }
  return data;
}

async function loadSession() {
  const response = await fetch("/console/session", { cache: "no-store" });
  if (!response.ok) {
    const data = await response.json().catch(() => null);
    const message = (data && data.error && data.error.message) || response.statusText;
    throw new Error(`Could not sign in: ${message}`);
  }
  state.session = await response.json();
}

// ---------------------------------------------------------------------------
// Words and formats
// ---------------------------------------------------------------------------

function durationLabel(minutes) {
  const known = DURATIONS.find((d) => d.minutes === minutes);
  return known ? known.label : `${minutes} min`;
}

// A pause's length in a log entry: its minutes, or no time limit.
function pauseLength(minutes) {
  return minutes === null ? "no time limit" : durationLabel(minutes);
}

// The demo member with this user id, if the console knows them.
function member(userId) {
  for (const who of ["attendant", "admin"]) {
    const person = state.session[who];
    if (person.user_id === userId) return { ...person, you: who === state.who };
  }
  return null;
}

function personName(userId) {
  if (!userId) return "someone";
  const person = member(userId);
  if (person) return person.you ? `${person.name} (you)` : person.name;
  return `another attendant (${userId.slice(0, 8)}…)`;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

// Who wrote a log row (its triggered_by), as a person reads it; `id` is the raw identifier
// for the entry's detail line, where the name alone does not say which one it was.
function actor(triggeredBy) {
  if (UUID.test(triggeredBy)) {
    return member(triggeredBy)
      ? { name: personName(triggeredBy), id: null, named: true }
      : { name: "Another attendant", id: `user ${triggeredBy}` };
  }
  if (triggeredBy === "system") return { name: "Takeover", id: null };
  if (triggeredBy === "service") return { name: "An integration", id: "service" };
  // Anything else is an agent id: the gate's agent_id (docs/api.md).
  const ours = triggeredBy === state.session.agent_id;
  return {
    name: ours ? "The AI agent" : "Another AI agent",
    id: `agent ${triggeredBy}`,
    agent: true,
  };
}

// Times in the user's locale and zone, as an inbox shows them: the time alone today, the
// date too on any other day (and the year in another year); the full timestamp on hover.
const TIME_FORMATS = {
  today: { hour: "numeric", minute: "2-digit" },
  thisYear: { month: "short", day: "numeric", hour: "numeric", minute: "2-digit" },
  otherYear: {
    year: "numeric",
    month: "short",
    day: "numeric",
    hour: "numeric",
    minute: "2-digit",
  },
};
const FULL_TIME = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "long" });

function when(iso, { seconds = false } = {}) {
  const date = new Date(iso);
  const now = new Date();
  const format =
    date.toDateString() === now.toDateString()
      ? TIME_FORMATS.today
      : date.getFullYear() === now.getFullYear()
        ? TIME_FORMATS.thisYear
        : TIME_FORMATS.otherYear;
  return date.toLocaleString(undefined, seconds ? { ...format, second: "2-digit" } : format);
}

// A <time> element: `when` on the page, the full timestamp on hover.
function timeElement(className, iso, options) {
  const node = element("time", className, when(iso, options));
  node.dateTime = iso;
  node.title = FULL_TIME.format(new Date(iso));
  return node;
}

function timeLeft(pausedUntil) {
  const seconds = Math.max(0, Math.ceil((Date.parse(pausedUntil) - Date.now()) / 1000));
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = String(seconds % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

function initials(name) {
  return name
    .split(/\s+/)
    .map((part) => part[0])
    .join("")
    .slice(0, 2)
    .toUpperCase();
}

function conversation(id) {
  return state.session.conversations.find((c) => c.id === id);
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// ---------------------------------------------------------------------------
// Messages at the top: session problems (banner) and answers to actions (notice)
// ---------------------------------------------------------------------------

function signedOut(error) {
  state.signedOut = true;
  const text =
    error.code === "token_expired"
      ? "Your session has expired. Sign in again to continue."
      : `You are signed out: ${error.message} (${error.code})`;
  showBanner(text, { signIn: true });
  for (const dialog of document.querySelectorAll("dialog[open]")) dialog.close();
}

function showBanner(text, { signIn = false, kind = "session" } = {}) {
  $("banner").dataset.kind = kind;
  $("banner-text").textContent = text;
  $("sign-in-again").hidden = !signIn;
  $("banner").hidden = false;
}

function clearBanner(kind) {
  if (!kind || $("banner").dataset.kind === kind) $("banner").hidden = true;
}

function showNotice(text, tone = "error") {
  $("notice").dataset.tone = tone;
  $("notice-text").textContent = text;
  $("notice").hidden = false;
}

function clearNotice() {
  $("notice").hidden = true;
}

// What an attendant should read when an action is refused.
function explain(error) {
  const current = error.details;
  switch (error.code) {
    case "already_paused": {
      const until = current && current.paused_until
        ? `until ${when(current.paused_until)}`
        : "with no time limit";
      const since = current && current.paused_at ? ` at ${when(current.paused_at)}` : "";
      return (
        `${personName(current && current.paused_by)} paused this conversation first${since}, ` +
        `${until}. Your pause was not applied; you can extend it or return it to AI.`
      );
    }
    case "not_paused":
      return (
        "This conversation is no longer paused: the AI agent is already answering " +
        "(the timer ran out or someone returned it)."
      );
    case "already_indefinite":
      return "This pause already has no time limit.";
    case "admin_only":
      return "Only workspace admins can change this. Switch to the admin at the top right.";
    case "conversation_not_found":
    case "not_found":
      return "This conversation is not in your workspace.";
    case "token_expired":
      return "Your session has expired. Sign in again.";
    default:
      return `${error.message} (${error.code})`;
  }
}

// A refused action: say why, and show the state the refusal carried.
function refused(error) {
  if (error.status === 401) return; // the banner says it
  if (error.details && error.details.conversation_id) applyStatus(error.details);
  showNotice(explain(error), error.status === 409 ? "warning" : "error");
}

// ---------------------------------------------------------------------------
// Pause state: the list, the header, the countdown
// ---------------------------------------------------------------------------

function applyStatus(status) {
  // Only pause-status carries the drafts; an action's answer leaves them as they were.
  const before = state.status[status.conversation_id];
  const drafts = (before && before.blocked_drafts) || [];
  state.status[status.conversation_id] = { blocked_drafts: drafts, ...status };
  renderListItem(status.conversation_id);
  if (status.conversation_id === state.selectedId) renderHeader();
}

async function refreshStatus(id) {
  applyStatus(await call("GET", "pause-status", { query: { conversation_id: id } }));
}

async function refreshStatuses() {
  const changes = state.changes;
  const answers = await Promise.all(
    state.session.conversations.map((c) =>
      call("GET", "pause-status", { query: { conversation_id: c.id } }),
    ),
  );
  if (changes !== state.changes) return; // an action answered meanwhile: its state is newer
  for (const status of answers) applyStatus(status);
}

function renderList() {
  const list = $("conversation-list");
  list.replaceChildren();
  for (const c of state.session.conversations) {
    const item = element("li", "conversation-item");
    item.dataset.id = c.id;
    const button = element("button", "conversation-button");
    button.type = "button";
    button.addEventListener("click", () => select(c.id));
    const top = element("div", "item-top");
    top.append(element("span", "item-name", c.title), element("span", "item-state"));
    const bottom = element("div", "item-bottom");
    bottom.append(element("span", "item-subject", c.subject));
    if (c.team) bottom.append(element("span", "team-tag", c.team));
    const text = element("div", "item-text");
    text.append(top, bottom);
    button.append(element("div", "avatar small", initials(c.title)), text);
    item.append(button);
    list.append(item);
  }
}

function renderListItem(id) {
  const item = document.querySelector(`.conversation-item[data-id="${id}"]`);
  if (!item) return;
  const status = state.status[id];
  const pill = item.querySelector(".item-state");
  item.classList.toggle("selected", id === state.selectedId);
  if (!status) {
    pill.className = "item-state";
    pill.textContent = "…";
    return;
  }
  const paused = status.ai_mode === "paused";
  item.dataset.aiMode = status.ai_mode;
  pill.className = `item-state ${paused ? "paused" : "active"}`;
  if (!paused) pill.textContent = "AI active";
  else if (status.paused_until) pill.textContent = `Paused · ${timeLeft(status.paused_until)}`;
  else pill.textContent = "Paused · no limit";
}

function renderHeader() {
  const c = conversation(state.selectedId);
  const status = state.status[state.selectedId];
  $("conversation-avatar").textContent = initials(c.title);
  $("conversation-title").textContent = c.title;
  $("conversation-subject").textContent = c.subject;
  $("conversation-team").textContent = c.team || "No team";
  const paused = status && status.ai_mode === "paused";
  const badge = $("ai-state");
  badge.className = `ai-state ${status ? status.ai_mode : ""}`;
  badge.textContent = !status ? "…" : paused ? "AI paused" : "AI active";
  $("pause-ai").hidden = !status || paused;
  $("takeover-bar").hidden = !paused;
  $("extend").hidden = !paused || !status.paused_until; // an indefinite pause has no timer
  if (paused) {
    $("paused-by").textContent = pauseHeadline(status);
    $("takeover-hint").textContent = status.paused_until
      ? `AI replies are blocked until ${when(status.paused_until)}.`
      : "AI replies are blocked until someone returns it to AI.";
  }
  renderDrafts(paused ? status.blocked_drafts : []);
  renderCountdown();
}

// Why the conversation is paused, in words: the pause_activated row that began this pause
// (written in the pause's own transaction, so at its paused_at) says who and why. Until the
// timeline has it, the pause state's paused_by.
function pauseHeadline(status) {
  const start = state.events.find(
    (event) =>
      event.action === "pause_activated" &&
      Date.parse(event.created_at) === Date.parse(status.paused_at),
  );
  if (start) {
    const by = actor(start.triggered_by);
    if (start.reason === HUMAN_REPLIED) return `Paused because ${inSentence(by)} replied`;
    if (by.agent) return handoffText(start, by);
  }
  return `Paused by ${personName(status.paused_by)}`;
}

// An actor in the middle of a sentence: a person's name as it is, a description lower-cased
// ("Paused because another attendant replied").
function inSentence(by) {
  return by.named ? by.name : by.name.charAt(0).toLowerCase() + by.name.slice(1);
}

function handoffText(event, by) {
  const why = HANDOFF_REASONS[event.reason];
  return why ? `${by.name} handed over: ${why}` : `${by.name} handed over to a human`;
}

// The AI's replies the gate blocked here (pause-status's blocked_drafts: newest first, at
// most 10, kept for DRAFT_RETENTION_HOURS), each ready to become the attendant's own reply.
function renderDrafts(drafts) {
  const panel = $("drafts");
  const shown = drafts.map((draft) => draft.event_id).join();
  panel.hidden = !drafts.length;
  if (panel.dataset.shown === shown) return; // a poll with the same drafts leaves them be
  panel.dataset.shown = shown;
  $("drafts-count").textContent =
    `${drafts.length} blocked repl${drafts.length === 1 ? "y" : "ies"}, newest first`;
  $("draft-list").replaceChildren(
    ...drafts.map((draft) => {
      const item = element("li", "draft");
      item.dataset.event = draft.event_id;
      const meta = element("div", "draft-meta");
      meta.append(
        element("span", "", actor(draft.agent_id).name),
        timeElement("draft-time", draft.created_at),
      );
      const use = element("button", "button small", "Use this reply");
      use.type = "button";
      use.addEventListener("click", () => useDraft(draft.draft));
      item.append(meta, element("div", "draft-text", draft.draft), use);
      return item;
    }),
  );
  $("messages").scrollTop = $("messages").scrollHeight; // the panel took room: newest in view
}

// The draft goes into the reply box, for the attendant to edit and send as their own reply.
function useDraft(text) {
  const box = $("composer-text");
  box.value = text;
  box.focus();
  box.setSelectionRange(text.length, text.length);
}

let endingSince = 0;

function renderCountdown() {
  const status = state.status[state.selectedId];
  if (!status || status.ai_mode !== "paused") return;
  const countdown = $("countdown");
  if (!status.paused_until) {
    countdown.textContent = "No time limit";
    return;
  }
  const left = Date.parse(status.paused_until) - Date.now();
  countdown.textContent = left > 0 ? `${timeLeft(status.paused_until)} left` : "AI returning…";
  // The timer ran out: ask now rather than at the next poll (pause-status ends it).
  if (left <= 0 && Date.now() - endingSince > 1000 && !state.signedOut) {
    endingSince = Date.now();
    refreshStatus(state.selectedId).then(refreshTimeline).catch(() => {});
  }
}

let renderedDay = new Date().toDateString();

function tick() {
  renderCountdown();
  // After midnight, yesterday's times need their date.
  if (new Date().toDateString() !== renderedDay) {
    renderedDay = new Date().toDateString();
    renderMessages();
    renderTimeline();
    delete $("drafts").dataset.shown;
    if (state.selectedId) renderHeader();
  }
  for (const c of state.session.conversations) {
    const status = state.status[c.id];
    if (status && status.ai_mode === "paused" && status.paused_until) renderListItem(c.id);
  }
}

// ---------------------------------------------------------------------------
// Pause AI, Extend, Return to AI
// ---------------------------------------------------------------------------

async function openPauseDialog(mode) {
  clearNotice();
  state.modalMode = mode;
  state.dialogKey = `${mode}-${crypto.randomUUID ? crypto.randomUUID() : Date.now() + Math.random()}`;
  try {
    await refreshStatus(state.selectedId); // the default may have changed in Settings
  } catch (error) {
    refused(error);
    return;
  }
  const status = state.status[state.selectedId];
  const preselected = status.default_duration_minutes;
  const extending = mode === "extend";
  $("pause-dialog-title").textContent = extending ? "Extend the pause" : "Pause AI";
  $("pause-dialog-lead").textContent = extending
    ? "Add time before the AI agent returns, or remove the time limit."
    : "You take over this conversation: the AI agent stops answering until the timer " +
      "runs out or you return it.";
  $("pause-confirm").textContent = extending ? "Extend" : "Pause AI";
  const fieldset = $("durations");
  fieldset.replaceChildren(element("legend", "", extending ? "Add" : "Duration"));
  for (const duration of DURATIONS) {
    const label = element("label", "duration");
    const input = document.createElement("input");
    input.type = "radio";
    input.name = "duration";
    input.value = duration.minutes === null ? "indefinite" : String(duration.minutes);
    input.checked = duration.minutes === preselected;
    let text = duration.label;
    if (extending) text = duration.minutes === null ? "No time limit" : `+${duration.label}`;
    label.append(input, element("span", "", text));
    if (!extending && duration.minutes === preselected) {
      label.append(element("span", "default-tag", "default"));
    }
    fieldset.append(label);
  }
  $("pause-reason").value = "";
  $("pause-dialog").showModal();
}

async function confirmPause(event) {
  event.preventDefault();
  const choice = document.querySelector('input[name="duration"]:checked');
  const minutes = !choice || choice.value === "indefinite" ? null : Number(choice.value);
  const body = { conversation_id: state.selectedId, duration_minutes: minutes };
  const reason = $("pause-reason").value.trim();
  if (reason) body.reason = reason;
  const name = state.modalMode === "extend" ? "pause-extend" : "pause-activate";
  $("pause-dialog").close();
  await act(name, body, `${state.who}-${state.dialogKey}`);
}

async function returnToAi() {
  clearNotice();
  // One key per pause: a second click on Return to AI gets the first answer.
  const pause = state.status[state.selectedId];
  const key = pause && pause.paused_at ? `${state.who}-resume-${state.selectedId}-${pause.paused_at}` : undefined;
  await act("pause-resume", { conversation_id: state.selectedId }, key);
}

async function act(name, body, idempotencyKey) {
  state.changes += 1; // polls in flight now may answer with the state before this action
  try {
    const status = await call("POST", name, { body, idempotencyKey });
    state.changes += 1;
    applyStatus(status);
    clearNotice();
  } catch (error) {
    state.changes += 1;
    refused(error);
  }
  await refreshTimeline().catch(() => {});
}

// ---------------------------------------------------------------------------
// The conversation: a simulated customer, a simulated AI agent, and you
// ---------------------------------------------------------------------------

// The chat lives in this tab only (sessionStorage): there is no message store behind the demo.
function messagesOf(id) {
  if (!state.messages[id]) {
    const saved = sessionStorage.getItem(`takeover.messages.${id}`);
    const c = conversation(id);
    state.messages[id] = saved
      ? JSON.parse(saved)
      : [{ from: "customer", text: c.opening, at: new Date(Date.now() - 4 * 60000).toISOString() }];
    for (const message of state.messages[id]) {
      if (message.status === "pending") {
        message.status = "error";
        const asked = message.from === "ai" ? "interaction-gate" : "human-reply";
        message.note = `the page was reloaded before ${asked} answered.`;
      }
    }
  }
  return state.messages[id];
}

function saveMessages(id) {
  sessionStorage.setItem(`takeover.messages.${id}`, JSON.stringify(messagesOf(id)));
}

function renderMessages() {
  const list = $("messages");
  list.replaceChildren();
  const c = conversation(state.selectedId);
  for (const message of messagesOf(state.selectedId)) {
    const item = element("li", `message from-${message.from}`);
    if (message.status) item.dataset.status = message.status;
    const author =
      message.from === "customer" ? c.title : message.from === "ai" ? "AI agent" : message.author;
    const meta = element("div", "message-meta");
    meta.append(
      element("span", "message-author", author),
      timeElement("message-time", message.at),
    );
    item.append(meta, element("div", "bubble", message.text));
    if (message.status) item.append(element("div", "delivery", deliveryText(message)));
    list.append(item);
  }
  list.scrollTop = list.scrollHeight;
}

function deliveryText(message) {
  switch (message.status) {
    case "pending":
      return message.from === "ai" ? "Asking interaction-gate…" : "Telling human-reply…";
    case "delivered":
      return `✓ Delivered${message.note}`;
    case "sent":
      return `✓ Sent${message.note}`;
    case "blocked":
      return `⊘ Blocked: takeover active, not sent to the customer${message.note}`;
    default:
      // A human's message reaches the customer whatever human-reply answers.
      return message.from === "ai"
        ? `Not sent: ${message.note}`
        : `Sent, but the AI was not told: ${message.note}`;
  }
}

async function sendAsCustomer(event) {
  event.preventDefault();
  const text = $("composer-text").value.trim();
  if (!text) return;
  $("composer-text").value = "";
  const id = state.selectedId;
  messagesOf(id).push({ from: "customer", text, at: new Date().toISOString() });
  saveMessages(id);
  renderMessages();
  await new Promise((resolve) => setTimeout(resolve, AGENT_THINKS_MS));
  await agentReplies(id, ASKS_FOR_HUMAN.test(text));
}

// A message's answer arrived: keep it, and show it (and the log) if its conversation is open.
async function settled(id) {
  saveMessages(id);
  if (id !== state.selectedId) return;
  renderMessages();
  await refreshTimeline().catch(() => {});
}

// The AI agent's turn: it asks the gate before sending, with one message_id per reply and
// the reply itself as the draft (kept, if refused, for the attendant to reuse). Asked for a
// human, it says so, then hands the conversation over.
async function agentReplies(id, handOver) {
  const reply = {
    from: "ai",
    text: handOver ? HANDOFF_REPLY : AI_REPLIES[state.replies++ % AI_REPLIES.length],
    at: new Date().toISOString(),
    status: "pending",
    messageId: `msg-${crypto.randomUUID().slice(0, 8)}`,
  };
  messagesOf(id).push(reply);
  if (id === state.selectedId) renderMessages();
  try {
    const verdict = await call("POST", "interaction-gate", {
      token: state.session.agent_token,
      body: {
        conversation_id: id,
        message_id: reply.messageId,
        agent_id: state.session.agent_id,
        draft: reply.text,
      },
    });
    reply.status = verdict.allowed ? "delivered" : "blocked";
    reply.note = verdict.event_id ? ` (log #${verdict.event_id})` : "";
    // Refused, it was paused already: a human has the conversation.
    if (verdict.allowed && handOver) reply.note = await handOff(id);
  } catch (error) {
    reply.status = "error";
    reply.note = explain(error);
  }
  await settled(id);
  // The draft it kept shows under the banner now, not at the next poll.
  if (reply.status === "blocked") await refreshStatus(id).catch(() => {});
}

// The handoff as a real agent makes it: pause-activate with the service's key and its own
// agent_id, the effective default duration. Its takeover.pause_activated webhook is what
// alerts an attendant in a real inbox. What the reply's delivery line adds.
async function handOff(id) {
  state.changes += 1;
  try {
    const status = await call("POST", "pause-activate", {
      token: state.session.agent_token,
      body: {
        conversation_id: id,
        agent_id: state.session.agent_id,
        reason: "customer_asked_for_human",
      },
    });
    state.changes += 1;
    applyStatus(status);
    return ` · handed over to a human (log #${status.event_id})`;
  } catch (error) {
    state.changes += 1;
    if (error.code === "already_paused") return " · a human had already taken over";
    return ` · the handoff failed: ${explain(error)}`;
  }
}

// "Reply as …": the message goes to the customer, and the inbox tells human-reply (with the
// message's id, so a retry is not a second reply), which pauses the AI or keeps it paused
// while the workspace's or team's pause_on_human_reply is on.
async function replyAsAttendant() {
  const text = $("composer-text").value.trim();
  if (!text) return;
  $("composer-text").value = "";
  const id = state.selectedId;
  const reply = {
    from: "attendant",
    author: me().name,
    text,
    at: new Date().toISOString(),
    status: "pending",
    messageId: `reply-${crypto.randomUUID().slice(0, 8)}`,
  };
  messagesOf(id).push(reply);
  saveMessages(id);
  renderMessages();
  state.changes += 1;
  try {
    const answer = await call("POST", "human-reply", {
      body: { conversation_id: id, message_id: reply.messageId },
    });
    state.changes += 1;
    applyStatus(answer);
    reply.status = "sent";
    reply.note = humanReplyNote(answer);
  } catch (error) {
    state.changes += 1;
    reply.status = "error";
    reply.note = explain(error);
  }
  await settled(id);
}

// What the reply did to the AI, for its delivery line.
function humanReplyNote(answer) {
  const until = answer.paused_until ? `until ${when(answer.paused_until)}` : "with no time limit";
  if (answer.changed) return ` · AI paused ${until} (log #${answer.event_id})`;
  if (answer.ai_mode === "paused") return ` · AI already paused ${until}`;
  return " · AI not paused: pausing when a human replies is off here";
}

// ---------------------------------------------------------------------------
// The audit timeline (pause-logger GET)
// ---------------------------------------------------------------------------

const ACTIONS = {
  pause_activated: "AI paused",
  interaction_blocked: "AI reply blocked",
  auto_resume: "AI resumed automatically",
  force_resume: "Returned to AI",
  extend_pause: "Pause extended",
};

async function refreshTimeline() {
  const id = state.selectedId;
  const events = [];
  let cursor = null;
  do {
    const query = { conversation_id: id, limit: "500" };
    if (cursor) query.cursor = cursor;
    const page = await call("GET", "pause-logger", { query });
    events.push(...page.events);
    cursor = page.next_cursor;
  } while (cursor);
  if (id !== state.selectedId) return;
  const last = (list) => (list.length ? list[list.length - 1].id : 0);
  if (events.length === state.events.length && last(events) === last(state.events)) return;
  state.events = events;
  renderTimeline();
  renderHeader(); // the banner says why from the row that began the pause
}

function eventDetail(event, by) {
  const length = pauseLength(event.duration_minutes);
  switch (event.action) {
    case "pause_activated":
      if (event.reason === HUMAN_REPLIED) {
        return `Paused because ${inSentence(by)} replied · ${length}`;
      }
      if (by.agent) return handoffText(event, by);
      return `${by.name} took over · ${length}`;
    case "interaction_blocked":
      return `${by.name}'s reply to ${conversation(event.conversation_id).title} was not sent`;
    case "auto_resume":
      return "The timer expired";
    case "force_resume":
      return `${by.name} handed back to the AI agent`;
    case "extend_pause":
      // human-reply's row holds the default the pause now runs from the reply, not minutes
      // added.
      if (event.reason === HUMAN_REPLIED) {
        return event.duration_minutes === null
          ? `${by.name} replied · the pause has no time limit now`
          : `${by.name} replied · the pause ends ${length} after the reply`;
      }
      return event.duration_minutes === null
        ? `${by.name} removed the time limit`
        : `${by.name} added ${length}`;
    default:
      return by.name;
  }
}

// A reason the detail line already says in words (the log's own codes), rather than one an
// attendant typed.
function wordedReason(event, by) {
  switch (event.reason) {
    case "timer_expired":
      return event.action === "auto_resume";
    case HUMAN_REPLIED:
      return true;
    default:
      return Boolean(
        by.agent && event.action === "pause_activated" && HANDOFF_REASONS[event.reason],
      );
  }
}

// The secondary line: the modes, and the identifiers an audit traces a row by.
function eventMeta(event, by) {
  const parts = [`${event.previous_ai_mode} → ${event.new_ai_mode}`];
  if (by.id) parts.push(by.id);
  if (wordedReason(event, by)) parts.push(`reason ${event.reason}`);
  if (event.message_id) parts.push(`message ${event.message_id}`);
  parts.push(`log #${event.id}`);
  return parts.join(" · ");
}

function renderTimeline() {
  const list = $("timeline");
  list.replaceChildren();
  for (const event of [...state.events].reverse()) {
    const by = actor(event.triggered_by);
    const item = element("li", `event ${event.action}`);
    item.dataset.action = event.action;
    item.dataset.id = event.id;
    const head = element("div", "event-head");
    head.append(
      element("span", "event-title", ACTIONS[event.action] || event.action),
      timeElement("event-time", event.created_at, { seconds: true }),
    );
    item.append(head, element("div", "event-detail", eventDetail(event, by)));
    if (event.reason && !wordedReason(event, by)) {
      item.append(element("div", "event-reason", `“${event.reason}”`));
    }
    item.append(element("div", "event-meta", eventMeta(event, by)));
    list.append(item);
  }
  $("timeline-empty").hidden = state.events.length > 0;
}

// ---------------------------------------------------------------------------
// Settings (pause-settings GET/PUT): the workspace default, each team's override
// ---------------------------------------------------------------------------

async function openSettings() {
  $("settings-status").textContent = "";
  try {
    state.settings = await call("GET", "pause-settings", {
      query: { workspace_id: state.session.workspace_id },
    });
  } catch (error) {
    refused(error);
    return;
  }
  renderSettings();
  $("settings-dialog").showModal();
  loadWebhooks();
}

function durationSelect(value, { inherit } = {}) {
  const select = document.createElement("select");
  if (inherit !== undefined) {
    const option = new Option(`Inherit workspace (${durationLabel(inherit)})`, "inherit");
    select.append(option);
  }
  for (const duration of DURATIONS) {
    const key = duration.minutes === null ? "indefinite" : String(duration.minutes);
    select.append(new Option(duration.label, key));
  }
  select.value = value;
  return select;
}

function settingsKey(minutes) {
  return minutes === null ? "indefinite" : String(minutes);
}

// One setting's row: who it applies to (the workspace or a team), and its control.
function settingRow(rows, { label, hint, control, key, what }) {
  const tr = element("tr");
  tr.dataset.setting = key;
  const name = element("th");
  name.append(element("div", "", label), element("div", "hint", hint));
  const cell = element("td");
  control.setAttribute("aria-label", `${label}: ${what}`);
  control.disabled = state.who !== "admin";
  cell.append(control);
  tr.append(name, cell);
  rows.append(tr);
}

function perTeamHeading(rows) {
  if (!state.settings.teams.length) return;
  const group = element("tr", "settings-group");
  group.append(element("th", "", "Per team"));
  group.firstChild.colSpan = 2;
  rows.append(group);
}

function renderSettings() {
  $("settings-title").textContent = `Settings · ${state.session.workspace_name}`;
  renderDurationSettings();
  renderHumanReplySettings();
  renderDraftSetting();
  $("settings-read-only").hidden = state.who === "admin";
}

function renderDurationSettings() {
  const settings = state.settings;
  const rows = $("settings-rows");
  rows.replaceChildren();
  const what = "default pause duration";
  const workspace = durationSelect(settingsKey(settings.default_duration_minutes));
  workspace.addEventListener("change", () =>
    saveSettings(
      { workspace_id: settings.workspace_id, default_duration_minutes: fromKey(workspace.value) },
      `Workspace default: ${durationLabel(fromKey(workspace.value))}.`,
    ),
  );
  settingRow(rows, {
    label: "Whole workspace",
    hint: "Every team that does not override it",
    control: workspace,
    key: "workspace",
    what,
  });
  perTeamHeading(rows);
  for (const team of settings.teams) {
    const current = team.inherits ? "inherit" : settingsKey(team.default_duration_minutes);
    const select = durationSelect(current, { inherit: settings.default_duration_minutes });
    select.addEventListener("change", () => {
      const body =
        select.value === "inherit"
          ? { team_id: team.team_id, inherit: true }
          : { team_id: team.team_id, default_duration_minutes: fromKey(select.value) };
      const said =
        select.value === "inherit"
          ? `${team.name} inherits the workspace default.`
          : `${team.name}: ${durationLabel(fromKey(select.value))}.`;
      saveSettings(body, said);
    });
    settingRow(rows, {
      label: `${team.name} team`,
      hint: team.inherits ? "Uses the workspace's" : "Overrides the workspace's",
      control: select,
      key: `team-${team.name}`,
      what,
    });
  }
}

const ON_OFF = { true: "On", false: "Off" };

// pause_on_human_reply: On or Off for the workspace; a team's own value, or null to inherit.
function switchSelect(value, { inherit } = {}) {
  const select = document.createElement("select");
  if (inherit !== undefined) {
    select.append(new Option(`Inherit workspace (${ON_OFF[inherit]})`, "inherit"));
  }
  select.append(new Option("On", "true"), new Option("Off", "false"));
  select.value = value === null ? "inherit" : String(value);
  return select;
}

function switchValue(select) {
  return select.value === "inherit" ? null : select.value === "true";
}

function renderHumanReplySettings() {
  const settings = state.settings;
  const rows = $("human-reply-rows");
  rows.replaceChildren();
  const what = "pause the AI when a human replies";
  const said = (who, on) =>
    on === null
      ? `${who} inherits the workspace's: ${ON_OFF[settings.pause_on_human_reply]}.`
      : `${who}: a human's reply ${on ? "pauses" : "does not pause"} the AI.`;
  const workspace = switchSelect(settings.pause_on_human_reply);
  workspace.addEventListener("change", () => {
    const on = switchValue(workspace);
    saveSettings(
      { workspace_id: settings.workspace_id, pause_on_human_reply: on },
      said("Whole workspace", on),
    );
  });
  settingRow(rows, {
    label: "Whole workspace",
    hint: "Every team that does not override it",
    control: workspace,
    key: "human-reply-workspace",
    what,
  });
  perTeamHeading(rows);
  for (const team of settings.teams) {
    const select = switchSelect(team.pause_on_human_reply, {
      inherit: settings.pause_on_human_reply,
    });
    select.addEventListener("change", () => {
      const on = switchValue(select);
      saveSettings({ team_id: team.team_id, pause_on_human_reply: on }, said(team.name, on));
    });
    settingRow(rows, {
      label: `${team.name} team`,
      hint:
        team.pause_on_human_reply === null ? "Uses the workspace's" : "Overrides the workspace's",
      control: select,
      key: `human-reply-team-${team.name}`,
      what,
    });
  }
}

// keep_blocked_drafts: turning it off deletes the workspace's drafts at once, so the admin
// confirms first; turning it on needs no confirmation.
function renderDraftSetting() {
  const keep = $("keep-drafts");
  keep.checked = state.settings.keep_blocked_drafts;
  keep.disabled = state.who !== "admin";
  $("drafts-confirm").hidden = true;
  const hours = state.session.draft_retention_hours;
  $("keep-drafts-hint").textContent =
    "What the AI was about to send when a pause blocked it, shown to attendants under the " +
    `paused banner to reuse; each draft is deleted ${hours} h after it was written.`;
}

function keepDraftsChanged() {
  const keep = $("keep-drafts");
  if (keep.checked) {
    saveSettings(
      { workspace_id: state.settings.workspace_id, keep_blocked_drafts: true },
      "The AI's blocked drafts are kept again.",
    );
    return;
  }
  keep.checked = true; // until the admin confirms
  $("drafts-confirm").hidden = false;
  $("drafts-keep").focus();
}

function deleteDrafts() {
  saveSettings(
    { workspace_id: state.settings.workspace_id, keep_blocked_drafts: false },
    "Blocked drafts are off: the kept ones were deleted.",
  );
}

function fromKey(value) {
  return value === "indefinite" ? null : Number(value);
}

async function saveSettings(body, said) {
  const status = $("settings-status");
  status.textContent = "Saving…";
  status.dataset.tone = "";
  try {
    state.settings = await call("PUT", "pause-settings", { body });
    status.textContent = `Saved. ${said}`;
  } catch (error) {
    status.textContent = explain(error);
    status.dataset.tone = "error";
  }
  renderSettings();
}

// ---------------------------------------------------------------------------
// Webhooks (webhook-endpoints): admins add, toggle, rotate, delete endpoints and see
// each one's recent deliveries
// ---------------------------------------------------------------------------

// The event types an endpoint may subscribe to (docs/api.md, Webhooks), in its order: one
// per log action, and the notice before a pause ends.
const EVENT_TYPES = {
  ...Object.fromEntries(
    Object.entries(ACTIONS).map(([action, title]) => [`takeover.${action}`, title]),
  ),
  "takeover.pause_expiring": "Pause about to end",
};

function eventTypesLabel(types) {
  if (types === null) return "All events";
  return `Only: ${types.map((type) => EVENT_TYPES[type] || type).join(", ")}`;
}

// All event types (null: types added later too) or a chosen few. `value()` is the endpoint's
// event_types; an empty list when "Only these" has none ticked.
function eventTypePicker(name, current) {
  const box = element("fieldset", "event-picker");
  box.append(element("legend", "", "Events"));
  const choice = (value, text, checked) => {
    const label = element("label", "event-choice");
    const input = document.createElement("input");
    input.type = "radio";
    input.name = name;
    input.value = value;
    input.checked = checked;
    label.append(input, element("span", "", text));
    box.append(label);
    return input;
  };
  const all = choice("all", "All events", current === null);
  choice("some", "Only these:", current !== null);
  const list = element("div", "event-types");
  const ticks = Object.entries(EVENT_TYPES).map(([type, title]) => {
    const label = element("label", "event-type");
    const input = document.createElement("input");
    input.type = "checkbox";
    input.value = type;
    input.checked = current !== null && current.includes(type);
    label.append(input, element("span", "", title), element("code", "", type));
    list.append(label);
    return input;
  });
  box.append(list);
  const show = () => {
    list.hidden = all.checked;
  };
  box.addEventListener("change", show);
  show();
  return {
    node: box,
    value: () => (all.checked ? null : ticks.filter((t) => t.checked).map((t) => t.value)),
  };
}

const NO_EVENT_TYPE = "Tick at least one event type, or choose All events.";

async function loadWebhooks() {
  const admin = state.who === "admin";
  $("webhooks-read-only").hidden = admin;
  $("webhook-form").hidden = !admin;
  $("webhook-list").replaceChildren();
  if (!admin) return;
  // What this server accepts: make run allows http:// and private addresses, so that an
  // endpoint on this machine can be tried; a deployment normally does not.
  $("webhook-url-rule").textContent = state.session.webhooks_allow_private_urls
    ? "Accepted here: https:// or http://, loopback and private addresses included " +
      "(WEBHOOKS_ALLOW_PRIVATE_URLS=1, make run's default). Without that setting: " +
      "https:// to public addresses only."
    : "Accepted here: https:// to public addresses only (not loopback, private or " +
      "link-local ones).";
  if (!state.newEndpointTypes) {
    state.newEndpointTypes = eventTypePicker("new-endpoint-events", null);
    $("webhook-new-types").replaceChildren(state.newEndpointTypes.node);
  }
  try {
    const data = await call("GET", "webhook-endpoints", {
      query: { workspace_id: state.session.workspace_id },
    });
    state.webhooks = data.endpoints;
  } catch (error) {
    webhookStatus(explain(error), "error");
    return;
  }
  renderWebhooks();
}

function webhookStatus(text, tone = "") {
  const status = $("webhook-status");
  status.textContent = text;
  status.dataset.tone = tone;
}

function showSecret(endpoint) {
  const shown = $("webhook-secret");
  shown.hidden = false;
  shown.textContent = `Secret of ${endpoint.url} (shown once, keep it): ${endpoint.secret}`;
}

function smallButton(text, onClick) {
  const button = element("button", "button ghost", text);
  button.type = "button";
  button.addEventListener("click", onClick);
  return button;
}

function renderWebhooks() {
  const list = $("webhook-list");
  list.replaceChildren();
  for (const endpoint of state.webhooks || []) {
    const item = element("li", "endpoint");
    item.dataset.endpoint = endpoint.id;
    const head = element("div", "endpoint-head");
    const enabled = document.createElement("input");
    enabled.type = "checkbox";
    enabled.checked = endpoint.enabled;
    enabled.setAttribute("aria-label", `Enabled: ${endpoint.url}`);
    enabled.addEventListener("change", () =>
      changeWebhook({ id: endpoint.id, enabled: enabled.checked },
        enabled.checked ? "Enabled." : "Disabled."),
    );
    head.append(
      enabled,
      element("span", "endpoint-url", endpoint.url),
      smallButton("Deliveries", () => showDeliveries(endpoint.id, item)),
      smallButton("Edit events", () => editEventTypes(endpoint, item)),
      smallButton("Rotate secret", () =>
        changeWebhook({ id: endpoint.id, rotate_secret: true }, "Secret rotated."),
      ),
      smallButton("Delete", () => deleteWebhook(endpoint)),
    );
    item.append(head, element("div", "endpoint-types", eventTypesLabel(endpoint.event_types)));
    list.append(item);
  }
}

// The endpoint's subscription, editable in place: PUT event_types.
function editEventTypes(endpoint, item) {
  if (item.querySelector(".event-editor")) return;
  const editor = element("form", "event-editor");
  const picker = eventTypePicker(`events-${endpoint.id}`, endpoint.event_types);
  const save = element("button", "button primary", "Save events");
  save.type = "submit";
  const actions = element("div", "event-editor-actions");
  actions.append(smallButton("Cancel", () => editor.remove()), save);
  editor.append(picker.node, actions);
  editor.addEventListener("submit", (event) => {
    event.preventDefault();
    const types = picker.value();
    if (types !== null && !types.length) {
      webhookStatus(NO_EVENT_TYPE, "error");
      return;
    }
    changeWebhook({ id: endpoint.id, event_types: types }, `Events: ${eventTypesLabel(types)}.`);
  });
  item.querySelector(".endpoint-types").after(editor);
}

async function addWebhook(event) {
  event.preventDefault();
  const types = state.newEndpointTypes.value();
  if (types !== null && !types.length) {
    webhookStatus(NO_EVENT_TYPE, "error");
    return;
  }
  try {
    const endpoint = await call("POST", "webhook-endpoints", {
      body: {
        workspace_id: state.session.workspace_id,
        url: $("webhook-url").value.trim(),
        event_types: types,
      },
    });
    showSecret(endpoint);
    $("webhook-url").value = "";
    state.newEndpointTypes = null; // the next endpoint starts from All events again
    webhookStatus("Endpoint added.");
  } catch (error) {
    webhookStatus(explain(error), "error");
    return;
  }
  await loadWebhooks();
}

async function changeWebhook(body, said) {
  try {
    const endpoint = await call("PUT", "webhook-endpoints", { body });
    if (endpoint.secret) showSecret(endpoint);
    webhookStatus(said);
  } catch (error) {
    webhookStatus(explain(error), "error");
  }
  await loadWebhooks();
}

async function deleteWebhook(endpoint) {
  try {
    await call("DELETE", "webhook-endpoints", { body: { id: endpoint.id } });
    webhookStatus(`Deleted ${endpoint.url}.`);
  } catch (error) {
    webhookStatus(explain(error), "error");
  }
  await loadWebhooks();
}

async function showDeliveries(id, item) {
  let detail;
  try {
    detail = await call("GET", "webhook-endpoints", { query: { id } });
  } catch (error) {
    webhookStatus(explain(error), "error");
    return;
  }
  item.querySelector(".deliveries")?.remove();
  const table = element("table", "deliveries");
  const head = element("tr");
  for (const title of ["Event", "Type", "Status", "Attempts", "Last code", "Next attempt"]) {
    head.append(element("th", "", title));
  }
  table.append(head);
  for (const delivery of detail.recent_deliveries) {
    const row = element("tr");
    const status = element("td", "", delivery.status);
    status.dataset.status = delivery.status;
    row.append(
      element("td", "", delivery.webhook_id),
      element("td", "", EVENT_TYPES[delivery.type] || delivery.type),
      status,
      element("td", "", String(delivery.attempts)),
      element("td", "", delivery.last_status_code === null ? "–" : String(delivery.last_status_code)),
      element("td", "", delivery.next_attempt_at ? when(delivery.next_attempt_at) : "–"),
    );
    table.append(row);
  }
  if (!detail.recent_deliveries.length) {
    const row = element("tr");
    const cell = element("td", "", "No deliveries yet.");
    cell.colSpan = 6;
    row.append(cell);
    table.append(row);
  }
  item.append(table);
}

// ---------------------------------------------------------------------------
// Reports (pause-report): how often attendants take over, who, for how long
// ---------------------------------------------------------------------------

const DAY_MS = 24 * 3600 * 1000;
const SVG = "http://www.w3.org/2000/svg";

async function openReports() {
  $("inbox").hidden = true;
  $("reports").hidden = false;
  $("open-reports").setAttribute("aria-pressed", "true");
  if (!state.teams) {
    try {
      const settings = await call("GET", "pause-settings", {
        query: { workspace_id: state.session.workspace_id },
      });
      state.teams = settings.teams;
      for (const team of state.teams) $("report-team").append(new Option(team.name, team.team_id));
    } catch (error) {
      // The report works without the team filter; it says why it failed itself.
    }
  }
  await loadReport();
}

function closeReports() {
  $("reports").hidden = true;
  $("inbox").hidden = false;
  $("open-reports").setAttribute("aria-pressed", "false");
}

async function loadReport() {
  const days = Number($("report-days").value);
  const until = new Date();
  const query = {
    workspace_id: state.session.workspace_id,
    since: new Date(until.getTime() - days * DAY_MS).toISOString(),
    until: until.toISOString(),
  };
  if ($("report-team").value) query.team_id = $("report-team").value;
  $("report-error").hidden = true;
  $("reports").dataset.loading = "true";
  try {
    state.report = await call("GET", "pause-report", { query });
  } catch (error) {
    if (error.status !== 401) {
      $("report-error").textContent = `The report could not be loaded: ${explain(error)}`;
      $("report-error").hidden = false;
    }
    return;
  } finally {
    delete $("reports").dataset.loading;
  }
  renderReport();
}

function dayLabel(date, withYear = false) {
  // by_day dates are UTC days: format them as such, whatever the browser's zone.
  return new Date(`${date}T00:00:00Z`).toLocaleDateString([], {
    day: "numeric",
    month: "short",
    year: withYear ? "numeric" : undefined,
    timeZone: "UTC",
  });
}

function minutesLabel(minutes) {
  if (minutes === null) return "–";
  if (minutes < 60) return `${minutes} min`;
  const h = Math.floor(minutes / 60);
  const m = Math.round(minutes % 60);
  return m ? `${h} h ${m} min` : `${h} h`;
}

function renderReport() {
  const report = state.report;
  const team = state.teams && state.teams.find((t) => t.team_id === report.team_id);
  const days = report.by_day;
  $("report-range").textContent =
    `${dayLabel(days[0].date)} – ${dayLabel(days[days.length - 1].date, true)} (UTC days) · ` +
    `${team ? team.name : "all teams"} · ${state.session.workspace_name}`;
  renderTotals(report);
  renderChart(days);
  renderLengths(report);
  renderSources(report.pauses_by_source);
  renderTeams(report.by_team);
  renderAttendants(report.by_attendant);
  $("reports").dataset.ready = "true";
}

function renderTotals(report) {
  const totals = [
    ["pauses", report.pauses, "Takeovers", "pauses started"],
    ["auto", report.resumes.auto, "Ended by the timer", "auto_resume"],
    ["force", report.resumes.force, "Returned to AI", "by an attendant"],
    ["extensions", report.extensions, "Extended", "more time asked"],
    ["blocked", report.blocked_messages, "AI messages blocked", "while paused"],
    ["p50", minutesLabel(report.pause_minutes.p50), "Median pause", "of pauses ended"],
  ];
  $("report-totals").replaceChildren(
    ...totals.map(([key, value, label, hint]) => {
      const card = element("div", `total ${key}`);
      card.dataset.total = key;
      card.append(
        element("span", "total-value", String(value)),
        element("span", "total-label", label),
        element("span", "total-hint", hint),
      );
      return card;
    }),
  );
}

function svg(tag, attributes = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

// A ceiling for the axis: 1, 2, 5, 10, 20, 50... at or above the largest value.
function niceCeiling(value) {
  if (value <= 4) return Math.max(1, value);
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

function renderChart(days) {
  const width = 720;
  const height = 220;
  const left = 34;
  const bottom = 24;
  const top = 10;
  const plotWidth = width - left - 8;
  const plotHeight = height - top - bottom;
  const ceiling = niceCeiling(Math.max(0, ...days.map((d) => Math.max(d.pauses, d.blocked_messages))));
  const y = (value) => top + plotHeight - (value / ceiling) * plotHeight;
  const band = plotWidth / days.length;
  const bar = Math.max(1, Math.min(14, (band - 2) / 2));

  const chart = svg("svg", {
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": "Pauses and blocked AI messages per day",
    class: "day-chart",
  });
  for (const tick of [0, ceiling / 2, ceiling]) {
    if (tick !== Math.round(tick)) continue;
    chart.append(
      svg("line", { x1: left, x2: width - 8, y1: y(tick), y2: y(tick), class: "grid" }),
      svg("text", { x: left - 6, y: y(tick) + 4, class: "axis", "text-anchor": "end" }, tick),
    );
  }
  const labelEvery = Math.ceil(days.length / 10);
  days.forEach((day, index) => {
    const x = left + index * band + band / 2;
    for (const [key, value, offset] of [
      ["pauses", day.pauses, -bar],
      ["blocked", day.blocked_messages, 0],
    ]) {
      const rect = svg("rect", {
        x: x + offset,
        y: y(value),
        width: bar,
        height: Math.max(0, top + plotHeight - y(value)),
        rx: 2,
        class: `bar ${key}`,
        "data-date": day.date,
        "data-value": value,
      });
      const what = key === "pauses" ? "pauses" : "blocked AI messages";
      rect.append(svg("title", {}, `${dayLabel(day.date)}: ${value} ${what}`));
      chart.append(rect);
    }
    if (index % labelEvery === 0) {
      chart.append(
        svg("text", { x, y: height - 6, class: "axis", "text-anchor": "middle" }, dayLabel(day.date)),
      );
    }
  });
  $("report-chart").replaceChildren(chart);
}

function renderLengths(report) {
  const lengths = report.pause_minutes;
  const box = $("report-lengths");
  box.replaceChildren();
  if (lengths.count === 0) {
    box.append(element("p", "empty-report", "No pause ended in this period."));
    return;
  }
  // The distribution as its three points on one scale: half the pauses ended by the
  // median, nine in ten by the 90th percentile.
  const width = 320;
  const scale = (minutes) => 10 + (minutes / lengths.max) * (width - 20);
  const strip = svg("svg", {
    viewBox: `0 0 ${width} 54`,
    class: "length-strip",
    role: "img",
    "aria-label": "Pause lengths: median, 90th percentile and longest",
  });
  strip.append(
    svg("rect", { x: 10, y: 18, width: width - 20, height: 10, rx: 5, class: "track" }),
    svg("rect", { x: 10, y: 18, width: scale(lengths.p90) - 10, height: 10, rx: 5, class: "p90" }),
    svg("rect", { x: 10, y: 18, width: scale(lengths.p50) - 10, height: 10, rx: 5, class: "p50" }),
    svg("text", { x: scale(lengths.p50), y: 12, class: "axis", "text-anchor": "middle" }, "median"),
    svg("text", { x: scale(lengths.p90), y: 12, class: "axis", "text-anchor": "middle" }, "90%"),
    svg("text", { x: 10, y: 46, class: "axis" }, "0"),
    svg("text", { x: width - 10, y: 46, class: "axis", "text-anchor": "end" }, minutesLabel(lengths.max)),
  );
  box.append(strip);
  const list = element("dl", "lengths");
  for (const [key, label, value] of [
    ["p50", "Half ended within", lengths.p50],
    ["p90", "Nine in ten within", lengths.p90],
    ["max", "Longest", lengths.max],
  ]) {
    const row = element("div", `length ${key}`);
    row.dataset.length = key;
    row.append(element("dt", "", label), element("dd", "", minutesLabel(value)));
    list.append(row);
  }
  box.append(list);
  const split = element("p", "ended-by");
  split.textContent =
    `${lengths.count} pause${lengths.count === 1 ? "" : "s"} ended in this period: ` +
    `${report.resumes.auto} by the timer, ${report.resumes.force} returned to AI by hand.`;
  box.append(split);
}

function shareBar(value, total) {
  const wrap = element("span", "share");
  const fill = element("span", "share-fill");
  fill.style.width = `${total ? Math.round((value / total) * 100) : 0}%`;
  wrap.append(fill);
  return wrap;
}

// pauses_by_source: what started each pause (docs/api.md, Report), in its order.
const SOURCES = [
  ["attendant", "An attendant", "Pause AI"],
  ["human_reply", "A human's reply", "human-reply"],
  ["ai_handoff", "The AI's handoff", "agent_id"],
  ["service", "An integration", "service key, no attendant"],
];

function renderSources(sources) {
  const body = $("report-sources").querySelector("tbody");
  const total = SOURCES.reduce((sum, [key]) => sum + sources[key], 0);
  body.replaceChildren(
    ...SOURCES.map(([key, label, hint]) => {
      const row = element("tr");
      row.dataset.source = key;
      const name = element("td");
      name.append(element("span", "source-label", label), " ", element("span", "hint", hint));
      const pauses = element("td", "number", String(sources[key]));
      pauses.prepend(shareBar(sources[key], total));
      row.append(name, pauses);
      return row;
    }),
  );
}

function renderTeams(teams) {
  const body = $("report-teams").querySelector("tbody");
  body.replaceChildren();
  const total = teams.reduce((sum, team) => sum + team.pauses, 0);
  for (const team of teams) {
    const row = element("tr");
    row.dataset.team = team.team_id || "none";
    const name = element("td", team.name ? "" : "muted", team.name || "No team");
    const pauses = element("td", "number", String(team.pauses));
    pauses.prepend(shareBar(team.pauses, total));
    row.append(name, pauses, element("td", "number", String(team.blocked_messages)));
    body.append(row);
  }
  if (!teams.length) body.append(emptyRow(3));
}

function renderAttendants(attendants) {
  const body = $("report-attendants").querySelector("tbody");
  body.replaceChildren();
  for (const person of attendants) {
    const row = element("tr");
    row.dataset.user = person.user_id;
    row.append(
      element("td", "", personName(person.user_id)),
      element("td", "number", String(person.pauses)),
      element("td", "number", String(person.force_resumes)),
      element("td", "number", String(person.extensions)),
    );
    body.append(row);
  }
  if (!attendants.length) body.append(emptyRow(4));
}

function emptyRow(columns) {
  const row = element("tr", "empty-row");
  const cell = element("td", "muted", "No takeovers in this period.");
  cell.colSpan = columns;
  row.append(cell);
  return row;
}

// ---------------------------------------------------------------------------
// Wiring
// ---------------------------------------------------------------------------

function select(id) {
  if (!conversation(id)) return;
  state.selectedId = id;
  state.events = [];
  history.replaceState(null, "", `#${id}`);
  clearNotice();
  for (const c of state.session.conversations) renderListItem(c.id);
  renderHeader();
  renderMessages();
  renderTimeline();
  refreshStatus(id).catch(() => {});
  refreshTimeline().catch(() => {});
}

function renderIdentity() {
  const picker = $("identity");
  picker.replaceChildren(
    new Option(`${state.session.attendant.name} · attendant`, "attendant"),
    new Option(`${state.session.admin.name} · admin`, "admin"),
  );
  picker.value = state.who;
  $("workspace-name").textContent = state.session.workspace_name;
  $("send-as-attendant").textContent = `Reply as ${me().name.split(" ")[0]}`;
}

async function signInAgain() {
  try {
    await loadSession();
  } catch (error) {
    showBanner(error.message, { signIn: true });
    return;
  }
  state.signedOut = false;
  clearBanner();
  renderIdentity();
  if (state.selectedId) renderHeader();
  await poll();
}

async function poll() {
  if (state.signedOut) return;
  try {
    await Promise.all([refreshStatuses(), refreshTimeline()]);
    clearBanner("connection");
  } catch (error) {
    if (error.status !== 401) {
      showBanner(`Can't reach Takeover: ${error.message} Retrying…`, { kind: "connection" });
    }
  }
}

function startPolling() {
  const loop = async () => {
    await poll();
    setTimeout(loop, POLL_MS);
  };
  setTimeout(loop, POLL_MS);
  setInterval(tick, 500);
}

async function start() {
  try {
    await loadSession();
  } catch (error) {
    showBanner(error.message);
    return;
  }
  renderIdentity();
  renderList();
  $("identity").addEventListener("change", () => {
    state.who = $("identity").value;
    renderIdentity();
    renderHeader();
    renderTimeline();
    clearNotice();
    if (!$("reports").hidden) loadReport();
  });
  $("open-settings").addEventListener("click", openSettings);
  $("open-reports").addEventListener("click", openReports);
  $("close-reports").addEventListener("click", closeReports);
  $("report-days").addEventListener("change", loadReport);
  $("report-team").addEventListener("change", loadReport);
  $("settings-close").addEventListener("click", () => $("settings-dialog").close());
  $("keep-drafts").addEventListener("change", keepDraftsChanged);
  $("drafts-keep").addEventListener("click", () => {
    $("drafts-confirm").hidden = true;
  });
  $("drafts-delete").addEventListener("click", deleteDrafts);
  $("webhook-form").addEventListener("submit", addWebhook);
  $("pause-ai").addEventListener("click", () => openPauseDialog("pause"));
  $("extend").addEventListener("click", () => openPauseDialog("extend"));
  $("return-to-ai").addEventListener("click", returnToAi);
  $("pause-form").addEventListener("submit", confirmPause);
  $("pause-cancel").addEventListener("click", () => $("pause-dialog").close());
  $("composer").addEventListener("submit", sendAsCustomer);
  $("send-as-attendant").addEventListener("click", replyAsAttendant);
  $("composer-text").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      $("composer").requestSubmit();
    }
  });
  $("dismiss-notice").addEventListener("click", clearNotice);
  $("sign-in-again").addEventListener("click", signInAgain);

  const fromHash = location.hash.slice(1);
  select(conversation(fromHash) ? fromHash : state.session.conversations[0].id);
  await poll();
  document.body.dataset.ready = "true";
  startPolling();
}

document.addEventListener("DOMContentLoaded", start);
