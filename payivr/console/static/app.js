// payivr agent console. Plain JavaScript, no build step. Every piece of data reaches the page
// through textContent (never as HTML), so item names and reasons are shown, not run.
"use strict";

const STEPS = {
  card: [
    ["amount", "Amount confirmed"],
    ["card_number", "Card number"],
    ["expiry", "Expiry date"],
    ["security_code", "Security code"],
    ["postal_code", "Postal code"],
  ],
  ach: [
    ["amount", "Amount confirmed"],
    ["routing_number", "Routing number"],
    ["account_number", "Account number"],
    ["account_type", "Account type"],
  ],
};

const OUTCOMES = {
  approved: "Payment successful",
  declined: "Payment declined",
  declined_by_caller: "The caller did not accept the amount",
  cancelled: "The caller cancelled the payment",
  agent_cancelled: "You cancelled the payment",
  attempts_exhausted: "Too many invalid entries",
  timed_out: "The caller did not press a key in time",
  caller_hung_up: "The caller hung up",
  gateway_error: "The payment could not be processed",
  pending: "Outcome not known yet",
};

const state = {
  me: null,
  call: null,
  payment: null, // {id, call, item, amount, currency}
  socket: null,
  retry: 0,
  view: "call",
};

const $ = (id) => document.getElementById(id);

function show(element, visible) {
  element.hidden = !visible;
}

function text(element, value) {
  element.textContent = value == null ? "" : String(value);
}

// ------------------------------------------------------------------ API

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// Requests the page makes on its own say so, so they do not count as activity: an
// unattended console is signed out after the idle time.
async function api(method, path, body, automatic = false) {
  const headers = { Accept: "application/json" };
  if (automatic) headers["X-Payivr-Automatic"] = "1";
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && state.me && state.me.csrf_token) {
    headers["X-CSRF-Token"] = state.me.csrf_token;
  }
  const response = await fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  try {
    data = await response.json();
  } catch (_) {
    data = null;
  }
  if (!response.ok) {
    const message = data && data.error ? data.error.message : `error ${response.status}`;
    if (response.status === 401 && path !== "/api/v1/login") signedOut();
    throw new ApiError(response.status, message);
  }
  return data;
}

// ------------------------------------------------------------------ sign in

function signedOut() {
  state.me = null;
  if (state.socket) state.socket.close();
  state.socket = null;
  show($("app-view"), false);
  show($("who"), false);
  show($("login-view"), true);
  $("login-name").focus();
}

async function signIn(event) {
  event.preventDefault();
  text($("login-error"), "");
  try {
    state.me = await api("POST", "/api/v1/login", {
      name: $("login-name").value,
      password: $("login-password").value,
    });
    $("login-password").value = "";
    start();
  } catch (error) {
    text($("login-error"), error.message);
    $("login-password").select();
  }
}

async function signOut() {
  try {
    await api("POST", "/api/v1/logout");
  } finally {
    signedOut();
  }
}

function start() {
  const me = state.me;
  text($("who-name"), me.name);
  text($("who-role"), me.role);
  document.body.classList.toggle("supervisor", me.role === "supervisor");
  for (const element of document.querySelectorAll(".supervisor-only")) {
    show(element, me.role === "supervisor");
  }
  const currency = $("currency");
  currency.replaceChildren();
  for (const code of me.currencies) {
    const option = document.createElement("option");
    option.value = code;
    text(option, code);
    option.selected = code === me.currency;
    currency.append(option);
  }
  $("privacy-mode").value = me.privacy_mode;
  const language = $("language");
  language.replaceChildren(new Option("As the call says", ""));
  for (const { code, name } of me.languages) language.append(new Option(name, code));
  show($("login-view"), false);
  show($("who"), true);
  show($("app-view"), true);
  selectView("call");
  connect();
  refreshCall();
  document.dispatchEvent(new Event("payivr:signed-in"));
}

// ------------------------------------------------------------------ my call

async function refreshCall() {
  if (!state.me) return;
  try {
    const data = await api("GET", "/api/v1/calls/current", undefined, true);
    callChanged(data.call);
    if (data.live_payment && (!state.payment || state.payment.id !== data.live_payment.payment)) {
      showLivePayment(data.live_payment);
    }
  } catch (error) {
    callChanged(null);
  }
  renderCall();
}

// A call ended, or another began: nothing of the previous caller's stays on screen (the
// request form's item, amount and error, a finished payment's panel).
function callChanged(call) {
  const before = state.call ? state.call.call : null;
  state.call = call;
  if (before === (call ? call.call : null)) return;
  resetRequest();
  if (state.payment && state.payment.finished) {
    state.payment = null;
    show($("payment-panel"), false);
  }
}

