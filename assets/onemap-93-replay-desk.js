/* Replay's moments (shared with the wall's replay, assets/onemap-92-replay.js), and
 * 复盘 on the duty desk and the tablet: a header button opening a small dialog to pick a moment
 * of the last 72 hours and a speed, then
 *   - 本屏预览: the wall of the view's scope replaying it, in a new tab (/wall?at=…&speed=…);
 *   - for duty officers and admins, on the registered walls they may drive (socket event
 *     ``walls`` with verb "replay": the cast picker's rule, dashboard/views/walls.py):
 *     大屏回放 ▶, 暂停 ⏸ (replay at the moment the walls have reached, paused), a slider that
 *     sends them to another moment, and 大屏回到实时 (``act`` verbs "replay" and "live").
 * It rides on the page's own socket (onemap.duty / onemap.tablet .live.socket) and never touches
 * their code. Server text reaches the page through textContent. docs/duty.md, "复盘".
 */
(function () {
  "use strict";

  var onemap = (window.onemap = window.onemap || {});
  var DRIVERS = { duty: 1, admin: 1 };  // who may put a wall into replay (dashboard/views/act.py)
  var SPAN_MS = 72 * 3600 * 1000;       // how far back the dialog offers
  var SPEEDS = [1, 10, 60];
  var DEFAULT_BACK_MS = 3600 * 1000;

  function el(tag, cls, text) { return onemap.el(tag, cls, text); }

  // "2026-12-05T21:00:00+08:00", "…Z", or China time without an offset ("2026-12-05T21:00",
  // "2026-12-05 21:00:30", a datetime-local input's value): the moment in ms, or null.
  onemap.parseMoment = function (text) {
    if (!text) return null;
    text = String(text).trim().replace(" ", "T");
    if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(text)) text += "+08:00";
    var ms = Date.parse(text);
    return isNaN(ms) ? null : ms;
  };

  // China time as a datetime-local input's value: "2026-12-05T21:00:35".
  var PARTS = new Intl.DateTimeFormat("en-CA", {
    year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
    second: "2-digit", hourCycle: "h23", timeZone: "Asia/Shanghai",
  });
  onemap.chinaLocal = function (ms) {
    var p = {};
    PARTS.formatToParts(new Date(ms)).forEach(function (x) { p[x.type] = x.value; });
    return p.year + "-" + p.month + "-" + p.day + "T" + p.hour + ":" + p.minute + ":" + p.second;
  };
  function iso(ms) { return new Date(ms).toISOString(); }
  var CLOCK = new Intl.DateTimeFormat("zh-CN", {
    month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
    hourCycle: "h23", timeZone: "Asia/Shanghai",
  });
  function stamp(ms) { return CLOCK.format(new Date(ms)).replace(/\//g, "月").replace(/^(\d+月\d+)/, "$1日"); }

  function ReplayDialog(page, kind) {
    this.page = page;          // onemap.duty or onemap.tablet: root, scope, role, live
    this.kind = kind;          // "duty" or "tablet"
    this.overlay = null;
    this.at = Date.now() - DEFAULT_BACK_MS;
    this.speed = 1;
    this.walls = [];
    this.chosen = {};
    this.sent = null;          // {at, speed, when}: what the walls were last told
  }

  ReplayDialog.prototype.button = function (tools) {
    var self = this;
    var cls = this.kind === "tablet" ? "t-btn replay-open" : "duty-button replay-open";
    var b = el("button", cls, "复盘");
    b.type = "button";
    b.title = "复盘：回放过去72小时内任一时刻的大屏";
    b.addEventListener("click", function () { self.open(); });
    tools.insertBefore(b, tools.firstChild);
    return b;
  };

  function button(text, cls, onClick) {
    var b = el("button", "replay-dlg-button " + (cls || ""), text);
    b.type = "button";
    b.addEventListener("click", onClick);
    return b;
  }

  ReplayDialog.prototype.open = function () {
    var self = this;
    if (this.overlay) return;
    var overlay = (this.overlay = el("div", "replay-overlay is-" + this.kind));
    overlay.addEventListener("click", function (e) { if (e.target === overlay) self.close(); });
    var box = el("section", "replay-dialog");
    box.setAttribute("role", "dialog");
    box.setAttribute("aria-label", "复盘");
    var head = el("header", "replay-dlg-head");
    head.appendChild(el("h2", "", "复盘 · 回放历史时刻"));
    head.appendChild(button("关闭", "replay-dlg-close", function () { self.close(); }));
    box.appendChild(head);

    var when = el("label", "replay-dlg-row");
    when.appendChild(el("span", "replay-dlg-label", "时刻"));
    var picker = (this.picker = el("input", "replay-dlg-time"));
    picker.type = "datetime-local";
    picker.step = "1";
    picker.min = onemap.chinaLocal(Date.now() - SPAN_MS);
    picker.max = onemap.chinaLocal(Date.now());
    picker.value = onemap.chinaLocal(this.at);
    picker.addEventListener("change", function () {
      var at = onemap.parseMoment(picker.value);
      if (at !== null) self.at = Math.max(Date.now() - SPAN_MS, Math.min(at, Date.now()));
    });
    when.appendChild(picker);
    when.appendChild(el("span", "replay-dlg-hint", "近72小时内（北京时间）"));
    box.appendChild(when);

    var speeds = el("div", "replay-dlg-row");
    speeds.appendChild(el("span", "replay-dlg-label", "速度"));
    this.speedButtons = SPEEDS.map(function (n) {
      var b = button("×" + n, "replay-dlg-speed", function () { self.speed = n; self.paint(); });
      b.setAttribute("data-speed", String(n));
      speeds.appendChild(b);
      return b;
    });
    box.appendChild(speeds);

    var preview = el("div", "replay-dlg-row");
    preview.appendChild(button("本屏预览", "is-primary replay-dlg-preview", function () { self.preview(); }));
    preview.appendChild(el("span", "replay-dlg-hint", "在新标签页打开本辖区大屏的回放"));
    box.appendChild(preview);

    if (DRIVERS[this.page.role]) box.appendChild(this.wallSection());
    overlay.appendChild(box);
    document.body.appendChild(overlay);
    this.keys = function (e) { if (e.key === "Escape") { e.stopImmediatePropagation(); self.close(); } };
    document.addEventListener("keydown", this.keys, true);
    this.paint();
    picker.focus();
  };

  ReplayDialog.prototype.close = function () {
    if (!this.overlay) return;
    this.overlay.remove();
    this.overlay = null;
    clearInterval(this.clock);
    document.removeEventListener("keydown", this.keys, true);
  };

  ReplayDialog.prototype.preview = function () {
    var url = "/wall?at=" + encodeURIComponent(iso(this.at)) + "&speed=" + this.speed +
      "&area=" + encodeURIComponent(this.page.scope || "");
    window.open(url, "_blank", "noopener");
  };

  // -- the registered walls (duty officers, admins) -----------------------------------------------
  ReplayDialog.prototype.wallSection = function () {
    var self = this, section = el("section", "replay-dlg-walls");
    section.appendChild(el("h3", "", "大屏回放"));
    var list = (this.list = el("div", "replay-dlg-list"));
    list.appendChild(el("p", "replay-dlg-hint", "正在读取可控制的大屏…"));
    section.appendChild(list);
    var actions = el("div", "replay-dlg-row replay-dlg-actions");
    actions.appendChild(button("大屏回放 ▶", "is-primary replay-dlg-start", function () {
      self.send("replay", self.at, self.speed);
    }));
    actions.appendChild(button("暂停 ‖", "replay-dlg-pause", function () {
      self.send("replay", self.reached(), 0);
    }));
    actions.appendChild(button("大屏回到实时", "is-warn replay-dlg-live", function () { self.send("live"); }));
    section.appendChild(actions);
    var scrub = el("div", "replay-dlg-row");
    scrub.appendChild(el("span", "replay-dlg-label", "拖动"));
    var slider = (this.slider = el("input", "replay-dlg-slider"));
    slider.type = "range";
    slider.step = "1000";
    slider.setAttribute("aria-label", "大屏回放时刻");
    slider.addEventListener("input", function () { self.scrubbing = true; self.say("松开后大屏跳至 " + stamp(Number(slider.value))); });
    slider.addEventListener("change", function () {
      self.scrubbing = false;
      self.at = Number(slider.value);
      self.picker.value = onemap.chinaLocal(self.at);
      self.send("replay", self.at, self.sent ? self.sent.speed : 0);
    });
    scrub.appendChild(slider);
    section.appendChild(scrub);
    this.status = el("p", "replay-dlg-status", "");
    this.status.setAttribute("role", "status");
    section.appendChild(this.status);
    this.clock = setInterval(function () { self.paint(); }, 1000);
    var socket = this.page.live && this.page.live.socket;
    if (socket) socket.emit("walls", { verb: "replay" }, function (reply) { self.listWalls(reply); });
    return section;
  };

  ReplayDialog.prototype.listWalls = function (reply) {
    var self = this, list = this.list;
    if (!list) return;
    list.textContent = "";
    this.walls = (reply && reply.ok && reply.walls) || [];
    if (!this.walls.length) {
      list.appendChild(el("p", "replay-dlg-hint", reply && reply.ok ? "没有您可控制的大屏" : "未能读取大屏：" + ((reply && reply.error) || "无应答")));
      return;
    }
    if (this.walls.length === 1) this.chosen[this.walls[0].id] = true;
    this.walls.forEach(function (w) {
      var row = el("label", "replay-dlg-wall");
      var box = el("input");
      box.type = "checkbox";
      box.value = w.id;
      box.checked = !!self.chosen[w.id];
      box.addEventListener("change", function () { self.chosen[w.id] = box.checked; });
      row.appendChild(box);
      row.appendChild(el("span", "replay-dlg-wall-name", w.name));
      row.appendChild(el("span", "replay-dlg-wall-scope", w.scopeName));
      list.appendChild(row);
    });
  };

  // Where the walls are now, as far as this page can tell: the moment sent, played since.
  ReplayDialog.prototype.reached = function () {
    if (!this.sent) return this.at;
    var played = this.sent.at + this.sent.speed * (Date.now() - this.sent.when);
    return Math.min(played, Date.now());
  };

  ReplayDialog.prototype.send = function (verb, at, speed) {
    var self = this, walls = this.walls.filter(function (w) { return self.chosen[w.id]; });
    if (!walls.length) { this.say("请先选择大屏"); return; }
    var ask = { verb: verb, walls: walls.map(function (w) { return w.id; }) };
    if (verb === "replay") { ask.at = iso(at); ask.speed = speed; }
    this.say("正在发送…");
    this.page.live.socket.emit("act", ask, function (reply) {
      if (!reply || !reply.ok) { self.say("未成功：" + ((reply && reply.error) || "无应答")); return; }
      var names = walls.map(function (w) { return w.name; }).join("、");
      if (verb === "live") {
        self.sent = null;
        self.say(names + " 已回到实时");
      } else {
        self.sent = { at: at, speed: speed, when: Date.now() };
        self.say(names + " 回放 " + stamp(at) + (speed ? " · ×" + speed : " · 已暂停"));
      }
      self.paint();
    });
  };

  ReplayDialog.prototype.say = function (text) { if (this.status) this.status.textContent = text; };

  ReplayDialog.prototype.paint = function () {
    var speed = this.speed;
    (this.speedButtons || []).forEach(function (b) {
      b.setAttribute("aria-pressed", Number(b.getAttribute("data-speed")) === speed ? "true" : "false");
    });
    if (!this.slider) return;
    var now = Date.now();
    this.slider.min = String(now - SPAN_MS);
    this.slider.max = String(now);
    if (!this.scrubbing) this.slider.value = String(Math.round(this.sent ? this.reached() : this.at));
  };

  onemap.ReplayDialog = ReplayDialog;

  // The desk and the tablet are built once Dash has rendered them (and anew when the person
  // comes back to them): look each second for a header without its button.
  function boot() {
    [["duty", onemap.duty, ".duty-header-tools"], ["tablet", onemap.tablet, ".tablet-tools"]].forEach(function (v) {
      var page = v[1];
      if (!page || !page.root || !page.live || !document.body.contains(page.root)) return;
      var tools = page.root.querySelector(v[2]);
      if (!tools || tools.querySelector(".replay-open")) return;
      if (!page.replayDialog) page.replayDialog = new ReplayDialog(page, v[0]);
      page.replayDialog.button(tools);
    });
  }
  setInterval(boot, 1000);
  boot();
})();
