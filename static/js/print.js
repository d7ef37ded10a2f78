// Printouts (receipt, refund slip, guidance slip): a touch button prints, and a thermal roll gets a page exactly
// as long as the printout. The sheet is laid out on screen at the paper's printable width and type size (the
// print CSS changes neither), so its height on screen is its height on paper; the roll's @page length is set
// from it (the CSS's 297 mm is the fallback), so the printer feeds no blank paper after the tear-off line.
(function () {
  "use strict";
  var MM_PER_PX = 25.4 / 96;
  var ROLLS = { "58": "roll58", "80": "roll80" };

  function fitRoll() {
    var sheet = document.querySelector(".sheet[data-paper]");
    if (!sheet) return;
    var page = ROLLS[sheet.dataset.paper];
    if (!page) return;
    // The sheet's padding is the page margin: its border box is the whole page.
    var length = Math.ceil(sheet.getBoundingClientRect().height * MM_PER_PX) + 2;
    var style = document.getElementById("roll-length");
    if (!style) {
      style = document.createElement("style");
      style.id = "roll-length";
      document.head.appendChild(style);
    }
    style.textContent = "@page " + page + " { size: " + sheet.dataset.paper + "mm " + length + "mm; }";
  }

  document.addEventListener("click", function (evt) {
    if (evt.target.closest("[data-print]")) {
      fitRoll();
      window.print();
    }
  });
  window.addEventListener("beforeprint", fitRoll);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", fitRoll);
  else fitRoll();
  if (document.fonts && document.fonts.ready) document.fonts.ready.then(fitRoll);
})();
