// payivr console: the Texts view (pay by text with a card on file, payment reminders).
// Loaded after app.js and uses its helpers (api, state, $, text, show, row, when). Every
// piece of data reaches the page as text (textContent), never as HTML.
"use strict";

const TEXT_PAYMENT_STATES = {
  asked: "Waiting for the customer's reply",
  charging: "Charging the card",
  unknown: "Outcome being confirmed with the gateway",
  paid: "Paid",
  declined: "Declined",
  refused: "Not accepted by the customer",
  expired: "No reply in time",
  failed: "Could not be charged",
  undelivered: "The text could not be delivered",
};

const REMINDER_STATES = {
  scheduled: "Scheduled",
  sent: "Sent",
  suppressed: "Not sent: opted out",
  missed: "Missed: no sending hours were left",
  cancelled: "Cancelled",
};

// What each text payivr sent is called in a text payment's progress.
const SENT_TEXTS = {
  ask: "Asked",
  receipt: "Receipt sent",
  declined: "Decline texted",
  refused: "Refusal acknowledged",
  expired: "Told it expired",
  failed: "Failure texted",
  confirming: "Told it is being confirmed",
};

const texting = { enabled: false, timer: null, lookup: 0 };

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "text") node.textContent = value;
    else if (value === true) node.setAttribute(name, "");
    else if (value !== false) node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

function field(id, label, attributes = {}) {
  return [
    element("label", { for: id, text: label }),
    element("input", { id, name: id, autocomplete: "off", ...attributes }),
  ];
}

function checkbox(id, label) {
  return element("label", { class: "check" }, element("input", { id, type: "checkbox" }), ` ${label}`);
}

// Built the first time the view opens, so its fields are not in the page before.
function buildTextsView() {
  const view = $("view-texts");
  if (view.firstChild) return;
  view.append(
    element("section", { class: "card", "aria-labelledby": "texts-customer-title" },
      element("h2", { id: "texts-customer-title", text: "Customer" }),
      element("div", { class: "row" },
        element("div", {}, ...field("texts-customer", "Customer reference", { maxlength: "200", placeholder: "CRM record id" })),
        element("div", {}, ...field("texts-phone", "Mobile number", { maxlength: "32", inputmode: "tel", placeholder: "+15551230001" })),
      ),
      element("p", { id: "texts-card", class: "muted", role: "status" }),
    ),
    element("form", { id: "text-pay-form", class: "card", novalidate: true, "aria-labelledby": "text-pay-title" },
      element("h2", { id: "text-pay-title", text: "Pay by text" }),
      element("p", { class: "muted", text: "The customer is texted the amount and the card on file; a YES charges it and a receipt follows." }),
      element("div", { class: "row" },
        element("div", {}, ...field("text-pay-amount", "Amount to pay", { inputmode: "decimal", placeholder: "0.00" })),
        element("div", {}, ...field("text-pay-item", "Item", { maxlength: "200" })),
      ),
      element("p", { id: "text-pay-error", class: "error", role: "alert" }),
      element("button", { type: "submit", id: "text-pay-send", class: "primary", text: "Text the payment request" }),
    ),
    element("form", { id: "reminder-form", class: "card", novalidate: true, "aria-labelledby": "reminder-title" },
      element("h2", { id: "reminder-title", text: "Payment reminder" }),
      element("div", { class: "row" },
        element("div", {}, ...field("reminder-amount", "Amount due", { inputmode: "decimal", placeholder: "0.00" })),
        element("div", {}, ...field("reminder-due", "Due date", { type: "date" })),
        element("div", {}, ...field("reminder-item", "For", { maxlength: "200", placeholder: "your bill" })),
      ),
      checkbox("reminder-now", "Send now (otherwise on a day spread over the days before the due date)"),
      checkbox("reminder-offer", "Offer to pay by text with the card on file (Reply PAY)"),
      element("p", { id: "reminder-error", class: "error", role: "alert" }),
      element("button", { type: "submit", id: "reminder-send", class: "primary", text: "Schedule reminder" }),
    ),
    element("section", { class: "card", "aria-labelledby": "text-payments-title" },
      element("h2", { id: "text-payments-title", text: "Text payments" }),
      table(["When", "Customer", "Mobile", "Item", "Amount", "Card", "Texts", "Status"], "text-payments-rows"),
    ),
    element("section", { class: "card", "aria-labelledby": "reminders-title" },
      element("h2", { id: "reminders-title", text: "Reminders" }),
      table(["Customer", "Mobile", "For", "Amount", "Due", "Sends", "Status"], "reminders-rows"),
    ),
  );
  for (const id of ["texts-customer", "texts-phone"]) $(id).addEventListener("change", lookUpCard);
  $("text-pay-form").addEventListener("submit", requestTextPayment);
  $("reminder-form").addEventListener("submit", scheduleReminder);
}

