// Counter scan field: a keyboard-wedge scanner types a whole code and Enter in a few milliseconds.
// Each Enter takes the value at that moment, clears the field at once and queues the lookup, so
// back-to-back scans are neither dropped nor shown out of order, and the field never loses focus.
(function () {
  "use strict";
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
