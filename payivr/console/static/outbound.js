// payivr console: outbound collection calls (the "Call a customer" card on My call).
// Loaded after app.js and uses its helpers (api, state, $, text, show). payivr rings the
// agent's own phone first, then the customer; the card follows each step from the live
// "outbound" events. Every piece of data reaches the page as text, never as HTML.
"use strict";

const OUTBOUND_STATUS = {
  "ringing-agent": "Your phone is ringing: answer it to call the customer",
  "ringing-customer": "Calling the customer…",
  detecting: "Answered: listening for an answering machine…",
  connected: "Connected: talk to the customer, then Request payment",
  ended: "Call ended",
};

const OUTBOUND_OUTCOMES = {
  answered: "Call ended",
  busy: "Busy",
  "no-answer": "No answer",
  unreachable: "Number unreachable",
  voicemail: "Voicemail (answering machine): call not connected",
  "agent-unavailable": "Your phone did not answer",
  cancelled: "Cancelled",
  "outside-hours": "Outside calling hours",
  failed: "The call failed",
};

// collapsed: while the agent is on a call the form folds away behind its title.
const outbound = { call: null, built: false, collapsed: false, onCall: false };

function outboundNode(tag, attributes = {}, content = "") {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (content) node.textContent = content;
  return node;
}

function outboundField(form, id, label, attributes) {
  form.append(outboundNode("label", { for: id }, label));
  const input = outboundNode("input", { id, name: id, autocomplete: "off", ...attributes });
  form.append(input);
  return input;
}

function buildOutbound(panel) {
  const title = outboundNode("h2", { id: "outbound-title" });
  const toggle = outboundNode("button", {
    type: "button", id: "outbound-toggle", class: "fold", "aria-expanded": "true",
    "aria-controls": "outbound-form",
  }, "Call a customer");
  toggle.addEventListener("click", () => foldOutbound(!outbound.collapsed));
  title.append(toggle);
  panel.append(title);
  const form = outboundNode("form", { id: "outbound-form", novalidate: "" });
  outboundField(form, "outbound-number", "Customer's number", {
    inputmode: "tel", placeholder: "+15551230001", required: "",
  });
  form.append(outboundNode("label", { for: "outbound-campaign" }, "Campaign"));
  form.append(outboundNode("select", { id: "outbound-campaign", name: "campaign" }));
  outboundField(form, "outbound-timezone", "Customer's time zone", {
    placeholder: "America/New_York", required: "",
  });
  outboundField(form, "outbound-item", "What it is for (optional)", { maxlength: "200" });
  outboundField(form, "outbound-amount", "Amount owed (optional)", {
    inputmode: "decimal", placeholder: "0.00",
  });
  form.append(outboundNode("p", { id: "outbound-error", class: "error", role: "alert" }));
  form.append(outboundNode("button", { type: "submit", id: "outbound-call", class: "primary" }, "Call"));
  panel.append(form);
  const progress = outboundNode("div", { id: "outbound-progress", role: "status", hidden: "" });
  progress.append(outboundNode("p", { id: "outbound-to", class: "muted" }));
  progress.append(outboundNode("p", { id: "outbound-status", class: "result-title" }));
  progress.append(outboundNode("p", { id: "outbound-detail" }));
  const actions = outboundNode("div", { class: "actions" });
  actions.append(outboundNode("button", { type: "button", id: "outbound-hangup", class: "danger" }, "Hang up"));
  actions.append(outboundNode("button", { type: "button", id: "outbound-again" }, "New call"));
  progress.append(actions);
  panel.append(progress);
  form.addEventListener("submit", placeOutbound);
  $("outbound-hangup").addEventListener("click", cancelOutbound);
  $("outbound-again").addEventListener("click", () => renderOutbound(null));
  $("outbound-timezone").value = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  outbound.built = true;
}

