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
})();