function renderCall() {
  const call = state.call;
  show($("no-call"), !call);
  show($("call-details"), Boolean(call));
  if (call) {
    text($("caller-number"), call.caller_number || "withheld");
    renderDuration();
  }
  const busy = state.payment && !state.payment.finished;
  $("open-request").disabled = !call || Boolean(busy) || !$("request-form").hidden;
  document.dispatchEvent(new CustomEvent("payivr:call", { detail: call }));
}

function renderDuration() {
  if (!state.call) return;
  const seconds = Math.max(0, Math.floor((Date.now() - Date.parse(state.call.started_at)) / 1000));
  const minutes = Math.floor(seconds / 60);
  text($("call-duration"), `${minutes}:${String(seconds % 60).padStart(2, "0")}`);
}

// ------------------------------------------------------------------ request form

function openRequest() {
  text($("request-error"), "");
  show($("request-form"), true);
  $("open-request").disabled = true;
  $("item").focus();
}

// The agent keyed *7 on the phone: the form opens for that call, with the amount they keyed
// (and why it did not start, when it could not).
function requestFromPhone(event) {
  if (state.payment && !state.payment.finished) return;
  openRequest();
  if (event.amount_minor != null) {
    const digits = event.currency === "JPY" ? 0 : 2;
    $("amount").value = (event.amount_minor / 10 ** digits).toFixed(digits);
    if (event.currency) $("currency").value = event.currency;
  }
  text($("request-error"), event.reason || "");
}

function resetRequest() {
  $("request-form").reset();
  if (state.me) {
    $("currency").value = state.me.currency;
    $("privacy-mode").value = state.me.privacy_mode;
  }
  text($("request-error"), "");
  show($("request-form"), false);
}

function closeRequest() {
  resetRequest();
  renderCall();
  $("open-request").focus();
}

async function sendToPay(event) {
  event.preventDefault();
  text($("request-error"), "");
  const button = $("send-to-pay");
  button.disabled = true;
  try {
    const answer = await api("POST", "/api/v1/payments", {
      call: "current",
      item: $("item").value,
      amount: $("amount").value.trim(),
      currency: $("currency").value,
      privacy_mode: $("privacy-mode").value,
      method: $("method").value,
      language: $("language").value || undefined, // unset: the caller's channel language
      crm_record_id: $("crm-record").value.trim() || undefined,
      // unticked: the operator's default (flow.offer_card_on_file) applies
      offer_card_on_file:
        $("method").value === "card" && $("offer-keep-card").checked ? true : undefined,
    });
    if (!state.payment || state.payment.id !== answer.payment) {
      startPayment({
        payment: answer.payment,
        call: answer.call,
        item: $("item").value,
        method: $("method").value,
        amount_minor: null,
        amount_text: answer.amount,
      });
    }
    closeRequest();
  } catch (error) {
    text($("request-error"), error.message);
  } finally {
    button.disabled = false;
  }
}

// ------------------------------------------------------------------ live steps

function formatAmount(minor, currency) {
  if (minor == null) return "";
  const digits = currency === "JPY" ? 0 : 2;
  return `${(minor / 10 ** digits).toFixed(digits)} ${currency}`;
}

function startPayment(started) {
  state.payment = { id: started.payment, call: started.call, finished: false };
  text($("payment-title"), "Payment in progress");
  text($("payment-item"), started.item);
  text($("payment-amount"), started.amount_text || formatAmount(started.amount_minor, started.currency));
  const language = (state.me.languages || []).find((known) => known.code === started.language);
  text($("payment-language"), language ? `· prompts in ${language.name}` : "");
  text($("payment-card"), "");
  text($("payment-error"), "");
  buildSteps($("steps"), started.method);
  show($("result"), false);
  show($("cancel-payment"), true);
  $("cancel-payment").disabled = false;
  show($("payment-panel"), true);
  renderCall();
}

// A payment already under way (a console that opens or reconnects mid-payment).
function showLivePayment(live) {
  startPayment(live);
  for (const [step, shown] of Object.entries(live.steps || {})) showStep(step, shown);
  if (live.authorizing_at) showAuthorizing(live.authorizing_at);
}

function finishPayment(event) {
  state.payment.finished = true;
  const result = $("result");
  result.className = `result ${event.succeeded ? "success" : "failure"}`;
  text($("payment-title"), event.succeeded ? "Payment complete" : "Payment not completed");
  showOutcome(event);
  show(result, true);
  show($("cancel-payment"), false);
  renderCall();
}

async function cancelPayment() {
  if (!state.payment) return;
  text($("payment-error"), "");
  $("cancel-payment").disabled = true;
  try {
    await api("POST", `/api/v1/payments/${encodeURIComponent(state.payment.id)}/cancel`);
  } catch (error) {
    text($("payment-error"), error.message);
    $("cancel-payment").disabled = false;
  }
}

