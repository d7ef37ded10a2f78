// Shared behaviour: show a message when an htmx request fails instead of failing silently; the phone's menu.
(function () {
  "use strict";
  function toast(kind) {
    var box = document.getElementById("toast");
    var texts = document.getElementById("toast-messages");
    if (!box || !texts) return;
    box.textContent = texts.dataset[kind] || texts.dataset.error;
    box.hidden = false;
    clearTimeout(box._timer);
    box._timer = setTimeout(function () { box.hidden = true; }, 6000);
  }
  document.addEventListener("htmx:responseError", function (evt) {
    var status = evt.detail.xhr ? evt.detail.xhr.status : 0;
    toast(status === 403 ? "forbidden" : "error");
  });
  document.addEventListener("htmx:sendError", function () { toast("network"); });

  // The phone's top-bar menu: a tap on the button opens or closes it, Escape or a tap outside closes it.
  function setMenu(bar, open) {
    bar.classList.toggle("menu-open", open);
    var button = bar.querySelector(".menu-toggle");
    if (button) button.setAttribute("aria-expanded", open ? "true" : "false");
  }
  document.addEventListener("click", function (evt) {
    var button = evt.target.closest(".menu-toggle");
    var open = document.querySelector(".topbar.menu-open");
    if (button) {
      var bar = button.closest(".topbar");
      setMenu(bar, !bar.classList.contains("menu-open"));
    } else if (open && !evt.target.closest(".topbar-menu")) {
      setMenu(open, false);
    }
  });
  document.addEventListener("keydown", function (evt) {
    var open = document.querySelector(".topbar.menu-open");
    if (evt.key === "Escape" && open) setMenu(open, false);
  });
})();
