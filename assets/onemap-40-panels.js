/* KPI counters (animated), the escalation ladder, the index ranking and the charts. */
(function () {
  "use strict";

  var onemap = (window.onemap = window.onemap || {});
  var el = onemap.el;

  // dcc.Graph loads plotly.js from window._dashPlotlyJSURL, which Dash's renderer sets to the
  // full bundle; the wall's charts need only Plotly's basic bundle, which the server also
  // serves (layouts/wall.py use_plotly_basic), so the local URL is pointed at it. A CDN URL is
  // left alone.
  if (!Object.getOwnPropertyDescriptor(window, "_dashPlotlyJSURL")) {
    var plotlyUrl;
    Object.defineProperty(window, "_dashPlotlyJSURL", {
      configurable: true,
      get: function () { return plotlyUrl; },
      set: function (url) {
        plotlyUrl = String(url).replace("/plotly/package_data/plotly.min.js", "/layouts.vendor/plotly-basic.min.js");
      },
    });
  }
  var PERCENT = { disposal_rate: 1, on_time_rate: 1, self_closure_rate: 1, patrol_coverage: 1 };
  var TWEEN_MS = 900;
  var TWEEN_STEP_MS = 80;
  var FIGURE_WAIT_MS = 1500;  // longest a new figure waits for the main thread to be idle
  // Between two chart redraws: with three charts each is redrawn at most every 15 s. A chart
  // redraw is the page's longest task (20-30 ms of CPU, several times that on a busy machine),
  // and hourly counts and category totals need no fresher picture on a wall.
  var FIGURE_GAP_MS = 5000;

  function format(key, value) {
    if (value === null || value === undefined || isNaN(value)) return "—";
    if (PERCENT[key]) return onemap.percent(value);  // never "100.0" unless it is
    return Math.round(value).toLocaleString("zh-CN");
  }

  function Panels(root) {
    this.root = root;
    this.shown = {};
    this.tweens = {};  // key → {node, from, to, now, started}
    this.looping = false;
    this.lastStep = 0;
    this.pendingFigures = {};  // graph id → figure not drawn yet
    this.drawnFigures = {};    // graph id → the drawn figure, as JSON
    this.figureTask = null;
    this.nextFigureAt = 0;
  }

  // kpis: {key: value, ...}; yesterday: {key: value at the same hour yesterday}
  Panels.prototype.kpis = function (kpis, yesterday) {
    var tiles = this.root.querySelectorAll(".kpi[data-kpi]");
    for (var i = 0; i < tiles.length; i++) {
      var key = tiles[i].getAttribute("data-kpi");
      if (!(key in kpis)) continue;
      this.tween(tiles[i].querySelector(".kpi-value"), key, kpis[key]);
      this.delta(tiles[i].querySelector(".kpi-delta"), key, kpis[key], (yesterday || {})[key]);
      this.caption(tiles[i].querySelector(".kpi-caption"), kpis);
    }
  };

  // What a rate is over: "应办结 5,582" (layouts/wall.py CAPTIONS).
  Panels.prototype.caption = function (node, kpis) {
    if (!node) return;
    var base = kpis[node.getAttribute("data-base")];
    var text = node.getAttribute("data-text");
    this.write(node, typeof base === "number" ? text + " " + base.toLocaleString("zh-CN") : text);
  };

  // All counters share one animation-frame loop that writes a figure only when its text
  // changes, at most every TWEEN_STEP_MS: a count-up read from across the room needs no more,
  // and each write costs the page a style, layout and paint pass.
  Panels.prototype.tween = function (node, key, target) {
    var from = this.shown[key];
    this.shown[key] = target;
    if (target === null || target === undefined || from === null || from === undefined || from === target) {
      delete this.tweens[key];
      this.write(node, format(key, target));
      return;
    }
    var running = this.tweens[key];
    if (running) from = running.now;  // retarget from where the figure is
    this.tweens[key] = { node: node, from: from, to: target, now: from, started: performance.now() };
    if (!this.looping) {
      this.looping = true;
      requestAnimationFrame(this.step.bind(this));
    }
  };

  Panels.prototype.step = function (now) {
    var due = now - this.lastStep >= TWEEN_STEP_MS, left = false;
    if (due) this.lastStep = now;
    for (var key in this.tweens) {
      var t = this.tweens[key], done = now - t.started >= TWEEN_MS;
      if (!due && !done) { left = true; continue; }
      var k = Math.min(1, (now - t.started) / TWEEN_MS);
      t.now = t.from + (t.to - t.from) * (1 - Math.pow(1 - k, 3));
      this.write(t.node, format(key, t.now));
      if (done) delete this.tweens[key]; else left = true;
    }
    this.looping = left;
    if (left) requestAnimationFrame(this.step.bind(this));
  };

  Panels.prototype.write = function (node, text) {
    if (node.textContent !== text) node.textContent = text;
  };

  Panels.prototype.delta = function (node, key, value, before) {
    if (before === null || before === undefined || value === null || value === undefined) {
      node.textContent = "";
      return;
    }
    var diff = value - before;  // a rate's difference never reads 0.0 unless there is none
    var text = PERCENT[key] ? onemap.percent(Math.abs(diff)) + "个百分点" : Math.abs(Math.round(diff)).toLocaleString("zh-CN");
    node.textContent = "较昨日同时 " + (diff > 0 ? "▲ " : diff < 0 ? "▼ " : "持平 ") + (diff ? text : "");
    node.setAttribute("data-trend", diff > 0 ? "up" : diff < 0 ? "down" : "flat");
  };

  // ladder: [{level, name, open, median_wait_s}]
  Panels.prototype.ladder = function (rows) {
    var most = Math.max.apply(null, rows.map(function (r) { return r.open; }).concat([1]));
    rows.forEach(function (r) {
      var li = this.root.querySelector('.ladder-row[data-level="' + r.level + '"]');
      if (!li) return;
      li.querySelector(".ladder-count").textContent = r.open.toLocaleString("zh-CN");
      li.querySelector(".ladder-bar").style.setProperty("--share", (r.open / most).toFixed(3));
      li.querySelector(".ladder-wait").textContent = r.median_wait_s === null ? "" : "中位等待 " + waited(r.median_wait_s);
    }, this);
  };

  function waited(seconds) {
    if (seconds < 3600) return Math.max(1, Math.round(seconds / 60)) + "分钟";
    if (seconds < 86400) return (seconds / 3600).toFixed(1) + "小时";
    return (seconds / 86400).toFixed(1) + "天";
  }

  // ranking: [{code, name, score, colour, rank}] best first: every area, or the best and the
  // weakest (dashboard.views.ranking.ranking); a row after skipped places opens with a rule.
  Panels.prototype.ranking = function (rows) {
    var list = this.root.querySelector(".ranking");
    if (!list || !rows) return;
    list.textContent = "";
    rows.forEach(function (r, i) {
      var rank = r.rank || i + 1, gap = i > 0 && rank > (rows[i - 1].rank || i) + 1;
      var li = el("li", "ranking-row index-" + r.colour + (gap ? " ranking-gap" : ""));
      li.setAttribute("data-rank", rank);
      li.appendChild(el("span", "ranking-pos", rank));
      li.appendChild(rankingName(r.name));
      var bar = el("span", "ranking-bar");
      bar.style.setProperty("--share", (r.score / 100).toFixed(3));
      li.appendChild(bar);
      li.appendChild(el("span", "ranking-score", r.score.toFixed(1)));  // 92.7 and 92.4 differ
      list.appendChild(li);
    });
  };

  // "杖锡村 网格001" reads "杖锡村 001" (every row of a town's ranking is a grid): the number
  // stays whole, the village gives way (an ellipsis) if it must; the full name is the title.
  function rankingName(text) {
    var node = el("span", "ranking-name"), cut = String(text).lastIndexOf(" ");
    node.title = text;
    node.appendChild(el("span", "ranking-place", cut < 0 ? text : text.slice(0, cut)));
    if (cut >= 0) node.appendChild(el("span", "ranking-unit", text.slice(cut + 1).replace(/^网格(?=\d)/, "")));
    return node;
  }

  var SHORT_CHART_PX = 160;  // a chart less tall than this at 1080p is drawn as a short one
  var TICK_PX = 30;  // 1080p pixels of a chart's height per value on its numeric axis

  // Plotly sizes are pixels; the wall's CSS scales with the screen (rem), so charts must too.
  var SCALED = { size: 1, l: 1, r: 1, t: 1, b: 1, pad: 1, thickness: 1, width: 1, xshift: 1, itemwidth: 1 };
  function scaled(value, k, key) {
    if (Array.isArray(value)) return value.map(function (v) { return scaled(v, k, null); });
    if (value && typeof value === "object") {
      var out = {};
      for (var name in value) out[name] = scaled(value[name], k, name);
      return out;
    }
    return typeof value === "number" && SCALED[key] ? value * k : value;
  }

  // Charts are the page's costliest redraw (a Plotly render each), and the least urgent: the
  // first figures of a snapshot are drawn at once; each later one waits its turn (one chart
  // per FIGURE_GAP_MS) and an idle moment, so a live step never queues behind three renders at
  // once; a figure equal to the one drawn is skipped.
  Panels.prototype.figures = function (figures) {
    if (!window.dash_clientside || !window.dash_clientside.set_props) return;
    for (var id in figures) {
      if (!figures[id]) continue;
      if (this.drawnFigures[id] === undefined) this.drawFigure(id, figures[id]);  // first: now
      else this.pendingFigures[id] = figures[id];
    }
    this.drawFigures();
  };

  Panels.prototype.drawFigures = function () {
    if (this.figureTask || !Object.keys(this.pendingFigures).length) return;
    var self = this;
    var idle = window.requestIdleCallback || function (f) { return setTimeout(f, 16); };
    var wait = Math.max(0, this.nextFigureAt - performance.now());
    this.figureTask = setTimeout(function () {
      idle(function () {
        self.figureTask = null;
        var id = Object.keys(self.pendingFigures)[0];
        if (id === undefined) return;
        var figure = self.pendingFigures[id];
        delete self.pendingFigures[id];
        if (self.drawFigure(id, figure)) self.nextFigureAt = performance.now() + FIGURE_GAP_MS;
        self.drawFigures();
      }, { timeout: FIGURE_WAIT_MS });
    }, wait);
  };

  // A new scope or a reconnect's snapshot: its figures are drawn at once, like the first.
  Panels.prototype.resetFigures = function () {
    this.drawnFigures = {};
    this.pendingFigures = {};
    this.nextFigureAt = 0;
  };

  Panels.prototype.drawFigure = function (id, sent) {
    var figure = { data: sent.data, layout: sent.layout };
    var key = JSON.stringify(figure);
    if (this.drawnFigures[id] === key) return false;
    this.drawnFigures[id] = key;
    var k = parseFloat(getComputedStyle(document.documentElement).fontSize) / 16 || 1;
    if (k !== 1) figure = { data: scaled(figure.data, k, null), layout: scaled(figure.layout, k, null) };
    // Plotly counts a numeric axis's ticks by its pixels, not by the type's size, so on a large
    // wall a chart would stack them: at most one per TICK_PX of 1080p height. A chart in a short
    // panel (a 3x3 wall's top screen row) also goes without its legend (its title says what
    // is drawn).
    var graph = document.getElementById(id), layout = figure.layout || {};
    var values = ((figure.data || [])[0] || {}).y || [];  // numbers up the side, not names
    var tall = graph ? graph.clientHeight / k : 0;
    if (tall > 0 && typeof values[0] === "number") {
      var short = tall < SHORT_CHART_PX;
      layout = Object.assign({}, layout, {
        yaxis: Object.assign({}, layout.yaxis, { nticks: Math.max(3, Math.min(6, Math.floor(tall / TICK_PX))) }),
      });
      if (short) layout = Object.assign(layout, { showlegend: false, margin: Object.assign({}, layout.margin, { t: 10 * k }) });
      figure = { data: figure.data, layout: layout };
    }
    window.dash_clientside.set_props(id, { figure: figure });
    return true;
  };

  onemap.Panels = Panels;
})();
