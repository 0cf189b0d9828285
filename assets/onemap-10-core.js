/* OneMap core: shared helpers and the live connection (Socket.IO in, a view's methods out).
 *
 * Field text (titles, places) only ever reaches the page through textContent: a hotline
 * complaint may carry markup, and it must show as text.
 * The connection keeps the id of the last event step it applied; on every (re)connect it sends
 * that id and the server replies with exactly what was missed; ids already applied are dropped.
 */
(function () {
  "use strict";

  var onemap = (window.onemap = window.onemap || {});
  onemap.maps = {};
  onemap.stats = { steps: 0, duplicates: 0, positions: 0, lastSid: null, connects: 0, caughtUp: 0,
                   frames: 0, lastFrameMs: 0, maxFrameMs: 0 };
  // ?record=1 keeps every applied step id, so tests can compare the page with the log.
  onemap.applied = /[?&]record=1/.test(window.location.search) ? [] : null;

  // dash-leaflet bundles Leaflet, which always sets window.L; an init hook hands us each map
  // as it is created so live layers can be drawn and updated in place.
  onemap.hookLeaflet = function () {
    var L = window.L;
    if (!L || !L.Map) return false;
    if (!L.Map.__onemap) {
      L.Map.__onemap = true;
      L.Map.addInitHook(function () {
        var map = this;
        map.whenReady(function () { onemap.maps[map.getContainer().id] = map; });
      });
    }
    return true;
  };
  onemap.hookLeaflet();

  // The time the views count against: now, or the replayed moment while a wall replays
  // (onemap-92-replay.js sets clockSource), so density windows and overdue rings follow it.
  onemap.clockSource = null;
  onemap.now = function () { return onemap.clockSource ? onemap.clockSource() : Date.now(); };

  onemap.el = function (tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  };

  function sidKey(sid) {
    var parts = String(sid).split("-");
    return [Number(parts[0]), Number(parts[1] || 0)];
  }
  onemap.sidAfter = function (a, b) {
    if (b === null || b === undefined) return true;
    var x = sidKey(a), y = sidKey(b);
    return x[0] > y[0] || (x[0] === y[0] && x[1] > y[1]);
  };

  // The watchable scope (city, county or town) that shows an area: villages and grids show in
  // their town. The page's one copy of feeds/geo/codes.py's rule (a town code is 9 digits);
  // what the server sends says it itself where it can (a command's ``scope``).
  onemap.watchScope = function (code) {
    return code && code.length > 9 ? code.slice(0, 9) : code;
  };

  // One formatter for every clock on the page: toLocaleTimeString with options builds a new one
  // per call, which showed in the wall's profile (a call per ticker item).
  var CLOCK = new Intl.DateTimeFormat("zh-CN", {
    hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false, timeZone: "Asia/Shanghai",
  });
  onemap.clock = function (iso) {
    return CLOCK.format(iso ? new Date(iso) : new Date());
  };

  // A rate (a share, 0-1) as percent digits without the sign, by the rule of
  // dashboard/analytics/percent.py: one decimal, but never "100.0" (or "0.0") unless exactly
  // that; two decimals where one would round onto the edge, and the nearest figure short of it
  // where even two would (0.99969 reads "99.97", 0.99999 "99.99", 0.00031 "0.03").
  onemap.percent = function (value) {
    if (value === null || value === undefined || isNaN(value)) return "—";
    if (value === 0) return "0.0";
    var text = (value * 100).toFixed(1);
    if (value === 1 || (Number(text) !== 0 && Number(text) !== 100)) return text;
    text = (value * 100).toFixed(2);
    if (Number(text) === 100) return value < 1 ? "99.99" : "100.01";
    if (Number(text) === 0) return value > 0 ? "0.01" : "-0.01";
    return text;
  };

  onemap.age = function (ms) {
    var s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return s + "秒前";
    if (s < 3600) return Math.floor(s / 60) + "分钟前";
    return Math.floor(s / 3600) + "小时前";
  };

  // ---------------------------------------------------------------------------------------
  // Live: one socket, one scope at a time. The view gets onSnapshot/onSteps/onPositions/
  // onKpis/onPanels/onLive calls (and onActions/onCommand/onWarnings if it has them); only
  // steps newer than the last applied one reach it.
  function Live(view, scope) {
    this.view = view;
    this.scope = scope;
    // Where a wall started: walls take commands (cast, follow) for it; other views take none.
    this.home = view && view.root && view.root.getAttribute("data-view") === "wall" ? scope : null;
    // A wall's density window ("today", "24h"; null: open incidents only): a snapshot asked
    // with one also carries the incidents reported in it and closed since (docs/wall.md).
    this.densityWindow = null;
    this.lastSid = null;
    this.connected = false;
    this.lastBeat = 0;
    this.newest = null;
    this.bridge = "ok"; // the server's own link to the feed, as its last beat said
    this.socket = null;
    // Live steps and positions that arrive while a hello is unanswered wait here: the server
    // sends live data as soon as the socket joins its room, which can overtake the reply
    // (what was missed), and applying them first would make the page drop the missed steps.
    this.pending = null;
  }

  onemap.openSocket = function () {
    return window.io({ transports: ["websocket"], reconnectionDelayMax: 5000 });
  };

  // socket: one opened earlier with onemap.openSocket (the tablet opens it while Dash is still
  // fetching its layout, to save round trips on a slow link); it may be connected already.
  // asked (optional): a hello already sent on that socket; asked(use) calls use(scope, reply)
  // once its reply is in. The first connect takes that reply instead of asking again.
  // backlog (optional): [kind, rows] that arrived live on that socket before this listened.
  Live.prototype.connect = function (socket, asked, backlog) {
    var self = this;
    if (asked) this.pending = backlog || [];
    socket = this.socket = socket || onemap.openSocket();
    function connected() {
      onemap.stats.connects += 1;
      self.connected = true;
      var early = asked;
      asked = null;
      if (!early) { self.hello(); return; }
      self.pending = self.pending || [];
      early(function (scope, reply) { if (!self.welcome(scope, reply)) self.hello(); });
    }
    socket.on("connect", connected);
    if (socket.connected) connected();
    socket.on("disconnect", function (reason) {
      self.connected = false;
      // The server dropped us on purpose (account removed, link revoked, session over):
      // Socket.IO will not retry, and a reload lands on the sign-in page.
      if (reason === "io server disconnect") window.location.reload();
    });
    socket.on("connect_error", function (err) {
      if (err && err.message === "unauthorized") window.location.reload();
    });
    socket.on("steps", function (data) { self.live("steps", data.steps); });
    socket.on("positions", function (data) { self.live("positions", data.p); });
    socket.on("kpis", function (data) { self.beat(data); self.view.onKpis(data); });
    socket.on("beat", function (data) { self.beat(data); });
    socket.on("panels", function (data) { self.view.onPanels(data); });
    // Operators' actions (notes, 督办, 批示 ...) and commands (cast, follow, a view sent):
    // optional parts of the view interface.
    socket.on("actions", function (data) { if (self.view.onActions) self.view.onActions(data.actions); });
    // Early warnings of the watched area (dashboard/analytics), each once, as the server finds
    // them: not steps, so never buffered behind a hello nor dropped by id.
    socket.on("warnings", function (data) { if (self.view.onWarnings) self.view.onWarnings(data.warnings || []); });
    socket.on("command", function (data) { if (self.view.onCommand) self.view.onCommand(data); });
  };

  // Live data, applied now, or after the pending hello's reply.
  Live.prototype.live = function (kind, rows) {
    if (this.pending) { this.pending.push([kind, rows]); return; }
    this[kind](rows);
  };

  Live.prototype.hello = function () {
    var self = this, scope = this.scope;
    this.pending = this.pending || [];
    var ask = { scope: scope, after: this.lastSid, home: this.home, lite: !!this.lite, window: this.densityWindow };
    this.socket.emit("hello", ask, function (reply) {
      self.welcome(scope, reply);
    });
  };

  // The reply to a hello for scope; false if it is not for the current scope (ignored).
  Live.prototype.welcome = function (scope, reply) {
    var self = this;
    if (!reply || scope !== self.scope) return false;
    var waiting = self.pending || [];
    self.pending = null;
    if (!reply.ok) {
      console.warn("OneMap: hello refused:", reply.error);
      // Starting: the server is up and folding its log. Said as such (with how far it is),
      // not as a lost connection; its answer is as good as a heartbeat.
      if (reply.error === "starting") {
        self.bridge = "rebuilding";
        self.rebuilding = reply.progress || {};
        self.lastBeat = Date.now();
      }
      // The server is still rebuilding its state: ask again shortly.
      if (reply.retry) setTimeout(function () { if (self.connected && scope === self.scope) self.hello(); }, 1000 * reply.retry);
      return true;
    }
    self.rebuilding = null;
    if (reply.mode === "snapshot") {
      self.lastSid = null;
      self.view.onSnapshot(reply);
    } else {
      onemap.stats.caughtUp += (reply.steps || []).length;
    }
    self.steps(reply.steps || [], reply.mode === "snapshot");
    if (reply.positions) self.positions(reply.positions);
    if (reply.kpis) { self.beat(reply); self.view.onKpis(reply); }
    if (reply.panels) self.view.onPanels(reply.panels);
    if (reply.warnings && self.view.onWarnings) self.view.onWarnings(reply.warnings);
    if (reply.last && onemap.sidAfter(reply.last, self.lastSid)) self.lastSid = reply.last;
    onemap.stats.lastSid = self.lastSid;
    if (reply.following && self.view.onCommand) self.view.onCommand(reply.following);
    waiting.forEach(function (item) { self[item[0]](item[1]); }); // ids already applied drop
    self.view.onLive();
    return true;
  };

  Live.prototype.setScope = function (scope) {
    this.scope = scope;
    this.lastSid = null;
    if (this.connected) this.hello();
  };

  Live.prototype.steps = function (steps, fromSnapshot) {
    var fresh = [];
    for (var i = 0; i < steps.length; i++) {
      var s = steps[i];
      if (this.lastSid !== null && !onemap.sidAfter(s.sid, this.lastSid)) {
        onemap.stats.duplicates += 1;
        continue;
      }
      this.lastSid = s.sid;
      onemap.stats.steps += 1;
      if (onemap.applied) onemap.applied.push(s.sid);
      fresh.push(s);
    }
    onemap.stats.lastSid = this.lastSid;
    if (fresh.length) this.view.onSteps(fresh, !!fromSnapshot);
  };

  Live.prototype.positions = function (rows) {
    var started = performance.now();
    this.view.onPositions(rows);
    var took = performance.now() - started;
    onemap.stats.positions += rows.length;
    onemap.stats.frames += 1;
    onemap.stats.lastFrameMs = took;
    onemap.stats.maxFrameMs = Math.max(onemap.stats.maxFrameMs, took);
  };

  Live.prototype.beat = function (data) {
    this.lastBeat = Date.now();
    if (data.newest) this.newest = data.newest;
    if (data.bridge) this.bridge = data.bridge;
    if ("history" in data) onemap.showHistory(this.view && this.view.root, data.history);
  };

  // The note (layouts/history.py) that the server's history starts mid-incident: a trimmed
  // log. history: {since, partial} or null (the log holds every incident from its report).
  var HISTORY_DAY = new Intl.DateTimeFormat("zh-CN", {
    month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit", hour12: false,
    timeZone: "Asia/Shanghai",
  });
  onemap.showHistory = function (root, history) {
    var note = root && root.querySelector(".history-note");
    if (!note) return;
    note.hidden = !history;
    if (!history) return;
    var text = "历史数据始于 " + HISTORY_DAY.format(new Date(history.since)) + " · " +
      history.partial.toLocaleString("zh-CN") + " 件事件缺上报记录 · 统计自此时起";
    if (note.textContent !== text) note.textContent = text;
  };

  // "ok", "stale" (the newest data is older than staleAfterMs) or "down" (no connection, the
  // server says its feed is down, or it has sent no heartbeat for 6 s: it beats every 2 s).
  Live.prototype.health = function (staleAfterMs) {
    if (!this.connected || this.bridge !== "ok") return "down";
    if (Date.now() - this.lastBeat > 6000) return "down";
    if (!this.newest || Date.now() - new Date(this.newest).getTime() > staleAfterMs) return "stale";
    return "ok";
  };

  onemap.Live = Live;
})();
