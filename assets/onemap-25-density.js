/* The wall at city scale: an incident density layer, clustered incident markers, worker counts.
 *
 * At city zoom thousands of incident dots and 10,000 worker dots merge into one blob over the
 * urban districts. Instead:
 *
 * - Density: every incident's projected position is counted into screen cells, the counts are
 *   blurred (three box passes each way, close to a Gaussian) and mapped through a colour ramp
 *   with transparency onto one canvas, so the three-colour index underneath stays readable.
 *   The ramp is violet to white: no colour the index, the platforms or the workers use. The
 *   records live in typed arrays, so 100,000 incidents cost a counting loop and a blur over a
 *   grid of a few thousand cells (bench/wall_density.py).
 * - Clusters: the incident marker layer (onemap-15-points.js), extended so that markers closer
 *   than a cluster's size are drawn as one circle with their count, coloured by their worst
 *   state (overdue, due soon, open); a marker alone is drawn as before.
 * - Worker counts: the worker point layer, extended to draw, at city zoom, the number of
 *   workers on duty per screen cell at the cell's centre of mass instead of the dots.
 *
 * Which one shows is decided by onemap-20-map.js (WallMap.applyMode); what is counted comes
 * from the wall's URL (layouts/wall.py, docs/wall.md).
 */
(function () {
  "use strict";

  var onemap = (window.onemap = window.onemap || {});
  // now, or the replayed moment (onemap-10-core.js onemap.now; absent in a bench page)
  function clockNow() { return onemap.now ? onemap.now() : Date.now(); }
  var UNKNOWN = 255;                  // category index of an incident whose category is not known
  var CHINA_OFFSET_MS = 8 * 3600000;  // "today" is China's day (no daylight saving there)
  var DAY_MS = 86400000;
  var BLUR_PASSES = 3;
  // A cell no fuller than this many incidents on one spot never reaches the top of the ramp:
  // a handful of reports is not a hot spot, however empty the rest of the map.
  var MIN_PEAK_INCIDENTS = 6;
  // Ramp stops: [t, r, g, b, alpha]; t is the square root of the density over the peak's, so
  // the thin spread of rural reports stays a faint veil and the index shows through it.
  var RAMP = [[0, 96, 48, 200, 0], [0.08, 104, 52, 214, 0.12], [0.3, 150, 64, 236, 0.4],
    [0.6, 222, 72, 222, 0.66], [0.85, 255, 128, 226, 0.82], [1, 255, 236, 250, 0.92]];
  var STATE_FILL = ["#1f6feb", "#ffb020", "#ff3b3b"];  // open, due soon, overdue
  var STATE_TEXT = ["#ffffff", "#1a1000", "#ffffff"];

  // Web Mercator pixels at zoom 0, as onemap-15-points.js keeps its points.
  function project(lon, lat) { return onemap.project(lon, lat); }

  // The map's transform from zoom-0 pixels to the container's pixels.
  function viewOf(map) {
    var origin = map.getPixelOrigin(), pane = map._getMapPanePos();  // no public name for it
    var size = map.getSize();
    return { scale: Math.pow(2, map.getZoom()), dx: pane.x - origin.x, dy: pane.y - origin.y,
             w: size.x, h: size.y };
  }

  // A canvas over the map's visible area, cleared: onemap-15-points.js's.
  function clearCanvas(map, canvas, v) {
    return onemap.clearCanvas(map, canvas, { x: v.w, y: v.h });
  }

  function rampTable() {
    var lut = new Uint8ClampedArray(256 * 4);
    for (var i = 0; i < 256; i++) {
      var t = i / 255, k = 1;
      while (k < RAMP.length - 1 && RAMP[k][0] < t) k++;
      var a = RAMP[k - 1], b = RAMP[k], f = (t - a[0]) / (b[0] - a[0] || 1);
      for (var c = 0; c < 4; c++) {
        var value = a[c + 1] + f * (b[c + 1] - a[c + 1]);
        lut[i * 4 + c] = c === 3 ? value * 255 : value;
      }
    }
    return lut;
  }

  // One box pass of radius r along rows (step 1) or columns (step w), zero outside the grid.
  function boxPass(src, dst, w, h, r, along) {
    var n = along ? w : h, lines = along ? h : w, step = along ? 1 : w, next = along ? w : 1;
    var norm = 1 / (2 * r + 1);
    for (var line = 0; line < lines; line++) {
      var base = line * next, acc = 0;
      for (var k = 0; k <= r && k < n; k++) acc += src[base + k * step];
      for (var x = 0; x < n; x++) {
        dst[base + x * step] = acc * norm;
        if (x + r + 1 < n) acc += src[base + (x + r + 1) * step];
        if (x - r >= 0) acc -= src[base + (x - r) * step];
      }
    }
  }

  function blur(a, b, w, h, r) {
    for (var p = 0; p < BLUR_PASSES; p++) {
      boxPass(a, b, w, h, r, true);
      boxPass(b, a, w, h, r, false);
    }
  }

  // The blurred value at the centre of a lone incident: the unit the colour scale counts in.
  function singlePeak(r) {
    var n = 6 * r + 3, a = new Float32Array(n * n), b = new Float32Array(n * n), c = 3 * r + 1;
    a[c * n + c] = 1;
    blur(a, b, n, n, r);
    return a[c * n + c];
  }

  /* Incidents as records: position, category, when reported, open or not, deadline. It keeps
   * what the time windows need (closed incidents with their report time) beyond the marker
   * layer's open ones, and answers each incident's deadline state for the clusters. */
  onemap.makeDensityLayer = function () {
    var L = window.L;
    var FIELDS = { x: Float64Array, y: Float64Array, reported: Float64Array, deadline: Float64Array,
                   cat: Uint8Array, open: Uint8Array, overdue: Uint8Array, used: Uint8Array };
    return L.Layer.extend({
      options: { cell: 5, radius: 2, dueSoonMs: 2 * 3600000, onCount: null },

      initialize: function (options) {
        L.setOptions(this, options);
        this.index = new Map();   // id → slot
        this.free = [];
        this.size = 0;            // slots in use or freed (the arrays' high-water mark)
        for (var name in FIELDS) this[name] = new FIELDS[name](4096);
        this.cats = null;         // Uint8Array(256): 1 for a category counted; null: all
        this.window = "open";
        this.shown = false;
        this.matched = 0;         // incidents that pass the filter, as of the last redraw
        this.pending = false;
        this.lut = rampTable();
        this.unit = singlePeak(this.options.radius);
      },

      onAdd: function (map) {
        this.canvas = L.DomUtil.create("canvas", "density-layer leaflet-zoom-hide");
        this.getPane().appendChild(this.canvas);
        this.buffer = document.createElement("canvas");
        map.on("moveend zoomend resize viewreset", this.redraw, this);
        this.redraw();
      },

      onRemove: function (map) {
        L.DomUtil.remove(this.canvas);
        map.off("moveend zoomend resize viewreset", this.redraw, this);
      },

      grow: function () {
        var capacity = this.x.length * 2;
        for (var name in FIELDS) {
          var bigger = new FIELDS[name](capacity);
          bigger.set(this[name]);
          this[name] = bigger;
        }
      },

      slot: function (id) {
        var i = this.index.get(id);
        if (i !== undefined) return i;
        if (this.free.length) i = this.free.pop();
        else {
          if (this.size === this.x.length) this.grow();
          i = this.size++;
        }
        this.index.set(id, i);
        this.used[i] = 1;
        this.reported[i] = NaN;
        this.deadline[i] = NaN;
        return i;
      },

      // s: a step or marker payload; cat: its category's index (UNKNOWN if not known)
      note: function (s, cat) {
        var i = this.slot(s.id), p = project(s.lon, s.lat);
        this.x[i] = p[0];
        this.y[i] = p[1];
        this.cat[i] = cat;
        this.open[i] = s.status === "closed" ? 0 : 1;
        this.overdue[i] = s.overdue ? 1 : 0;
        var reported = s.reported || (s.type === "reported" || s.seq === 1 ? s.ts : null);
        if (reported) this.reported[i] = Date.parse(reported);
        if (s.deadline) this.deadline[i] = Date.parse(s.deadline);
        // closed, it counts only in a time window, which needs to know when it was reported
        if (!this.open[i] && isNaN(this.reported[i])) this.drop(s.id);
        this.schedule();
      },

      // rows: a windowed snapshot's closed incidents, [id, lon, lat, category code, reported]
      // (dashboard/live/outbound.py ClosedRow): counted in a time window, never drawn
      noteClosed: function (rows, catIndex) {
        for (var n = 0; n < rows.length; n++) {
          var r = rows[n], cat = catIndex[r[3]];
          this.note({ id: r[0], lon: r[1], lat: r[2], status: "closed", reported: r[4] },
                    cat === undefined ? UNKNOWN : cat);
        }
      },

      drop: function (id) {
        var i = this.index.get(id);
        if (i === undefined) return;
        this.index.delete(id);
        this.used[i] = 0;
        this.free.push(i);
        this.schedule();
      },

      clear: function () {
        this.index = new Map();
        this.free = [];
        this.size = 0;
        this.schedule();
      },

      count: function () { return this.index.size; },

      // Closed incidents reported before the longest window are of no use any more.
      prune: function (now) {
        var cutoff = now - DAY_MS - 3600000, self = this;
        this.index.forEach(function (i, id) {
          if (!self.open[i] && self.reported[i] < cutoff) self.drop(id);
        });
      },

      // 0 open, 1 due soon, 2 overdue; -1 not known here
      stateOf: function (id, now) {
        var i = this.index.get(id);
        if (i === undefined) return -1;
        var deadline = this.deadline[i];
        if (this.overdue[i] || deadline < now) return 2;
        return deadline < now + this.options.dueSoonMs ? 1 : 0;
      },

      // cats: Uint8Array(256), 1 for each category index counted (null: all); window: "open",
      // "today" or hours ("24h")
      setFilter: function (cats, window) {
        this.cats = cats;
        this.window = window || "open";
        this.schedule();
      },

      passes: function (cat) { return !this.cats || this.cats[cat] === 1; },

      setShown: function (shown) {
        if (shown === this.shown) return;
        this.shown = shown;
        this.schedule();
      },

      schedule: function () {
        if (this.pending || !this._map) return;
        this.pending = true;
        var self = this;
        requestAnimationFrame(function () { self.redraw(); });
      },

      // From when an incident's report counts (-Infinity: any open one).
      since: function (now) {
        if (this.window === "open") return -Infinity;
        if (this.window === "today") return Math.floor((now + CHINA_OFFSET_MS) / DAY_MS) * DAY_MS - CHINA_OFFSET_MS;
        return now - parseFloat(this.window) * 3600000;
      },

      redraw: function () {
        var map = this._map;
        this.pending = false;
        if (!map) return;
        var started = performance.now();
        var v = viewOf(map), ctx = clearCanvas(map, this.canvas, v);
        var k = this.options.k || 1, cell = this.options.cell * k, r = this.options.radius;
        var pad = BLUR_PASSES * r + 1;  // cells beyond the edge whose incidents blur into view
        var gw = Math.ceil(v.w / cell) + 2 * pad, gh = Math.ceil(v.h / cell) + 2 * pad;
        if (!this.grid || this.grid.length !== gw * gh) {
          this.grid = new Float32Array(gw * gh);
          this.spare = new Float32Array(gw * gh);
        } else this.grid.fill(0);
        var grid = this.grid, cats = this.cats, windowed = this.window !== "open";
        var since = this.since(clockNow()), shown = this.shown, matched = 0;
        var sx = v.scale / cell, ox = v.dx / cell + pad, oy = v.dy / cell + pad;
        for (var i = 0; i < this.size; i++) {
          if (!this.used[i] || (cats && cats[this.cat[i]] !== 1)) continue;
          if (windowed ? !(this.reported[i] >= since) : !this.open[i]) continue;
          matched++;
          if (!shown) continue;
          var gx = (this.x[i] * sx + ox) | 0, gy = (this.y[i] * sx + oy) | 0;
          if (gx >= 0 && gy >= 0 && gx < gw && gy < gh) grid[gy * gw + gx] += 1;
        }
        this.matched = matched;
        if (shown && matched) this.paint(ctx, v, gw, gh, pad, cell);
        this.drawnAt = performance.now();
        this.lastRedrawMs = this.drawnAt - started;
        if (this.options.onCount) this.options.onCount(matched);
      },

      paint: function (ctx, v, gw, gh, pad, cell) {
        var grid = this.grid;
        blur(grid, this.spare, gw, gh, this.options.radius);
        var w = gw - 2 * pad, h = gh - 2 * pad, peak = 0;
        for (var y = pad; y < pad + h; y++) {
          for (var x = pad; x < pad + w; x++) if (grid[y * gw + x] > peak) peak = grid[y * gw + x];
        }
        var top = 1 / Math.max(peak, MIN_PEAK_INCIDENTS * this.unit);
        if (!this.image || this.image.width !== w || this.image.height !== h) {
          this.image = ctx.createImageData(w, h);
          this.buffer.width = w;
          this.buffer.height = h;
        }
        var px = this.image.data, lut = this.lut, o = 0;
        for (y = pad; y < pad + h; y++) {
          for (x = pad; x < pad + w; x++, o += 4) {
            var value = grid[y * gw + x];
            var t = value > 0 ? (255 * Math.sqrt(value * top)) | 0 : 0;
            if (t > 255) t = 255;
            px[o] = lut[t * 4];
            px[o + 1] = lut[t * 4 + 1];
            px[o + 2] = lut[t * 4 + 2];
            px[o + 3] = lut[t * 4 + 3];
          }
        }
        this.buffer.getContext("2d").putImageData(this.image, 0, 0);
        ctx.imageSmoothingEnabled = true;
        ctx.imageSmoothingQuality = "low";  // bilinear: enough for a field this smooth
        ctx.drawImage(this.buffer, 0, 0, w * cell, h * cell);
        this.peak = peak;
      },
    });
  };

  /* The incident marker layer, its markers clustered where they would overlap. */
  onemap.makeClusterLayer = function (MarkerLayer) {
    var base = MarkerLayer.prototype;
    return MarkerLayer.extend({
      // avoid: as the worker layer's, the label boxes a cluster moves off if it can
      options: { gather: 22, stateOf: null, k: 1, font: "sans-serif", avoid: null },

      // hidden: nothing drawn (the density stands in), markers still kept
      setHidden: function (hidden) {
        if (hidden === !!this.hidden) return;
        this.hidden = hidden;
        if (this._map) this.redraw();
      },

      addFresh: function (m, v) {
        if (!this.hidden) base.addFresh.call(this, m, v);
      },

      // A fresh marker may belong to a cluster: the canvas takes it in a full redraw.
      merge: function () {
        if (this.freshTimer) { clearTimeout(this.freshTimer); this.freshTimer = null; }
        if (this.fresh.length && this._map) this.redraw();
      },

      redraw: function () {
        var map = this._map;
        this.pending = false;
        if (!map) return;
        var started = performance.now();
        var v = viewOf(map), ctx = clearCanvas(map, this.canvas, v);
        var topLeft = map.containerPointToLayerPoint([0, 0]);
        v.left = topLeft.x;
        v.top = topLeft.y;
        this.view = v;
        if (this.freshTimer) { clearTimeout(this.freshTimer); this.freshTimer = null; }
        this.fresh = [];
        if (this.freshBox) this.freshBox.textContent = "";
        this.drawn = { clusters: [], singles: 0 };
        if (!this.hidden) this.drawClusters(ctx, v, this.gather(v));
        this.redrawnAt = performance.now();
        this.lastRedrawMs = this.redrawnAt - started;
      },

      // Greedy, in insertion order: a marker not yet taken seeds a group of every untaken
      // marker within `gather` pixels, found through a hash of cells that size.
      gather: function (v) {
        var reach = this.options.gather * this.options.k, cells = new Map(), points = [];
        this.markers.forEach(function (m) {
          var px = m.x * v.scale + v.dx, py = m.y * v.scale + v.dy;
          if (px < -20 || py < -20 || px > v.w + 20 || py > v.h + 20) return;
          var p = { m: m, x: px, y: py, taken: false };
          var key = Math.floor(px / reach) + "," + Math.floor(py / reach);
          var bucket = cells.get(key);
          if (bucket) bucket.push(p); else cells.set(key, [p]);
          points.push(p);
        });
        var groups = [];
        points.forEach(function (p) {
          if (p.taken) return;
          var group = [p], cx = Math.floor(p.x / reach), cy = Math.floor(p.y / reach);
          p.taken = true;
          for (var gx = cx - 1; gx <= cx + 1; gx++) {
            for (var gy = cy - 1; gy <= cy + 1; gy++) {
              var bucket = cells.get(gx + "," + gy);
              if (!bucket) continue;
              for (var n = 0; n < bucket.length; n++) {
                var q = bucket[n];
                if (!q.taken && (q.x - p.x) * (q.x - p.x) + (q.y - p.y) * (q.y - p.y) <= reach * reach) {
                  q.taken = true;
                  group.push(q);
                }
              }
            }
          }
          groups.push(group);
        });
        return groups;
      },

      drawClusters: function (ctx, v, groups) {
        var singles = new Map(), clusters = [], now = clockNow(), stateOf = this.options.stateOf;
        groups.forEach(function (group) {
          if (group.length === 1) {
            var m = group[0].m, key = m.fill + "|" + m.stroke + "|" + m.w + "|" + m.r;
            var look = singles.get(key);
            if (!look) singles.set(key, (look = { m: m, xy: [] }));
            look.xy.push(group[0].x, group[0].y);
            return;
          }
          var sx = 0, sy = 0, worst = 0;
          group.forEach(function (p) {
            sx += p.x;
            sy += p.y;
            var state = stateOf ? stateOf(p.m.id, now) : -1;
            if (state < 0) state = p.m.stroke === "#ff2d2d" ? 2 : 0;  // the overdue ring
            if (state > worst) worst = state;
          });
          clusters.push({ x: sx / group.length, y: sy / group.length, n: group.length, state: worst });
        });
        var self = this;
        Array.from(singles.values())
          .sort(function (a, b) { return a.m.r - b.m.r; })
          .forEach(function (look) {
            var m = look.m, xy = look.xy;
            ctx.beginPath();
            for (var i = 0; i < xy.length; i += 2) {
              ctx.moveTo(xy[i] + m.r, xy[i + 1]);
              ctx.arc(xy[i], xy[i + 1], m.r, 0, 2 * Math.PI);
            }
            ctx.fillStyle = m.fill;
            ctx.globalAlpha = 0.9;
            ctx.fill();
            ctx.globalAlpha = 1;
            if (m.w > 0) { ctx.lineWidth = m.w; ctx.strokeStyle = m.stroke; ctx.stroke(); }
            self.drawn.singles += xy.length / 2;
          });
        this.place(ctx, clusters);
        clusters.sort(function (a, b) { return a.state - b.state || a.n - b.n; });  // worst on top
        clusters.forEach(function (c) { self.drawCluster(ctx, c); });
        this.drawn.clusters = clusters;
      },

      // A cluster under a label, or over one placed before it (the worst, then the largest,
      // first), moves up to three of its radii away if that clears it; else it stays.
      place: function (ctx, clusters) {
        var k = this.options.k, taken = (this.options.avoid && this.options.avoid()) || [];
        ctx.font = "700 " + Math.round(18 * k) + "px " + this.options.font;  // wall text: ≥ 18 px
        clusters.slice().sort(function (a, b) { return b.state - a.state || b.n - a.n; }).forEach(function (c) {
          c.r = Math.max(14 * k, ctx.measureText(String(c.n)).width / 2 + 6 * k);
          for (var d = 0; d <= 3; d++) {
            for (var a = 0; a < (d ? 8 : 1); a++) {
              var x = c.x + d * c.r * Math.cos(a * Math.PI / 4), y = c.y + d * c.r * Math.sin(a * Math.PI / 4);
              var box = { left: x - c.r, top: y - c.r, right: x + c.r, bottom: y + c.r };
              if (!taken.some(function (t) { return box.left < t.right && t.left < box.right && box.top < t.bottom && t.top < box.bottom; })) {
                c.x = x;
                c.y = y;
                taken.push(box);
                return;
              }
            }
          }
          taken.push({ left: c.x - c.r, top: c.y - c.r, right: c.x + c.r, bottom: c.y + c.r });
        });
      },

      drawCluster: function (ctx, c) {
        var k = this.options.k, r = c.r, text = String(c.n);
        ctx.font = "700 " + Math.round(18 * k) + "px " + this.options.font;
        ctx.beginPath();
        ctx.arc(c.x, c.y, r, 0, 2 * Math.PI);
        ctx.fillStyle = STATE_FILL[c.state];
        ctx.fill();
        ctx.lineWidth = 2 * k;
        ctx.strokeStyle = "rgba(255,255,255,0.9)";
        ctx.stroke();
        ctx.fillStyle = STATE_TEXT[c.state];
        ctx.textAlign = "center";
        ctx.textBaseline = "middle";
        ctx.fillText(text, c.x, c.y + k);
      },
    });
  };

  // Where in its cell a badge of radius r goes: as near its workers' centre (cx, cy) as it
  // can without covering a box of `avoid`; null if nowhere.
  function freeSpot(left, top, cell, r, cx, cy, avoid) {
    var lo = r, hi = cell - r, step = (hi - lo) / 2;
    var x0 = Math.min(left + hi, Math.max(left + lo, cx)), y0 = Math.min(top + hi, Math.max(top + lo, cy));
    var tries = [[x0, y0]];
    for (var i = 0; i < 3; i++) for (var j = 0; j < 3; j++) tries.push([left + lo + i * step, top + lo + j * step]);
    tries.sort(function (a, b) {
      return Math.hypot(a[0] - x0, a[1] - y0) - Math.hypot(b[0] - x0, b[1] - y0);
    });
    for (var t = 0; t < tries.length; t++) {
      var x = tries[t][0], y = tries[t][1], clear = true;
      for (var a = 0; a < avoid.length && clear; a++) {
        var box = avoid[a];
        clear = x + r < box.left || x - r > box.right || y + r < box.top || y - r > box.bottom;
      }
      if (clear) return tries[t];
    }
    return null;
  }

  /* The worker point layer; with `aggregate`, the workers on duty are counted per screen cell
   * and drawn as one badge with the count, at the cell's centre of mass (kept inside its cell,
   * so two badges never overlap). */
  onemap.makeWorkerLayer = function (PointLayer) {
    var base = PointLayer.prototype;
    var OFFLINE = 3;
    return PointLayer.extend({
      // avoid: a function answering the boxes no badge may cover (labels, legend), in the
      // container's pixels: {left, top, right, bottom}
      options: { cell: 110, k: 1, font: "sans-serif", aggregate: false, avoid: null },

      onAdd: function (map) {
        base.onAdd.call(this, map);
        this.getPane().appendChild(this.canvas);  // its own pane: above the density
      },

      setAggregate: function (on) {
        this.options.aggregate = on;
        this.schedule();
      },

      redraw: function () {
        if (!this.options.aggregate) { this.badges = null; return base.redraw.call(this); }
        var map = this._map;
        if (!map) return;
        var v = viewOf(map), ctx = clearCanvas(map, this.canvas, v);
        var k = this.options.k, cell = this.options.cell * k;
        var cols = Math.ceil(v.w / cell), rows = Math.ceil(v.h / cell);
        var n = new Uint32Array(cols * rows), sx = new Float64Array(cols * rows), sy = new Float64Array(cols * rows);
        for (var i = 0; i < this.size; i++) {
          if (this.group[i] === OFFLINE) continue;
          var px = this.x[i] * v.scale + v.dx, py = this.y[i] * v.scale + v.dy;
          var c = Math.floor(px / cell), r = Math.floor(py / cell);
          if (c < 0 || r < 0 || c >= cols || r >= rows) continue;
          var at = r * cols + c;
          n[at] += 1;
          sx[at] += px;
          sy[at] += py;
        }
        var size = Math.round(18 * k), badges = [], hidden = 0;
        var avoid = this.options.avoid ? this.options.avoid() : [];
        ctx.font = "700 " + size + "px " + this.options.font;
        ctx.textAlign = "center";
        ctx.textBaseline = "middle";
        for (at = 0; at < n.length; at++) {
          if (!n[at]) continue;
          var text = String(n[at]), radius = Math.max(13 * k, ctx.measureText(text).width / 2 + 5 * k);
          var spot = freeSpot(at % cols * cell, Math.floor(at / cols) * cell, cell, radius,
                              sx[at] / n[at], sy[at] / n[at], avoid);
          if (spot) badges.push({ x: spot[0], y: spot[1], n: n[at], r: radius, text: text });
          else hidden += n[at];
        }
        this.hiddenWorkers = hidden;
        badges.forEach(function (b) {
          ctx.beginPath();
          ctx.arc(b.x, b.y, b.r, 0, 2 * Math.PI);
          ctx.fillStyle = "rgba(4, 22, 18, 0.72)";
          ctx.fill();
          ctx.lineWidth = 2 * k;
          ctx.strokeStyle = "#3ddc97";
          ctx.stroke();
        });
        ctx.fillStyle = "#dfffee";
        badges.forEach(function (b) { ctx.fillText(b.text, b.x, b.y + k); });
        this.badges = badges;
        this.drawnAt = performance.now();
      },
    });
  };

  onemap.density = { UNKNOWN: UNKNOWN, project: project };
})();
