/* A Leaflet layer for tens of thousands of moving points, drawn on one canvas.
 *
 * Positions live in typed arrays, already projected to Web Mercator pixels at zoom 0, so a
 * position frame only writes numbers and asks for one redraw on the next animation frame;
 * a redraw is a scale-and-offset and one fillRect per point, grouped by colour. Leaflet's own
 * circle markers cost an object, events and bounds upkeep per point, which is what makes
 * 50,000 workers lag.
 */
(function () {
  "use strict";

  var onemap = (window.onemap = window.onemap || {});

  function project(lon, lat) {
    var s = Math.sin((Math.max(-85.05, Math.min(85.05, lat)) * Math.PI) / 180);
    return [((lon + 180) / 360) * 256, (0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI)) * 256];
  }

  onemap.makePointLayer = function () {
    var L = window.L;
    return L.Layer.extend({
      initialize: function (options) {
        L.setOptions(this, options);
        this.index = {};
        this.ids = [];
        this.size = 0;
        this.lon = new Float64Array(1024);
        this.lat = new Float64Array(1024);
        this.x = new Float64Array(1024);
        this.y = new Float64Array(1024);
        this.group = new Uint8Array(1024);
        this.pending = false;
      },

      onAdd: function (map) {
        this.canvas = L.DomUtil.create("canvas", "point-layer leaflet-zoom-hide");
        map.getPanes().overlayPane.appendChild(this.canvas);
        map.on("moveend zoomend resize viewreset", this.redraw, this);
        this.redraw();
      },

      onRemove: function (map) {
        L.DomUtil.remove(this.canvas);
        map.off("moveend zoomend resize viewreset", this.redraw, this);
      },

      grow: function () {
        var capacity = this.lon.length * 2;
        ["lon", "lat", "x", "y"].forEach(function (name) {
          var bigger = new Float64Array(capacity);
          bigger.set(this[name]);
          this[name] = bigger;
        }, this);
        var groups = new Uint8Array(capacity);
        groups.set(this.group);
        this.group = groups;
      },

      // Set one point; returns nothing, draws on the next frame.
      set: function (id, lon, lat, group) {
        var i = this.index[id];
        if (i === undefined) {
          if (this.size === this.lon.length) this.grow();
          i = this.index[id] = this.size++;
          this.ids.push(id);
        }
        var p = project(lon, lat);
        this.lon[i] = lon;
        this.lat[i] = lat;
        this.x[i] = p[0];
        this.y[i] = p[1];
        this.group[i] = group;
        this.schedule();
      },

      get: function (id) {
        var i = this.index[id];
        return i === undefined ? null : [this.lon[i], this.lat[i], this.group[i]];
      },

      clear: function () {
        this.index = {};
        this.ids = [];
        this.size = 0;
        this.schedule();
      },

      schedule: function () {
        if (this.pending || !this._map) return;
        this.pending = true;
        var self = this;
        requestAnimationFrame(function () { self.pending = false; self.redraw(); });
      },

      redraw: function () {
        var map = this._map;
        if (!map) return;
        var size = map.getSize(), canvas = this.canvas;
        var topLeft = map.containerPointToLayerPoint([0, 0]);
        L.DomUtil.setPosition(canvas, topLeft);
        var ratio = window.devicePixelRatio || 1;
        if (canvas.width !== size.x * ratio || canvas.height !== size.y * ratio) {
          canvas.width = size.x * ratio;
          canvas.height = size.y * ratio;
          canvas.style.width = size.x + "px";
          canvas.style.height = size.y + "px";
        }
        var ctx = canvas.getContext("2d");
        ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
        ctx.clearRect(0, 0, size.x, size.y);
        var scale = Math.pow(2, map.getZoom());
        var origin = map.getPixelOrigin();
        var pane = map._getMapPanePos();  // Leaflet has no public name for the pane offset
        var dx = pane.x - origin.x, dy = pane.y - origin.y;
        var r = this.options.radius, d = 2 * r;
        var colours = this.options.colours;
        for (var g = 0; g < colours.length; g++) {
          if (!colours[g]) continue;
          ctx.fillStyle = colours[g];
          for (var i = 0; i < this.size; i++) {
            if (this.group[i] !== g) continue;
            var px = this.x[i] * scale + dx, py = this.y[i] * scale + dy;
            if (px < -d || py < -d || px > size.x + d || py > size.y + d) continue;
            ctx.fillRect(px - r, py - r, d, d);
          }
        }
        this.drawnAt = performance.now();
      },
    });
  };

  /* Incident markers: a few thousand outlined circles on one canvas, no object per marker in
   * Leaflet. A new marker is drawn at once on top of what is there (the canvas is final when
   * `set` returns); a removal or restyle needs a full redraw, which is rate-limited by its own
   * cost, so a burst of closures or evictions cannot take the main thread. Markers are kept in
   * insertion order (a Map), so the oldest is found in O(1).
   */
  onemap.makeMarkerLayer = function () {
    var L = window.L;
    var REDRAW_MIN_MS = 150;   // between two full redraws forced by removals or restyles
    return L.Layer.extend({
      initialize: function (options) {
        L.setOptions(this, options);
        this.markers = new Map();  // id → {x, y, lon, lat, r, w, stroke, fill}
        this.view = null;          // the transform of the last full redraw
        this.pending = false;
        this.dirtySince = 0;
        this.lastRedrawMs = 0;
        this.redrawnAt = 0;
      },

      onAdd: function (map) {
        this.canvas = L.DomUtil.create("canvas", "marker-layer leaflet-zoom-hide");
        this.getPane().appendChild(this.canvas);
        map.on("moveend zoomend resize viewreset", this.redrawNow, this);
        this.redraw();
      },

      onRemove: function (map) {
        L.DomUtil.remove(this.canvas);
        this.view = null;
        map.off("moveend zoomend resize viewreset", this.redrawNow, this);
      },

      count: function () { return this.markers.size; },
      has: function (id) { return this.markers.has(id); },
      get: function (id) { return this.markers.get(id) || null; },
      oldest: function () { var first = this.markers.keys().next(); return first.done ? null : first.value; },

      // style: {radius, weight, color (stroke), fillColor}; returns the marker's record
      set: function (id, lon, lat, style) {
        var known = this.markers.get(id);
        var p = project(lon, lat);
        var m = { x: p[0], y: p[1], lon: lon, lat: lat, r: style.radius, w: style.weight,
                  stroke: style.color, fill: style.fillColor };
        this.markers.set(id, m);  // an existing id keeps its place in the order
        if (known) {
          if (known.x !== m.x || known.y !== m.y || known.r !== m.r || known.w !== m.w ||
              known.stroke !== m.stroke || known.fill !== m.fill) this.dirty();
        } else if (this.view) {  // on top, as a full redraw would draw it: correct even if one is due
          this.drawOne(this.canvas.getContext("2d"), m, this.view);
        } else {
          this.dirty();
        }
        return m;
      },

      drop: function (id) {  // not `remove`: that is Leaflet's, for the layer itself
        if (this.markers.delete(id)) this.dirty();
      },

      clear: function () {
        this.markers.clear();
        this.redrawNow();
      },

      // a full redraw on the next frame, or later if full redraws have been costly
      dirty: function () {
        if (this.pending || !this._map) return;
        this.pending = true;
        var self = this;
        var wait = Math.max(REDRAW_MIN_MS, 10 * this.lastRedrawMs) - (performance.now() - this.redrawnAt);
        setTimeout(function () {
          requestAnimationFrame(function () { if (self.pending) self.redraw(); });
        }, Math.max(0, wait));
      },

      redrawNow: function () { this.redraw(); },

      drawOne: function (ctx, m, v) {
        var px = m.x * v.scale + v.dx, py = m.y * v.scale + v.dy;
        if (px < -20 || py < -20 || px > v.w + 20 || py > v.h + 20) return;
        ctx.beginPath();
        ctx.arc(px, py, m.r, 0, 2 * Math.PI);
        ctx.fillStyle = m.fill;
        ctx.fill();
        if (m.w > 0) {
          ctx.lineWidth = m.w;
          ctx.strokeStyle = m.stroke;
          ctx.stroke();
        }
      },

      redraw: function () {
        var map = this._map;
        this.pending = false;
        if (!map) return;
        var started = performance.now();
        var size = map.getSize(), canvas = this.canvas;
        L.DomUtil.setPosition(canvas, map.containerPointToLayerPoint([0, 0]));
        var ratio = window.devicePixelRatio || 1;
        if (canvas.width !== size.x * ratio || canvas.height !== size.y * ratio) {
          canvas.width = size.x * ratio;
          canvas.height = size.y * ratio;
          canvas.style.width = size.x + "px";
          canvas.style.height = size.y + "px";
        }
        var ctx = canvas.getContext("2d");
        ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
        ctx.clearRect(0, 0, size.x, size.y);
        var origin = map.getPixelOrigin(), pane = map._getMapPanePos();
        var v = (this.view = { scale: Math.pow(2, map.getZoom()), dx: pane.x - origin.x,
                               dy: pane.y - origin.y, w: size.x, h: size.y });
        var self = this;
        this.markers.forEach(function (m) { self.drawOne(ctx, m, v); });
        this.redrawnAt = performance.now();
        this.lastRedrawMs = this.redrawnAt - started;
      },
    });
  };
})();
