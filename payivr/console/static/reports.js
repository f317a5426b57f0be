// payivr console: the History tab (payments, newest first). Loaded after app.js and
// states.js and uses their helpers. Every piece of data reaches the page as text.
"use strict";

// Each cell carries its column's name, so a narrow screen can show a row as a card.
function labelCells(table) {
  const names = [...table.querySelectorAll("thead th")].map((th) => th.textContent);
  for (const tr of table.querySelectorAll("tbody tr")) {
    [...tr.children].forEach((td, index) => { td.dataset.label = names[index] || ""; });
  }
}

function givenBack(payment) {
  if (payment.voided) return "Voided";
  if (payment.refunded_minor) return `Refunded ${formatAmount(payment.refunded_minor, payment.currency)}`;
  return "";
}

async function loadHistory() {
  const data = await api("GET", "/api/v1/payments?limit=100");
  $("history-rows").replaceChildren(
    ...data.payments.map((p) => {
      const words = p.outcome ? outcomeWords(p.outcome, p.reason) : { title: "In progress", detail: "" };
      const status = p.outcome ? [words.title, p.succeeded ? "ok" : "bad"] : words.title;
      const tr = row([when(p.created_at), p.agent, p.item, p.amount, status, p.paid_with || "",
        p.transaction_id || "", words.detail, givenBack(p)]);
      if (p.succeeded && !p.voided && p.refunded_minor < p.amount_minor) {
        const button = document.createElement("button");
        button.type = "button";
        text(button, "Refund or void…");
        button.addEventListener("click", () => openReversal(p.id, $("history-actions")));
        tr.lastChild.append(button);
      }
      return tr;
    }),
  );
  labelCells($("history-table"));
}
