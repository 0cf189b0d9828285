/* The base map's tiles in GCJ-02 (ONEMAP_TILE_CRS=gcj02: Gaode, Tencent), shifted onto the
 * WGS84 data (docs/maps.md).
 *
 * A GCJ-02 tile draws a place where its GCJ-02 coordinates would be, a few hundred metres off
 * its WGS84 ones in Ningbo. The offset varies by tens of metres across the whole city and by
 * under a metre across a street-level view, so one shift, the offset at the map's centre in
 * pixels at the map's zoom, lines the whole view up (to a pixel or less at any zoom): the tile
 * pane is translated by it on every move and zoom. Base layers carry the class onemap-gcj02
 * (layouts/basemap.py) when they need it; WGS84 and CGCS2000 tiles are drawn as they are.
 * Also: onemap.whenMap, which hands each view's main map (wall, desk, tablet) to a callback.
 */
(function () {
  "use strict";

  var onemap = (window.onemap = window.onemap || {});
  var A = 6378245.0;
  var EE = 0.00669342162296594323;
  var MAP_IDS = ["wall-map", "duty-map", "tablet-map"];  // layouts/ids.py

  // WGS84 -> GCJ-02, the public formula ([lat, lon] in, [lat, lon] out); the same as
  // feeds/geo/build.py wgs_to_gcj, which the tests compare it with.
  onemap.wgsToGcj = function (lat, lon) {
    var x = lon - 105.0, y = lat - 35.0, PI = Math.PI;
    var common = (20.0 * Math.sin(6.0 * x * PI) + 20.0 * Math.sin(2.0 * x * PI)) * 2.0 / 3.0;
    var dLat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x)) + common;
    dLat += (20.0 * Math.sin(y * PI) + 40.0 * Math.sin(y / 3.0 * PI)) * 2.0 / 3.0;
    dLat += (160.0 * Math.sin(y / 12.0 * PI) + 320.0 * Math.sin(y * PI / 30.0)) * 2.0 / 3.0;
    var dLon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x)) + common;
    dLon += (20.0 * Math.sin(x * PI) + 40.0 * Math.sin(x / 3.0 * PI)) * 2.0 / 3.0;
    dLon += (150.0 * Math.sin(x / 12.0 * PI) + 300.0 * Math.sin(x / 30.0 * PI)) * 2.0 / 3.0;
    var radLat = lat / 180.0 * PI;
    var magic = 1.0 - EE * Math.sin(radLat) * Math.sin(radLat);
    var sqrtMagic = Math.sqrt(magic);
    dLat = dLat * 180.0 / ((A * (1.0 - EE)) / (magic * sqrtMagic) * PI);
    dLon = dLon * 180.0 / (A / sqrtMagic * Math.cos(radLat) * PI);
    return [lat + dLat, lon + dLon];
  };

  // The translation, in pixels, that puts GCJ-02 tiles under WGS84 positions at the centre.
  onemap.gcjShift = function (map) {
    var centre = map.getCenter(), zoom = map.getZoom();
    var gcj = onemap.wgsToGcj(centre.lat, centre.lng);
    var wgs = map.project(centre, zoom), drawn = map.project(window.L.latLng(gcj[0], gcj[1]), zoom);
    return [wgs.x - drawn.x, wgs.y - drawn.y];
  };

  function isGcj(layer) {
    return !!(layer.options && /\bonemap-gcj02\b/.test(layer.options.className || ""));
  }

  function shiftTiles(map) {
    var pane = map.getPane("tilePane"), gcj = 0;
    function count() {
      gcj = 0;
      map.eachLayer(function (layer) { if (isGcj(layer)) gcj++; });
      update();
    }
    function update() {
      if (!gcj) {
        pane.style.transform = "";
        map.onemapShift = null;
        return;
      }
      var shift = (map.onemapShift = onemap.gcjShift(map));
      pane.style.transform = "translate(" + shift[0].toFixed(2) + "px," + shift[1].toFixed(2) + "px)";
    }
    map.on("layeradd layerremove", function (e) { if (isGcj(e.layer)) count(); });
    map.on("move zoom viewreset resize", update);
    count();
  }

  // fn(map, view) once for each view's main map ("wall", "duty" or "tablet"), when it exists.
  var waiting = [];
  onemap.whenMap = function (fn) {
    waiting.push(fn);
    boot();
  };

  function boot() {
    var found = false;
    if (onemap.hookLeaflet) onemap.hookLeaflet();
    MAP_IDS.forEach(function (id) {
      var map = onemap.maps && onemap.maps[id];
      if (!map) return;
      found = true;
      map.onemapSeen = map.onemapSeen || [];
      waiting.forEach(function (fn) {
        if (map.onemapSeen.indexOf(fn) >= 0) return;
        map.onemapSeen.push(fn);
        try { fn(map, id.split("-")[0]); } catch (e) { console.warn("OneMap map layer:", e); }
      });
    });
    return found;
  }

  onemap.whenMap(shiftTiles);
  // Until the page's map exists (Dash draws it after the scripts load); a page keeps it.
  var tries = 0;
  (function poll() { if (!boot()) setTimeout(poll, tries++ < 100 ? 100 : 1000); })();
})();
