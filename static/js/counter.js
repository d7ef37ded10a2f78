// Counter scan field: a keyboard-wedge scanner types a whole code and Enter in a few milliseconds.
// Each Enter takes the value at that moment, clears the field at once and queues the lookup, so
// back-to-back scans are neither dropped nor shown out of order, and the field never loses focus.
(function () {
  "use strict";
  // A file field shown as a button: the chosen file's name next to it (the input itself is visually hidden).
  document.addEventListener("change", function (evt) {
    var input = evt.target;
    if (!input.matches || !input.matches("input[type=file][data-file-name]")) return;
    var name = document.getElementById(input.dataset.fileName);
    if (name) name.textContent = input.files && input.files.length ? input.files[0].name : name.dataset.none;
  });
  // Receipt and guidance slip: a touch button instead of the browser's menu.
  document.addEventListener("click", function (evt) {
    if (evt.target.closest("[data-print]")) window.print();
  });
  var form = document.getElementById("scan-form");
  if (!form) return;
  var input = form.querySelector("input[name=code]");
  var target = form.dataset.scanTarget;
  var queue = Promise.resolve();

  form.addEventListener("submit", function (evt) {
    evt.preventDefault();
    var code = input.value.trim();
    input.value = "";
    input.focus();
    if (!code) return;
    queue = queue.then(function () {
      return htmx.ajax("POST", form.action, { source: form, target: target, swap: "innerHTML", values: { code: code } });
    }).catch(function () { /* htmx:sendError already told the user */ });
  });

  // Checkout: a quick-cash button types its amount (blank = exact) and the summary is re-quoted.
  // "Ask now" on a cart line opens the member panel's allergy entry.
  document.addEventListener("click", function (evt) {
    var quick = evt.target.closest("[data-amount]");
    if (quick) {
      var amount = document.getElementById("pay-amount");
      if (amount) {
        amount.value = quick.dataset.amount;
        amount.dispatchEvent(new Event("input", { bubbles: true }));
      }
      return;
    }
    var ask = evt.target.closest("[data-open-allergy]");
    if (ask) {
      var entry = document.querySelector("#member details.allergy-entry");
      if (entry) {
        evt.preventDefault();
        entry.open = true;
        entry.scrollIntoView({ block: "start" });
      }
    }
  });

  // An allergy recorded in the member panel changes the cart's alerts: fetch the cart again.
  var allergyChange = /^\/counter\/members\/[^/]+\/(allergies|no-known-allergies|consent-health)$/;
  document.addEventListener("htmx:afterRequest", function (evt) {
    var path = evt.detail.pathInfo && evt.detail.pathInfo.requestPath;
    if (evt.detail.successful && path && allergyChange.test(path) && document.getElementById("cart")) {
      htmx.ajax("GET", "/counter/cart", { target: "#cart", swap: "innerHTML" });
    }
  });

  // Keep the scan field focused unless the pharmacist is typing into another field.
  function refocus() {
    var active = document.activeElement;
    var typing = active && active !== input && /^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName);
    if (!typing && !document.querySelector("details[open]")) input.focus();
  }
  document.addEventListener("htmx:afterSettle", refocus);
  document.addEventListener("click", function (evt) {
    if (!evt.target.closest("form, button, a, details, select, input, label")) refocus();
  });
})();
