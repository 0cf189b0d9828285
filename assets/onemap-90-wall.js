/* The wall: ties the live connection to the map, ticker and panels; tours; heals itself.
 *
 * Walls run unattended for weeks. Socket.IO reconnects by itself and the connection catches up
 * from the last applied step; if the page still has no fresh data for a long time, or its
 * heap grows past a bound, it reloads itself, which is the one cure that always works.
 * While its data is not live the wall says so across the room: the root's data-health is
 * "stale" or "down", the map and panels are dimmed and a large banner gives the data's age.
 */
(function () {
  "use strict";

  var onemap = (window.onemap = window.onemap || {});
  var RELOAD_AFTER_STALE_MS = 10 * 60 * 1000;
  var CHECK_EVERY_MS = 30 * 1000;
  var CONNECT_GRACE_MS = 10 * 1000; // a page that has not been live yet is "connecting" this long
  var DAY = new Intl.DateTimeFormat("zh-CN", { month: "long", day: "numeric", timeZone: "Asia/Shanghai" });
  var DATE = new Intl.DateTimeFormat("zh-CN", { year: "numeric", month: "long", day: "numeric", timeZone: "Asia/Shanghai" });
  var WEEKDAY = new Intl.DateTimeFormat("zh-CN", { weekday: "long", timeZone: "Asia/Shanghai" });

  // The date line beside the clock, "2026年12月5日 星期六" (layouts/wall.py chinese_date).
  onemap.today = function (date) {
    date = date || new Date();
    return DATE.format(date) + " " + WEEKDAY.format(date);
  };

  function Wall(root, map) {
    this.root = root;
    this.scope = root.getAttribute("data-scope");
    this.highlight = root.getAttribute("data-highlight") || null;
    this.staleAfterMs = 1000 * Number(root.getAttribute("data-stale-after") || 60);
    this.maxHeapMb = Number(root.getAttribute("data-max-heap-mb") || 1024);
    this.dwellMs = 1000 * Number(root.getAttribute("data-dwell") || 45);
    var options = mapOptions(root);
    this.map = map ? new onemap.WallMap(map, options) : null;
    this.ticker = new onemap.Ticker(root.querySelector(".ticker"), root.querySelector(".pinned"));
    this.panels = new onemap.Panels(root);
    this.live = new onemap.Live(this, this.scope);
    if (this.map && options.density !== "off") this.live.densityWindow = options.window;
    this.unhealthySince = null;
    this.startedAt = Date.now();
    this.everLive = false;
    this.tourStops = [];
    onemap.wall = this;
  }

  // What the map counts and how (layouts/wall.py writes these from the URL; docs/wall.md).
  function mapOptions(root) {
    var categories = [];
    try { categories = JSON.parse(root.getAttribute("data-categories") || "[]"); } catch (e) { /* none: all */ }
    return {
      density: root.getAttribute("data-density") || "all",
      window: root.getAttribute("data-window") || "open",
      categories: categories,
      dueSoonMs: 1000 * Number(root.getAttribute("data-due-soon-s") || 7200),
    };
  }

  Object.defineProperty(Wall.prototype, "socket", { get: function () { return this.live.socket; } });
  Object.defineProperty(Wall.prototype, "incidents", {
    get: function () { return this.map ? this.map.incidents : {}; },
  });

  Wall.prototype.start = function () {
    var self = this;
    this.goTo(this.scope, this.highlight, function () { self.live.connect(); });
    setInterval(function () { self.tick(); }, 1000);
    setInterval(function () { self.checkHealth(); }, CHECK_EVERY_MS);
    if (this.root.getAttribute("data-tour")) this.startTour();
  };

  Wall.prototype.goTo = function (code, highlight, then) {
    var self = this;
    fetch("/geo/" + encodeURIComponent(code) + ".json", { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error("geo " + r.status); return r.json(); })
      .then(function (geo) {
        self.scope = geo.code;
        self.geo = geo;
        self.root.setAttribute("data-scope", geo.code);
        self.root.querySelector(".wall-scope").textContent = geo.name;
        self.breadcrumb(geo.path);
        if (self.map) self.map.setScope(geo, highlight);
        self.ticker.clear();
        if (then) then(); else self.live.setScope(geo.code);
      })
      .catch(function (err) { console.warn("OneMap: cannot load area", code, err); if (then) then(); });
  };

  Wall.prototype.breadcrumb = function (path) {
    var box = this.root.querySelector(".map-breadcrumb");
    box.textContent = "";
    path.forEach(function (step, i) {
      if (i) box.appendChild(onemap.el("span", "crumb-sep", "›"));
      box.appendChild(onemap.el("span", "crumb", step.name));
    });
  };

  // -- the view interface called by onemap.Live ------------------------------------------
  Wall.prototype.onSnapshot = function (reply) {
    this.panels.resetFigures();
    if (this.map) {
      this.map.clearLive();
      (reply.incidents || []).forEach(function (i) { this.map.placeIncident(i, false); }, this);
      // asked with a time window: its closed incidents, for the density's count only
      if (reply.closed) this.map.density.noteClosed(reply.closed, this.map.catIndex);
    }
    this.ticker.clear();
  };

  Wall.prototype.onSteps = function (steps, fromSnapshot) {
    if (this.map) steps.forEach(function (s) { this.map.placeIncident(s, !fromSnapshot); }, this);
    this.ticker.add(steps, fromSnapshot);
  };

  Wall.prototype.onPositions = function (rows) { if (this.map) this.map.moveWorkers(rows); };
  Wall.prototype.onWarnings = function (warnings) { this.ticker.warn(warnings); };
  Wall.prototype.onKpis = function (data) { this.panels.kpis(data.kpis || {}, data.yesterday); };

  Wall.prototype.onPanels = function (data) {
    this.panels.figures({ "wall-trend": data.trend, "wall-categories": data.categories, "wall-flow": data.flow });
    if (data.ladder) this.panels.ladder(data.ladder);
    if (data.ranking) this.panels.ranking(data.ranking);
    if (data.index && this.map) this.map.applyIndex(data.index);
  };

  Wall.prototype.onLive = function () {
    this.everLive = true;
    this.root.setAttribute("data-live", "1");
    this.tick(); // a banner clears as soon as the reply is in, not on the next second
  };

  // -- health, clock, self-healing --------------------------------------------------------
  Wall.prototype.tick = function () {
    this.root.querySelector(".wall-clock").textContent = onemap.clock();
    var dateLine = this.root.querySelector(".wall-date");
    if (dateLine) setText(dateLine, onemap.today());
    var state = this.health();
    var newest = this.live.newest ? new Date(this.live.newest) : null;
    var age = newest ? onemap.age(Date.now() - newest.getTime()) : "";
    var feedDown = state === "down" && this.live.connected && this.live.bridge !== "ok";
    var loading = feedDown && this.live.bridge === "rebuilding" ? loadingText(this.live.rebuilding) : "";
    this.root.querySelector(".wall-health").setAttribute("data-state", loading ? "loading" : state);
    setText(this.root.querySelector("#wall-health-text"),
      state === "connecting" ? "连接中" : loading ? "服务启动中" : feedDown ? "数据源中断" :
      state === "down" ? "连接中断 · 正在重连" :
      state === "stale" ? "数据延迟" + (age ? " · 最新 " + age : "") : "实时 · 最新 " + age);
    this.outage(state, feedDown, newest, age, loading);
    this.unhealthySince = state === "ok" ? null : (this.unhealthySince || Date.now());
  };

  // live.health(), except that a page not yet live is "connecting" for its first seconds
  // (no red banner while the first reply is on its way).
  Wall.prototype.health = function () {
    var state = this.live.health(this.staleAfterMs);
    var starting = !this.everLive && Date.now() - this.startedAt < CONNECT_GRACE_MS;
    return state !== "ok" && starting ? "connecting" : state;
  };

  // The banner and the dimmed page (wall.css keys both on the root's data-health).
  Wall.prototype.outage = function (state, feedDown, newest, age, loading) {
    var banner = this.root.querySelector(".wall-outage");
    this.root.setAttribute("data-health", loading ? "loading" : state);
    var shown = state === "stale" || state === "down";
    banner.hidden = !shown;
    if (!shown) return;
    banner.setAttribute("data-state", loading ? "loading" : state);
    setText(banner.querySelector(".outage-title"),
      state === "stale" ? "数据延迟" : loading ? "服务启动中" : feedDown ? "数据源中断" : "连接中断");
    setText(banner.querySelector(".outage-status"),
      state === "stale" ? "" : loading || (feedDown ? "等待数据源恢复" : "正在重连"));
    setText(banner.querySelector(".outage-age"), newest ? "最新数据 " + age : "尚未收到数据");
    setText(banner.querySelector(".outage-note"), newest ? "画面停留在 " + when(newest) + " · 非实时" : "");
  };

  // What a starting server said of its rebuild (dashboard/live/rebuild.py Progress.report).
  function loadingText(progress) {
    var percent = progress && typeof progress.percent === "number" ? progress.percent : null;
    // 99 at most: after the log come the positions, the actions and the first detector round
    return "正在加载历史数据" + (percent === null ? "" : " " + Math.min(99, Math.floor(percent)) + "%");
  }

  // The data's time of day, with its date when it is not today's (China time, as the clock).
  function when(date) {
    var day = DAY.format(date);
    return (day === DAY.format(new Date()) ? "" : day + " ") + onemap.clock(date.toISOString());
  }

  // Only when it changes: a text write is a mutation the page's observers see.
  function setText(node, text) {
    if (node.textContent !== text) node.textContent = text;
  }

  Wall.prototype.checkHealth = function () {
    var heapMb = performance.memory ? performance.memory.usedJSHeapSize / 1048576 : 0;
    var staleTooLong = this.unhealthySince && Date.now() - this.unhealthySince > RELOAD_AFTER_STALE_MS;
    if (heapMb > this.maxHeapMb || staleTooLong) {
      console.warn("OneMap: reloading (heap " + heapMb.toFixed(0) + " MB, unhealthy " + !!staleTooLong + ")");
      window.location.reload();
    }
  };

  // -- tour: city, then each county, then the city again ----------------------------------
  Wall.prototype.startTour = function () {
    var self = this, stops = null, at = 0;
    var badge = this.root.querySelector(".map-tour");
    fetch("/geo/" + this.scope + ".json").then(function (r) { return r.json(); }).then(function (geo) {
      stops = [geo.code].concat(geo.tour || []);
      self.tourStops = stops;
      badge.textContent = "自动巡览";
      setInterval(function () {
        at = (at + 1) % stops.length;
        self.goTo(stops[at], null, null);
      }, self.dwellMs);
    });
  };

  function boot() {
    onemap.hookLeaflet();
    var root = document.getElementById("wall-root");
    if (!root || root.__onemap || !window.io) return;
    root.__onemap = true;
    var tries = 0;
    (function waitForMap() {
      var container = root.querySelector(".leaflet-container");
      var map = container && onemap.maps[container.id];
      if (map || tries++ > 100) new Wall(root, map || null).start();
      else setTimeout(waitForMap, 50);
    })();
  }
  new MutationObserver(boot).observe(document.documentElement, { childList: true, subtree: true });
  document.addEventListener("DOMContentLoaded", boot);
})();
