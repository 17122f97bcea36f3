/* The CRO administrators' interface: confirmations and polling. No libraries. */
(function () {
  "use strict";

  // <form data-confirm="Really?">: ask before submitting.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });

  // <div data-poll-fragment="url" data-poll-while="selector">: reload the fragment every few
  // seconds while it contains an element matching the selector (e.g. an unanswered TestMessage).
  function pollFragment(container) {
    var url = container.getAttribute("data-poll-fragment");
    var pendingSelector = container.getAttribute("data-poll-while");
    var interval = parseInt(container.getAttribute("data-poll-interval") || "3000", 10);
    function tick() {
      if (pendingSelector && !container.querySelector(pendingSelector)) {
        return;
      }
      fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
        .then(function (response) { return response.ok ? response.text() : Promise.reject(response.status); })
        .then(function (html) { container.innerHTML = html; })
        .catch(function () { /* try again at the next tick */ })
        .finally(function () { window.setTimeout(tick, interval); });
    }
    window.setTimeout(tick, interval);
  }

  // <div data-progress-url="url">: follow a CSV import; reload the page when it is done.
  function pollProgress(container) {
    var url = container.getAttribute("data-progress-url");
    var bar = container.querySelector(".bar");
    var phase = container.querySelector("[data-phase]");
    var percent = container.querySelector("[data-percent]");
    function tick() {
      fetch(url, { credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.json() : Promise.reject(response.status); })
        .then(function (status) {
          if (bar) { bar.style.width = status.progress + "%"; }
          if (phase) { phase.textContent = status.phase; }
          if (percent) { percent.textContent = status.progress + "%"; }
          if (status.final) {
            window.location.reload();
          } else {
            window.setTimeout(tick, 1000);
          }
        })
        .catch(function () { window.setTimeout(tick, 3000); });
    }
    tick();
  }

  document.addEventListener("DOMContentLoaded", function () {
    // Sizes that depend on data are set here (through the DOM, which the CSP allows), not in
    // style="" attributes, which it refuses.
    document.querySelectorAll("[data-progress]").forEach(function (bar) {
      bar.style.width = parseInt(bar.getAttribute("data-progress"), 10) + "%";
    });
    document.querySelectorAll("[data-depth]").forEach(function (cell) {
      cell.style.paddingLeft = "calc(" + parseInt(cell.getAttribute("data-depth"), 10) + " * 1.1rem + .5rem)";
    });
    // A chart wider than a small screen scrolls: start at its right end, the latest hours.
    document.querySelectorAll(".chart-wrap").forEach(function (wrap) { wrap.scrollLeft = wrap.scrollWidth; });
    document.querySelectorAll("[data-poll-fragment]").forEach(pollFragment);
    document.querySelectorAll("[data-progress-url]").forEach(pollProgress);
  });
})();
