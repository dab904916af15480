// The live update of the approvals page: every few seconds, fetch the same page's list and
// put it in place, unless the reader is typing or has a value open. Without this script the
// page works the same; it just waits for a reload.
(function () {
  "use strict";
  var box = document.getElementById("pending");
  if (!box || !window.fetch) { return; }
  var seconds = parseFloat(box.getAttribute("data-refresh")) || 5;
  function busy() {
    var active = document.activeElement;
    var typed = Array.prototype.some.call(
      box.querySelectorAll("input[type=text]"), function (field) { return field.value; });
    return typed || (active && box.contains(active) && active !== box &&
      (active.tagName === "INPUT" || active.tagName === "BUTTON")) ||
      box.querySelector("details[open]") !== null;
  }
  function refresh() {
    if (document.hidden || busy()) { return; }
    fetch("/approvals?fragment=pending", { credentials: "same-origin", cache: "no-store" })
      .then(function (answer) {
        if (answer.status === 401) { window.location.assign("/sign-in"); return null; }
        return answer.ok ? answer.text() : null;
      })
      .then(function (html) { if (html !== null && !busy()) { box.innerHTML = html; } })
      .catch(function () { /* the next tick tries again */ });
  }
  window.setInterval(refresh, seconds * 1000);
})();
