/* OneMap map layers, drawn with Leaflet directly and updated in place:
 * areas (SVG, three-colour index fill), incidents and workers (a canvas each, onemap-15-points),
 * patrol tracks (Leaflet canvas), pulses (a few DOM rings animated by the compositor).
 * No layer is ever rebuilt per message: markers move or restyle, and only new ones are added.
 * At city scale (onemap-25-density): incident density instead of dots once there are enough
 * of them to merge, clustered markers otherwise, and worker counts per cell instead of dots.
 */
(function () {
  "use strict";

  var onemap = (window.onemap = window.onemap || {});
  // now, or the replayed moment (onemap-10-core.js onemap.now; absent in a bench page)
  function clockNow() { return onemap.now ? onemap.now() : Date.now(); }
  var el = onemap.el;
  // patrolling, handling, idle, offline
  var WORKER_COLOURS = ["rgba(61,220,151,0.9)", "rgba(255,176,32,0.95)", "rgba(125,147,178,0.8)", "rgba(74,83,97,0.6)"];
  var INDEX_FILL = { green: "#1f9d5c", yellow: "#c9a227", red: "#c23b3b" };
  // Whose label stays when two would overlap: the areas a leader must see first.
  var LABEL_RANK = { red: 3, yellow: 2, green: 1 };
  // Where an overlapping label tries to go, in its own widths and heights: up, down, aside.
  var LABEL_SPOTS = [[0, 0], [0, -0.95], [0, 0.95], [-0.6, 0], [0.6, 0], [-0.6, -0.95], [0.6, -0.95],
    [-0.6, 0.95], [0.6, 0.95], [0, -1.9], [0, 1.9]];
  var INCIDENT_MARKERS_MAX = 5000;
  var EVICT_BATCH = 250;
  // A wall reader cannot follow more than a handful of pulses at once, and each is a DOM node.
  var PULSES_MAX = 4;
  var TRACK_MINUTES = 30;
  var TRACK_POINTS_MAX = 120;
  // A city map shows density once the filter holds this many incidents (fewer, as markers, do
  // not merge into a blob), and markers again below the second figure: no flapping at the edge.
  var DENSITY_FROM = 150;
  var DENSITY_UNTIL = 100;

  // options (from the wall's URL, layouts/wall.py): density ("all", "off" or platform and
  // category codes, comma-separated), window ("open", "today", "24h"), categories ([[code,
  // colour], ...]: a snapshot marker says its category by its colour), dueSoonMs
  function WallMap(map, options) {
    var L = window.L, self = this;
    options = options || {};
    this.map = map;
    this.panel = map.getContainer().parentNode;
    // markers are sized in pixels; the wall scales with the screen (rem), so they must too
    this.k = parseFloat(getComputedStyle(document.documentElement).fontSize) / 16 || 1;
    var font = getComputedStyle(document.documentElement).getPropertyValue("--digits").trim() || "sans-serif";
    this.canvas = L.canvas({ padding: 0.3 });
    this.areaLayer = L.layerGroup().addTo(map);
    this.labelLayer = L.layerGroup().addTo(map);
    this.trackLayer = L.layerGroup().addTo(map);
    // above the SVG areas, whenever those are added: density, workers, incidents (wall.css)
    ["onemap-density", "onemap-workers", "onemap-incidents"].forEach(function (pane) { map.createPane(pane); });
    this.categories(options.categories || [], options.density);
    this.dense = false;  // before the density layer's first count
    var DensityLayer = onemap.makeDensityLayer();
    this.density = new DensityLayer({ pane: "onemap-density", k: this.k, dueSoonMs: options.dueSoonMs,
                                      onCount: function (n) { self.onDensityCount(n); } }).addTo(map);
    this.density.setFilter(this.cats, options.window);
    var WorkerLayer = onemap.makeWorkerLayer(onemap.makePointLayer());
    this.workerLayer = new WorkerLayer({ radius: 1.6, colours: WORKER_COLOURS, pane: "onemap-workers",
      k: this.k, font: font, avoid: function () { return self.labelBoxes; } }).addTo(map);
    this.labelBoxes = [];  // where declutter put the labels (and the legend), container pixels
    var MarkerLayer = onemap.makeClusterLayer(onemap.makeMarkerLayer());
    this.incidentLayer = new MarkerLayer({ pane: "onemap-incidents", k: this.k, font: font,
      stateOf: function (id, now) { return self.density.stateOf(id, now); },
      avoid: function () { return self.labelBoxes.slice(); } }).addTo(map);
    // deadlines pass and time windows slide without a message
    setInterval(function () {
      self.density.prune(clockNow());
      self.density.schedule();
      self.incidentLayer.dirty();
    }, 60000);
    // Pulse rings animate transform and opacity only (assets/wall.css), which the compositor
    // runs without the main thread; an SVG ring's stroke animation repaints the whole SVG
    // layer, county shapes included, on every frame.
    this.pulsePane = map.createPane("onemap-pulses");
    this.pulseGeneration = 0;
    map.on("zoomend viewreset", this.clearPulses, this);
    this.areas = {};
    this.scores = {};
    this.labels = [];  // [{code, tip, text}]
    this.bounds = null;
    this.index = {};
    this.incidents = {};
    this.incidentCount = 0;
    this.pulsing = 0;
    this.tracks = {};
    this.showTracks = false;
    // A wall whose window changes shape (assets/onemap-12-shape.js) fits its area again.
    map.on("resize", this.fit, this);
  }

  WallMap.prototype.setScope = function (geo, highlight) {
    var L = window.L, self = this;
    this.clearLive();
    this.areaLayer.clearLayers();
    this.labelLayer.clearLayers();
    this.areas = {};
    this.scores = {};
    this.labels = [];
    this.showTracks = geo.level !== "city";
    this.highlight = highlight || null;
    this.level = geo.level;
    this.workerLayer.options.radius = this.k * (geo.level === "city" ? 1.6 : geo.level === "county" ? 2.4 : 3.5);
    this.workerLayer.setAggregate(geo.level === "city");
    this.onDensityCount(this.density.matched);
    this.applyMode();
    L.geoJSON(geo.shapes, {
      style: function (feature) { return self.areaStyle(feature.properties.code, highlight); },
      onEachFeature: function (feature, layer) { self.areas[feature.properties.code] = layer; },
    }).eachLayer(function (layer) { layer.addTo(self.areaLayer); });
    geo.labels.forEach(function (label) {
      var text = el("span", "area-text");
      text.appendChild(el("span", "area-name", label.text));
      var score = el("b", "area-score");
      text.appendChild(score);
      var tip = L.tooltip({ permanent: true, direction: "center", className: "area-label area-label-" + geo.level, interactive: false })
        .setLatLng([label.lat, label.lon]).setContent(text);
      self.labelLayer.addLayer(tip);
      self.scores[label.code] = score;
      self.labels.push({ code: label.code, tip: tip, text: text });
    });
    this.map.invalidateSize();
    this.bounds = geo.bounds;
    this.fit();
    this.applyIndex(this.index);
  };

  // The area's bounds, beside the legend (top left, wall.css): no area is ever under it.
  WallMap.prototype.fit = function () {
    if (!this.bounds) return;
    var pad = 20 * this.k, left = pad, container = this.map.getContainer();
    var legend = container.parentNode && container.parentNode.querySelector(".wall-legend");
    if (legend && legend.offsetWidth) {
      left = legend.getBoundingClientRect().right - container.getBoundingClientRect().left + pad;
    }
    this.map.fitBounds(this.bounds, { paddingTopLeft: [left, pad], paddingBottomRight: [pad, pad], animate: false });
    this.declutterSoon();
  };

  WallMap.prototype.declutterSoon = function () {
    if (this.declutterQueued) return;
    this.declutterQueued = true;
    var self = this;
    requestAnimationFrame(function () { self.declutterQueued = false; self.declutter(); });
  };

  // Labels never overlap (nor the legend): the most urgent area's label is placed first (red,
  // then amber, then the server's order); each next one takes its own spot or, if that is
  // taken, the first free one of LABEL_SPOTS nearby; one with no free spot is hidden (its area
  // keeps its colour). One layout read for all labels, then writes only.
  WallMap.prototype.declutter = function () {
    var self = this, gap = 2 * this.k, container = this.map.getContainer();
    if (!this.labels.length || !container.offsetWidth) return;
    this.labels.forEach(function (label) { label.text.style.transform = ""; });
    var frame = container.getBoundingClientRect();
    var rects = this.labels.map(function (label) { return label.text.getBoundingClientRect(); });
    var legend = container.parentNode && container.parentNode.querySelector(".wall-legend");
    var taken = legend && legend.offsetWidth ? [legend.getBoundingClientRect()] : [];
    var order = this.labels.map(function (label, i) { return i; });
    order.sort(function (a, b) { return self.labelRank(b) - self.labelRank(a) || a - b; });
    order.forEach(function (i) {
      var r = rects[i], spot = null;
      for (var n = 0; n < LABEL_SPOTS.length && !spot; n++) {
        var dx = LABEL_SPOTS[n][0] * r.width, dy = LABEL_SPOTS[n][1] * r.height;
        var box = { left: r.left + dx, top: r.top + dy, right: r.right + dx, bottom: r.bottom + dy, dx: dx, dy: dy };
        var inside = box.left >= frame.left && box.right <= frame.right && box.top >= frame.top && box.bottom <= frame.bottom;
        if (inside && !taken.some(function (t) { return overlaps(box, t, gap); })) spot = box;
      }
      var label = self.labels[i], element = label.tip.getElement();
      if (spot) {
        taken.push(spot);
        label.text.style.transform = spot.dx || spot.dy ? "translate(" + spot.dx + "px," + spot.dy + "px)" : "";
      }
      if (element) element.style.visibility = spot ? "" : "hidden";
    });
    // worker counts keep clear of the labels, which they would otherwise sit under
    this.labelBoxes = taken.map(function (t) {
      return { left: t.left - frame.left - gap, top: t.top - frame.top - gap,
               right: t.right - frame.left + gap, bottom: t.bottom - frame.top + gap };
    });
    this.workerLayer.schedule();
    this.incidentLayer.dirty();
  };

  WallMap.prototype.labelRank = function (i) {
    var entry = this.index[this.labels[i].code];
    return (entry && LABEL_RANK[entry.colour]) || 0;
  };

  function overlaps(a, b, gap) {
    return a.left < b.right + gap && b.left < a.right + gap && a.top < b.bottom + gap && b.top < a.bottom + gap;
  }

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
    var changed = false;
    for (var label in this.scores) {
      var entry = this.index[label];
      var text = entry ? " " + Math.round(entry.score) : "";
      if (this.scores[label].textContent !== text) { this.scores[label].textContent = text; changed = true; }
    }
    var colours = this.colourKey();
    if (changed || colours !== this.colours) { this.colours = colours; this.declutterSoon(); }
  };

  // The index's colours as one string: a label's rank changes only when this does.
  WallMap.prototype.colourKey = function () {
    var key = "";
    for (var code in this.index) key += code + (this.index[code] && this.index[code].colour) + ";";
    return key;
  };

  // Category indexes by code and by colour; cats: the categories the URL asks for (null: all).
  WallMap.prototype.categories = function (list, filter) {
    var self = this, codes = filter && filter !== "all" && filter !== "off" ? filter.split(",") : null;
    this.catIndex = {};
    this.catOfColour = {};
    this.cats = codes ? new Uint8Array(256) : null;
    this.densityOn = filter !== "off";
    list.forEach(function (c, i) {
      self.catIndex[c[0]] = i;
      self.catOfColour[c[1]] = i;
      if (codes && codes.some(function (code) { return c[0] === code || c[0].slice(0, 2) === code; })) self.cats[i] = 1;
    });
  };

  WallMap.prototype.onDensityCount = function (n) {
    var dense = this.level === "city" && this.densityOn && n >= (this.dense ? DENSITY_UNTIL : DENSITY_FROM);
    if (dense === this.dense) return;
    this.dense = dense;
    this.applyMode();
  };

  // What the map shows of incidents: density or markers (the legend follows, wall.css).
  WallMap.prototype.applyMode = function () {
    this.density.setShown(this.dense);
    this.incidentLayer.setHidden(this.dense);
    if (!this.panel) return;
    this.panel.setAttribute("data-incidents", this.dense ? "density" : "markers");
    this.panel.setAttribute("data-level", this.level || "");
  };

  WallMap.prototype.clearLive = function () {
    this.density.clear();
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
    var cat = s.cat !== undefined ? this.catIndex[s.cat] : this.catOfColour[s.colour];
    if (cat === undefined) cat = onemap.density.UNKNOWN;
    this.density.note(s, cat);
    var layer = this.incidentLayer, known = this.incidents[s.id] !== undefined;
    if (s.status === "closed" || !this.density.passes(cat)) {
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
    var now = clockNow();
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