function mine(event) {
  if (!state.me) return false;
  if (state.payment && event.payment === state.payment.id) return true;
  if (state.call && event.call === state.call.call) return true;
  return event.agent === state.me.name || event.agent === state.me.endpoint;
}

function onEvent(event) {
  document.dispatchEvent(new CustomEvent("payivr:event", { detail: event }));
  if (event.type === "session_ended") {
    signedOut();  // signed out elsewhere, idle too long, or the password was changed
    return;
  }
  if (event.type === "hello") {
    for (const live of event.live_payments || []) {
      if (mine(live)) showLivePayment(live);
    }
    return;
  }
  if (event.type === "call_started" || event.type === "call_ended") {
    refreshCall();
    if (state.view === "calls") loadCalls();
    return;
  }
  if (!mine(event)) {
    if (state.view === "calls" && event.type !== "step") loadCalls();
    return;
  }
  if (event.type === "request_form") {
    refreshCall().then(() => requestFromPhone(event));
  } else if (event.type === "payment_started") {
    startPayment(event);
  } else if (event.type === "step" && state.payment && event.payment === state.payment.id) {
    showStep(event.step, event);
  } else if (event.type === "payment_finished" && state.payment && event.payment === state.payment.id) {
    finishPayment(event);
  }
}

// ------------------------------------------------------------------ live connection

function connect() {
  if (!state.me || state.socket) return;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/api/v1/events`);
  state.socket = socket;
  socket.addEventListener("open", () => {
    state.retry = 0;
    text($("connection"), "live");
    $("connection").classList.add("online");
  });
  socket.addEventListener("message", (message) => {
    try {
      onEvent(JSON.parse(message.data));
    } catch (error) {
      console.error("bad event", error);
    }
  });
  socket.addEventListener("close", () => {
    text($("connection"), "offline");
    $("connection").classList.remove("online");
    if (state.socket !== socket) return;
    state.socket = null;
    if (!state.me) return;
    const delay = Math.min(10000, 500 * 2 ** state.retry++);
    setTimeout(() => {
      api("GET", "/api/v1/me", undefined, true).then((me) => { state.me = me; connect(); refreshCall(); }, () => {});
    }, delay);
  });
}

// ------------------------------------------------------------------ other views

function selectView(view) {
  state.view = view;
  for (const tab of document.querySelectorAll(".tab")) {
    if (tab.dataset.view === view) tab.setAttribute("aria-current", "page");
    else tab.removeAttribute("aria-current");
  }
  for (const section of document.querySelectorAll("#app-view > .view")) {
    show(section, section.id === `view-${view}`);
  }
  if (view === "calls") loadCalls();
  if (view === "history") loadHistory();
  if (view === "audit") loadAudit();
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const cell of cells) {
    const td = document.createElement("td");
    if (Array.isArray(cell)) {
      text(td, cell[0]);
      td.className = cell[1];
    } else {
      text(td, cell);
    }
    tr.append(td);
  }
  return tr;
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "";
}

async function loadCalls() {
  const data = await api("GET", "/api/v1/calls");
  const agent = $("calls-agent").value.trim().toLowerCase();
  $("calls-rows").replaceChildren(
    ...data.calls.filter((call) => (call.agent_endpoint || "").toLowerCase().includes(agent)).map((call) =>
      row([call.agent_endpoint || "—", call.caller_number || "withheld", when(call.started_at), call.payment ? "in progress" : ""])),
  );
}

async function loadAudit() {
  const data = await api("GET", "/api/v1/audit?limit=500");
  $("audit-rows").replaceChildren(
    ...data.events.map((e) =>
      row([when(e.occurred_at), e.actor, e.action, e.success ? ["ok", "ok"] : ["refused", "bad"], e.origin, e.resource, e.detail || ""])),
  );
}

// ------------------------------------------------------------------ start

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", signIn);
  $("logout").addEventListener("click", signOut);
  $("open-request").addEventListener("click", openRequest);
  $("close-request").addEventListener("click", closeRequest);
  $("request-form").addEventListener("submit", sendToPay);
  $("request-form").addEventListener("keydown", (event) => {
    if (event.key === "Escape") closeRequest();
  });
  $("cancel-payment").addEventListener("click", cancelPayment);
  for (const tab of document.querySelectorAll(".tab")) {
    tab.addEventListener("click", () => selectView(tab.dataset.view));
  }
  setInterval(renderDuration, 1000);
  setInterval(() => { if (state.me && state.view === "call") refreshCall(); }, 5000);
  api("GET", "/api/v1/me").then((me) => { state.me = me; start(); }, () => signedOut());
});
