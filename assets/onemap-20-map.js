/* OneMap map layers, drawn with Leaflet directly and updated in place:
 * areas (SVG, three-colour index fill), incidents and workers (a canvas each, onemap-15-points),
 * patrol tracks (Leaflet canvas), pulses (a few DOM rings animated by the compositor).
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
  var EVICT_BATCH = 250;
  // A wall reader cannot follow more than a handful of pulses at once, and each is a DOM node.
  var PULSES_MAX = 4;
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
    map.createPane("onemap-incidents");  // above the SVG areas, whenever those are added
    var MarkerLayer = onemap.makeMarkerLayer();
    this.incidentLayer = new MarkerLayer({ pane: "onemap-incidents" }).addTo(map);
    // Pulse rings animate transform and opacity only (assets/wall.css), which the compositor
    // runs without the main thread; an SVG ring's stroke animation repaints the whole SVG
    // layer, county shapes included, on every frame.
    this.pulsePane = map.createPane("onemap-pulses");
    this.pulseGeneration = 0;
    map.on("zoomend viewreset", this.clearPulses, this);
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
    this.incidentLayer.clear();
    this.clearPulses();
    this.workerLayer.clear();
    this.trackLayer.clearLayers();
    this.incidents = {};
    this.incidentCount = 0;
    this.tracks = {};
  };

  // s: a step or marker payload {id, lon, lat, status, overdue, colour}; O(1) per call
  WallMap.prototype.placeIncident = function (s, pulse) {
    var layer = this.incidentLayer, known = this.incidents[s.id] !== undefined;
    if (s.status === "closed") {
      if (known) {
        layer.drop(s.id);
        delete this.incidents[s.id];
        this.incidentCount -= 1;
      }
      return;
    }
    var zoomedIn = this.showTracks;  // county or town: room for bigger markers
    this.incidents[s.id] = layer.set(s.id, s.lon, s.lat, {
      radius: this.k * (s.overdue ? 8 : zoomedIn ? 6 : 3.6),
      weight: this.k * (s.overdue ? 3 : zoomedIn ? 1.2 : 0.6),
      color: s.overdue ? "#ff2d2d" : "rgba(255,255,255,0.8)", fillColor: s.colour,
    });
    if (known) return;
    this.incidentCount += 1;
    if (pulse) this.pulse(s);
    // Past the cap, the oldest go in a batch: a removal costs a full redraw of the canvas, so
    // one redraw per EVICT_BATCH new markers rather than one per marker.
    if (this.incidentCount > INCIDENT_MARKERS_MAX) {
      for (var n = 0; n < EVICT_BATCH && this.incidentCount > 0; n++) {
        var oldest = layer.oldest();  // insertion order: the layer's first key
        layer.drop(oldest);
        delete this.incidents[oldest];
        this.incidentCount -= 1;
      }
    }
  };

  WallMap.prototype.pulse = function (s) {
    if (this.pulsing >= PULSES_MAX || !this.map._loaded) return;
    this.pulsing += 1;
    var self = this, generation = this.pulseGeneration;
    var ring = el("div", "pulse-ring");
    ring.style.setProperty("--pulse", s.overdue ? "#ff2d2d" : s.colour);
    window.L.DomUtil.setPosition(ring, this.map.latLngToLayerPoint([s.lat, s.lon]));
    this.pulsePane.appendChild(ring);
    setTimeout(function () {
      ring.remove();
      if (generation === self.pulseGeneration) self.pulsing -= 1;
    }, 2500);
  };

  // After a zoom the rings would sit in the wrong place; they only last 2.5 s anyway.
  WallMap.prototype.clearPulses = function () {
    this.pulseGeneration += 1;
    this.pulsing = 0;
    this.pulsePane.textContent = "";
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
