// The counter: a keyboard-wedge scanner types a whole code and Enter in a few milliseconds.
// - The scan field: each Enter takes the value at that moment, clears the field at once and queues the lookup, so
//   back-to-back scans are neither dropped nor shown out of order, and the field never loses focus.
// - A scan anywhere else (a tender tile, a button, the page, or a text field such as the cash amount) goes to the
//   scan field's queue too: a scanner's Enter never submits anything but the scan.
// - Payment only on a deliberate tap of Pay: the checkout form never submits on Enter.
// - Every cart change carries a fresh key (Idempotency-Key), sent again unchanged if the request is retried once
//   after a network error: the server applies a key once, so nothing is lost and nothing happens twice.
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

  // A key per user action (crypto.randomUUID needs a secure context; a store's LAN address may not be one).
  function newKey() {
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return (b < 16 ? "0" : "") + b.toString(16); }).join("");
  }

  function lookup(code, key, retried) {
    var headers = { "Idempotency-Key": key };
    if (retried) headers["X-Yaoshi-Retry"] = "1";
    return htmx.ajax("POST", form.action, {
      source: form, target: target, swap: "innerHTML", values: { code: code }, headers: headers
    }).catch(function () {
      // A network error (htmx:sendError already told the user): once more with the same key, still in order.
      if (!retried) return lookup(code, key, true);
    });
  }

  function sendScan(code) {
    code = code.trim();
    if (!code) return;
    var key = newKey();
    queue = queue.then(function () { return lookup(code, key, false); });
  }

  form.addEventListener("submit", function (evt) {
    evt.preventDefault();
    var code = input.value;
    input.value = "";
    input.focus();
    sendScan(code);
  });

  // ---------------------------------------------------------------- a scanner burst anywhere on the page

  // A scanner sends a code's keys a few ms apart; people type 100-250 ms apart. A burst is the keys typed into a
  // text field with no pause longer than PAUSE; it was a scan if it ends in Enter, has MIN keys or more and came
  // at MEAN ms a key or faster (a mean, so one late key on a busy tablet does not split a scan in two).
  var PAUSE = 150;
  var MEAN = 40;
  var MIN = 4;
  var burst = null;  // {field, before, chars, start, last}

  function isTextField(el) {
    if (!el) return false;
    if (el.tagName === "TEXTAREA") return true;
    return el.tagName === "INPUT" && /^(text|search|tel|number|password|email|url)$/.test(el.type || "text");
  }

  // A keyboard-wedge scanner cannot type GS1's group separator (ASCII 29, which ends a batch or serial that is not
  // the last field); it sends Ctrl+] instead. Without it "(10)B2406A(21)SN01" would arrive as one batch.
  var GS = "\u001d";
  function isGroupSeparator(evt) {
    return evt.ctrlKey && !evt.altKey && !evt.metaKey && (evt.key === "]" || evt.code === "BracketRight");
  }
  function typeInto(field, text) {
    var start = field.selectionStart == null ? field.value.length : field.selectionStart;
    var end = field.selectionEnd == null ? start : field.selectionEnd;
    field.setRangeText(text, start, end, "end");
  }

  document.addEventListener("keydown", function (evt) {
    var gs = isGroupSeparator(evt);
    if (evt.isComposing || ((evt.ctrlKey || evt.metaKey || evt.altKey) && !gs)) return;
    var el = document.activeElement;
    if (el === input) {  // the scan field takes its own keys
      burst = null;
      if (gs) { evt.preventDefault(); typeInto(input, GS); }
      return;
    }
    var now = evt.timeStamp;
    var key = gs ? GS : evt.key;
    var printable = key.length === 1;
    if (isTextField(el)) {
      if (printable) {
        if (!burst || burst.field !== el || now - burst.last > PAUSE) {
          burst = { field: el, before: el.value, chars: "", start: now, last: now };
        }
        burst.chars += key;
        burst.last = now;
        if (gs) { evt.preventDefault(); typeInto(el, GS); }
        return;  // the field takes the key as typed; it is given back below if this was a scan
      }
      if (evt.key === "Enter") {
        var scanned = burst && burst.field === el && now - burst.last <= PAUSE && burst.chars.length >= MIN
          && (now - burst.start) / burst.chars.length <= MEAN;
        if (scanned) {
          evt.preventDefault();
          evt.stopPropagation();
          el.value = burst.before;  // what the person had typed there, without the code
          el.dispatchEvent(new Event("input", { bubbles: true }));
          sendScan(burst.chars);
        } else if (el.closest("form[data-no-enter]")) {
          evt.preventDefault();  // no implicit submission: the checkout pays on a tap of Pay only
        }
        burst = null;
      }
      return;
    }
    // A tender tile, a button, the page: the first character of a scan moves to the scan field, the rest follows.
    if (printable && key !== " ") {
      evt.preventDefault();
      input.focus();
      input.value += key;
      return;
    }
    if (evt.key === "Enter" && el && el.closest && el.closest("form[data-no-enter], [data-pay]")) {
      evt.preventDefault();
    }
  }, true);

  // ---------------------------------------------------------------- Pay only on a tap

  var tapped = false;
  document.addEventListener("click", function (evt) {
    var pay = evt.target.closest && evt.target.closest("[data-pay]");
    if (!pay) return;
    if (evt.detail === 0) {
      // A click from the keyboard or from implicit submission (Enter in the form): not a tap.
      evt.preventDefault();
      evt.stopImmediatePropagation();
      return;
    }
    tapped = true;
    setTimeout(function () { tapped = false; }, 0);
  }, true);
  document.addEventListener("submit", function (evt) {
    if (evt.target.id !== "checkout-form") return;
    var ok = tapped && evt.submitter && evt.submitter.hasAttribute("data-pay");
    tapped = false;
    if (!ok) {
      evt.preventDefault();
      evt.stopImmediatePropagation();
    }
  }, true);

  // ---------------------------------------------------------------- keyed cart changes, retried once

  var keyed = /^\/counter\/(cart|checkout|held)/;
  document.addEventListener("htmx:configRequest", function (evt) {
    var d = evt.detail;
    if (d.verb !== "get" && !d.headers["Idempotency-Key"]) d.headers["Idempotency-Key"] = newKey();
  });
  document.addEventListener("htmx:sendError", function (evt) {
    var cfg = evt.detail.requestConfig;
    if (!cfg || cfg.elt === form || cfg.verb === "get" || cfg.headers["X-Yaoshi-Retry"]) return;
    if (!keyed.test(cfg.path) || !document.body.contains(cfg.elt)) return;
    htmx.ajax(cfg.verb, cfg.path, {
      source: cfg.elt,
      target: evt.detail.target,
      headers: { "Idempotency-Key": cfg.headers["Idempotency-Key"], "X-Yaoshi-Retry": "1" }
    }).catch(function () { /* told once already */ });
  });

  // ---------------------------------------------------------------- nothing typed is lost

  // The cart comes back whole after every change (a scan, a tap), the amount field with the value the server has
  // kept so far. A field being typed into keeps what was typed and its caret: restored after the swap, and sent
  // on (its own trigger) so the server keeps it too.
  var typing = null;
  function remember() {
    var el = document.activeElement;
    if (!typing && isTextField(el) && el.id && el.id !== input.id && el.closest("#cart")) {
      typing = { id: el.id, value: el.value, start: el.selectionStart, end: el.selectionEnd };
    }
  }
  document.addEventListener("htmx:beforeSwap", remember);
  document.addEventListener("htmx:oobBeforeSwap", remember);
  document.addEventListener("htmx:afterSettle", function () {
    var kept = typing;
    typing = null;
    if (!kept) return;
    var el = document.getElementById(kept.id);
    if (!el || document.activeElement === el) return;
    if (el.value !== kept.value) {
      el.value = kept.value;
      el.dispatchEvent(new Event("input", { bubbles: true }));
    }
    el.focus();
    try { el.setSelectionRange(kept.start, kept.end); } catch (e) { /* not a text input type */ }
  });

  // ---------------------------------------------------------------- small things

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
