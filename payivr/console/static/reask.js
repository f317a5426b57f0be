// payivr console: "Re-ask this step". The agent picks a step the caller has keyed (or is
// keying) and sends the caller back to it (POST /api/v1/payments/{id}/reask); the caller keys
// it, and the steps after it, again. Self-contained: it reads the steps list the page builds
// and shows itself while the payment can still be cancelled.
"use strict";

(() => {
  const controls = $("reask-controls");
  const select = $("reask-step");
  const button = $("reask-button");
  const cancel = $("cancel-payment");
  const NOT_KEYED = new Set(["amount", "authorization"]);

  function fill() {
    const chosen = select.value;
    const options = [];
    for (const item of document.querySelectorAll("#steps li[data-step]")) {
      const step = item.dataset.step;
      if (NOT_KEYED.has(step) || item.classList.contains("skipped")) continue;
      const option = document.createElement("option");
      option.value = step;
      text(option, item.querySelector(".step-name").textContent);
      options.push(option);
    }
    const same = options.map((o) => o.value).join() === [...select.options].map((o) => o.value).join();
    if (!same) select.replaceChildren(...options);
    if (chosen && options.some((o) => o.value === chosen)) select.value = chosen;
  }

  function followCancel() {
    show(controls, !cancel.hidden);
    button.disabled = cancel.disabled;
  }

  async function reask() {
    if (!state.payment || !select.value) return;
    text($("payment-error"), "");
    button.disabled = true;
    try {
      await api("POST", `/api/v1/payments/${encodeURIComponent(state.payment.id)}/reask`, {
        step: select.value,
      });
    } catch (error) {
      text($("payment-error"), error.message);
    } finally {
      button.disabled = cancel.disabled;
    }
  }

  new MutationObserver(fill).observe($("steps"), {
    childList: true,
    subtree: true,
    attributes: true,
    attributeFilter: ["class"],
  });
  new MutationObserver(followCancel).observe(cancel, {
    attributes: true,
    attributeFilter: ["hidden", "disabled"],
  });
  button.addEventListener("click", reask);
  fill();
  followCancel();
})();