function table(headings, bodyId) {
  return element("table", {},
    element("thead", {}, element("tr", {}, ...headings.map((name) => element("th", { scope: "col", text: name })))),
    element("tbody", { id: bodyId }),
  );
}

function customer() {
  return { customer: $("texts-customer").value.trim(), phone: $("texts-phone").value.trim() };
}

async function lookUpCard() {
  const { customer: reference, phone } = customer();
  const asked = ++texting.lookup;
  if (!reference || !phone) {
    text($("texts-card"), "");
    return;
  }
  const query = new URLSearchParams({ customer: reference, phone });
  let shown;
  try {
    const found = await api("GET", `/api/v1/cards-on-file?${query}`);
    shown = found.card ? `Card on file: ${found.card}` : "No usable card on file for this customer.";
  } catch (error) {
    shown = error.message;
  }
  if (asked === texting.lookup) text($("texts-card"), shown);
}

async function requestTextPayment(event) {
  event.preventDefault();
  text($("text-pay-error"), "");
  const button = $("text-pay-send");
  button.disabled = true;
  try {
    await api("POST", "/api/v1/text-payments", {
      ...customer(),
      amount: $("text-pay-amount").value.trim(),
      item: $("text-pay-item").value,
      currency: state.me.currency,
    });
    $("text-pay-form").reset();
    await loadTexts();
  } catch (error) {
    text($("text-pay-error"), error.message);
  } finally {
    button.disabled = false;
  }
}

async function scheduleReminder(event) {
  event.preventDefault();
  text($("reminder-error"), "");
  const button = $("reminder-send");
  button.disabled = true;
  try {
    await api("POST", "/api/v1/reminders", {
      ...customer(),
      amount: $("reminder-amount").value.trim(),
      due_date: $("reminder-due").value,
      item: $("reminder-item").value,
      currency: state.me.currency,
      send_now: $("reminder-now").checked,
      offer_pay_by_text: $("reminder-offer").checked,
    });
    $("reminder-form").reset();
    await loadTexts();
  } catch (error) {
    text($("reminder-error"), error.message);
  } finally {
    button.disabled = false;
  }
}

// A text payment's conversation in a few words: asked, the reply as the customer typed it,
// then what followed (receipt, decline...).
function progress(payment) {
  return (payment.messages || []).map((message) => {
    if (message.direction === "in") return `Replied “${message.body}”`;
    const name = SENT_TEXTS[message.kind] || message.kind;
    return message.status === "failed" || message.status === "suppressed" ? `${name} (${message.status})` : name;
  }).join(" → ");
}

function optedOut(record, shown) {
  return record.opted_out ? `${shown} · opted out (STOP)` : shown;
}

function textPaymentStatus(payment) {
  let shown = TEXT_PAYMENT_STATES[payment.state] || payment.state;
  if (payment.transaction_id) shown += ` · Transaction ID: ${payment.transaction_id}`;
  else if (payment.reason && payment.state !== "paid") shown += ` · ${payment.reason}`;
  const good = payment.state === "paid" ? "ok" : ["asked", "charging", "unknown"].includes(payment.state) ? "" : "bad";
  return [optedOut(payment, shown), good];
}

async function loadTexts() {
  if (!state.me || !texting.enabled) return;
  const [payments, reminders] = await Promise.all([
    api("GET", "/api/v1/text-payments?limit=50", undefined, true),
    api("GET", "/api/v1/reminders?limit=50", undefined, true),
  ]);
  $("text-payments-rows").replaceChildren(
    ...payments.text_payments.map((p) => {
      const tr = row([when(p.created_at), p.customer, p.phone, p.item, p.amount, p.card || "", progress(p), textPaymentStatus(p)]);
      tr.dataset.textPayment = p.id;
      return tr;
    }),
  );
  $("reminders-rows").replaceChildren(
    ...reminders.reminders.map((r) => {
      const status = optedOut(r, REMINDER_STATES[r.status] || r.status);
      const tr = row([r.customer, r.phone, r.item, r.amount, r.due_date, when(r.send_at), [status, r.opted_out ? "bad" : ""]]);
      tr.dataset.reminder = r.id;
      return tr;
    }),
  );
}

// Refreshed every two seconds while the view is open: replies come in at any time.
function watchTexts() {
  clearInterval(texting.timer);
  texting.timer = null;
  if (!state.me || state.view !== "texts") return;
  buildTextsView();
  loadTexts().catch(() => {});
  texting.timer = setInterval(() => {
    if (state.me && state.view === "texts") loadTexts().catch(() => {});
    else watchTexts();
  }, 2000);
}

async function startTexting() {
  try {
    texting.enabled = (await api("GET", "/api/v1/sms/status", undefined, true)).enabled;
  } catch (_) {
    texting.enabled = false;
  }
  show($("texts-tab"), texting.enabled);
}

document.addEventListener("DOMContentLoaded", () => {
  for (const tab of document.querySelectorAll(".tab")) tab.addEventListener("click", watchTexts);
});
document.addEventListener("payivr:signed-in", startTexting);
