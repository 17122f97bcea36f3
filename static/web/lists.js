/* The list pages and the dashboard: auto-refresh. No libraries, nothing inline (CSP).
 *
 * <input type="checkbox" data-auto-refresh="30">: while checked, the page reloads every 30 s.
 * The choice is remembered per page (localStorage), so it survives the reload. Reloading
 * waits while the user is typing in a form field of the page.
 */
(function () {
  "use strict";

  function storageKey() {
    return "cro-auto-refresh:" + window.location.pathname;
  }

  function setUp(box) {
    var seconds = parseInt(box.getAttribute("data-auto-refresh") || "30", 10);
    var timer = null;
    try {
      box.checked = window.localStorage.getItem(storageKey()) === "on";
    } catch (error) { /* storage refused: the box starts unchecked */ }

    function schedule() {
      window.clearTimeout(timer);
      if (!box.checked) {
        return;
      }
      timer = window.setTimeout(function () {
        var active = document.activeElement;
        var typing = active && active.form && active !== box;
        if (typing) {
          schedule();
        } else {
          window.location.reload();
        }
      }, seconds * 1000);
    }

    box.addEventListener("change", function () {
      try {
        window.localStorage.setItem(storageKey(), box.checked ? "on" : "off");
      } catch (error) { /* not remembered */ }
      schedule();
    });
    schedule();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("input[data-auto-refresh]").forEach(setUp);
  });
})();