async function startOutbound() {
  const panel = $("outbound-panel");
  if (!panel || !state.me || !state.me.endpoint) return;
  let campaigns;
  try {
    campaigns = (await api("GET", "/api/v1/outbound-campaigns", undefined, true)).campaigns;
  } catch (_) {
    show(panel, false); // outbound calls are not configured here
    return;
  }
  if (!outbound.built) {
    buildOutbound(panel);
    outboundCallChanged(Boolean(state.call));
  }
  const select = $("outbound-campaign");
  select.replaceChildren();
  for (const campaign of campaigns) {
    const option = outboundNode("option", { value: campaign.name },
      `${campaign.name} (${campaign.caller_id}, ${campaign.hours})`);
    select.append(option);
  }
  show(panel, true);
  try {
    const latest = (await api("GET", "/api/v1/outbound-calls?limit=1", undefined, true)).outbound_calls;
    renderOutbound(latest.length && latest[0].status !== "ended" ? latest[0] : null);
  } catch (_) {
    renderOutbound(null);
  }
}

async function placeOutbound(event) {
  event.preventDefault();
  text($("outbound-error"), "");
  const body = {
    number: $("outbound-number").value.trim(),
    campaign: $("outbound-campaign").value,
    timezone: $("outbound-timezone").value.trim(),
  };
  const item = $("outbound-item").value.trim();
  const amount = $("outbound-amount").value.trim();
  if (item) body.item = item;
  if (amount) body.amount = amount;
  $("outbound-call").disabled = true;
  try {
    renderOutbound(await api("POST", "/api/v1/outbound-calls", body));
  } catch (error) {
    text($("outbound-error"), error.message);
  } finally {
    $("outbound-call").disabled = false;
  }
}

async function cancelOutbound() {
  if (!outbound.call) return;
  try {
    await api("POST", `/api/v1/outbound-calls/${outbound.call.id}/cancel`, {});
  } catch (error) {
    text($("outbound-detail"), error.message);
  }
}

function foldOutbound(collapsed) {
  outbound.collapsed = collapsed;
  $("outbound-toggle").setAttribute("aria-expanded", String(!collapsed));
  renderOutbound(outbound.call);
}

// On a call the form folds away (the agent can still open it); after the call it opens again.
function outboundCallChanged(onCall) {
  if (!outbound.built || onCall === outbound.onCall) return;
  outbound.onCall = onCall;
  foldOutbound(onCall);
}

function renderOutbound(call) {
  outbound.call = call;
  show($("outbound-form"), !call && !outbound.collapsed);
  show($("outbound-progress"), Boolean(call));
  if (!call) return;
  text($("outbound-to"), `${call.phone} · ${call.campaign}`);
  const ended = call.status === "ended";
  text($("outbound-status"), ended
    ? OUTBOUND_OUTCOMES[call.outcome] || call.outcome
    : OUTBOUND_STATUS[call.status] || call.status);
  text($("outbound-detail"), call.detail || "");
  $("outbound-status").dataset.outcome = call.outcome || call.status;
  show($("outbound-hangup"), !ended && call.status !== "connected");
  show($("outbound-again"), ended);
  if (call.status === "connected" && call.item) {
    // What is owed comes with the call: the payment request starts filled in.
    $("item").value = call.item;
    if (call.amount_minor) $("amount").value = (call.amount_minor / 100).toFixed(2);
  }
}

document.addEventListener("payivr:event", (message) => {
  const event = message.detail;
  if (event.type !== "outbound" || !state.me || event.agent !== state.me.name) return;
  if (outbound.call && outbound.call.id !== event.outbound && outbound.call.status !== "ended") {
    return;
  }
  renderOutbound({ ...(outbound.call && outbound.call.id === event.outbound ? outbound.call : {}),
    id: event.outbound, phone: event.phone, campaign: event.campaign, status: event.status,
    outcome: event.outcome, detail: event.detail });
});
document.addEventListener("payivr:signed-in", startOutbound);
document.addEventListener("payivr:call", (message) => outboundCallChanged(Boolean(message.detail)));
