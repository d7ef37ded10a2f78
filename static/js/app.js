// Shared behaviour: show a message when an htmx request fails instead of failing silently.
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
})();
