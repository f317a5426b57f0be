// payivr console: how a payment in progress reads to the agent. Each step's state in words
// ("Caller is confirming…", "Entering… (8 digits)"), how long it took, the payment's
// "Authorising…", the masked card field (the brand as soon as the first digits tell it, the
// last four once the number is complete: never more), and the outcome worded once, not
// twice. Loaded after app.js, whose startPayment/onEvent call showStep and showOutcome.
"use strict";

const AUTHORIZATION_STEP = "authorization";
// Outcomes whose reason says something the title does not (the decline's reason in words).
const REASON_IS_NEWS = new Set(["declined", "gateway_error", "pending"]);
const AUTHORIZATION_FAILURES = {
  declined: "declined",
  gateway_error: "not processed",
  pending: "no answer yet",
};

const timing = {
  steps: {}, // step → {started, ended} in ms of the server's clock
  skew: 0, // this browser's clock minus the server's, from the latest event
};

function sentence(words) {
  const text = String(words || "").trim();
  return text ? text[0].toUpperCase() + text.slice(1) : "";
}

// ------------------------------------------------------------------ steps

function stepWords(shown) {
  const { status, digits_entered: digits, detail, confirming } = shown;
  if (status === "entering" && confirming) return "Caller is confirming…";
  if (status === "entering" && digits) return `Entering… (${digits} digit${digits === 1 ? "" : "s"})`;
  if (status === "entering") return "Entering…";
  if (status === "done") return "Done ✓";
  if (status === "failed") return detail ? `Failed: ${detail}` : "Failed";
  if (status === "skipped") return "Not asked";
  if (status === "authorizing") return "Authorising…";
  return "Waiting";
}

function serverTime(iso) {
  const parsed = Date.parse(iso || "");
  return Number.isNaN(parsed) ? null : parsed;
}

function noteTimes(step, shown) {
  const at = serverTime(shown.at);
  if (at !== null && shown.at) timing.skew = Date.now() - at;
  const before = timing.steps[step] || {};
  const started = serverTime(shown.started_at) ?? before.started ??
    (shown.status !== "waiting" && shown.status !== "skipped" ? at : null);
  const ended = serverTime(shown.ended_at) ??
    (shown.status === "done" || shown.status === "failed" ? before.ended ?? at : null);
  timing.steps[step] = { started, ended };
}

function clock(milliseconds) {
  const seconds = Math.max(0, Math.round(milliseconds / 1000));
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
}

// How long the step took, or has taken so far (ticking while it is the current one).
function renderStepTime(step) {
  const item = document.querySelector(`#steps li[data-step="${step}"]`);
  const times = timing.steps[step];
  if (!item || !times || times.started == null) return;
  const until = times.ended ?? (state.payment && state.payment.finished ? null : Date.now() - timing.skew);
  text(item.querySelector(".step-time"), until == null ? "" : clock(until - times.started));
}

function tickStepTimes() {
  for (const step of Object.keys(timing.steps)) renderStepTime(step);
}

function showStep(step, shown) {
  if (step !== AUTHORIZATION_STEP && shown.status === "entering" && charging()) chargeEndedWithATryLeft();
  const item = document.querySelector(`#steps li[data-step="${step}"]`);
  if (!item) return;
  item.className = shown.confirming && shown.status === "entering" ? "entering confirming" : shown.status;
  text(item.querySelector(".step-status"), stepWords(shown));
  noteTimes(step, shown);
  renderStepTime(step);
  if (step === "card_number") showLiveCard(shown);
  if (shown.bank_account) text($("payment-card"), shown.bank_account);
}

// The steps list of a new payment, the authorisation last.
function buildSteps(list, method) {
  timing.steps = {};
  list.replaceChildren();
  text($("payment-card-label"), method === "ach" ? "Account" : "Card");
  for (const [step, name] of [...(STEPS[method] || STEPS.card), [AUTHORIZATION_STEP, "Authorisation"]]) {
    const item = document.createElement("li");
    item.dataset.step = step;
    const label = document.createElement("span");
    label.className = "step-name";
    text(label, name);
    const status = document.createElement("span");
    status.className = "step-status";
    const time = document.createElement("span");
    time.className = "step-time";
    item.append(label, status, time);
    list.append(item);
    showStep(step, { status: "waiting" });
  }
}

function charging() {
  const times = timing.steps[AUTHORIZATION_STEP];
  return Boolean(times && times.started != null && times.ended == null);
}

// The card was declined and the caller may try again (another card, or the refused field):
// the charge is over, the caller keys again, and the payment can be cancelled again.
function chargeEndedWithATryLeft() {
  timing.steps[AUTHORIZATION_STEP] = {};
  showStep(AUTHORIZATION_STEP, { status: "waiting" });
  text(document.querySelector(`#steps li[data-step="${AUTHORIZATION_STEP}"] .step-time`), "");
  text($("payment-title"), "Payment in progress");
  $("cancel-payment").disabled = false;
}

function showAuthorizing(at) {
  showStep(AUTHORIZATION_STEP, { status: "authorizing", at });
  text($("payment-title"), "Authorising…");
  $("cancel-payment").disabled = true; // the card is with the gateway: nothing can stop it now
}

function authorizationEnded(event) {
  if (!timing.steps[AUTHORIZATION_STEP] || timing.steps[AUTHORIZATION_STEP].started == null) {
    showStep(AUTHORIZATION_STEP, { status: "skipped" }); // it ended before the gateway
    return;
  }
  showStep(AUTHORIZATION_STEP, {
    status: event.succeeded ? "done" : "failed",
    detail: AUTHORIZATION_FAILURES[event.outcome] || "",
    at: event.at,
  });
}

// ------------------------------------------------------------------ the masked card field

// "Visa •••• ••" while the caller keys (one dot a digit), "Visa •••• 4242" once the number is
// complete. Nothing of the number itself ever reaches the page.
function maskedCard(brand, digits, lastFour) {
  const shown = lastFour ? `•••• ${lastFour}` : "•".repeat(digits).replace(/(.{4})(?=.)/g, "$1 ");
  return [brand, shown].filter(Boolean).join(" ");
}

function showLiveCard(shown) {
  if (shown.last_four || shown.brand || shown.digits_entered) {
    text($("payment-card"), maskedCard(shown.brand, shown.digits_entered || 0, shown.last_four));
  } else if (shown.status === "entering") {
    text($("payment-card"), ""); // entering it again
  }
}

// ------------------------------------------------------------------ the outcome

function outcomeWords(outcome, reason) {
  if (outcome === "attempts_exhausted" && reason) return { title: sentence(reason), detail: "" };
  return {
    title: OUTCOMES[outcome] || sentence(outcome),
    detail: REASON_IS_NEWS.has(outcome) ? sentence(reason) : "",
  };
}

function showOutcome(event) {
  const words = outcomeWords(event.outcome, event.reason);
  text($("result-title"), words.title);
  text($("result-detail"), event.succeeded ? `Transaction ID: ${event.reference || "—"}` : words.detail);
  if (event.last_four) text($("payment-card"), maskedCard(event.brand, 0, event.last_four));
  if (event.bank_account) text($("payment-card"), event.bank_account);
  authorizationEnded(event);
  tickStepTimes();
}

document.addEventListener("payivr:event", (message) => {
  const event = message.detail;
  if (event.type === "authorizing" && state.payment && event.payment === state.payment.id) {
    showAuthorizing(event.at);
  }
});
setInterval(() => { if (state.payment && !state.payment.finished) tickStepTimes(); }, 1000);
