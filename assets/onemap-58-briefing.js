/* The 日报 link (docs/briefing.md): a link to /reports, the kept daily briefings of the
   signed-in person's jurisdiction, put into the duty desk's header and the tablet's tools.
   The pages are rendered by Dash after load, so it waits for their header to appear; the
   wall never loads this file (dashboard/web/webapp.py WALL_DROPS). */
(function () {
  "use strict";
  var PLACES = [
    // [header, where in it, the class that makes it look like its neighbours]
    [".duty-head", ".duty-user", "duty-button onemap-briefing-link"],
    [".tablet-header", ".tablet-tools", "t-btn onemap-briefing-link"],
  ];

  function place() {
    PLACES.forEach(function (spot) {
      var header = document.querySelector(spot[0]);
      if (!header || header.querySelector(".onemap-briefing-link")) return;
      var link = document.createElement("a");
      link.href = "/reports";
      link.className = spot[2];
      link.textContent = "日报";
      link.title = "每日简报：PDF 与 Excel";
      link.style.textDecoration = "none";
      link.style.display = "inline-flex";
      link.style.alignItems = "center";
      var anchor = header.querySelector(spot[1]);
      if (spot[0] === ".tablet-header" && anchor) {
        anchor.insertBefore(link, anchor.firstChild);
      } else {
        header.insertBefore(link, anchor || null);
      }
    });
  }

  function start() {
    place();
    // Dash renders and re-renders the page: the link comes back whenever its header does
    new MutationObserver(place).observe(document.body, { childList: true, subtree: true });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
