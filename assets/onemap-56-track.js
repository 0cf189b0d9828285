/* OneMap duty desk: a worker's patrol track (轨迹) on the incident detail's map.
 *
 * 轨迹 beside a worker asks the server for the worker's kept fixes of today (socket `track`:
 * audited, for a worker last seen inside the officer's jurisdiction; docs/replay.md) and draws
 * them on the detail's small map as one line from the first fix (hollow) to the newest (filled),
 * with the span and the number of fixes beside it. The track stays on the desk (duty.track)
 * while its incident is open, so the detail's re-render on a new step draws it again; 轨迹
 * again takes it away.
 */
(function () {
  "use strict";
  var onemap = window.onemap;
  var el = function (tag, cls, text) { return onemap.el(tag, cls, text); };
  var COLOUR = "#ffd166";

  function hhmm(iso) { return iso ? iso.slice(11, 16) : ""; }

  onemap.trackNode = function (duty, worker, incident) {
    var button = el("button", "duty-button track-ask", "轨迹");
    button.type = "button";
    button.setAttribute("data-worker", worker);
    button.title = "今日巡查轨迹";
    if (duty.track && duty.track.worker === worker) button.classList.add("is-on");
    button.addEventListener("click", function () {
      if (duty.track && duty.track.worker === worker) {
        duty.track = null;
        onemap.redrawTrack(duty, duty.miniMap);
        button.classList.remove("is-on");
        return;
      }
      button.disabled = true;
      duty.live.socket.emit("track", { worker: worker }, function (reply) {
        button.disabled = false;
        if (!reply || !reply.ok || !reply.points.length) {
          button.textContent = "无轨迹";
          return;
        }
        duty.track = { worker: worker, incident: incident, points: reply.points };
        var shown = document.querySelectorAll(".track-ask.is-on");
        Array.prototype.forEach.call(shown, function (b) { b.classList.remove("is-on"); });
        button.classList.add("is-on");
        onemap.redrawTrack(duty, duty.miniMap);
      });
    });
    return button;
  };

  // Called by the detail's map after each render (onemap-55-duty.js drawMiniMap).
  onemap.redrawTrack = function (duty, map) {
    var L = window.L;
    if (!L || !map) return;
    if (duty.trackLayer) { duty.trackLayer.remove(); duty.trackLayer = null; }
    var track = duty.track;
    if (!track || (duty.detail && duty.detail.id !== track.incident)) return;
    var line = track.points.map(function (p) { return [p[1], p[0]]; });
    var first = track.points[0], last = track.points[track.points.length - 1];
    var layer = (duty.trackLayer = L.layerGroup().addTo(map));
    L.polyline(line, { color: COLOUR, weight: 3, opacity: 0.9, smoothFactor: 0 }).addTo(layer);
    L.circleMarker(line[0], { radius: 5, color: COLOUR, weight: 2, fillOpacity: 0 }).addTo(layer);
    L.circleMarker(line[line.length - 1], { radius: 6, color: "#fff", weight: 2, fillColor: COLOUR, fillOpacity: 1 })
      .bindTooltip(el("span", "", track.worker + " · " + hhmm(first[2]) + "–" + hhmm(last[2]) + " · " +
        track.points.length + " 个定位"), { permanent: true, direction: "bottom", className: "track-tip" })
      .addTo(layer);
    map.fitBounds(L.latLngBounds(line).extend(map.getCenter()).pad(0.2), { maxZoom: 16, animate: false });
  };
})();
