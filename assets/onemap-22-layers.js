/* The city's own map layers (schools, hazardous-chemical sites, rivers, key buildings; docs/maps.md):
 * GeoJSON files in the server's ONEMAP_LAYERS_DIR, fetched from /api/layers and drawn over the
 * areas and under the live points, on a canvas of their own.
 *
 * The desk and the tablet tick them in a small control on the map, remembered per view in this
 * browser (first time: the server's ONEMAP_LAYERS_ON). A wall has no mouse: it shows the layers
 * its link names (/wall?layers=schools,rivers or all), with a key. Also the "附近重点场所"
 * section of an incident's detail (onemap.placesNode). Names from the files are text: set with
 * textContent, and tooltips get DOM nodes, never HTML.
 */
(function () {
  "use strict";

  var onemap = (window.onemap = window.onemap || {});
  var el = function (tag, cls, text) { return onemap.el(tag, cls, text); };
  var STORE = "onemap.layers.";
  var PANE_Z = 410;  // over the areas (400) and the density (405), under workers (415) and incidents

  var listing = null;
  var loaded = {};
  onemap.layerList = function () {
    if (!listing) {
      listing = fetch("/api/layers", { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : { layers: [], on: [] }; })
        .catch(function () { listing = null; return { layers: [], on: [] }; });
    }
    return listing;
  };
  function layerData(id) {
    if (!loaded[id]) {
      loaded[id] = fetch("/api/layers/" + encodeURIComponent(id) + ".json", { credentials: "same-origin" })
        .then(function (r) { if (!r.ok) throw new Error("layer " + id + ": " + r.status); return r.json(); })
        .catch(function (e) { delete loaded[id]; throw e; });
    }
    return loaded[id];
  }

  function Overlay(map, view) {
    var L = window.L;
    this.map = map;
    this.view = view;
    this.wall = view === "wall";
    // the wall is sized in rem (its root font follows the screen): strokes and dots too
    this.k = this.wall ? parseFloat(getComputedStyle(document.documentElement).fontSize) / 16 || 1 : 1;
    var pane = map.getPane("onemap-places") || map.createPane("onemap-places");
    pane.style.zIndex = String(PANE_Z);
    if (this.wall) pane.style.pointerEvents = "none";
    this.renderer = L.canvas({ pane: "onemap-places", padding: 0.3 });
    this.layers = {};  // id -> summary (name, style, kinds, count)
    this.drawn = {};   // id -> L.GeoJSON on the map
    this.shown = {};   // id -> wanted on the map
    map.onemapLayers = this;
  }

  Overlay.prototype.show = function (id, on) {
    var self = this, summary = this.layers[id];
    this.shown[id] = !!on;
    if (!summary) return Promise.resolve();
    if (!on) {
      if (this.drawn[id]) this.map.removeLayer(this.drawn[id]);
      this.mark();
      return Promise.resolve();
    }
    if (this.drawn[id]) { this.drawn[id].addTo(this.map); this.mark(); return Promise.resolve(); }
    return layerData(id).then(function (data) {
      if (!self.drawn[id]) self.drawn[id] = self.build(summary, data);
      if (self.shown[id]) self.drawn[id].addTo(self.map);
      self.mark();
    }).catch(function (e) { console.warn("OneMap:", e); });
  };

  Overlay.prototype.build = function (summary, data) {
    var L = window.L, s = summary.style, k = this.k, wall = this.wall;
    var path = { renderer: this.renderer, pane: "onemap-places", interactive: !wall,
                 color: s.color, weight: s.weight * k, opacity: s.opacity, fillColor: s.fillColor,
                 fillOpacity: s.fillOpacity, dashArray: s.dashArray || null };
    return L.geoJSON(data, {
      renderer: this.renderer,
      pane: "onemap-places",
      interactive: !wall,
      style: function () { return path; },
      pointToLayer: function (feature, latlng) {
        return L.circleMarker(latlng, Object.assign({}, path, { radius: s.radius * k, fillOpacity: Math.max(0.6, s.fillOpacity) }));
      },
      onEachFeature: function (feature, layer) {
        if (wall) return;
        var tip = el("span", "place-tip");
        tip.appendChild(el("b", null, (feature.properties && feature.properties.name) || "（未命名）"));
        tip.appendChild(el("span", null, " · " + summary.name));
        layer.bindTooltip(tip, { sticky: true, direction: "top" });
      },
    });
  };

  // What the page shows, for the tests and the key: the ids drawn, comma-separated.
  Overlay.prototype.mark = function () {
    var self = this;
    var ids = Object.keys(this.layers).filter(function (id) {  // in the server's (file) order
      return self.shown[id] && self.drawn[id] && self.map.hasLayer(self.drawn[id]);
    });
    this.map.getContainer().setAttribute("data-layers", ids.join(","));
    if (this.key) this.fillKey(ids);
  };

  function swatch(style, kinds) {
    var i = el("i", "layer-swatch" + (kinds.length === 1 ? " is-" + kinds[0] : ""));
    i.style.borderColor = style.color;
    i.style.background = kinds.length === 1 && kinds[0] === "line" ? style.color : style.fillColor;
    return i;
  }

  // -- the wall: the layers its link names, and a key ---------------------------------------
  Overlay.prototype.fromUrl = function () {
    var asked = (new URLSearchParams(window.location.search).get("layers") || "").split(",");
    var self = this, all = asked.length === 1 && asked[0].trim() === "all";
    var ids = Object.keys(this.layers).filter(function (id) { return all || asked.indexOf(id) >= 0; });
    if (!ids.length) return;
    this.key = window.L.control({ position: "bottomleft" });
    this.key.onAdd = function () { return el("div", "onemap-places-key"); };
    this.key.addTo(this.map);
    ids.forEach(function (id) { self.show(id, true); });
  };

  Overlay.prototype.fillKey = function (ids) {
    var self = this, box = this.key.getContainer();
    box.textContent = "";
    box.hidden = !ids.length;
    ids.forEach(function (id) {
      var row = el("div", "key-row"), s = self.layers[id];
      row.appendChild(swatch(s.style, s.kinds));
      row.appendChild(el("span", null, s.name));
      box.appendChild(row);
    });
  };

  // -- the desk and the tablet: a control with a box per layer ------------------------------
  Overlay.prototype.control = function (on) {
    var L = window.L, self = this;
    var stored = null;
    try { stored = JSON.parse(window.localStorage.getItem(STORE + this.view) || "null"); } catch (e) { /* none */ }
    var ticked = Array.isArray(stored) ? stored : on;
    // the tablet's legend and back button hold its map's left corners
    var control = L.control({ position: this.view === "tablet" ? "topright" : "bottomleft" });
    control.onAdd = function () {
      var box = el("div", "onemap-layers leaflet-bar");
      var toggle = box.appendChild(el("button", "layers-toggle", "图层"));
      toggle.type = "button";
      toggle.setAttribute("aria-expanded", "false");
      var list = box.appendChild(el("div", "layers-list"));
      list.hidden = true;
      Object.keys(self.layers).forEach(function (id) {
        var s = self.layers[id], label = el("label", "layer-row");
        var box_ = label.appendChild(el("input"));
        box_.type = "checkbox";
        box_.setAttribute("data-layer", id);
        box_.checked = ticked.indexOf(id) >= 0;
        label.appendChild(swatch(s.style, s.kinds));
        label.appendChild(el("span", "layer-name", s.name));
        label.appendChild(el("span", "layer-count", String(s.count)));
        box_.addEventListener("change", function () {
          self.show(id, box_.checked);
          self.remember();
        });
        list.appendChild(label);
      });
      toggle.addEventListener("click", function () {
        list.hidden = !list.hidden;
        toggle.setAttribute("aria-expanded", String(!list.hidden));
      });
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.disableScrollPropagation(box);
      return box;
    };
    control.addTo(this.map);
    ticked.forEach(function (id) { self.show(id, true); });
  };

  Overlay.prototype.remember = function () {
    var self = this;
    var ids = Object.keys(this.shown).filter(function (id) { return self.shown[id]; });
    try { window.localStorage.setItem(STORE + this.view, JSON.stringify(ids)); } catch (e) { /* private mode */ }
  };

  onemap.whenMap(function (map, view) {
    onemap.layerList().then(function (list) {
      if (!list.layers || !list.layers.length) return;
      var overlay = new Overlay(map, view);
      list.layers.forEach(function (s) { overlay.layers[s.id] = s; });
      if (overlay.wall) overlay.fromUrl();
      else overlay.control(list.on || []);
    });
  });

  // -- an incident's detail: 附近重点场所 -------------------------------------------------
  function distance(p) {
    if (p.inside) return "区域内";
    return p.metres < 1000 ? p.metres + " 米" : (p.metres / 1000).toFixed(1) + " 公里";
  }

  // The section for d.places ({within, items, more}; dashboard/views/places.py): on the desk
  // ("detail") a heading and a list, on the tablet ("card") a block of the card.
  onemap.placesNode = function (d, variant) {
    var near = d.places, box = document.createDocumentFragment();
    var title = "附近重点场所（" + near.within + " 米内）";
    if (variant === "card") {
      box = el("div", "card-places");
      box.appendChild(el("div", "card-places-title", title));
    } else {
      box.appendChild(el("h3", null, title));
    }
    var list = el("ol", "detail-places");
    near.items.forEach(function (p) {
      var li = el("li", "place-row");
      li.setAttribute("data-layer", p.layer);
      li.appendChild(swatch({ color: p.color, fillColor: p.color }, [p.kind]));
      li.appendChild(el("b", "place-name", p.name || "（未命名）"));
      li.appendChild(el("span", "place-layer", p.layerName));
      li.appendChild(el("span", "place-dist", distance(p)));
      list.appendChild(li);
    });
    if (!near.items.length) list.appendChild(el("li", "muted", "无"));
    if (near.more) list.appendChild(el("li", "muted", "另有 " + near.more + " 处"));
    box.appendChild(list);
    return box;
  };
})();
