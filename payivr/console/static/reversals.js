// payivr console: refund or void an approved payment (from My call's result and from
// History). Loaded after app.js and uses its helpers (api, state, $, text, show). The server
// decides who may (a supervisor; an agent their own, the same day) and answers why not.
"use strict";

const reversal = { payment: null, built: false };

function reversalNode(tag, attributes = {}, content = "") {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (content) node.textContent = content;
  return node;
}

function buildReversal(container) {
  const form = reversalNode("form", {
    id: "reversal-form", class: "reversal", novalidate: "", "aria-labelledby": "reversal-title",
  });
  form.hidden = true;
  form.append(reversalNode("h3", { id: "reversal-title" }, "Refund or void"));
  form.append(reversalNode("p", { id: "reversal-what", class: "muted" }));
  form.append(reversalNode("label", { for: "reversal-amount" }, "Amount to refund"));
  form.append(reversalNode("input", {
    id: "reversal-amount", name: "amount", inputmode: "decimal", autocomplete: "off",
  }));
  form.append(reversalNode("p", { id: "reversal-error", class: "error", role: "alert" }));
  form.append(reversalNode("p", { id: "reversal-done", role: "status" }));
  const actions = reversalNode("div", { class: "actions" });
  actions.append(reversalNode("button", { type: "submit", id: "reversal-refund", class: "primary" }, "Refund"));
  actions.append(reversalNode("button", { type: "button", id: "reversal-void", class: "danger" }, "Void all of it"));
  actions.append(reversalNode("button", { type: "button", id: "reversal-close" }, "Close"));
  form.append(actions);
  container.append(form);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    reverse("refund", { amount: $("reversal-amount").value.trim() || undefined });
  });
  $("reversal-void").addEventListener("click", () => reverse("void", {}));
  $("reversal-close").addEventListener("click", () => show(form, false));
  reversal.built = true;
  return form;
}

function leftToGiveBack(payment) {
  const digits = payment.currency === "JPY" ? 0 : 2;
  return ((payment.amount_minor - payment.refunded_minor) / 10 ** digits).toFixed(digits);
}

function renderReversal(payment) {
  reversal.payment = payment;
  const left = payment.amount_minor - payment.refunded_minor;
  const given = payment.refunded_minor ? ` · ${payment.voided ? "voided" : `refunded ${formatAmount(payment.refunded_minor, payment.currency)}`}` : "";
  text($("reversal-what"), `${payment.item} · ${payment.amount}${payment.paid_with ? ` · ${payment.paid_with}` : ""}${given}`);
  $("reversal-amount").value = left > 0 ? leftToGiveBack(payment) : "";
  for (const id of ["reversal-refund", "reversal-void", "reversal-amount"]) $(id).disabled = left <= 0;
  $("reversal-void").disabled = left <= 0 || payment.refunded_minor > 0;
}

// Open the form for one payment, inside `container` (the payment panel, or History).
async function openReversal(paymentId, container) {
  const form = reversal.built ? $("reversal-form") : buildReversal(container);
  container.append(form);
  text($("reversal-error"), "");
  text($("reversal-done"), "");
  try {
    renderReversal(await api("GET", `/api/v1/payments/${encodeURIComponent(paymentId)}`));
    show(form, true);
    $("reversal-amount").focus();
  } catch (error) {
    text($("reversal-error"), error.message);
    show(form, true);
  }
}

async function reverse(kind, body) {
  const payment = reversal.payment;
  if (!payment) return;
  text($("reversal-error"), "");
  text($("reversal-done"), "");
  for (const id of ["reversal-refund", "reversal-void"]) $(id).disabled = true;
  try {
    const answer = await api("POST", `/api/v1/payments/${encodeURIComponent(payment.id)}/${kind}`, body);
    const done = answer.reversal;
    text($("reversal-done"), `${kind === "void" ? "Voided" : "Refunded"} ${done.amount} (transaction ${done.transaction_id || "—"})`);
    renderReversal({ ...payment, refunded_minor: answer.refunded_minor, voided: answer.voided });
    if (state.view === "history") loadHistory();
  } catch (error) {
    text($("reversal-error"), error.message);
    renderReversal(payment);
  }
}

// My call: an approved payment's result offers the refund or void.
document.addEventListener("payivr:event", (message) => {
  const event = message.detail;
  if (!state.payment || event.payment !== state.payment.id) return;
  if (event.type === "payment_started" && reversal.built) show($("reversal-form"), false);
  if (event.type !== "payment_finished") return;
  let button = $("open-reversal");
  if (!button) {
    button = reversalNode("button", { type: "button", id: "open-reversal" }, "Refund or void…");
    button.addEventListener("click", () => openReversal(button.dataset.payment, $("payment-panel")));
    $("result").append(button);
  }
  button.dataset.payment = event.payment;
  show(button, Boolean(event.succeeded));
});
