/* The leader's tablet (/tablet): KPIs, the three-colour map with tap-to-drill, top risks, trends
 * as inline SVG, the ranking and the latest events, live over the one socket (onemap.Live).
 *
 * Acts only when #tablet-root is on the page. Field text reaches the DOM through textContent
 * only. No Plotly: the charts are a few SVG elements drawn here. Every control is a <button>,
 * and everything a tap shows stays shown: nothing depends on hover.
 */
(function () {
  "use strict";

  var onemap = (window.onemap = window.onemap || {});
  var el = function (tag, cls, text) { return onemap.el(tag, cls, text); };
  var SVG = "http://www.w3.org/2000/svg";
  var INDEX_FILL = { green: "#1f9d5c", yellow: "#c9a227", red: "#c23b3b" };
  var INDEX_NAME = { green: "良好", yellow: "关注", red: "预警" };
  var PERCENT = { on_time_rate: 1, disposal_rate: 1, self_closure_rate: 1 };
  var SILENT_MS = 6000;  // no heartbeat for this long (they come every 2 s): connection lost
  var RISKS_EVERY_MS = 5000;
  var TREND_TTL_MS = 5 * 60 * 1000;
  var FEED_MAX = 30;
  var LABELS_MAX = 40;  // a town's grids are too many to label on a tablet
  var SEVERITY = { urgent: "紧急", major: "重大", normal: "一般" };

  function format(key, value) {
    if (value === null || value === undefined || isNaN(value)) return "—";
    if (PERCENT[key]) return onemap.percent(value);  // never "100.0" unless it is
    return Math.round(value).toLocaleString("zh-CN");
  }

  function minutes(m) {
    if (m < 60) return m + "分钟";
    if (m < 1440) return Math.floor(m / 60) + "小时" + (m % 60 ? (m % 60) + "分" : "");
    return Math.floor(m / 1440) + "天" + Math.floor((m % 1440) / 60) + "小时";
  }

  function shortDate(iso) {
    var p = iso.split("-");
    return Number(p[1]) + "/" + Number(p[2]);
  }

  function svg(tag, attrs, text) {
    var node = document.createElementNS(SVG, tag);
    for (var k in attrs) node.setAttribute(k, attrs[k]);
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  function Tablet(root, map) {
    var d = root.dataset;
    this.root = root;
    this.map = map;
    this.home = d.home;
    this.scope = d.scope;
    this.role = d.role;
    this.user = d.user;
    this.geo = null;
    this.index = {};
    this.areas = {};
    this.scores = {};
    this.kpis = {};
    this.feed = [];
    this.risks = { overdue: [], overdueCount: 0, warnings: [] };
    this.days = 7;
    this.trend = null;
    this.trendCache = {};
    this.picked = null;  // the day tapped on the trend chart
    this.following = null;
    this.card = null;  // {kind, id} of the open card
    this.risksAt = 0;
    this.risksTimer = null;
    this.live = new onemap.Live(this, this.scope);
    this.live.home = "";  // a tablet is nobody's wall: no cast or follow commands for it
    this.live.lite = true;  // no worker positions or incident markers: not drawn here
    this.layer = null;
    this.labels = null;
    onemap.tablet = this;
  }

  Tablet.prototype.$ = function (sel) { return this.root.querySelector(sel); };

  // The map data and the live connection load side by side; the risks and trends are asked
  // for as soon as the socket is up, beside the hello, not after its reply. On the page's
  // first load the hello and the risks were asked before the layout came (see the boot): their
  // replies are taken from there.
  Tablet.prototype.start = function () {
    var self = this, asked = early && early.scope === this.scope ? early : null;
    if (early && !asked) early.socket.disconnect();  // asked for another area: not ours
    early = null;
    this.bind();
    this.goTo(this.scope, true);
    this.live.connect(asked && asked.socket, asked && function (use) { asked.take("hello", use); },
      asked && asked.drain());
    var socket = this.live.socket;
    socket.on("disconnect", function () { self.tick(); });
    function ask() {
      if (asked) {  // the first connect's risks: asked early
        asked.take("risks", function (scope, reply) { self.onRisks(scope, reply); });
        asked = null;
      } else {
        self.fetchRisks(true);
      }
      if (!self.trend) self.fetchTrend();
      if (self.following) self.follow(self.following, true);  // back: pick up the follow again
    }
    socket.on("connect", ask);
    if (socket.connected) ask();
    window.addEventListener("offline", function () { self.tick(); });
    window.addEventListener("online", function () {
      // back on the network: do not wait for the next backoff step
      var socket = self.live.socket;
      if (socket && !socket.connected) socket.connect();
      self.tick();
    });
    setInterval(function () { self.tick(); }, 1000);
  };

  // -- controls -----------------------------------------------------------------------------
  Tablet.prototype.bind = function () {
    var self = this, root = this.root;
    root.addEventListener("click", function (e) {
      var b = e.target.closest("button");
      if (!b || !root.contains(b) || b.disabled) return;
      if (b.classList.contains("tablet-tab")) self.showTab(b.getAttribute("data-tab"));
      else if (b.id === "tablet-up") self.up();
      else if (b.classList.contains("crumb")) self.goTo(b.getAttribute("data-code"));
      else if (b.classList.contains("risk-item")) self.openRisk(b);
      else if (b.classList.contains("rank-row")) self.drill(b.getAttribute("data-code"));
      else if (b.classList.contains("rank-more")) { self.rankingAll = true; self.renderRanking(); }
      else if (b.classList.contains("feed-item")) self.openIncident(b.getAttribute("data-id"));
      else if (b.classList.contains("trend-range")) self.setDays(Number(b.getAttribute("data-days")));
      else if (b.classList.contains("card-close")) self.closeSheets();
      else if (b.classList.contains("card-act")) self.act(b.getAttribute("data-verb"));
      else if (b.classList.contains("card-drill")) { self.closeSheets(); self.drill(b.getAttribute("data-code")); }
      else if (b.classList.contains("card-incident")) self.openIncident(b.getAttribute("data-id"));
      else if (b.id === "tablet-follow") self.toggleFollow();
      else if (b.classList.contains("follow-target")) self.confirmFollow(b);
      else if (b.id === "tablet-fullscreen") self.fullscreen();
      else if (b.classList.contains("inbox-open")) self.openSent();
      else if (b.classList.contains("inbox-dismiss")) self.$("#tablet-inbox").hidden = true;
    });
    root.querySelectorAll(".tablet-card").forEach(function (sheet) {
      sheet.addEventListener("click", function (e) { if (e.target === sheet) self.closeSheets(); });
    });
    var chart = this.$("#tablet-trend");
    chart.addEventListener("click", function (e) { self.pickDay(e); });
    window.addEventListener("resize", function () {
      if (self.map) self.map.invalidateSize();
      self.drawTrend();
    });
  };

  Tablet.prototype.showTab = function (key) {
    this.root.setAttribute("data-tab", key);
    this.root.querySelectorAll(".tablet-tab").forEach(function (b) {
      b.setAttribute("aria-selected", b.getAttribute("data-tab") === key ? "true" : "false");
    });
    if (key === "trends") this.drawTrend();
  };

  Tablet.prototype.fullscreen = function () {
    var doc = document.documentElement;
    if (document.fullscreenElement) document.exitFullscreen();
    else if (doc.requestFullscreen) doc.requestFullscreen().catch(function () {});
  };

  // -- areas: drill, up, crumbs -------------------------------------------------------------
  Tablet.prototype.inHome = function (code) {
    var city = this.geo && this.geo.path.length ? this.geo.path[0].code : null;
    return this.home === city || code.indexOf(this.home) === 0;
  };

  Tablet.prototype.drill = function (code) {
    if (!this.geo || this.geo.childLevel === "grid") return;  // a town's grids: the finest view
    this.goTo(code);
  };

  Tablet.prototype.up = function () {
    var path = (this.geo && this.geo.path) || [];
    if (path.length > 1 && this.scope !== this.home) this.goTo(path[path.length - 2].code);
  };

  // initial: the page's own area, loaded beside the live connection; whatever the socket has
  // brought by the time the shapes arrive (index, risks, feed, trends) stays.
  Tablet.prototype.goTo = function (code, initial) {
    var self = this, inline = initial && document.getElementById("tablet-geo");
    var loaded = inline ? Promise.resolve(JSON.parse(inline.textContent)) :
      fetch("/geo/" + encodeURIComponent(code) + ".json", { credentials: "same-origin" })
        .then(function (r) { if (!r.ok) throw new Error("geo " + r.status); return r.json(); });
    loaded
      .then(function (geo) {
        var changed = !initial && geo.code !== self.scope;
        self.geo = geo;
        self.scope = geo.code;
        self.root.setAttribute("data-scope", geo.code);
        self.root.setAttribute("data-level", geo.level);
        self.$("#tablet-scope").textContent = geo.name;
        self.crumbs(geo.path);
        if (changed) {
          self.index = {};
          self.ranked = null;
          self.rankingAll = false;
          self.feed = [];
          self.risks = { overdue: [], overdueCount: 0, warnings: [] };
          self.trend = null;
          self.picked = null;
        }
        self.drawAreas(geo);
        self.applyIndex(self.index);
        self.renderFeed();
        self.renderRisks();
        self.renderRanking();
        if (changed) {
          self.live.setScope(geo.code);
          self.fetchRisks(true);
          self.fetchTrend();
          if (self.following) self.follow(self.following, true);
        }
      })
      .catch(function (err) { console.warn("OneMap: cannot load area", code, err); });
  };

  Tablet.prototype.crumbs = function (path) {
    var box = this.$("#tablet-crumbs"), self = this;
    box.textContent = "";
    path.forEach(function (step, i) {
      if (!self.inHome(step.code)) return;
      if (box.childNodes.length) box.appendChild(el("span", "crumb-sep", "›"));
      var b = el("button", "t-btn crumb", step.name);
      b.type = "button";
      b.setAttribute("data-code", step.code);
      if (i === path.length - 1) b.setAttribute("aria-current", "page");
      box.appendChild(b);
    });
    this.$("#tablet-up").disabled = this.scope === this.home || path.length < 2;
  };

  Tablet.prototype.drawAreas = function (geo) {
    var L = window.L, self = this, map = this.map;
    if (!map || !L) return;
    if (this.layer) this.layer.remove();
    if (this.labels) this.labels.remove();
    this.areas = {};
    this.scores = {};
    this.layer = L.geoJSON(geo.shapes, {
      style: function (f) { return self.areaStyle(f.properties.code); },
      onEachFeature: function (f, layer) {
        var code = f.properties.code;
        self.areas[code] = layer;
        layer.on("click", function () { self.tapArea(code); });
      },
    }).addTo(map);
    this.labels = L.layerGroup().addTo(map);
    if (geo.labels.length <= LABELS_MAX && geo.childLevel !== "grid") {
      geo.labels.forEach(function (label) {
        var text = el("span", "tarea-text");
        text.appendChild(el("span", "tarea-name", label.text));
        var score = el("b", "tarea-score");
        text.appendChild(score);
        self.scores[label.code] = score;
        self.labels.addLayer(L.tooltip({ permanent: true, direction: "center", interactive: false,
          className: "tarea-label" }).setLatLng([label.lat, label.lon]).setContent(text));
      });
    }
    map.invalidateSize();
    map.fitBounds(geo.bounds, { padding: [12, 12], animate: false });
    this.$("#tablet-map").setAttribute("data-areas", String(Object.keys(this.areas).length));
  };

  Tablet.prototype.areaStyle = function (code) {
    var entry = this.index[code], fill = entry && INDEX_FILL[entry.colour];
    return { color: "#9fd3ff", weight: 1.2, fillColor: fill || "#17395f", fillOpacity: fill ? 0.6 : 0.7 };
  };

  Tablet.prototype.tapArea = function (code) {
    if (this.geo && this.geo.childLevel !== "grid") this.drill(code);
    else this.openArea(code);  // a grid: its card, there is nothing below it
  };

  Tablet.prototype.applyIndex = function (index) {
    this.index = index || {};
    for (var code in this.areas) this.areas[code].setStyle(this.areaStyle(code));
    for (var label in this.scores) {
      var entry = this.index[label];
      this.scores[label].textContent = entry ? " " + Math.round(entry.score) : "";
    }
  };

  Tablet.prototype.areaName = function (code) {
    var labels = (this.geo && this.geo.labels) || [];
    for (var i = 0; i < labels.length; i++) if (labels[i].code === code) return labels[i].text;
    return code;
  };

  // -- the view interface called by onemap.Live ------------------------------------------------
  Tablet.prototype.onSnapshot = function () { this.feed = []; };

  Tablet.prototype.onSteps = function (steps, fromSnapshot) {
    var refresh = false;
    for (var i = 0; i < steps.length; i++) {
      var s = steps[i];
      this.feed.unshift(s);
      if (s.overdue || s.type === "closed") refresh = true;
    }
    if (this.feed.length > FEED_MAX) this.feed.length = FEED_MAX;
    this.renderFeed();
    if (refresh && !fromSnapshot) this.fetchRisks(false);
  };

  Tablet.prototype.onPositions = function () {};

  Tablet.prototype.onKpis = function (data) {
    var kpis = (this.kpis = data.kpis || {});
    if (data.yesterday) this.yesterday = data.yesterday;  // the same time yesterday
    this.root.querySelectorAll(".tkpi[data-kpi]").forEach(function (tile) {
      var key = tile.getAttribute("data-kpi");
      if (key in kpis) tile.querySelector(".tkpi-value").textContent = format(key, kpis[key]);
      var caption = tile.querySelector(".tkpi-caption");  // what a rate is over (as the wall)
      if (caption) {
        var base = kpis[caption.getAttribute("data-base")];
        caption.textContent = caption.getAttribute("data-text") + (typeof base === "number" ? " " + base.toLocaleString("zh-CN") : "");
      }
      if (key === "overdue") tile.setAttribute("data-alert", kpis[key] > 0 ? "1" : "0");
    });
    if (this.trend && this.trend.length) {  // today's point follows the live counters
      var today = this.trend[this.trend.length - 1];
      if (typeof kpis.reported === "number") today.reported = kpis.reported;
      if (typeof kpis.closed === "number") today.closed = kpis.closed;
      if (this.isVisible("trends")) this.drawTrend();
    }
  };

  Tablet.prototype.onPanels = function (data) {
    if (data.ranking) this.ranked = data.ranking;
    if (data.index) {
      this.applyIndex(data.index);
      this.renderRanking();
      this.renderRisks();
    }
    this.fetchRisks(false);
  };

  Tablet.prototype.onLive = function () {
    this.root.setAttribute("data-live", "1");
    this.tick();
  };

  Tablet.prototype.onWarnings = function (warnings) {
    var known = {}, list = this.risks.warnings;
    list.forEach(function (w) { known[w.id] = 1; });
    warnings.forEach(function (w) { if (!known[w.id]) list.unshift(w); });
    this.renderRisks();
  };

  Tablet.prototype.onActions = function (actions) {
    if (!this.card || this.card.kind !== "incident") return;
    var id = this.card.id, list = this.$("#tablet-card .card-actions");
    if (!list) return;
    actions.forEach(function (a) { if (a.incident === id) list.appendChild(actionRow(a)); });
  };

  Tablet.prototype.onCommand = function (cmd) {
    if (cmd && cmd.verb === "release" && this.following && (cmd.walls || []).indexOf(this.following) >= 0) {
      this.setFollowing(null);  // ended by the server (tablet away too long, or time up) or by another
      if (cmd.by !== this.user) this.flash(cmd.text || "大屏跟随已结束：" + (cmd.byName || cmd.by));
      return;
    }
    if (!cmd || cmd.verb !== "send_view") return;
    this.sent = cmd;
    var box = this.$("#tablet-inbox");
    box.textContent = "";
    box.appendChild(el("span", "inbox-text", "值班员 " + (cmd.by || "") + " 推送了一个视图" +
      (cmd.card ? "：" + cmd.card.title : "")));
    var open = el("button", "t-btn inbox-open", "打开");
    open.type = "button";
    var dismiss = el("button", "t-btn inbox-dismiss", "忽略");
    dismiss.type = "button";
    box.appendChild(open);
    box.appendChild(dismiss);
    box.hidden = false;
  };

  Tablet.prototype.openSent = function () {
    var cmd = this.sent, self = this;
    this.$("#tablet-inbox").hidden = true;
    if (!cmd) return;
    this.goTo(cmd.scope || this.scope);
    if (cmd.incident) setTimeout(function () { self.openIncident(cmd.incident); }, 0);
  };

  // -- health: the age of what is shown, the stale banner -------------------------------------
  Tablet.prototype.tick = function () {
    var live = this.live, now = Date.now();
    var heard = live.lastBeat ? now - live.lastBeat : null;
    var ok = live.connected && heard !== null && heard < SILENT_MS && navigator.onLine !== false;
    var box = this.$("#tablet-age"), text = box.querySelector(".tablet-age-text");
    var banner = this.$("#tablet-stale");
    var age = heard === null ? "" : onemap.age(heard);
    if (ok) {
      box.setAttribute("data-state", "ok");
      text.textContent = "实时 · " + age + "更新";
      banner.hidden = true;
      this.root.removeAttribute("data-stale");
    } else if (heard === null) {
      box.setAttribute("data-state", "connecting");
      text.textContent = "连接中";
    } else {
      box.setAttribute("data-state", "stale");
      text.textContent = "离线 · " + age + "更新";
      banner.textContent = (navigator.onLine === false ? "网络已断开" : "连接中断") +
        " · 以下是 " + age + "的数据 · 正在重连，恢复后自动补齐";
      banner.hidden = false;
      this.root.setAttribute("data-stale", "1");
    }
  };

  // -- risks ----------------------------------------------------------------------------------
  Tablet.prototype.fetchRisks = function (now) {
    var self = this, wait = RISKS_EVERY_MS - (Date.now() - this.risksAt);
    if (!this.live.socket || !this.live.connected) return;
    if (!now && wait > 0) {
      if (!this.risksTimer) this.risksTimer = setTimeout(function () { self.risksTimer = null; self.fetchRisks(true); }, wait);
      return;
    }
    this.risksAt = Date.now();
    var scope = this.scope;
    this.live.socket.emit("risks", { scope: scope }, function (reply) { self.onRisks(scope, reply); });
  };

  Tablet.prototype.onRisks = function (scope, reply) {
    if (!reply || !reply.ok || reply.scope !== this.scope) return;
    this.risks = reply;
    this.renderRisks();
  };

  Tablet.prototype.redAreas = function () {
    var index = this.index, rows = [];
    for (var code in index) if (index[code].colour === "red") rows.push({ code: code, entry: index[code] });
    rows.sort(function (a, b) { return a.entry.score - b.entry.score; });
    return rows;
  };

  function riskButton(kind, id, title, meta, tone) {
    var b = el("button", "t-btn risk-item risk-" + kind);
    b.type = "button";
    b.setAttribute("data-kind", kind);
    b.setAttribute("data-id", id);
    if (tone) b.setAttribute("data-tone", tone);
    b.appendChild(el("span", "risk-title", title));
    b.appendChild(el("span", "risk-meta", meta));
    return b;
  }

  function group(title, count, items, empty) {
    var box = el("div", "risk-group");
    var head = el("h3", "risk-head", title);
    head.appendChild(el("b", "risk-count", count));
    box.appendChild(head);
    if (!items.length) box.appendChild(el("p", "tablet-empty", empty));
    items.forEach(function (item) { box.appendChild(item); });
    return box;
  }

  Tablet.prototype.renderRisks = function () {
    var self = this, box = this.$("#tablet-risks"), risks = this.risks;
    var red = this.redAreas().map(function (r) {
      return riskButton("area", r.code, self.areaName(r.code) + " · 指数 " + Math.round(r.entry.score),
        (r.entry.why && r.entry.why[0]) || "治理指数低于预警线", "red");
    });
    var late = (risks.overdue || []).map(function (i) {
      return riskButton("incident", i.id, i.title,
        "超期 " + minutes(i.overdueMin) + " · " + i.place + " · " + i.levelName, "red");
    });
    var warn = (risks.warnings || []).map(function (w) {
      return riskButton("warning", w.id, w.title, (w.place || "") + " · " + onemap.clock(w.ts),
        w.severity === "normal" ? "amber" : "red");
    });
    this.warningsById = {};
    (risks.warnings || []).forEach(function (w) { self.warningsById[w.id] = w; });
    box.textContent = "";
    box.appendChild(group("预警区域", red.length, red, "暂无红色区域"));
    box.appendChild(group("超期事件", risks.overdueCount || 0, late, "暂无超期事件"));
    box.appendChild(group("预警信息", warn.length, warn, "暂无预警"));
    var tab = this.root.querySelector(".tab-risks");
    var total = red.length + (risks.overdueCount || 0) + warn.length;
    tab.setAttribute("data-count", total ? String(total) : "");
  };

  Tablet.prototype.openRisk = function (button) {
    var kind = button.getAttribute("data-kind"), id = button.getAttribute("data-id");
    if (kind === "incident") this.openIncident(id);
    else if (kind === "area") this.openArea(id);
    else if (kind === "warning") this.openWarning(this.warningsById[id]);
  };

  // -- cards ----------------------------------------------------------------------------------
  Tablet.prototype.sheet = function (kind, id, title) {
    this.closeSheets();
    var card = this.$("#tablet-card");
    card.setAttribute("data-kind", kind);
    card.querySelector(".card-title").textContent = title;
    card.querySelector(".card-msg").textContent = "";
    var walls = card.querySelector(".card-walls");  // another card's wall picker
    if (walls) walls.hidden = true;
    var body = card.querySelector(".card-body");
    body.textContent = "";
    this.card = { kind: kind, id: id };
    card.hidden = false;
    return body;
  };

  Tablet.prototype.closeSheets = function () {
    this.root.querySelectorAll(".tablet-card").forEach(function (s) { s.hidden = true; });
    this.card = null;
  };

  function fact(body, name, value, tone) {
    var row = el("div", "card-fact");
    row.appendChild(el("span", "fact-name", name));
    var v = el("span", "fact-value", value);
    if (tone) v.setAttribute("data-tone", tone);
    row.appendChild(v);
    body.appendChild(row);
  }

  function actionRow(a) {
    var li = el("li", "card-action");
    li.appendChild(el("b", "", a.verbName || a.verb));
    li.appendChild(el("span", "", " " + (a.actor || "") + " · " + onemap.clock(a.ts)));
    if (a.text) li.appendChild(el("div", "card-action-text", a.text));
    return li;
  }

  Tablet.prototype.openIncident = function (id) {
    var self = this;
    var body = this.sheet("incident", id, "事件详情");
    body.appendChild(el("p", "tablet-empty", "加载中…"));
    if (!this.live.socket) return;
    this.live.socket.emit("incident", { id: id }, function (reply) {
      if (!self.card || self.card.id !== id) return;
      body.textContent = "";
      if (!reply || !reply.ok) {
        body.appendChild(el("p", "tablet-empty", "无法查看该事件"));
        return;
      }
      self.fillIncident(body, reply.incident);
    });
  };

  Tablet.prototype.fillIncident = function (body, i) {
    var card = this.$("#tablet-card");
    card.querySelector(".card-title").textContent = i.title;
    var overdue = i.status === "open" && new Date(i.deadline).getTime() < Date.now();
    fact(body, "类别", i.catName);
    fact(body, "地点", i.place);
    fact(body, "层级", i.levelName);
    fact(body, "状态", i.status === "closed" ? "已办结" : overdue ? "已超期" : "办理中", overdue ? "red" : "");
    fact(body, "时限", onemap.clock(i.deadline) + " (" + new Date(i.deadline).toLocaleDateString("zh-CN", { timeZone: "Asia/Shanghai" }) + ")");
    if (i.severity && i.severity !== "normal") fact(body, "等级", SEVERITY[i.severity] || i.severity, "red");
    if (i.detail) body.appendChild(el("p", "card-detail", i.detail));
    var steps = el("ol", "card-steps");
    (i.steps || []).slice(-6).forEach(function (s) {
      var by = s.assignee ? " → " + s.assignee : s.actor ? " · " + s.actor : "";
      steps.appendChild(el("li", "", onemap.clock(s.ts) + " " + s.step + " · " + (s.level || "") + "级" + by));
    });
    body.appendChild(steps);
    if (i.places && onemap.placesNode) body.appendChild(onemap.placesNode(i, "card"));  // onemap-22-layers
    var acts = el("ol", "card-actions");
    (i.actions || []).forEach(function (a) { acts.appendChild(actionRow(a)); });
    body.appendChild(acts);
  };

  Tablet.prototype.openArea = function (code) {
    var entry = this.index[code] || {}, name = this.areaName(code);
    var body = this.sheet("area", code, name);
    fact(body, "治理指数", entry.score === undefined ? "—" : String(Math.round(entry.score)),
      entry.colour === "red" ? "red" : "");
    fact(body, "等级", INDEX_NAME[entry.colour] || "—");
    var why = el("ul", "card-why");
    (entry.why || []).forEach(function (line) { why.appendChild(el("li", "", line)); });
    if (!(entry.why || []).length) why.appendChild(el("li", "", "各项指标均不低于参照"));
    body.appendChild(why);
    if (this.geo && this.geo.childLevel !== "grid") {
      var go = el("button", "t-btn card-drill", "进入" + name);
      go.type = "button";
      go.setAttribute("data-code", code);
      body.appendChild(go);
    }
  };

  Tablet.prototype.openWarning = function (w) {
    if (!w) return;
    var body = this.sheet("warning", w.id, w.title);
    fact(body, "地点", w.place || w.area);
    fact(body, "时间", onemap.clock(w.ts));
    fact(body, "等级", SEVERITY[w.severity] || w.severity, w.severity === "normal" ? "" : "red");
    if (w.detail) body.appendChild(el("p", "card-detail", w.detail));
    (w.related || []).slice(0, 6).forEach(function (id, n) {
      var b = el("button", "t-btn card-incident", "相关事件 " + (n + 1));
      b.type = "button";
      b.setAttribute("data-id", id);
      body.appendChild(b);
    });
  };

  // -- actions: 批示, 督办, 投屏, follow ---------------------------------------------------------
  Tablet.prototype.send = function (request, done) {
    var self = this;
    if (!this.live.socket || !this.live.connected) { done({ ok: false, error: "离线，无法发送" }); return; }
    this.live.socket.emit("act", request, function (reply) { done(reply || { ok: false, error: "无应答" }); self.tick(); });
  };

  Tablet.prototype.act = function (verb) {
    if (!this.card || this.card.kind !== "incident") return;
    var card = this.$("#tablet-card"), msg = card.querySelector(".card-msg");
    var request = { verb: verb, incident: this.card.id, area: this.scope };
    if (verb === "cast") { this.pickCastWall(request); return; }
    if (verb === "instruct") {
      var box = card.querySelector("textarea");
      request.text = (box.value || "").trim();
      if (!request.text) { msg.textContent = "请先填写批示内容"; return; }
    }
    msg.textContent = "发送中…";
    this.send(request, function (reply) {
      msg.textContent = reply.ok ? { instruct: "批示已发送", supervise: "已督办", cast: "已投到大屏" }[verb] || "已发送"
        : "未发送：" + reply.error;
      msg.setAttribute("data-ok", reply.ok ? "1" : "0");
      if (reply.ok && verb === "instruct") card.querySelector("textarea").value = "";
    });
  };

  Tablet.prototype.toggleFollow = function () {
    if (this.following) {
      var target = this.following, self = this;
      this.send({ verb: "release", walls: [target] }, function (reply) {
        if (reply.ok) self.setFollowing(null);
      });
      return;
    }
    this.closeSheets();
    this.$("#tablet-follow-sheet .follow-confirm").hidden = true;
    this.$("#tablet-follow-sheet").hidden = false;
  };

  // A wall is taken over only once the leader confirms it, by its display name.
  Tablet.prototype.confirmFollow = function (option) {
    var self = this, box = this.$("#tablet-follow-sheet .follow-confirm");
    var target = option.getAttribute("data-target"), name = option.getAttribute("data-name");
    box.textContent = "";
    box.appendChild(el("p", "follow-question", "让「" + name + "」跟随本机？该大屏将中断当前画面，显示本机正在查看的区域。"));
    this.confirmButtons(box, "确认跟随", "follow-yes", function () { self.follow(target); });
    box.hidden = false;
  };

  Tablet.prototype.confirmButtons = function (box, yes, cls, onYes) {
    var ok = el("button", "t-btn card-primary " + cls, yes), no = el("button", "t-btn confirm-no", "取消");
    ok.type = no.type = "button";
    ok.addEventListener("click", function () { box.hidden = true; onYes(); });
    no.addEventListener("click", function () { box.hidden = true; });
    box.appendChild(ok);
    box.appendChild(no);
  };

  // 投到大屏 from an incident's card: the walls this leader may drive that can show it, one
  // tap to pick, one to confirm.
  Tablet.prototype.pickCastWall = function (request) {
    var self = this, card = this.$("#tablet-card"), msg = card.querySelector(".card-msg");
    var box = card.querySelector(".card-walls");
    if (!box) { box = el("div", "card-walls"); msg.parentNode.insertBefore(box, msg); }
    box.textContent = "";
    box.hidden = false;
    this.live.socket.emit("walls", { verb: "cast", incident: request.incident }, function (reply) {
      var walls = (reply && reply.ok && reply.walls) || [];
      if (!walls.length) box.appendChild(el("p", "follow-none", "没有可投屏的大屏"));
      walls.forEach(function (w) {
        var b = el("button", "t-btn cast-wall-pick");
        b.type = "button";
        b.setAttribute("data-wall", w.id);
        b.appendChild(el("span", null, w.name));
        b.appendChild(el("small", null, w.scopeName));
        b.addEventListener("click", function () {
          box.textContent = "";
          box.appendChild(el("p", "follow-question", "投到「" + w.name + "」？该大屏将显示此事件 60 秒。"));
          self.confirmButtons(box, "确认投屏", "cast-yes", function () {
            msg.textContent = "发送中…";
            self.send(Object.assign({ walls: [w.id], seconds: 60 }, request), function (reply) {
              msg.textContent = reply.ok ? "已投到「" + w.name + "」" : "未发送：" + reply.error;
              msg.setAttribute("data-ok", reply.ok ? "1" : "0");
            });
          });
        });
        box.appendChild(b);
      });
    });
  };

  // ``again``: the tablet moved or reconnected while following: the follow is picked up, not
  // taken anew (the server refuses if it has ended meanwhile).
  Tablet.prototype.follow = function (target, again) {
    var self = this;
    this.send({ verb: "follow", walls: [target], area: this.scope, resume: !!again }, function (reply) {
      if (reply.ok) { self.setFollowing(target); if (!again) self.closeSheets(); }
      else if (again) {
        self.setFollowing(null);
        self.flash(reply.error === "follow ended" ? "大屏跟随已结束" : "大屏跟随已中断：" + reply.error);
      }
      else self.$("#tablet-follow-sheet .follow-help").textContent = "未能跟随：" + reply.error;
    });
  };

  Tablet.prototype.setFollowing = function (target) {
    this.following = target;
    var b = this.$("#tablet-follow");
    if (!b) return;
    b.setAttribute("aria-pressed", target ? "true" : "false");
    var option = target && this.root.querySelector('.follow-target[data-target="' + target + '"] span');
    b.textContent = target ? "跟随中 · " + (option ? option.textContent : target) + " · 点此结束" : "大屏跟随";
  };

  Tablet.prototype.flash = function (text) {
    var box = this.$("#tablet-inbox");
    box.textContent = "";
    box.appendChild(el("span", "inbox-text", text));
    var ok = el("button", "t-btn inbox-dismiss", "知道了");
    ok.type = "button";
    box.appendChild(ok);
    box.hidden = false;
  };

  // -- ranking and feed -----------------------------------------------------------------------
  // Every area by score, each with its place. Until 展开全部 is tapped, a long list is the
  // weakest and the best the server picked (dashboard.views.ranking.ranking), the weakest
  // first: on a portrait tablet they are what is in view without scrolling.
  Tablet.prototype.renderRanking = function () {
    var list = this.$("#tablet-ranking"), index = this.index, self = this, rows = [], picked = {};
    for (var code in index) rows.push({ code: code, entry: index[code] });
    rows.sort(function (a, b) { return b.entry.score - a.entry.score || (a.code < b.code ? -1 : 1); });
    rows.forEach(function (r, n) { r.rank = n + 1; });
    (this.ranked || []).forEach(function (r) { picked[r.code] = 1; });
    var shown = rows.filter(function (r) { return picked[r.code]; });
    var cut = 0;
    while (cut + 1 < shown.length && shown[cut + 1].rank === shown[cut].rank + 1) cut++;
    list.textContent = "";
    if (!rows.length) list.appendChild(el("li", "tablet-empty", "等待指数数据…"));
    if (this.rankingAll || cut + 1 >= shown.length) {
      rows.forEach(function (r) { list.appendChild(self.rankRow(r)); });
      return;
    }
    var best = shown.slice(0, cut + 1), weakest = shown.slice(cut + 1);
    list.appendChild(el("li", "rank-caption", "后 " + weakest.length + " 位"));
    weakest.forEach(function (r) { list.appendChild(self.rankRow(r)); });
    list.appendChild(el("li", "rank-caption", "前 " + best.length + " 位"));
    best.forEach(function (r) { list.appendChild(self.rankRow(r)); });
    var more = el("button", "t-btn rank-more", "展开全部 " + rows.length + " 个");
    more.type = "button";
    list.appendChild(el("li", "")).appendChild(more);
  };

  Tablet.prototype.rankRow = function (r) {
    var li = el("li", ""), b = el("button", "t-btn rank-row");
    b.type = "button";
    b.disabled = !!(this.geo && this.geo.childLevel === "grid");  // a grid: nothing below it
    b.setAttribute("data-code", r.code);
    b.setAttribute("data-colour", r.entry.colour);
    b.appendChild(el("span", "rank-no", r.rank));
    b.appendChild(el("span", "rank-name", r.entry.name || this.areaName(r.code)));
    var bar = el("span", "rank-bar"), fill = el("i", "");
    fill.style.width = Math.max(2, Math.min(100, r.entry.score)) + "%";
    bar.appendChild(fill);
    b.appendChild(bar);
    b.appendChild(el("span", "rank-score", r.entry.score.toFixed(1)));
    li.appendChild(b);
    return li;
  };

  Tablet.prototype.renderFeed = function () {
    var list = this.$("#tablet-feed");
    list.textContent = "";
    if (!this.feed.length) list.appendChild(el("li", "tablet-empty", "暂无新事件"));
    this.feed.forEach(function (s) {
      var li = el("li", "");
      var b = el("button", "t-btn feed-item");
      b.type = "button";
      b.setAttribute("data-id", s.id);
      b.setAttribute("data-sid", s.sid);
      if (s.overdue) b.setAttribute("data-tone", "red");
      b.appendChild(el("span", "feed-time", onemap.clock(s.ts).slice(0, 5)));
      b.appendChild(el("span", "feed-step", s.step));
      b.appendChild(el("span", "feed-title", s.title));
      b.appendChild(el("span", "feed-place", s.place));
      li.appendChild(b);
      list.appendChild(li);
    });
  };

  // -- trends: inline SVG ---------------------------------------------------------------------
  Tablet.prototype.setDays = function (days) {
    this.days = days;
    this.root.querySelectorAll(".trend-range").forEach(function (b) {
      b.setAttribute("aria-pressed", Number(b.getAttribute("data-days")) === days ? "true" : "false");
    });
    this.picked = null;
    this.fetchTrend();
  };

  Tablet.prototype.fetchTrend = function () {
    var self = this, key = this.scope + ":" + this.days, cached = this.trendCache[key];
    if (cached && Date.now() - cached.at < TREND_TTL_MS) {
      this.trend = cached.days;
      this.drawTrend();
      return;
    }
    if (!this.live.socket || !this.live.connected) return;
    var scope = this.scope, days = this.days;
    this.live.socket.emit("trends", { scope: scope, days: days }, function (reply) {
      if (!reply || !reply.ok) return;
      self.trendCache[scope + ":" + days] = { at: Date.now(), days: reply.days };
      if (scope !== self.scope || days !== self.days) return;
      self.trend = reply.days;
      self.onKpis({ kpis: self.kpis });
      self.drawTrend();
    });
  };

  Tablet.prototype.isVisible = function (panel) {
    var node = this.root.querySelector('[data-panel="' + panel + '"]');
    return !!(node && node.offsetParent !== null);
  };

  Tablet.prototype.drawTrend = function () {
    var box = this.$("#tablet-trend"), rows = this.trend;
    if (!rows || !this.isVisible("trends")) return;
    var w = Math.max(200, box.clientWidth), h = Math.max(120, box.clientHeight);
    var pad = { l: 40, r: 8, t: 14, b: 22 };
    var max = 1;
    rows.forEach(function (d) { max = Math.max(max, d.reported || 0, d.closed || 0); });
    var step = niceStep(max), top = Math.ceil(max / step) * step;
    var slot = (w - pad.l - pad.r) / rows.length;
    var y = function (v) { return pad.t + (h - pad.t - pad.b) * (1 - v / top); };
    var chart = svg("svg", { width: w, height: h, viewBox: "0 0 " + w + " " + h, role: "img",
      "aria-label": "近" + rows.length + "天上报与办结" });
    for (var g = 0; g <= top; g += step) {
      chart.appendChild(svg("line", { x1: pad.l, x2: w - pad.r, y1: y(g), y2: y(g), class: "tg-grid" }));
      chart.appendChild(svg("text", { x: pad.l - 6, y: y(g) + 4, class: "tg-axis", "text-anchor": "end" },
        g >= 10000 ? (g / 10000) + "万" : g));
    }
    var every = rows.length > 10 ? Math.ceil(rows.length / 6) : 1, points = [];
    var self = this;
    rows.forEach(function (d, i) {
      var x = pad.l + i * slot;
      var picked = self.picked === i;
      if (d.reported !== null) {
        var bh = Math.max(1, y(0) - y(d.reported));
        chart.appendChild(svg("rect", { x: x + slot * 0.18, y: y(0) - bh, width: Math.max(1, slot * 0.64),
          height: bh, rx: Math.min(3, slot * 0.15), class: "tg-bar" + (picked ? " tg-picked" : "") +
          (i === rows.length - 1 ? " tg-today" : "") }));
      }
      if (d.closed !== null) points.push([x + slot / 2, y(d.closed)]);
      // yesterday's bar carries where it stood at this hour: today is a day in progress, and
      // its short bar is read against that mark, not against yesterday's whole day
      var then = self.yesterday && self.yesterday.reported;
      if (i === rows.length - 2 && typeof then === "number" && d.reported !== null) {
        chart.appendChild(svg("line", { x1: x + slot * 0.1, x2: x + slot * 0.9, y1: y(then), y2: y(then),
          class: "tg-then" }));
      }
      if ((rows.length - 1 - i) % every === 0) {
        chart.appendChild(svg("text", { x: x + slot / 2, y: h - 6, class: "tg-axis", "text-anchor": "middle" },
          i === rows.length - 1 ? "今天" : shortDate(d.day)));
      }
    });
    // the closed line's last leg runs into a day not over: dashed, so it does not read as a fall
    var last = rows[rows.length - 1], partial = last && last.closed !== null ? 1 : 0;
    var whole = points.slice(0, points.length - partial), line = function (pts, cls) {
      chart.appendChild(svg("polyline", { points: pts.map(function (p) { return p.join(","); }).join(" "),
        class: cls }));
    };
    if (whole.length > 1) line(whole, "tg-line");
    if (partial && points.length > 1) line(points.slice(-2), "tg-line tg-partial");
    points.forEach(function (p) { chart.appendChild(svg("circle", { cx: p[0], cy: p[1], r: 2.5, class: "tg-dot" })); });
    box.textContent = "";
    box.appendChild(chart);
    this.noteTrend();
  };

  function niceStep(max) {
    var raw = max / 4, mag = Math.pow(10, Math.floor(Math.log10(raw || 1)));
    var n = raw / mag;
    return (n <= 1 ? 1 : n <= 2 ? 2 : n <= 5 ? 5 : 10) * mag;
  }

  Tablet.prototype.pickDay = function (e) {
    var rows = this.trend, box = this.$("#tablet-trend");
    if (!rows) return;
    var rect = box.getBoundingClientRect(), x = e.clientX - rect.left - 40;
    var slot = (rect.width - 48) / rows.length;
    this.picked = Math.max(0, Math.min(rows.length - 1, Math.floor(x / slot)));
    this.drawTrend();
  };

  Tablet.prototype.noteTrend = function () {
    var rows = this.trend, note = this.$("#tablet-trend-note");
    var sum = function (k) { return rows.reduce(function (a, d) { return a + (d[k] || 0); }, 0); };
    var text;
    if (this.picked !== null && rows[this.picked]) {
      var d = rows[this.picked];
      text = (this.picked === rows.length - 1 ? "今天" : shortDate(d.day)) + "：" +
        (d.reported === null ? "无数据" : "上报 " + format("n", d.reported) + " · 办结 " + format("n", d.closed));
    } else {
      var today = rows[rows.length - 1], then = (this.yesterday || {}).reported;
      text = "近" + rows.length + "天 上报 " + format("n", sum("reported")) + " · 办结 " + format("n", sum("closed"));
      if (today && today.reported !== null) {
        text += " ｜ 今天截至" + onemap.clock(new Date(onemap.now()).toISOString()).slice(0, 5) +
          " 上报 " + format("n", today.reported) +
          (typeof then === "number" ? "，昨日此时 " + format("n", then) : "");
      }
    }
    note.textContent = text;
  };

  // -- boot -----------------------------------------------------------------------------------
  // On /tablet the socket opens as soon as the scripts have run (socket.io's comes after this
  // file), while Dash still fetches the layout, and asks at once for the snapshot and the risks
  // of the page's area (its map, inline in the page, names it): round trips saved on a mobile
  // link. The replies wait here for the Tablet.
  function Early(scope) {
    var self = this;
    this.scope = scope;
    this.socket = onemap.openSocket();
    this.replies = {};
    this.waiting = {};
    // Live data sent once the server put the socket in its room, before the Tablet listens:
    // handed to it with the hello's reply (see Live.connect).
    this.backlog = [];
    [["steps", "steps"], ["positions", "p"]].forEach(function (kind) {
      self.socket.on(kind[0], function (data) { if (self.backlog) self.backlog.push([kind[0], data[kind[1]]]); });
    });
    var asks = { hello: { scope: scope, after: null, home: "", lite: true }, risks: { scope: scope } };
    Object.keys(asks).forEach(function (event) {
      self.socket.emit(event, asks[event], function (reply) {
        self.replies[event] = { reply: reply };
        var use = self.waiting[event];
        delete self.waiting[event];
        if (use) use(scope, reply);
      });
    });
  }

  // What arrived live so far; nothing more is kept after this.
  Early.prototype.drain = function () {
    var backlog = this.backlog;
    this.backlog = null;
    return backlog;
  };

  // use(scope, reply) once the reply to event is in (now, if it is).
  Early.prototype.take = function (event, use) {
    if (this.replies[event]) use(this.scope, this.replies[event].reply);
    else this.waiting[event] = use;
  };

  var early = null;
  document.addEventListener("DOMContentLoaded", function () {
    var geo = document.getElementById("tablet-geo");
    if (/^\/tablet\/?$/.test(window.location.pathname) && window.io && onemap.openSocket && !early && geo) {
      early = new Early(geo.getAttribute("data-code"));
    }
  });

  function boot() {
    var root = document.getElementById("tablet-root");
    if (!root || root.__onemap || !window.io) return;
    root.__onemap = true;
    onemap.hookLeaflet();
    var tries = 0;
    (function waitForMap() {
      var container = root.querySelector(".leaflet-container");
      var map = container && onemap.maps[container.id];
      if (map || tries++ > 100) new Tablet(root, map || null).start();
      else setTimeout(waitForMap, 50);
    })();
  }
  new MutationObserver(boot).observe(document.documentElement, { childList: true, subtree: true });
  document.addEventListener("DOMContentLoaded", boot);
})();
