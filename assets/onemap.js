/* OneMap live client: Socket.IO in, DOM and Leaflet out, no server round trip per message.
 *
 * Field text (titles, places) only ever goes into the page through textContent: a hotline
 * complaint may carry markup, and it must show as text.
 * The page keeps the id of the last event step it applied; on every (re)connect it sends that id
 * and the server replies with exactly what was missed; ids already applied are dropped.
 */
(function () {
  "use strict";

  var onemap = (window.onemap = window.onemap || {});
  var TICKER_MAX = 60;
  var INCIDENT_MARKERS_MAX = 3000;
  var WORKER_COLOURS = ["#3ddc97", "#ffb020", "#7d93b2", "#4a5361"]; // patrolling, handling, idle, offline
  var STALE_AFTER_MS = 5000;

  onemap.maps = {};
  onemap.stats = { steps: 0, duplicates: 0, positions: 0, lastSid: null, connects: 0, caughtUp: 0 };
  // ?record=1 keeps every applied step id, so tests can compare the page with the log.
  onemap.applied = /[?&]record=1/.test(window.location.search) ? [] : null;

  // dash-leaflet bundles Leaflet, which always sets window.L; an init hook hands us each map
  // as it is created so live layers can be updated in place.
  function hookLeaflet() {
    var L = window.L;
    if (!L || !L.Map) return false;
    if (!L.Map.__onemap) {
      L.Map.__onemap = true;
      L.Map.addInitHook(function () {
        var map = this;
        map.whenReady(function () {
          onemap.maps[map.getContainer().id] = map;
        });
      });
    }
    return true;
  }
  hookLeaflet();

  function sidKey(sid) {
    var parts = String(sid).split("-");
    return [Number(parts[0]), Number(parts[1] || 0)];
  }
  function sidAfter(a, b) {
    if (b === null || b === undefined) return true;
    var x = sidKey(a), y = sidKey(b);
    return x[0] > y[0] || (x[0] === y[0] && x[1] > y[1]);
  }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function hhmmss(iso) {
    var d = new Date(iso);
    return d.toLocaleTimeString("zh-CN", { hour12: false, timeZone: "Asia/Shanghai" });
  }

  // ---------------------------------------------------------------------------------------
  function Wall(root) {
    this.root = root;
    this.scope = root.getAttribute("data-scope");
    this.ticker = root.querySelector(".ticker");
    this.healthBox = root.querySelector(".wall-health");
    this.healthText = root.querySelector("#wall-health-text");
    this.lastSid = null;
    this.lastData = 0;
    this.newest = null;
    this.connected = false;
    this.incidents = {};
    this.workers = {};
    this.map = null;
    this.socket = null;
    onemap.wall = this;
  }

  Wall.prototype.start = function () {
    var self = this;
    this.waitForMap(function () {
      self.connect();
    });
    this.clockTimer = setInterval(function () { self.tick(); }, 1000);
  };

  Wall.prototype.waitForMap = function (then) {
    var self = this, tries = 0;
    (function poll() {
      var container = self.root.querySelector(".leaflet-container");
      var map = container && onemap.maps[container.id];
      if (map || tries++ > 50) {
        self.setupMap(map || null);
        then();
      } else {
        setTimeout(poll, 100);
      }
    })();
  };

  Wall.prototype.setupMap = function (map) {
    this.map = map;
    if (!map) return;
    var L = window.L;
    this.canvas = L.canvas({ padding: 0.2 });
    this.workerLayer = L.layerGroup().addTo(map);
    this.incidentLayer = L.layerGroup().addTo(map);
    var panel = this.root.querySelector(".wall-map-panel");
    var labels = JSON.parse(panel.getAttribute("data-labels") || "[]");
    var bounds = JSON.parse(panel.getAttribute("data-bounds") || "null");
    if (bounds) {
      map.invalidateSize();
      map.fitBounds(bounds, { padding: [24, 24] });
    }
    labels.forEach(function (label) {
      L.tooltip({ permanent: true, direction: "center", className: "area-label", interactive: false })
        .setLatLng([label.lat, label.lon])
        .setContent(el("span", null, label.text))
        .addTo(map);
    });
  };

  Wall.prototype.connect = function () {
    var self = this;
    var socket = (this.socket = window.io({ transports: ["websocket"], reconnectionDelayMax: 5000 }));
    socket.on("connect", function () {
      onemap.stats.connects += 1;
      self.connected = true;
      socket.emit("hello", { scope: self.scope, after: self.lastSid }, function (reply) {
        self.onHello(reply);
      });
    });
    socket.on("disconnect", function () {
      self.connected = false;
      self.showHealth();
    });
    socket.on("steps", function (data) { self.applySteps(data.steps); });
    socket.on("positions", function (data) { self.applyPositions(data.p); });
    socket.on("kpis", function (data) { self.applyKpis(data); });
    socket.on("beat", function (data) { self.heartbeat(data); });
  };

  Wall.prototype.onHello = function (reply) {
    if (!reply || !reply.ok) return;
    if (reply.mode === "snapshot") {
      this.lastSid = null;
      this.ticker.textContent = "";
    } else {
      onemap.stats.caughtUp += (reply.steps || []).length;
    }
    (reply.incidents || []).forEach(this.placeIncident, this);
    this.applySteps(reply.steps || []);
    if (reply.positions) this.applyPositions(reply.positions);
    if (reply.kpis) this.applyKpis(reply);
    if (reply.last && sidAfter(reply.last, this.lastSid)) this.lastSid = reply.last;
    onemap.stats.lastSid = this.lastSid;
    this.root.setAttribute("data-live", "1");
  };

  Wall.prototype.applySteps = function (steps) {
    var fragment = document.createDocumentFragment();
    for (var i = 0; i < steps.length; i++) {
      var s = steps[i];
      if (this.lastSid !== null && !sidAfter(s.sid, this.lastSid)) {
        onemap.stats.duplicates += 1;
        continue;
      }
      this.lastSid = s.sid;
      onemap.stats.steps += 1;
      if (onemap.applied) onemap.applied.push(s.sid);
      fragment.insertBefore(this.tickerItem(s), fragment.firstChild);
      this.placeIncident(s);
    }
    onemap.stats.lastSid = this.lastSid;
    if (!fragment.firstChild) return;
    this.lastData = Date.now();
    this.ticker.insertBefore(fragment, this.ticker.firstChild);
    while (this.ticker.childNodes.length > TICKER_MAX) this.ticker.removeChild(this.ticker.lastChild);
  };

  Wall.prototype.tickerItem = function (s) {
    var li = el("li", "ticker-item fresh" + (s.overdue ? " overdue" : "") +
      (s.severity !== "normal" ? " severity-" + s.severity : ""));
    li.setAttribute("data-incident", s.id);
    li.setAttribute("data-sid", s.sid);
    var head = el("div", "ticker-head");
    head.appendChild(el("span", "ticker-time", hhmmss(s.ts)));
    head.appendChild(el("span", "ticker-place", s.place));
    var cat = el("span", "ticker-cat platform-" + s.platform, s.catName);
    head.appendChild(cat);
    head.appendChild(el("span", "ticker-step step-" + s.type, s.step));
    head.appendChild(el("span", "ticker-level", s.levelName));
    li.appendChild(head);
    li.appendChild(el("div", "ticker-title", s.title));
    return li;
  };

  Wall.prototype.placeIncident = function (s) {
    if (!this.map) return;
    var L = window.L, known = this.incidents[s.id];
    if (s.status === "closed") {
      if (known) { this.incidentLayer.removeLayer(known); delete this.incidents[s.id]; }
      return;
    }
    var style = {
      renderer: this.canvas, radius: s.overdue ? 9 : 6, weight: s.overdue ? 3 : 1.5,
      color: s.overdue ? "#ff2d2d" : "#ffffff", fillColor: s.colour, fillOpacity: 0.95,
    };
    if (known) {
      known.setStyle(style);
      return;
    }
    var marker = L.circleMarker([s.lat, s.lon], style).addTo(this.incidentLayer);
    this.incidents[s.id] = marker;
    if (s.sid) this.pulse(s);
    var ids = Object.keys(this.incidents);
    if (ids.length > INCIDENT_MARKERS_MAX) {
      this.incidentLayer.removeLayer(this.incidents[ids[0]]);
      delete this.incidents[ids[0]];
    }
  };

  Wall.prototype.pulse = function (s) {
    var L = window.L;
    var ring = L.circleMarker([s.lat, s.lon], {
      radius: 8, color: s.colour, weight: 2, fill: false, className: "pulse-ring", interactive: false,
    }).addTo(this.map);
    setTimeout(function () { ring.remove(); }, 2000);
  };

  Wall.prototype.applyPositions = function (rows) {
    onemap.stats.positions += rows.length;
    if (!this.map) return;
    var L = window.L;
    for (var i = 0; i < rows.length; i++) {
      var r = rows[i], known = this.workers[r[0]];
      var colour = WORKER_COLOURS[r[3]] || WORKER_COLOURS[3];
      if (known) {
        known.setLatLng([r[2], r[1]]);
        if (known.options.fillColor !== colour) known.setStyle({ fillColor: colour, color: colour });
      } else {
        this.workers[r[0]] = L.circleMarker([r[2], r[1]], {
          renderer: this.canvas, radius: 2.2, weight: 0, color: colour, fillColor: colour,
          fillOpacity: 0.85, interactive: false,
        }).addTo(this.workerLayer);
      }
    }
  };

  Wall.prototype.applyKpis = function (data) {
    var kpis = data.kpis || {};
    Object.keys(kpis).forEach(function (key) {
      var node = this.root.querySelector('[data-kpi="' + key + '"]');
      if (node) node.textContent = Number(kpis[key]).toLocaleString("zh-CN");
    }, this);
    this.heartbeat(data);
  };

  Wall.prototype.heartbeat = function (data) {
    this.lastHeartbeat = Date.now();
    this.newest = data.newest || this.newest;
  };

  Wall.prototype.tick = function () {
    var clock = this.root.querySelector(".wall-clock");
    if (clock) clock.textContent = new Date().toLocaleTimeString("zh-CN", { hour12: false, timeZone: "Asia/Shanghai" });
    this.showHealth();
    var fresh = this.ticker.querySelectorAll(".fresh");
    for (var i = 0; i < fresh.length; i++) fresh[i].classList.remove("fresh");
  };

  Wall.prototype.showHealth = function () {
    var state, text;
    var beatAge = Date.now() - (this.lastHeartbeat || 0);
    if (!this.connected) {
      state = "down"; text = "连接中断";
    } else if (beatAge > STALE_AFTER_MS) {
      state = "stale"; text = "数据延迟";
    } else {
      state = "ok";
      text = this.newest ? "实时 · 最新 " + hhmmss(this.newest) : "实时";
    }
    this.healthBox.setAttribute("data-state", state);
    this.healthText.textContent = text;
  };

  // Dash renders the page after this script runs: wait for the wall's root to appear.
  function boot() {
    hookLeaflet();
    var root = document.getElementById("wall-root");
    if (root && !root.__onemap && window.io) {
      root.__onemap = new Wall(root);
      root.__onemap.start();
    }
  }
  new MutationObserver(boot).observe(document.documentElement, { childList: true, subtree: true });
  document.addEventListener("DOMContentLoaded", boot);
})();
