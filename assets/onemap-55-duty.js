/* The duty desk (/duty): table, map, incident detail and actions, over the page's one socket.
 *
 * The table is AG Grid's infinite row model: it asks the server (``duty_rows``) for each block
 * with the current filter and sort, so 100,000 incidents cost the page only what is on screen.
 * The table holds still under the officer: a live step that leaves a row where it is updates it
 * in place; one that would add, move or drop rows (a new report, a closing in a sort by time
 * left) waits behind the "N 条更新" bar while the pointer is over the table, a cell has the
 * keyboard focus or the officer paused updates, and the refresh keeps the focus on the same
 * incident. The filter lives in the URL. All field text reaches the page through textContent.
 */
(function () {
  "use strict";

  var onemap = (window.onemap = window.onemap || {});
  var el = function (tag, cls, text) { return onemap.el(tag, cls, text); };
  var FIELDS = ["area", "cat", "platform", "level", "status", "source", "flag", "period", "q", "set"];
  var IDS = { q: "duty-search", area: "duty-area", cat: "duty-category", platform: "duty-platform",
              level: "duty-level", status: "duty-status", source: "duty-source", flag: "duty-flag",
              period: "duty-period", set: "duty-set" };
  var MULTI = { cat: 1, platform: 1, level: 1, source: 1 };
  var PERCENT = { disposal_rate: 1, on_time_rate: 1, self_closure_rate: 1 };
  var REFRESH_MS = 1000;  // the fastest the table refreshes by itself
  var DEFAULT_SORT = { col: "left", dir: "asc" };  // open ones by time left, overdue first
  // A step's effect on the table's order, by sort: the row moves when these change.
  var MOVES = { left: ["closed", "due"], deadline: ["due"], status: ["closed", "due"], level: ["level"] };
  var NARROW_PX = 1000;  // below this table width, the less needed columns step aside
  var NARROW_HIDES = ["deadline", "level", "source"];
  var MODE_KEY = "onemap.duty.updates";
  var CLOCK_DATE = new Intl.DateTimeFormat("zh-CN", { timeZone: "Asia/Shanghai", year: "numeric", month: "long",
                                                     day: "numeric", weekday: "long" });
  var CLOCK_TIME = new Intl.DateTimeFormat("zh-CN", { timeZone: "Asia/Shanghai", hour: "2-digit", minute: "2-digit",
                                                     second: "2-digit", hour12: false });
  var LEVELS = ["网格", "村社", "镇街", "区县", "市级"];
  var WORKER_STATUS = { patrolling: "巡查中", handling: "处置中", idle: "空闲", offline: "离线" };

  function cleanFilter(f) {
    var out = {};
    FIELDS.forEach(function (k) {
      var v = f[k];
      if (Array.isArray(v)) v = v.join(",");
      if (v !== undefined && v !== null && String(v) !== "") out[k] = String(v);
    });
    return out;
  }

  function query(params) {
    return Object.keys(params).map(function (k) {
      return encodeURIComponent(k) + "=" + encodeURIComponent(params[k]);
    }).join("&");
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "";
    var m = Math.round(Math.abs(seconds) / 60), h = Math.floor(m / 60), d = Math.floor(h / 24);
    if (d) return d + "天" + (h % 24) + "小时";
    if (h) return h + "小时" + (m % 60) + "分";
    return m + "分";
  }

  // 剩 3小时12分 / 超 45分, as dashboard/views/table.py's countdown writes it, from the
  // deadline (epoch ms) and this moment
  function countdown(due) {
    if (!due) return "";
    var seconds = (due - Date.now()) / 1000, left = Math.floor(Math.abs(seconds));
    var hours = Math.floor(left / 3600), minutes = Math.floor((left % 3600) / 60);
    var text = hours ? hours + "小时" + (minutes < 10 ? "0" : "") + minutes + "分" : minutes + "分";
    return (seconds >= 0 ? "剩 " : "超 ") + text;
  }

  function stamp(iso) {
    var d = new Date(iso);
    return d.toLocaleString("zh-CN", { hour12: false, timeZone: "Asia/Shanghai", month: "2-digit",
                                       day: "2-digit", hour: "2-digit", minute: "2-digit" });
  }

  // -- table columns: renderers build DOM nodes (no HTML strings, no eval under the CSP) ----
  // A plain-JS renderer (init/getGui): the grid is React-rendered, and a bare function would be
  // taken for a React component. Returning DOM nodes keeps field text out of any HTML parser.
  function renderer(build) {
    function Cell() {}
    Cell.prototype.init = function (p) {
      this.gui = el("span", "cell");
      this.refresh(p);
    };
    Cell.prototype.getGui = function () { return this.gui; };
    // Refreshed in place (a live step, a block reloaded): no new cell, no layout of the row.
    Cell.prototype.refresh = function (p) {
      var built = build(p);
      this.gui.textContent = "";
      this.gui.appendChild(built && built.nodeType ? built : document.createTextNode(built || ""));
      return true;
    };
    return Cell;
  }

  function textCell(cls) {
    return function (p) { return p.value === undefined || p.value === null ? "" : el("span", cls, p.value); };
  }

  // The search's words, as typed (spaces ASCII or full-width), for highlighting: the server
  // also matches pinyin initials and places, which are not in the text and light nothing.
  function searchWords(q) {
    return String(q || "").toLowerCase().split(/[\s\u3000]+/).filter(function (w) { return w.length > 0; });
  }

  // Text with the search's words marked: text nodes and <mark> elements, never parsed HTML.
  function highlighted(cls) {
    return function (p) {
      if (p.value === undefined || p.value === null) return "";
      var text = String(p.value), box = el("span", cls);
      var words = (onemap.duty && onemap.duty.words) || [];
      var lower = text.toLowerCase(), at = 0;
      while (at < text.length) {
        var next = -1, len = 0;
        words.forEach(function (w) {
          var i = lower.indexOf(w, at);
          if (i !== -1 && (next === -1 || i < next || (i === next && w.length > len))) { next = i; len = w.length; }
        });
        if (next === -1) break;
        if (next > at) box.appendChild(document.createTextNode(text.slice(at, next)));
        box.appendChild(el("mark", "hit", text.slice(next, next + len)));
        at = next + len;
      }
      if (at < text.length) box.appendChild(document.createTextNode(text.slice(at)));
      return box;
    };
  }

  function columns() {
    return [
      { headerName: "上报时间", field: "reported", colId: "reported", width: 104, sortingOrder: ["desc", "asc"] },
      { headerName: "类别", field: "category", colId: "category", width: 112,
        cellRenderer: renderer(function (p) {
          if (!p.data) return "";
          var box = el("span", "cat-cell");
          var dot = el("i", "cat-dot");
          dot.style.background = p.data.colour;
          box.appendChild(dot);
          box.appendChild(el("span", null, p.value));
          return box;
        }) },
      { headerName: "标题", field: "title", colId: "title", flex: 1.6, minWidth: 160, sortable: false,
        tooltipField: "title", cellRenderer: renderer(highlighted("title-cell")) },
      { headerName: "地点", field: "place", colId: "place", flex: 1.6, minWidth: 130,
        tooltipField: "place", cellRenderer: renderer(highlighted("place-cell")) },
      { headerName: "状态", field: "status", colId: "status", width: 84,
        cellRenderer: renderer(function (p) {
          if (!p.data) return "";
          return el("span", "status-pill " + (p.data.closed ? "is-closed" : p.data.overdue ? "is-overdue" : "is-open"), p.value);
        }) },
      { headerName: "剩余时限", field: "left", colId: "left", width: 108,
        headerTooltip: "按剩余时限：办理中的在前（超期最久的最先），已办结的在后",
        cellRenderer: renderer(function (p) {
          if (!p.data) return "";
          var left = p.data.closed ? "" : countdown(p.data.due) || p.value;
          var late = !p.data.closed && (p.data.due ? p.data.due < Date.now() : p.data.overdue);
          return el("span", late ? "left-overdue" : p.data.closed ? "left-closed" : "left-cell",
                    left || (p.data.closed ? "已办结" : p.data.deadline));
        }) },
      { headerName: "办理时限", field: "deadline", colId: "deadline", width: 104 },
      { headerName: "层级", field: "level", colId: "level", width: 70 },
      { headerName: "来源", field: "source", colId: "source", width: 96 },
      { headerName: "标记", field: "id", colId: "marks", width: 88, sortable: false,
        cellRenderer: renderer(function (p) {
          if (!p.data) return "";
          var box = el("span", "marks-cell");
          if (p.data.supervised) box.appendChild(el("b", "mark mark-supervised", "督办"));
          if (p.data.acknowledged) box.appendChild(el("b", "mark mark-ack", "已签收"));
          return box;
        }) },
    ];
  }

  // ---------------------------------------------------------------------------------------
  function Duty(root, map, api) {
    this.root = root;
    this.scope = root.getAttribute("data-scope");
    this.role = root.getAttribute("data-role");
    this.user = root.getAttribute("data-user");
    this.rates = JSON.parse(root.getAttribute("data-rates") || "{}");
    this.setNames = JSON.parse(root.getAttribute("data-sets") || "{}");
    this.filter = cleanFilter(JSON.parse(root.getAttribute("data-filter") || "{}"));
    var sort = (root.getAttribute("data-sort") || "").split(":");
    this.sort = sort[0] ? { col: sort[0], dir: sort[1] === "asc" ? "asc" : "desc" } : Object.assign({}, DEFAULT_SORT);
    this.words = searchWords(this.filter.q);
    this.api = api;
    this.map = map ? new DutyMap(this, map) : null;
    this.live = new onemap.Live(this, this.scope);
    this.live.lite = true;  // no worker positions or incident markers: the desk draws neither
    this.loaded = false;
    this.refreshTimer = null;
    this.lastRefresh = 0;
    this.openId = null;
    this.detail = null;
    this.kpis = {};
    this.pendingRows = [];
    // Incidents whose steps would add, move or drop rows, not yet shown (the "N 条更新" bar).
    this.waiting = {};
    this.waitingCount = 0;
    this.paused = readMode() === "pause";
    this.keep = null;  // the incident a refresh keeps the focus on: {id, col, refocus}
    this.stats = { queries: 0, lastMs: 0, serverMs: 0, inPlace: 0, refreshes: 0, held: 0, total: null };
    onemap.duty = this;
  }

  Duty.prototype.start = function () {
    var self = this;
    var api = this.api;
    api.setGridOption("columnDefs", columns());
    api.setGridOption("getRowClass", function (p) {
      if (!p.data) return "";
      return (p.data.overdue ? "row-overdue " : "") + (p.data.closed ? "row-closed " : "") +
        (p.data.id === self.openId ? "row-open" : "");
    });
    api.applyColumnState({ state: [{ colId: this.sort.col, sort: this.sort.dir }], defaultState: { sort: null } });
    // The row the pointer was on, by the DOM under it: what the officer saw is what opens.
    api.addEventListener("rowClicked", function (e) {
      var target = e.event && e.event.target;
      var row = target && target.closest ? target.closest(".ag-row[row-id]") : null;
      var id = row ? row.getAttribute("row-id") : e.data && e.data.id;
      if (id) self.open(id);
    });
    api.addEventListener("cellKeyDown", function (e) {
      if (e.event && e.event.key === "Enter" && e.data) self.open(e.data.id);
    });
    api.addEventListener("gridSizeChanged", function (e) { self.fitColumns(e.clientWidth); });
    this.live.connect();
    this.bindControls();
    this.bindHold();
    this.fitColumns(this.grid().clientWidth);
    this.updateLinks();
    if (this.map) this.map.goTo(this.mapArea(this.filter.area), this.filter.area);
    var open = this.root.getAttribute("data-open");
    if (open) this.open(open);
    this.clock();
    setInterval(function () { self.tick(); }, 1000);
  };

  Duty.prototype.grid = function () { return this.root.querySelector(".duty-grid"); };

  // At 1366 px the table has about 880 px: the deadline's clock time (剩余时限 says it
  // better), the level and the source step aside, so 剩余时限 stays on screen.
  Duty.prototype.fitColumns = function (width) {
    if (!width || !this.api) return;
    var narrow = width < NARROW_PX;
    if (narrow === this.narrow) return;
    this.narrow = narrow;
    this.api.setColumnsVisible(NARROW_HIDES, !narrow);
    this.root.setAttribute("data-narrow", narrow ? "1" : "0");
  };

  // The desk clock, in China time whatever the officer's machine says.
  Duty.prototype.clock = function () {
    var box = this.root.querySelector(".duty-clock");
    if (!box) return;
    var now = new Date();
    box.querySelector(".clock-date").textContent = CLOCK_DATE.format(now).replace(/(日)(星期)/, "$1 $2");
    box.querySelector(".clock-time").textContent = CLOCK_TIME.format(now);
  };

  Duty.prototype.mapArea = function (code) {
    if (!code) return this.scope;
    return onemap.watchScope(code);
  };

  // -- data ------------------------------------------------------------------------------
  // dash-ag-grid's infinite model asks through its getRowsRequest prop (one block at a time:
  // maxConcurrentDatasourceRequests is 1) and takes the answer from getRowsResponse.
  Duty.prototype.getRows = function (params) {
    var self = this;
    this.latestRequest = params;
    var sort = params.sortModel && params.sortModel[0];
    this.sort = sort ? { col: sort.colId, dir: sort.sort } : Object.assign({}, DEFAULT_SORT);
    var ask = { filter: this.filter, sort: this.sort.col, dir: this.sort.dir,
                start: params.startRow, end: params.endRow, points: params.startRow === 0 };
    var sent = performance.now();
    var answer = function (rows, total) {
      window.dash_clientside.set_props("duty-grid", { getRowsResponse: { rowData: rows, rowCount: total } });
    };
    var send = function () {
      self.live.socket.emit("duty_rows", ask, function (reply) {
        if (params !== self.latestRequest) return;  // a newer request replaced it: answer that
        if (!reply || !reply.ok) { answer([], 0); return; }
        self.stats.queries += 1;
        self.stats.lastMs = performance.now() - sent;
        self.stats.serverMs = reply.ms;
        answer(reply.rows, reply.total);
        self.stats.total = reply.total;
        self.loaded = true;
        self.root.setAttribute("data-total", String(reply.total));
        self.root.querySelector(".duty-count").textContent = "共 " + reply.total.toLocaleString("zh-CN") + " 条";
        if (reply.points && self.map) self.map.points(reply.points);
        self.updateSort();
        if (self.keep) self.afterRefresh();
      });
    };
    if (this.live.connected) send();
    else this.pendingRows.push(send);
  };

  Duty.prototype.setFilter = function (f) {
    var next = cleanFilter(f);
    if (JSON.stringify(next) === JSON.stringify(this.filter)) return;
    var areaChanged = next.area !== this.filter.area;
    this.filter = next;
    this.words = searchWords(next.q);
    this.updateLinks();
    this.explain();
    this.clearWaiting();  // a new list: what waited is in it, or not wanted
    if (this.api) { this.api.purgeInfiniteCache(); this.api.ensureIndexVisible(0, "top"); }
    if (areaChanged && this.map) this.map.goTo(this.mapArea(next.area), next.area);
  };

  // Set the controls to a filter (the controls' callback then calls setFilter too).
  Duty.prototype.applyFilter = function (f) {
    f = cleanFilter(f);
    var set = window.dash_clientside && window.dash_clientside.set_props;
    if (set) {
      FIELDS.forEach(function (k) {
        var v = f[k];
        if (MULTI[k]) v = v ? v.split(",") : [];
        else if (v === undefined) v = k === "q" ? "" : null;
        set(IDS[k], { value: v });
      });
    }
    this.setFilter(f);
  };

  Duty.prototype.updateLinks = function () {
    var params = Object.assign({}, this.filter);
    if (this.sort.col !== DEFAULT_SORT.col || this.sort.dir !== DEFAULT_SORT.dir) params.sort = this.sort.col + ":" + this.sort.dir;
    if (this.openId) params.open = this.openId;
    var qs = query(params);
    history.replaceState(null, "", "/duty" + (qs ? "?" + qs : ""));
    var exportQs = query(Object.assign({}, this.filter, { sort: this.sort.col, dir: this.sort.dir }));
    this.root.querySelectorAll(".duty-export").forEach(function (a) {
      a.setAttribute("href", "/api/duty/export." + a.getAttribute("data-format") + (exportQs ? "?" + exportQs : ""));
    });
  };

  Duty.prototype.updateSort = function () {
    var key = this.sort.col + ":" + this.sort.dir;
    if (key !== this.lastSortKey) { this.lastSortKey = key; this.updateLinks(); }
  };

  // -- a table that holds still ---------------------------------------------------------
  // Rows never move under the officer: while the pointer is over the table, a cell has the
  // keyboard focus, or the officer chose 暂停, what would add, move or drop rows waits, counted
  // in the bar above the table. It is applied when the officer clicks the bar, or (自动) as soon
  // as the pointer has left and no cell has the focus, at most once a second.
  Duty.prototype.bindHold = function () {
    var self = this;
    var grid = this.grid(), bar = this.root.querySelector(".duty-updates");
    var released = function () { if (self.waitingCount && !self.holding()) self.scheduleRefresh(); };
    grid.addEventListener("pointerleave", released);
    grid.addEventListener("focusout", function () { setTimeout(released, 0); });
    // Whether the focus was on a cell when the officer went for the bar: then it goes back to
    // that incident's cell after the refresh (pointerdown comes before the focus moves).
    bar.addEventListener("pointerdown", function () { self.barFromCell = self.cellFocused(); });
    bar.addEventListener("focus", function (e) {
      if (e.relatedTarget && grid.contains(e.relatedTarget)) self.barFromCell = true;
    });
    bar.addEventListener("click", function () {
      var refocus = !!self.barFromCell;
      self.barFromCell = false;
      self.applyUpdates(refocus);
    });
    this.root.querySelectorAll(".duty-mode button").forEach(function (b) {
      b.addEventListener("click", function () { self.setMode(b.getAttribute("data-mode")); });
    });
    this.setMode(this.paused ? "pause" : "auto");
  };

  Duty.prototype.setMode = function (mode) {
    this.paused = mode === "pause";
    try { window.localStorage.setItem(MODE_KEY, mode); } catch (e) { /* private mode: not kept */ }
    this.root.querySelectorAll(".duty-mode button").forEach(function (b) {
      b.setAttribute("aria-pressed", b.getAttribute("data-mode") === mode ? "true" : "false");
    });
    this.root.setAttribute("data-updates", mode);
    if (!this.paused && this.waitingCount && !this.holding()) this.scheduleRefresh();
    this.renderBar();
  };

  Duty.prototype.pointerOver = function () { return this.grid().matches(":hover"); };

  Duty.prototype.cellFocused = function () {
    var a = document.activeElement;
    return !!(a && this.grid().contains(a) && a.closest(".ag-row"));
  };

  Duty.prototype.holding = function () {
    return this.paused || this.pointerOver() || this.cellFocused();
  };

  // Whether a step of an incident can belong to the filtered list: the parts of the filter a
  // step carries (area, category, platform); the server decides the rest on refresh.
  Duty.prototype.mayMatch = function (s) {
    var f = this.filter, area = f.area;
    if (area && s.town && area.indexOf(s.town) !== 0 && s.town.indexOf(area) !== 0) return false;
    if (f.cat && f.cat.split(",").indexOf(s.cat) === -1) return false;
    if (f.platform && f.platform.split(",").indexOf(s.platform) === -1) return false;
    return true;
  };

  // What a step does to the table: "none", "row" (the loaded row changes where it is) or
  // "list" (rows would be added, moved or dropped: it waits for a refresh).
  Duty.prototype.effect = function (s, row) {
    var f = this.filter;
    if (!this.mayMatch(s)) return "none";
    var moves = MOVES[this.sort.col];
    var membership = !!(f.status || f.flag || f.set || f.level);
    if (!row) {
      if (s.seq === 1 || s.type === "reported") return "list";  // a new report
      return moves || membership ? "list" : "none";  // it may move into the loaded rows
    }
    var changed = {
      closed: (s.status === "closed") !== !!row.closed,
      // a second's leeway: the row's milliseconds are rounded, the step's ISO time cut
      due: row.due !== null && row.due !== undefined && Math.abs(Date.parse(s.deadline) - row.due) >= 1000,
      level: s.levelName !== row.level,
      overdue: !!s.overdue !== !!row.overdue,
    };
    var moved = (moves || []).some(function (k) { return changed[k]; });
    var leaves = ((f.status || f.flag || f.set) && (changed.closed || changed.due || changed.overdue)) ||
      (f.level && changed.level);
    return moved || leaves ? "list" : "row";
  };

  Duty.prototype.updatesArrived = function () {
    if (this.holding()) { this.stats.held += 1; this.renderBar(); return; }
    this.scheduleRefresh();
  };

  Duty.prototype.scheduleRefresh = function () {
    var self = this;
    if (this.refreshTimer) return;
    var wait = Math.max(0, REFRESH_MS - (Date.now() - this.lastRefresh));
    this.refreshTimer = setTimeout(function () {
      self.refreshTimer = null;
      if (!self.waitingCount) return;
      if (self.holding()) { self.renderBar(); return; }  // the pointer came back meanwhile
      self.applyUpdates(false);
    }, wait);
  };

  // Refresh the loaded blocks; the focus stays on its incident (refocus: and the keyboard
  // focus goes back to its cell, wherever the incident now is).
  Duty.prototype.applyUpdates = function (refocus) {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = null;
    var focused = this.api.getFocusedCell();
    var node = focused && focused.rowIndex !== null ? this.api.getDisplayedRowAtIndex(focused.rowIndex) : null;
    this.keep = node && node.data
      ? { id: node.data.id, col: focused.column.getColId(), refocus: refocus || this.cellFocused(), until: Date.now() + 5000 }
      : null;
    this.note = "";
    this.clearWaiting();
    this.lastRefresh = Date.now();
    this.stats.refreshes += 1;
    this.api.refreshInfiniteCache();
  };

  // After a refreshed block is in: once every block is, put the focus back on its incident,
  // or say that it has left the list.
  Duty.prototype.afterRefresh = function () {
    var self = this;
    setTimeout(function () {
      var keep = self.keep;
      if (!keep) return;
      var blocks = self.api.getCacheBlockState() || {};
      var loading = Object.keys(blocks).some(function (k) { return blocks[k].pageStatus !== "loaded"; });
      if (loading && Date.now() < keep.until) return;  // the next block's answer calls again
      self.keep = null;
      var node = self.api.getRowNode(keep.id);
      var index = node && node.data ? node.rowIndex : null;
      if (index === null || index === undefined) {
        self.api.clearFocusedCell();
        self.note = "已选中的事件 " + keep.id + " 已不在当前列表中（状态或排序已变化）";
      } else if (keep.refocus) {
        self.api.ensureIndexVisible(index);
        self.api.setFocusedCell(index, keep.col);
      } else {
        self.api.clearFocusedCell();  // a later Tab into the table must not land on another row
      }
      self.renderBar();
    }, 0);
  };

  Duty.prototype.clearWaiting = function () {
    this.waiting = {};
    this.waitingCount = 0;
    this.renderBar();
  };

  Duty.prototype.renderBar = function () {
    var bar = this.root.querySelector(".duty-updates");
    var note = this.root.querySelector(".duty-updates-note");
    if (!bar) return;
    var n = this.waitingCount;
    bar.textContent = n + " 条更新 · 点击刷新";
    bar.setAttribute("data-count", String(n));
    bar.classList.toggle("is-shown", n > 0);
    bar.tabIndex = n > 0 ? 0 : -1;
    this.root.setAttribute("data-waiting", String(n));
    var why = this.paused ? "已暂停自动刷新" : this.cellFocused() ? "表格有焦点，更新暂缓" :
      this.pointerOver() ? "鼠标在表格上，更新暂缓" : "";
    note.textContent = this.note || (n ? why : "");
  };

  // -- the view interface called by onemap.Live ------------------------------------------
  Duty.prototype.onSnapshot = function () {};
  Duty.prototype.onPositions = function () {};
  Duty.prototype.onPanels = function () {};

  Duty.prototype.onLive = function () {
    this.root.setAttribute("data-live", "1");
    var waiting = this.pendingRows;
    this.pendingRows = [];
    waiting.forEach(function (send) { send(); });
  };

  Duty.prototype.onSteps = function (steps, fromSnapshot) {
    if (fromSnapshot || !this.api) return;
    var arrived = false;
    for (var i = 0; i < steps.length; i++) {
      var s = steps[i];
      var node = this.api.getRowNode(s.id);
      var loaded = node && node.data ? node.data : null;
      var effect = this.effect(s, loaded);
      if (effect === "row") {
        node.setData(Object.assign({}, loaded, {
          level: s.levelName,
          closed: s.status === "closed",
          overdue: s.overdue,
          status: s.status === "closed" ? "已办结" : s.overdue ? "已超期" : "办理中",
          left: s.status === "closed" ? "" : loaded.left,
        }));
        this.stats.inPlace += 1;
      } else if (effect === "list") {
        if (!this.waiting[s.id]) { this.waiting[s.id] = true; this.waitingCount += 1; }
        arrived = true;
      }
      if (s.id === this.openId) this.reloadDetail();
    }
    if (arrived) this.updatesArrived();
  };

  Duty.prototype.onActions = function (actions) {
    for (var i = 0; i < actions.length; i++) {
      var a = actions[i];
      if (a.incident && a.incident === this.openId) this.reloadDetail();
      if (a.verb === "instruct" && a.actor !== this.user) this.toast(a);
      if (a.incident && (a.verb === "acknowledge" || a.verb === "supervise") && this.api) {
        var node = this.api.getRowNode(a.incident);
        if (node && node.data) {
          var patch = a.verb === "acknowledge" ? { acknowledged: true } : { supervised: true };
          node.setData(Object.assign({}, node.data, patch));
        }
      }
    }
  };

  Duty.prototype.onKpis = function (data) {
    var k = data.kpis || {};
    this.kpis = k;
    this.root.querySelectorAll(".dkpi").forEach(function (tile) {
      var key = tile.getAttribute("data-kpi");
      var v = k[key];
      var text = v === null || v === undefined ? "—" : PERCENT[key] ? onemap.percent(v) : Number(v).toLocaleString("zh-CN");
      tile.querySelector(".dkpi-value").textContent = text;
      tile.setAttribute("data-value", v === null || v === undefined ? "" : String(v));
    });
    this.explain();
  };

  // -- KPI drill-through -----------------------------------------------------------------
  Duty.prototype.drill = function (key) {
    var rate = this.rates[key];
    this.drilled = rate ? key : null;
    this.applyFilter({ set: rate ? rate[0] : key });
  };

  Duty.prototype.explain = function () {
    var box = this.root.querySelector(".duty-explain");
    var key = this.drilled, rate = key && this.rates[key];
    if (!rate || (this.filter.set !== rate[0] && this.filter.set !== rate[1])) { box.hidden = true; return; }
    var self = this, k = this.kpis;
    var label = this.root.querySelector('.dkpi[data-kpi="' + key + '"] .dkpi-label').textContent;
    box.textContent = "";
    box.appendChild(el("b", null, label + " = "));
    [[rate[0], "分子"], [rate[1], "分母"]].forEach(function (part, i) {
      if (i) box.appendChild(el("span", "explain-div", "÷"));
      var count = k[part[0]];
      var b = el("button", "explain-part" + (self.filter.set === part[0] ? " is-active" : ""),
                 part[1] + "：" + (self.setNames[part[0]] || part[0]) + " " + (count === undefined || count === null ? "" : count));
      b.type = "button";
      b.addEventListener("click", function () { self.applyFilter({ set: part[0] }); });
      box.appendChild(b);
    });
    box.hidden = false;
  };

  // -- controls and keys -----------------------------------------------------------------
  Duty.prototype.bindControls = function () {
    var self = this;
    this.root.querySelectorAll(".dkpi").forEach(function (tile) {
      tile.addEventListener("click", function () { self.drill(tile.getAttribute("data-kpi")); });
    });
    var reset = document.getElementById("duty-reset");
    if (reset) reset.addEventListener("click", function () { self.drilled = null; self.applyFilter({}); });
    var out = this.root.querySelector(".duty-signout");
    if (out) out.addEventListener("click", function () { out.disabled = true; self.signOut(); });
    document.addEventListener("keydown", function (e) {
      var typing = /^(INPUT|TEXTAREA|SELECT)$/.test((e.target && e.target.tagName) || "");
      if (e.key === "/" && !typing) {
        e.preventDefault();
        document.getElementById("duty-search").focus();
      } else if (e.key === "r" && !typing && !e.ctrlKey && !e.metaKey && !e.altKey && self.waitingCount) {
        self.applyUpdates(self.cellFocused());  // the bar's click, from the keyboard
      } else if (e.key === "Escape" && self.openId) {
        self.close();
      } else if (e.key === "ArrowDown" && e.target && e.target.id === "duty-search" && self.api) {
        e.preventDefault();
        self.api.ensureIndexVisible(0);
        self.api.setFocusedCell(0, "reported");
      }
    });
  };

  Duty.prototype.tick = function () {
    var state = this.live.health(120000);
    var box = this.root.querySelector(".duty-health");
    box.setAttribute("data-state", state);
    var age = this.live.newest ? onemap.age(Date.now() - new Date(this.live.newest).getTime()) : "";
    box.querySelector(".duty-age").textContent = state === "down" ? "连接中断 · 重连中" :
      (state === "stale" ? "数据延迟 · " : "实时 · ") + (age ? "最新 " + age : "");
    if (this.detail) this.countdown();
    this.clock();
    // the rows' 剩余时限 runs on between refreshes (a refresh re-sorts; this only re-reads)
    this.ticks = (this.ticks || 0) + 1;
    if (this.api && this.ticks % 30 === 0) this.api.refreshCells({ columns: ["left"], force: true });
  };

  // 退出: /logout takes a POST with the session's CSRF token, as a form (the server answers
  // with the sign-in page), so the session ends on the server, not only in this browser.
  Duty.prototype.signOut = function () {
    fetch("/api/csrf", { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (answer) {
        var form = el("form");
        form.method = "POST";
        form.action = "/logout";
        var token = el("input");
        token.type = "hidden";
        token.name = "csrf_token";
        token.value = answer.token;
        form.appendChild(token);
        document.body.appendChild(form);
        form.submit();
      })
      .catch(function () { window.location.href = "/login"; });
  };

  // -- incident detail -------------------------------------------------------------------
  Duty.prototype.open = function (id) {
    var self = this;
    if (!id) return;
    this.openId = id;
    this.updateLinks();
    this.live.whenConnected(function () {
      self.live.socket.emit("incident", { id: id }, function (reply) {
        if (self.openId !== id) return;
        if (!reply || !reply.ok) { self.renderMissing(id); return; }
        self.detail = reply.incident;
        self.detailAt = Date.now();
        self.renderDetail(reply.incident);
      });
    });
    if (this.api) this.api.redrawRows();
  };

  Duty.prototype.reloadDetail = function () {
    var self = this;
    clearTimeout(this.reloadTimer);
    this.reloadTimer = setTimeout(function () { if (self.openId) self.open(self.openId); }, 50);
  };

  Duty.prototype.close = function () {
    this.openId = null;
    this.detail = null;
    var aside = document.getElementById("duty-detail");
    aside.hidden = true;
    aside.textContent = "";
    if (this.miniMap) { this.miniMap.remove(); this.miniMap = null; }
    this.updateLinks();
    if (this.api) this.api.redrawRows();
  };

  Duty.prototype.renderMissing = function (id) {
    var aside = document.getElementById("duty-detail");
    aside.textContent = "";
    aside.appendChild(el("p", "detail-missing", "找不到事件 " + id + "（不存在或不在您的辖区）"));
    aside.appendChild(this.closeButton());
    aside.hidden = false;
  };

  Duty.prototype.closeButton = function () {
    var self = this;
    var b = el("button", "detail-close", "×");
    b.type = "button";
    b.title = "关闭（Esc）";
    b.addEventListener("click", function () { self.close(); });
    return b;
  };

  Duty.prototype.renderDetail = function (d) {
    var aside = document.getElementById("duty-detail");
    var scroll = aside.scrollTop;
    aside.textContent = "";
    aside.setAttribute("data-incident", d.id);
    aside.appendChild(this.closeButton());

    var head = el("header", "detail-head");
    var cat = el("div", "detail-cat");
    cat.appendChild(el("span", "detail-catname", d.catName));
    cat.appendChild(el("span", "detail-id", d.id));
    if (d.severity !== "normal") cat.appendChild(el("b", "detail-sev sev-" + d.severity, d.severity === "urgent" ? "紧急" : "重大"));
    if (d.supervised) cat.appendChild(el("b", "mark mark-supervised", "督办"));
    if (d.acknowledged) cat.appendChild(el("b", "mark mark-ack", "已签收"));
    head.appendChild(cat);
    head.appendChild(el("h2", "detail-title", d.title));
    var state = el("div", "detail-state");
    state.appendChild(el("span", "status-pill " + (d.status === "closed" ? "is-closed" : d.overdue ? "is-overdue" : "is-open"),
                         d.status === "closed" ? "已办结" : d.overdue ? "已超期" : "办理中"));
    state.appendChild(el("span", "detail-level", "当前：" + d.levelName));
    state.appendChild(el("span", "detail-countdown"));
    head.appendChild(state);
    aside.appendChild(head);

    aside.appendChild(this.pathNode(d));
    aside.appendChild(this.actionsNode(d));

    var facts = el("dl", "detail-facts");
    var reporter = d.reporterName ? d.reporterName + (d.reporter ? "（" + d.reporter + "）" : "")
      : d.reporter || (d.masked ? "（已脱敏）" : "—");
    var self = this;
    [["地点", d.place], ["来源", d.sourceName], ["上报人", reporter],
     ["办理时限", stamp(d.deadline)]].forEach(function (f) {
      facts.appendChild(el("dt", null, f[0]));
      var dd = facts.appendChild(el("dd", null, f[1]));
      if (f[0] === "上报人" && d.reporter && onemap.contactNode) dd.appendChild(onemap.contactNode(self, d.reporter, d.id));
    });
    aside.appendChild(facts);
    if (d.detail) aside.appendChild(el("p", "detail-text", d.detail));

    aside.appendChild(el("h3", null, "办理过程"));
    var timeline = el("ol", "detail-timeline");
    d.steps.forEach(function (s) {
      var li = el("li", "step step-" + s.type);
      li.setAttribute("data-seq", String(s.seq));
      li.appendChild(el("time", null, stamp(s.ts)));
      li.appendChild(el("b", null, s.step));
      li.appendChild(el("span", "step-level", s.levelName));
      if (s.seconds !== null && s.seconds !== undefined) li.appendChild(el("span", "step-took", "停留 " + duration(s.seconds)));
      var note = onemap.loopStepNote && onemap.loopStepNote(s);
      if (note) li.appendChild(el("p", "step-note", note));
      timeline.appendChild(li);
    });
    aside.appendChild(timeline);

    aside.appendChild(el("h3", null, "位置与附近网格员"));
    var mini = el("div", "detail-minimap");
    aside.appendChild(mini);
    var near = el("ol", "detail-near");
    d.nearby.forEach(function (w) {
      var li = el("li");
      var who = li.appendChild(el("b", null, w.name || w.worker));
      if (w.name) who.title = w.worker;
      li.appendChild(el("span", "near-dist", w.metres < 1000 ? w.metres + " 米" : (w.metres / 1000).toFixed(1) + " 公里"));
      li.appendChild(el("span", "near-status status-" + w.status, WORKER_STATUS[w.status] || w.status));
      li.appendChild(el("span", "near-seen", onemap.age(w.seenSeconds * 1000)));
      if (onemap.contactNode) li.appendChild(onemap.contactNode(self, w.worker, d.id));
      near.appendChild(li);
    });
    if (!d.nearby.length) near.appendChild(el("li", "muted", "暂无在线网格员位置"));
    aside.appendChild(near);
    if (d.places && onemap.placesNode) aside.appendChild(onemap.placesNode(d, "detail"));  // onemap-22-layers

    this.listSection(aside, "关联上报（已融合）", d.related, "无");
    this.listSection(aside, "同网格近期事件", d.gridHistory, "无");

    aside.appendChild(el("h3", null, "处置记录"));
    var log = el("ol", "detail-actions-log");
    d.actions.forEach(function (a) {
      var li = el("li", "action action-" + a.verb);
      li.appendChild(el("time", null, stamp(a.ts)));
      li.appendChild(el("b", null, a.verbName));
      li.appendChild(el("span", "action-actor", a.actor));
      if (a.text) li.appendChild(el("p", "action-text", a.text));
      log.appendChild(li);
    });
    if (!d.actions.length) log.appendChild(el("li", "muted", "暂无"));
    aside.appendChild(log);

    aside.hidden = false;
    aside.scrollTop = scroll;
    this.countdown();
    this.drawMiniMap(mini, d);
  };

  Duty.prototype.pathNode = function (d) {
    var box = el("ol", "detail-path");
    var visited = {};
    d.path.forEach(function (level) { visited[level] = true; });
    for (var level = 1; level <= 5; level++) {
      var li = el("li", "path-level" + (visited[level] ? " is-visited" : "") + (level === d.level ? " is-current" : ""), LEVELS[level - 1]);
      box.appendChild(li);
    }
    box.setAttribute("title", "处置路径：" + d.path.map(function (l) { return LEVELS[l - 1]; }).join(" → "));
    return box;
  };

  Duty.prototype.actionsNode = function (d) {
    var self = this;
    var box = el("div", "detail-buttons");
    var note = el("textarea", "detail-note");
    note.maxLength = 500;
    note.placeholder = this.role === "leader" ? "批示或备注（500字以内）" : "备注（500字以内）";
    var status = el("span", "detail-status");
    var said = this.outcome && this.outcome.id === d.id ? this.outcome : null;
    if (said) { status.textContent = said.text; status.setAttribute("data-ok", said.ok ? "1" : "0"); }
    var act = function (verb, extra) {
      var data = Object.assign({ verb: verb, incident: d.id }, extra || {});
      self.live.socket.emit("act", data, function (reply) {
        self.said(d.id, reply, "已记录");
        if (reply && reply.ok && (verb === "note" || verb === "instruct")) note.value = "";
      });
    };
    var button = function (label, verb, cls, enabled, extra) {
      var b = el("button", "duty-button " + (cls || ""), label);
      b.type = "button";
      b.setAttribute("data-verb", verb);
      b.disabled = !enabled;
      b.addEventListener("click", function () {
        if (verb === "note" || verb === "instruct") {
          if (!note.value.trim()) { note.focus(); return; }
          act(verb, { text: note.value });
        } else act(verb, extra);
      });
      return b;
    };
    var duty = this.role === "duty" || this.role === "admin";
    var leader = this.role === "leader" || this.role === "admin";
    if (onemap.loopNode && duty) box.appendChild(onemap.loopNode(this, d));
    box.appendChild(button("签收", "acknowledge", "", duty && !d.acknowledged));
    box.appendChild(button("督办", "supervise", "is-warn", !d.supervised));
    box.appendChild(this.castPicker(d));
    if (duty) box.appendChild(this.sendToLeader(d));
    box.appendChild(note);
    box.appendChild(button("保存备注", "note", "", true));
    if (leader) box.appendChild(button("批示", "instruct", "is-warn", true));
    box.appendChild(status);
    return box;
  };

  // An action's outcome, shown in the detail that is on screen when the reply comes: the
  // action's own push can re-render the detail before its reply arrives, and the outcome must
  // not land in the replaced one (it is kept for the incident and shown by the new one too).
  Duty.prototype.said = function (id, reply, done) {
    var ok = !!(reply && reply.ok);
    this.outcome = { id: id, ok: ok, text: ok ? done : "未成功：" + ((reply && reply.error) || "无响应") };
    if (this.openId !== id) return;
    var status = this.root.querySelector("#duty-detail .detail-status");
    if (!status) return;
    status.textContent = this.outcome.text;
    status.setAttribute("data-ok", ok ? "1" : "0");
  };

  // 推送给领导: the leaders whose jurisdiction holds the incident, one button each.
  Duty.prototype.sendToLeader = function (d) {
    var self = this;
    var wrap = el("span", "send-leader");
    var open = el("button", "duty-button", "推送给领导…");
    open.type = "button";
    open.setAttribute("data-verb", "send_view");
    open.addEventListener("click", function () {
      self.live.socket.emit("leaders", { area: d.town }, function (reply) {
        wrap.textContent = "";
        var leaders = (reply && reply.leaders) || [];
        if (!leaders.length) wrap.appendChild(el("span", "muted", "辖区内没有领导账号"));
        leaders.forEach(function (l) {
          var b = el("button", "duty-button leader-choice", l.display);
          b.type = "button";
          b.setAttribute("data-leader", l.name);
          b.addEventListener("click", function () {
            self.live.socket.emit("act", { verb: "send_view", target: l.name, area: d.town, incident: d.id }, function (r) {
              self.said(d.id, r, "已推送给 " + l.display);
            });
          });
          wrap.appendChild(b);
        });
      });
    });
    wrap.appendChild(open);
    return wrap;
  };

  // 投屏到大屏: pick the walls (only those this person may drive that can show the incident,
  // by display name: dashboard/views/walls.py, which the server also checks), confirm, cast.
  // The choice is kept on the desk, so a re-rendered detail shows it again.
  Duty.prototype.castPicker = function (d) {
    var self = this;
    var wrap = el("div", "cast-picker");
    var open = el("button", "duty-button is-primary", "投屏到大屏…");
    open.type = "button";
    open.setAttribute("data-verb", "cast");
    open.addEventListener("click", function () {
      self.live.socket.emit("walls", { verb: "cast", incident: d.id }, function (reply) {
        var ok = !!(reply && reply.ok);
        self.castPick = { id: d.id, walls: ok ? reply.walls : [], chosen: {}, confirm: false,
                          error: ok ? "" : (reply && reply.error) || "无响应" };
        self.renderCastPick(wrap, d);
      });
    });
    wrap.appendChild(open);
    if (this.castPick && this.castPick.id === d.id) this.renderCastPick(wrap, d);
    return wrap;
  };

  Duty.prototype.renderCastPick = function (wrap, d) {
    var self = this, pick = this.castPick;
    var panel = wrap.querySelector(".cast-walls") || wrap.appendChild(el("div", "cast-walls"));
    var redraw = function () { self.renderCastPick(wrap, d); };
    var row = null;  // the buttons, side by side under the list
    var btn = function (label, cls, onClick) {
      var b = el("button", "duty-button " + cls, label);
      b.type = "button";
      b.addEventListener("click", onClick);
      if (!row) row = panel.appendChild(el("div", "cast-row"));
      return row.appendChild(b);
    };
    var chosen = pick.walls.filter(function (w) { return pick.chosen[w.id]; });
    var names = chosen.map(function (w) { return "「" + w.name + "」"; }).join("、");
    panel.textContent = "";
    panel.setAttribute("data-step", pick.confirm ? "confirm" : "pick");
    if (pick.confirm) {
      chosen.forEach(function (w) {
        var row = panel.appendChild(el("div", "cast-wall is-chosen"));
        row.appendChild(el("b", null, w.name));
        row.appendChild(el("span", "cast-scope", w.scopeName));
      });
      panel.appendChild(el("p", "cast-question", "确认投屏到 " + names + "？这些大屏将中断当前画面，显示此事件 60 秒后恢复。"));
      btn("确认投屏", "is-primary cast-confirm", function () {
        var walls = chosen.map(function (w) { return w.id; });
        self.live.socket.emit("act", { verb: "cast", incident: d.id, walls: walls, seconds: 60 }, function (reply) {
          self.castPick = null;
          panel.remove();
          self.said(d.id, reply, "已投屏到 " + names);
        });
      });
      btn("返回", "cast-back", function () { pick.confirm = false; redraw(); });
      return;
    }
    panel.appendChild(el("p", "cast-help", pick.error ? "无法列出大屏：" + pick.error
      : pick.walls.length ? "选择大屏（仅列出您有权投屏、且能显示此事件的大屏）："
      : "没有可投屏的大屏：只能投到您辖区内、能显示此事件的已登记大屏。"));
    pick.walls.forEach(function (w) {
      var label = el("label", "cast-wall");
      var box = el("input");
      box.type = "checkbox";
      box.checked = !!pick.chosen[w.id];
      box.setAttribute("data-wall", w.id);
      box.addEventListener("change", function () { pick.chosen[w.id] = box.checked; redraw(); });
      label.appendChild(box);
      label.appendChild(el("b", null, w.name));
      label.appendChild(el("span", "cast-scope", w.scopeName + (w.followedBy ? " · 正跟随 " + w.followedBy : "")));
      panel.appendChild(label);
    });
    btn("投屏…", "is-primary cast-next", function () { pick.confirm = true; redraw(); }).disabled = !chosen.length;
    btn("取消", "cast-cancel", function () { self.castPick = null; panel.remove(); });
  };

  // A leader's 批示 on any incident in scope shows at once, wherever the officer is.
  Duty.prototype.toast = function (a) {
    var self = this;
    var box = this.root.querySelector(".duty-toasts");
    if (!box) { box = el("div", "duty-toasts"); this.root.appendChild(box); }
    var item = el("div", "duty-toast");
    item.setAttribute("data-incident", a.incident || "");
    item.appendChild(el("b", null, a.verbName + " · " + a.actor));
    item.appendChild(el("span", "toast-place", a.place || ""));
    item.appendChild(el("p", "toast-text", a.text));
    var view = el("button", "duty-button", "查看");
    view.type = "button";
    view.addEventListener("click", function () { self.open(a.incident); item.remove(); });
    var close = el("button", "toast-close", "×");
    close.type = "button";
    close.addEventListener("click", function () { item.remove(); });
    item.appendChild(view);
    item.appendChild(close);
    box.insertBefore(item, box.firstChild);
    while (box.children.length > 4) box.removeChild(box.lastChild);
    setTimeout(function () { item.remove(); }, 60000);
  };

  Duty.prototype.listSection = function (aside, title, items, empty) {
    var self = this;
    aside.appendChild(el("h3", null, title));
    var list = el("ol", "detail-list");
    items.forEach(function (r) {
      var li = el("li", "detail-link");
      li.tabIndex = 0;
      li.appendChild(el("time", null, stamp(r.reported)));
      li.appendChild(el("b", null, r.catName));
      li.appendChild(el("span", "link-title", r.title));
      li.appendChild(el("span", "link-meta", r.source + " · " + (r.status === "closed" ? "已办结" : "办理中")));
      li.addEventListener("click", function () { self.open(r.id); });
      li.addEventListener("keydown", function (e) { if (e.key === "Enter") self.open(r.id); });
      list.appendChild(li);
    });
    if (!items.length) list.appendChild(el("li", "muted", empty));
    aside.appendChild(list);
  };

  Duty.prototype.countdown = function () {
    var d = this.detail;
    var node = document.querySelector("#duty-detail .detail-countdown");
    if (!d || !node) return;
    if (d.status === "closed") { node.textContent = ""; return; }
    var left = d.remaining - (Date.now() - this.detailAt) / 1000;
    node.className = "detail-countdown" + (left < 0 ? " is-overdue" : left < 7200 ? " is-soon" : "");
    var s = Math.abs(Math.round(left)), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    node.textContent = (left < 0 ? "已超期 " : "剩余 ") + h + ":" + pad(m) + ":" + pad(s % 60);
  };

  Duty.prototype.drawMiniMap = function (node, d) {
    var L = window.L;
    if (!L) return;
    if (this.miniMap) { this.miniMap.remove(); this.miniMap = null; }
    var map = (this.miniMap = L.map(node, { zoomControl: false, attributionControl: false, dragging: true }));
    var points = [[d.lat, d.lon]];
    L.circleMarker([d.lat, d.lon], { radius: 9, color: "#fff", weight: 2, fillColor: d.overdue ? "#ff3b3b" : "#38c6ff", fillOpacity: 1 }).addTo(map);
    d.nearby.forEach(function (w, i) {
      var lat = d.lat, lon = d.lon;
      if (w.lat !== undefined) { lat = w.lat; lon = w.lon; }
      points.push([lat, lon]);
      L.circleMarker([lat, lon], { radius: 6, color: "#2bd67b", weight: 2, fillOpacity: 0.7 })
        .bindTooltip(w.worker + " · " + w.metres + "米", { permanent: i === 0, direction: "top" }).addTo(map);
    });
    // the city's own places listed under 附近重点场所, at their nearest point (docs/maps.md)
    ((d.places && d.places.items) || []).forEach(function (p) {
      if (!p.at) return;
      var at = [p.at[1], p.at[0]];
      points.push(at);
      var label = el("span", "", p.name + " · " + (p.inside ? "区域内" : p.metres + "米"));
      L.circleMarker(at, { radius: 5, color: p.color, weight: 2, dashArray: "2 2", fillColor: p.color, fillOpacity: 0.3, className: "mini-place" })
        .bindTooltip(label, { direction: "top" }).addTo(map);
    });
    map.fitBounds(L.latLngBounds(points).pad(0.4), { maxZoom: 16, animate: false });
    if (onemap.redrawTrack) onemap.redrawTrack(this, map); // a worker's 轨迹, if one is shown
  };

  // ---------------------------------------------------------------------------------------
  // The map beside the table: the areas of the level in view (click to drill, which filters
  // the table), and the filtered incidents (click to open).
  function DutyMap(duty, map) {
    var L = window.L;
    this.duty = duty;
    this.map = map;
    this.canvas = L.canvas({ padding: 0.2 });
    this.areaLayer = L.layerGroup().addTo(map);
    this.pointLayer = L.layerGroup().addTo(map);
    this.code = null;
  }

  DutyMap.prototype.goTo = function (code, selected) {
    var self = this, L = window.L;
    if (code === this.code) { this.select(selected); return; }
    fetch("/geo/" + encodeURIComponent(code) + ".json", { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error("geo " + r.status); return r.json(); })
      .then(function (geo) {
        self.code = geo.code;
        self.geo = geo;
        self.areaLayer.clearLayers();
        self.layers = {};
        L.geoJSON(geo.shapes, {
          style: function () { return { color: "#4d7fb3", weight: 1, fillColor: "#15365c", fillOpacity: 0.35 }; },
          onEachFeature: function (feature, layer) {
            var c = feature.properties.code;
            self.layers[c] = layer;
            layer.bindTooltip(feature.properties.name || c, { sticky: true });
            layer.on("click", function () { self.drill(c); });
          },
        }).eachLayer(function (layer) { layer.addTo(self.areaLayer); });
        self.map.invalidateSize();
        self.map.fitBounds(geo.bounds, { padding: [12, 12], animate: false });
        self.crumbs(geo.path || []);
        self.select(selected);
      })
      .catch(function (err) { console.warn("OneMap duty: cannot load area", code, err); });
  };

  DutyMap.prototype.select = function (code) {
    var layers = this.layers || {};
    Object.keys(layers).forEach(function (c) {
      layers[c].setStyle(c === code ? { color: "#38c6ff", weight: 3, fillOpacity: 0.5 } : { color: "#4d7fb3", weight: 1, fillOpacity: 0.35 });
    });
  };

  DutyMap.prototype.drill = function (code) {
    var f = Object.assign({}, this.duty.filter, { area: code });
    this.duty.applyFilter(f);
  };

  DutyMap.prototype.crumbs = function (path) {
    var self = this;
    var box = this.duty.root.querySelector(".duty-crumbs");
    box.textContent = "";
    path.forEach(function (step, i) {
      if (i) box.appendChild(el("span", "crumb-sep", "›"));
      var b = el("button", "crumb", step.name);
      b.type = "button";
      b.addEventListener("click", function () {
        var f = Object.assign({}, self.duty.filter);
        if (i === 0 || self.duty.scope.indexOf(step.code) === 0) delete f.area;  // at or above the scope
        else f.area = step.code;
        self.duty.applyFilter(f);
      });
      box.appendChild(b);
    });
  };

  DutyMap.prototype.points = function (rows) {
    var L = window.L, self = this;
    this.pointLayer.clearLayers();
    rows.forEach(function (r) {
      var marker = L.circleMarker([r[1], r[2]], {
        renderer: self.canvas, radius: r[4] ? 6 : 4.5, weight: r[4] ? 2 : 1,
        color: r[4] ? "#ff3b3b" : "#0b1a2e", fillColor: r[3], fillOpacity: 0.9,
      });
      marker.on("click", function () { self.duty.open(r[0]); });
      marker.addTo(self.pointLayer);
    });
    this.duty.root.setAttribute("data-points", String(rows.length));
  };

  onemap.Live.prototype.whenConnected = function (fn) {
    if (this.connected && this.socket) fn();
    else { var self = this; setTimeout(function () { self.whenConnected(fn); }, 100); }
  };

  function readMode() {
    try { return window.localStorage.getItem(MODE_KEY) || "auto"; } catch (e) { return "auto"; }
  }

  // -- the filter controls' clientside callback ------------------------------------------
  var pending = null, pendingRows = null, searchTimer = null;
  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.onemap_duty = {
    getRows: function (request) {
      if (!request) return window.dash_clientside.no_update;
      if (onemap.duty) onemap.duty.getRows(request);
      else pendingRows = request;
      return window.dash_clientside.no_update;
    },
    filterChanged: function (q, area, cat, platform, level, status, source, flag, period, set) {
      var f = { q: q, area: area, cat: cat, platform: platform, level: level, status: status,
                source: source, flag: flag, period: period, set: set };
      var duty = onemap.duty;
      if (!duty) { pending = f; return window.dash_clientside.no_update; }
      clearTimeout(searchTimer);
      // Typing in the search box asks the server once the typing pauses.
      if ((q || "") !== (duty.filter.q || "")) searchTimer = setTimeout(function () { duty.setFilter(f); }, 250);
      else duty.setFilter(f);
      return window.dash_clientside.no_update;
    },
  };

  function boot() {
    onemap.hookLeaflet();
    var root = document.getElementById("duty-root");
    if (!root || root.__onemap || !window.io || !window.dash_ag_grid) return;
    root.__onemap = true;
    var tries = 0;
    window.dash_ag_grid.getApiAsync("duty-grid").then(function (api) {
      (function waitForMap() {
        var container = root.querySelector(".duty-map");
        var map = container && onemap.maps[container.id];
        if (map || tries++ > 100) {
          var duty = new Duty(root, map || null, api);
          duty.start();
          if (pending) { duty.setFilter(pending); pending = null; }
          if (pendingRows) { duty.getRows(pendingRows); pendingRows = null; }
        } else setTimeout(waitForMap, 50);
      })();
    });
  }
  new MutationObserver(boot).observe(document.documentElement, { childList: true, subtree: true });
  document.addEventListener("DOMContentLoaded", boot);
})();
