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

  // A layer's canvas over the map's visible area, at the screen's pixel ratio, cleared:
  // the 2D context to draw on, in CSS pixels.
  function clearCanvas(map, canvas, size) {
    window.L.DomUtil.setPosition(canvas, map.containerPointToLayerPoint([0, 0]));
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
    return ctx;
  }

  // shared with the density and cluster layers (onemap-25-density.js)
  onemap.project = project;
  onemap.clearCanvas = clearCanvas;

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
        var ctx = clearCanvas(map, canvas, size);
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
   * Leaflet. A new marker is on the page when `set` returns: a small DOM circle ("fresh"),
   * merged into the canvas at most every FRESH_MS. Drawing each new marker straight into the
   * canvas would change the whole canvas on every frame of a burst, and every changed frame
   * of a map-sized canvas is copied and composited whole (measured: the display compositor's
   * CPU, in software, was twice the page's own). A removal or restyle needs a full redraw,
   * rate-limited by its own cost, so a burst of closures or evictions cannot take the main
   * thread. Markers are kept in insertion order (a Map), so the oldest is found in O(1).
   */
  onemap.makeMarkerLayer = function () {
    var L = window.L;
    var REDRAW_MIN_MS = 150;   // between two full redraws forced by removals or restyles
    var FRESH_MS = 1000;       // new markers stay DOM circles this long before the canvas takes them
    var FRESH_MAX = 400;       // or until there are this many
    var FILL_OPACITY = 0.9;    // as the Leaflet circle markers had

    // Fill (and outline) the path just built with a marker's look: one marker or a group.
    function paintMarker(ctx, m) {
      ctx.fillStyle = m.fill;
      ctx.globalAlpha = FILL_OPACITY;
      ctx.fill();
      ctx.globalAlpha = 1;
      if (m.w > 0) {
        ctx.lineWidth = m.w;
        ctx.strokeStyle = m.stroke;
        ctx.stroke();
      }
    }

    return L.Layer.extend({
      initialize: function (options) {
        L.setOptions(this, options);
        this.markers = new Map();  // id → {x, y, lon, lat, r, w, stroke, fill}
        this.view = null;          // the transform of the last full redraw
        this.pending = false;
        this.dirtySince = 0;
        this.lastRedrawMs = 0;
        this.redrawnAt = 0;
        this.fresh = [];           // markers shown as DOM circles, not in the canvas yet
        this.freshTimer = null;
      },

      onAdd: function (map) {
        this.canvas = L.DomUtil.create("canvas", "marker-layer leaflet-zoom-hide");
        this.getPane().appendChild(this.canvas);
        this.freshBox = L.DomUtil.create("div", "marker-fresh leaflet-zoom-hide", this.getPane());
        map.on("moveend zoomend resize viewreset", this.redrawNow, this);
        this.redraw();
      },

      onRemove: function (map) {
        L.DomUtil.remove(this.canvas);
        L.DomUtil.remove(this.freshBox);
        this.fresh = [];
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
        var m = { id: id, x: p[0], y: p[1], lon: lon, lat: lat, r: style.radius, w: style.weight,
                  stroke: style.color, fill: style.fillColor };
        if (known && known.x === m.x && known.y === m.y && known.r === m.r && known.w === m.w &&
            known.stroke === m.stroke && known.fill === m.fill) return known;  // as drawn
        this.markers.set(id, m);  // an existing id keeps its place in the order
        if (known) {
          this.dirty();
        } else if (this.view) {
          this.addFresh(m, this.view);
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

      // A DOM circle where the canvas would draw the marker (left/top, not a 3D transform: a
      // few hundred composited layers would cost more than they save).
      addFresh: function (m, v) {
        var px = m.x * v.scale + v.dx, py = m.y * v.scale + v.dy;
        if (px < -20 || py < -20 || px > v.w + 20 || py > v.h + 20) return;
        var dot = document.createElement("div"), size = 2 * m.r + m.w;
        dot.className = "fresh-marker";
        dot.style.left = (px + v.left - size / 2) + "px";
        dot.style.top = (py + v.top - size / 2) + "px";
        dot.style.width = dot.style.height = size + "px";
        dot.style.borderWidth = m.w + "px";
        dot.style.borderColor = m.stroke;
        dot.style.backgroundColor = m.fill;
        this.freshBox.appendChild(dot);
        this.fresh.push(m);
        if (this.fresh.length >= FRESH_MAX) this.merge();
        else if (!this.freshTimer) this.freshTimer = setTimeout(this.merge.bind(this), FRESH_MS);
      },

      // the fresh markers go into the canvas in one change, their DOM circles go
      merge: function () {
        if (this.freshTimer) { clearTimeout(this.freshTimer); this.freshTimer = null; }
        if (!this.fresh.length) return;
        if (this.view) {
          var ctx = this.canvas.getContext("2d");
          for (var i = 0; i < this.fresh.length; i++) {
            var m = this.fresh[i];
            if (this.markers.get(m.id) === m) this.drawOne(ctx, m, this.view);
          }
        }
        this.fresh = [];
        this.freshBox.textContent = "";
      },

      drawOne: function (ctx, m, v) {
        var px = m.x * v.scale + v.dx, py = m.y * v.scale + v.dy;
        if (px < -20 || py < -20 || px > v.w + 20 || py > v.h + 20) return;
        ctx.beginPath();
        ctx.arc(px, py, m.r, 0, 2 * Math.PI);
        paintMarker(ctx, m);
      },

      redraw: function () {
        var map = this._map;
        this.pending = false;
        if (!map) return;
        var started = performance.now();
        var size = map.getSize(), canvas = this.canvas;
        var ctx = clearCanvas(map, canvas, size);
        var origin = map.getPixelOrigin(), pane = map._getMapPanePos();
        var topLeft = map.containerPointToLayerPoint([0, 0]);
        var v = (this.view = { scale: Math.pow(2, map.getZoom()), dx: pane.x - origin.x,
                               dy: pane.y - origin.y, w: size.x, h: size.y,
                               left: topLeft.x, top: topLeft.y });
        // a full redraw draws every marker: the fresh ones are in it now
        if (this.freshTimer) { clearTimeout(this.freshTimer); this.freshTimer = null; }
        this.fresh = [];
        if (this.freshBox) this.freshBox.textContent = "";
        // One path per look (fill, outline, size): a fill and a stroke per group, not per marker.
        var groups = new Map();
        this.markers.forEach(function (m) {
          var px = m.x * v.scale + v.dx, py = m.y * v.scale + v.dy;
          if (px < -20 || py < -20 || px > v.w + 20 || py > v.h + 20) return;
          var key = m.fill + "|" + m.stroke + "|" + m.w + "|" + m.r;
          var group = groups.get(key);
          if (!group) groups.set(key, (group = { m: m, xy: [] }));
          group.xy.push(px, py);
        });
        Array.from(groups.values())
          .sort(function (a, b) { return a.m.r - b.m.r; })  // the larger (overdue) on top
          .forEach(function (group) {
            var m = group.m, xy = group.xy;
            ctx.beginPath();
            for (var i = 0; i < xy.length; i += 2) {
              ctx.moveTo(xy[i] + m.r, xy[i + 1]);
              ctx.arc(xy[i], xy[i + 1], m.r, 0, 2 * Math.PI);
            }
            paintMarker(ctx, m);
          });
        this.redrawnAt = performance.now();
        this.lastRedrawMs = this.redrawnAt - started;
      },
    });
  };
})();
