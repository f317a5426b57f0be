"use strict";
const socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
const FIELDS = ["Timestamp", "Agent", "Product Name", "Amount Charged", "Payment Status", "Transaction ID"];
socket.addEventListener("message", (event) => {
  const data = JSON.parse(event.data);
  if (!data.crm) return;
  const body = document.getElementById("activities");
  body.replaceChildren();
  for (const activity of [...data.crm].reverse()) {
    const row = document.createElement("tr");
    for (const field of FIELDS) {
      const cell = document.createElement("td");
      cell.textContent = activity[field] ?? "";
      row.appendChild(cell);
    }
    body.appendChild(row);
  }
});
