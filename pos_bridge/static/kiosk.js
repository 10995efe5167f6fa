// Kiosk behaviour: keep the scan field focused (a keyboard-wedge scanner types into
// whatever has focus), and go back to the start screen after the idle timeout.
(function () {
  "use strict";
  var script = document.currentScript;
  var idleMs = Number(script.dataset.idleSeconds) * 1000;
  var endUrl = script.dataset.endUrl;
  var timer = null;

  function restart() {
    if (timer !== null) { clearTimeout(timer); }
    timer = setTimeout(function () { window.location.assign(endUrl); }, idleMs);
  }

  ["pointerdown", "keydown", "touchstart", "input"].forEach(function (name) {
    document.addEventListener(name, restart, { passive: true });
  });
  restart();

  // Refocus the scan field when a touch lands elsewhere, unless on another control.
  var field = document.querySelector(".scan-field");
  if (field) {
    field.focus();
    document.addEventListener("pointerup", function (event) {
      if (!event.target.closest("a, button, select, input")) { field.focus(); }
    });
  }
})();
