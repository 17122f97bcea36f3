/* The CSV import page: keep the status badge in step with the progress bar while a worker applies. */
(function () {
  "use strict";

  document.addEventListener("DOMContentLoaded", function () {
    var container = document.querySelector("[data-progress-url]");
    var badge = document.querySelector("[data-status-badge]");
    if (!container || !badge) {
      return;
    }
    var url = container.getAttribute("data-progress-url");
    function tick() {
      fetch(url, { credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.json() : Promise.reject(response.status); })
        .then(function (status) {
          badge.textContent = status.status_display;
          badge.className = "badge " + status.badge_class;
          if (!status.final) {
            window.setTimeout(tick, 1000);
          }
        })
        .catch(function () { window.setTimeout(tick, 3000); });
    }
    tick();
  });
})();
