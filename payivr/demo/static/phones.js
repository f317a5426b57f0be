"use strict";
// Drives the demo phones over one WebSocket. Text is set with textContent only.
const socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
const statusLine = document.getElementById("status");
const played = { customer: 0, agent: 0 };
const audioQueue = [];
let playing = false;

function send(message) { socket.send(JSON.stringify(message)); }

function buildKeypad(phone) {
  const pad = document.querySelector(`#${phone} .keypad`);
  for (const key of "123456789*0#") {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = key;
    button.setAttribute("aria-label", `${phone} key ${key}`);
    button.addEventListener("click", () => send({ action: "press", phone, keys: key }));
    pad.appendChild(button);
  }
  document.querySelector(`#${phone} .hangup`).addEventListener("click", () => send({ action: "hangup", phone }));
}

function playNext() {
  if (playing || audioQueue.length === 0) return;
  const audio = new Audio(audioQueue.shift());
  playing = true;
  audio.addEventListener("ended", () => { playing = false; playNext(); });
  audio.addEventListener("error", () => { playing = false; playNext(); });
  audio.play().catch(() => { playing = false; });
}

function showPhone(phone, state) {
  const root = document.getElementById(phone);
  root.querySelector(".state").textContent = state.in_call ? "in a call" : state.ringing ? "ringing…" : "idle";
  const ringing = root.querySelector(".ringing-actions");
  if (ringing) ringing.hidden = !state.ringing;
  const list = root.querySelector(".heard");
  for (const item of state.heard.slice(played[phone])) {
    const entry = document.createElement("li");
    entry.textContent = item.text;
    list.appendChild(entry);
    if (phone === "customer" && item.audio && document.getElementById("audio").checked) {
      audioQueue.push(item.audio);
    }
  }
  if (state.heard.length < played[phone]) list.replaceChildren();
  played[phone] = state.heard.length;
  list.scrollTop = list.scrollHeight;
  if (phone === "agent") root.querySelector(".leaked").textContent = String(state.keys_received);
}

// The customer's mobile: payivr's texts and the replies sent from this page.
function showTexts(texts) {
  document.getElementById("texts").hidden = !texts;
  if (!texts) return;
  document.getElementById("mobile").textContent = texts.number;
  const thread = document.getElementById("thread");
  if (texts.thread.length < thread.children.length) thread.replaceChildren();
  for (const message of texts.thread.slice(thread.children.length)) {
    const entry = document.createElement("li");
    entry.className = message.direction;
    entry.textContent = message.body;
    thread.appendChild(entry);
  }
  thread.scrollTop = thread.scrollHeight;
}

socket.addEventListener("message", (event) => {
  const data = JSON.parse(event.data);
  if (data.error) { statusLine.textContent = data.error; return; }
  showPhone("customer", data.customer);
  showPhone("agent", data.agent);
  showTexts(data.texts);
  playNext();
});
socket.addEventListener("close", () => { statusLine.textContent = "Disconnected from the demo."; });

buildKeypad("customer");
buildKeypad("agent");
document.getElementById("call").addEventListener("click", () => send({ action: "call" }));
for (const button of document.querySelectorAll("#customer .ringing-actions button")) {
  button.addEventListener("click", () => send({ action: button.dataset.action, as: button.dataset.as }));
}
document.getElementById("reply-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = document.getElementById("reply-text");
  if (!input.value.trim()) return;
  send({ action: "text", body: input.value });
  input.value = "";
});
document.querySelector("#agent .feature").addEventListener("click", () => send({ action: "press", phone: "agent", keys: "*7" }));
