/* OneMap map layers, drawn with Leaflet directly and updated in place:
 * areas (SVG, three-colour index fill), incidents and workers (one shared canvas), patrol tracks.
 * No layer is ever rebuilt per message: markers move or restyle, and only new ones are added.
 */
(function () {
  "use strict";

  var onemap = (window.onemap = window.onemap || {});
  var el = onemap.el;
  // patrolling, handling, idle, offline
  var WORKER_COLOURS = ["rgba(61,220,151,0.9)", "rgba(255,176,32,0.95)", "rgba(125,147,178,0.8)", "rgba(74,83,97,0.6)"];
  var INDEX_FILL = { green: "#1f9d5c", yellow: "#c9a227", red: "#c23b3b" };
  var INCIDENT_MARKERS_MAX = 5000;
  // Each pulse is an animated SVG ring; hundreds at once (a burst) starve the page, and a wall
  // reader cannot follow more than a handful anyway.
  var PULSES_MAX = 12;
  var TRACK_MINUTES = 30;
  var TRACK_POINTS_MAX = 120;

  function WallMap(map) {
    var L = window.L;
    this.map = map;
    this.canvas = L.canvas({ padding: 0.3 });
    this.areaLayer = L.layerGroup().addTo(map);
    this.labelLayer = L.layerGroup().addTo(map);
    this.trackLayer = L.layerGroup().addTo(map);
    var PointLayer = onemap.makePointLayer();
    this.workerLayer = new PointLayer({ radius: 1.6, colours: WORKER_COLOURS }).addTo(map);
    this.incidentLayer = L.layerGroup().addTo(map);
    this.areas = {};
    this.scores = {};
    this.index = {};
    this.incidents = {};
    this.incidentCount = 0;
    this.pulsing = 0;
    this.tracks = {};
    this.showTracks = false;
    // markers are sized in pixels; the wall scales with the screen (rem), so they must too
    this.k = parseFloat(getComputedStyle(document.documentElement).fontSize) / 16 || 1;
  }

  WallMap.prototype.setScope = function (geo, highlight) {
    var L = window.L, self = this;
    this.clearLive();
    this.areaLayer.clearLayers();
    this.labelLayer.clearLayers();
    this.areas = {};
    this.scores = {};
    this.showTracks = geo.level !== "city";
    this.highlight = highlight || null;
    this.workerLayer.options.radius = this.k * (geo.level === "city" ? 1.6 : geo.level === "county" ? 2.4 : 3.5);
    L.geoJSON(geo.shapes, {
      style: function (feature) { return self.areaStyle(feature.properties.code, highlight); },
      onEachFeature: function (feature, layer) { self.areas[feature.properties.code] = layer; },
    }).eachLayer(function (layer) { layer.addTo(self.areaLayer); });
    geo.labels.forEach(function (label) {
      var text = el("span", "area-text");
      text.appendChild(el("span", "area-name", label.text));
      var score = el("b", "area-score");
      text.appendChild(score);
      self.labelLayer.addLayer(
        L.tooltip({ permanent: true, direction: "center", className: "area-label area-label-" + geo.level, interactive: false })
          .setLatLng([label.lat, label.lon]).setContent(text));
      self.scores[label.code] = score;
    });
    this.map.invalidateSize();
    this.map.fitBounds(geo.bounds, { padding: [20, 20], animate: false });
    this.applyIndex(this.index);
  };

  WallMap.prototype.areaStyle = function (code, highlight) {
    var colour = this.index[code] && INDEX_FILL[this.index[code].colour];
    var lit = highlight && code === highlight;
    return {
      color: lit ? "#ffffff" : "#5fb3ff", weight: lit ? 3 : 1.2,
      fillColor: colour || "#12304f", fillOpacity: colour ? 0.42 : 0.55,
    };
  };

  // index: {code: {score, colour}} for the areas on the map
  WallMap.prototype.applyIndex = function (index) {
    this.index = index || {};
    for (var code in this.areas) this.areas[code].setStyle(this.areaStyle(code, this.highlight));
    for (var label in this.scores) {
      var entry = this.index[label];
      this.scores[label].textContent = entry ? " " + Math.round(entry.score) : "";
    }
  };

  WallMap.prototype.clearLive = function () {
    this.incidentLayer.clearLayers();
    this.workerLayer.clear();
    this.trackLayer.clearLayers();
    this.incidents = {};
    this.incidentCount = 0;
    this.tracks = {};
  };

  WallMap.prototype.placeIncident = function (s, pulse) {
    var L = window.L, known = this.incidents[s.id];
    if (s.status === "closed") {
      if (known) {
        this.incidentLayer.removeLayer(known);
        delete this.incidents[s.id];
        this.incidentCount -= 1;
      }
      return;
    }
    var zoomedIn = this.showTracks;  // county or town: room for bigger markers
    var style = {
      renderer: this.canvas, radius: this.k * (s.overdue ? 8 : zoomedIn ? 6 : 3.6),
      weight: this.k * (s.overdue ? 3 : zoomedIn ? 1.2 : 0.6),
      color: s.overdue ? "#ff2d2d" : "rgba(255,255,255,0.8)", fillColor: s.colour, fillOpacity: 0.9,
      interactive: false,
    };
    if (known) {
      known.setStyle(style);
      return;
    }
    this.incidents[s.id] = L.circleMarker([s.lat, s.lon], style).addTo(this.incidentLayer);
    this.incidentCount += 1;
    if (pulse) this.pulse(s);
    if (this.incidentCount > INCIDENT_MARKERS_MAX) {
      for (var oldest in this.incidents) break;  // insertion order: the oldest key comes first
      this.incidentLayer.removeLayer(this.incidents[oldest]);
      delete this.incidents[oldest];
      this.incidentCount -= 1;
    }
  };

  WallMap.prototype.pulse = function (s) {
    if (this.pulsing >= PULSES_MAX) return;
    this.pulsing = (this.pulsing || 0) + 1;
    var self = this;
    var ring = window.L.circleMarker([s.lat, s.lon], {
      radius: 10 * this.k, color: s.overdue ? "#ff2d2d" : s.colour, weight: 3 * this.k, fill: false,
      className: "pulse-ring", interactive: false,
    }).addTo(this.map);
    setTimeout(function () { ring.remove(); self.pulsing -= 1; }, 2500);
  };

  // rows: [worker, lon, lat, statusCode]
  WallMap.prototype.moveWorkers = function (rows) {
    var now = Date.now();
    for (var i = 0; i < rows.length; i++) {
      var r = rows[i];
      this.workerLayer.set(r[0], r[1], r[2], r[3]);
      if (this.showTracks) this.extendTrack(r[0], r[2], r[1], now);
    }
  };

  // [lon, lat, statusCode] of a worker on the map, or null
  WallMap.prototype.workerAt = function (worker) { return this.workerLayer.get(worker); };

  WallMap.prototype.extendTrack = function (worker, lat, lon, now) {
    var track = this.tracks[worker];
    if (!track) {
      track = this.tracks[worker] = { times: [], line: window.L.polyline([], {
        renderer: this.canvas, color: "#3ddc97", weight: 1.5, opacity: 0.45, interactive: false,
      }).addTo(this.trackLayer) };
    }
    var cutoff = now - TRACK_MINUTES * 60000;
    var points = track.line.getLatLngs();
    points.push([lat, lon]);
    track.times.push(now);
    while (track.times.length && (track.times[0] < cutoff || track.times.length > TRACK_POINTS_MAX)) {
      track.times.shift();
      points.shift();
    }
    track.line.setLatLngs(points);
  };

  onemap.WallMap = WallMap;
})();
