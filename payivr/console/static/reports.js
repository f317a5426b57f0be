// payivr console: the History tab (payments, newest first, by day, outcome and agent, with
// totals per agent and per day, the success rate and a CSV download) and the All calls
// filter. Loaded after app.js and states.js and uses their helpers. Every piece of data
// reaches the page as text.
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

// The filters as a query string (only those set).
function historyQuery() {
  const query = new URLSearchParams();
  for (const [name, id] of [["from", "filter-from"], ["to", "filter-to"], ["outcome", "filter-outcome"], ["agent", "filter-agent"]]) {
    const value = $(id).value.trim();
    if (value && !$(id).closest("[hidden]")) query.set(name, value);
  }
  return query;
}

function percent(rate) {
  return rate == null ? "—" : `${Math.round(rate * 1000) / 10}%`;
}

function totalsRow(name, totals) {
  return row([name, totals.payments, totals.approved, percent(totals.success_rate),
    totals.approved_amounts.join(", ") || "—"]);
}

async function loadTotals(query) {
  const report = await api("GET", `/api/v1/reports/payments?${query}`);
  const total = report.total;
  text($("totals-summary"), `${total.payments} payment${total.payments === 1 ? "" : "s"} · ${total.approved} successful` +
    ` (${percent(total.success_rate)}) · taken: ${total.approved_amounts.join(", ") || "nothing"}`);
  $("totals-rows").replaceChildren(
    ...report.agents.map((a) => totalsRow(a.agent, a)),
    ...report.days.map((d) => totalsRow(d.day, d)),
  );
  labelCells($("totals-table"));
}

async function loadHistory() {
  const query = historyQuery();
  $("history-csv").href = `/api/v1/reports/payments.csv?${query}`;
  text($("history-error"), "");
  let data;
  try {
    query.set("limit", "500");
    data = await api("GET", `/api/v1/payments?${query}`);
    query.delete("limit");
    await loadTotals(query);
  } catch (error) {
    text($("history-error"), error.message);
    return;
  }
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

document.addEventListener("DOMContentLoaded", () => {
  $("history-filters").addEventListener("submit", (event) => {
    event.preventDefault();
    loadHistory();
  });
  $("calls-agent").addEventListener("input", () => loadCalls());
});
