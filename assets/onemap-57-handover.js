/* Shift hand-over (交接班) on the duty desk: a button in the desk's header opens the brief of the
 * officer's jurisdiction (socket event ``handover_brief``), with notes and 确认交班 (``hand_over``);
 * an incoming officer sees the pending hand-over's notes and confirms 接班 (``take_over``).
 * 打印 prints the brief on white A4 (assets/handover.css, @media print).
 *
 * It rides on the desk's own socket (onemap.duty.live.socket) and never touches the desk's
 * code. Every text from the server reaches the page through textContent. docs/handover.md.
 */
(function () {
  "use strict";

  var onemap = (window.onemap = window.onemap || {});
  var ROLES = { duty: 1, admin: 1 };
  var NOTES_MAX = 2000;
  // Each section of the brief: [key, title, what its rows show]
  var SECTIONS = [
    ["overdue", "超期未办结", "incident"],
    ["supervised", "督办未办结", "incident"],
    ["unacknowledged", "未签收", "incident"],
    ["instructions", "待落实批示", "instruction"],
    ["warnings", "未处置预警（24小时内）", "warning"],
    ["red", "红色区域（治理指数）", "area"],
    ["notable", "本班要事", "notable"],
  ];
  var TILES = [
    ["open", "在办"], ["overdue", "超期"], ["supervised", "督办"], ["unacknowledged", "未签收"],
    ["warnings", "预警"], ["instructions", "待办批示"], ["red", "红色区域"], ["notable", "本班要事"],
  ];
  var FLOWS = [["reported", "上报"], ["closed", "办结"], ["overdue", "超期"]];

  function el(tag, cls, text) { return onemap.el(tag, cls, text); }

  function number(n) { return n === null || n === undefined ? "—" : Number(n).toLocaleString("zh-CN"); }

  function stamp(iso) {
    return new Date(iso).toLocaleString("zh-CN", { hour12: false, timeZone: "Asia/Shanghai",
      month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" });
  }

  function button(text, cls, onClick) {
    var b = el("button", "duty-button " + (cls || ""), text);
    b.type = "button";
    b.addEventListener("click", onClick);
    return b;
  }

  function Handover(duty) {
    this.duty = duty;
    this.pending = null;
    this.overlay = null;
    this.brief = null;
    this.busy = false;
  }

  Handover.prototype.start = function () {
    var self = this, duty = this.duty;
    var tools = duty.root.querySelector(".duty-header-tools") || duty.root.querySelector(".duty-head");
    this.button = button("交接班", "handover-open", function () { self.open(); });
    this.button.title = "交接班简报：本班在办、超期、督办、预警，交班与接班";
    this.badge = el("span", "handover-badge", "待接班");
    this.badge.hidden = true;
    this.button.appendChild(this.badge);
    tools.appendChild(this.button);
    duty.live.whenConnected(function () {
      var socket = duty.live.socket;
      socket.on("connect", function () { self.checkPending(); });
      socket.on("actions", function (data) {
        var ours = (data.actions || []).some(function (a) {
          return (a.verb === "hand_over" || a.verb === "take_over") && a.area === duty.scope;
        });
        if (ours) self.checkPending();
      });
      self.checkPending();
    });
    document.addEventListener("keydown", function (e) {
      if (e.key === "Escape" && self.overlay) { e.stopImmediatePropagation(); self.close(); }
    }, true);
  };

  Handover.prototype.emit = function (event, data, then) {
    var socket = this.duty.live.socket;
    if (!socket || !this.duty.live.connected) { then({ ok: false, error: "未连接服务器" }); return; }
    socket.emit(event, data, function (reply) { then(reply || { ok: false, error: "无应答" }); });
  };

  Handover.prototype.checkPending = function () {
    var self = this;
    this.emit("handover_brief", { pending_only: true }, function (reply) {
      if (!reply.ok) return;
      self.pending = reply.pending;
      var waiting = !!(reply.pending && !reply.pending.mine);
      self.badge.hidden = !waiting;
      self.button.classList.toggle("is-pending", waiting);
      self.duty.root.setAttribute("data-handover-pending", waiting ? reply.pending.id : "");
    });
  };

  // -- the panel ---------------------------------------------------------------------------
  Handover.prototype.open = function () {
    var self = this;
    if (!this.overlay) {
      this.overlay = el("div", "handover-overlay");
      this.overlay.setAttribute("role", "dialog");
      this.overlay.setAttribute("aria-label", "交接班简报");
      this.overlay.addEventListener("click", function (e) { if (e.target === self.overlay) self.close(); });
      document.body.appendChild(this.overlay);
      document.body.classList.add("handover-shown");
    }
    this.overlay.textContent = "";
    this.overlay.appendChild(el("div", "handover-panel handover-loading", "正在生成交接班简报…"));
    this.emit("handover_brief", {}, function (reply) { self.show(reply); });
  };

  Handover.prototype.close = function () {
    if (this.overlay) this.overlay.remove();
    this.overlay = null;
    document.body.classList.remove("handover-shown");
  };

  Handover.prototype.show = function (reply) {
    if (!this.overlay) return;
    var panel = el("div", "handover-panel");
    if (!reply.ok) {
      panel.appendChild(el("p", "handover-error", "简报未能生成：" + reply.error));
      panel.appendChild(button("关闭", "", this.close.bind(this)));
    } else {
      this.brief = reply;
      this.pending = reply.pending;
      panel.appendChild(this.head(reply));
      if (reply.pending) panel.appendChild(this.takeOver(reply.pending));
      panel.appendChild(this.tiles(reply));
      panel.appendChild(this.flows(reply));
      var self = this;
      SECTIONS.forEach(function (s) { panel.appendChild(self.section(s, reply.sections[s[0]])); });
      panel.appendChild(this.handOver(reply));
    }
    this.overlay.textContent = "";
    this.overlay.appendChild(panel);
    this.overlay.setAttribute("data-ready", "1");
  };

  Handover.prototype.head = function (b) {
    var head = el("header", "handover-head");
    var title = el("div", "handover-title");
    title.appendChild(el("h2", "", "交接班简报"));
    title.appendChild(el("span", "handover-scope", b.scopeName));
    head.appendChild(title);
    var meta = el("div", "handover-meta");
    meta.appendChild(el("span", "", "本班 " + b.shift.label));
    meta.appendChild(el("span", "", "生成于 " + stamp(b.now)));
    meta.appendChild(el("span", "", "值班员 " + (b.officer || this.duty.user || "")));
    head.appendChild(meta);
    var tools = el("div", "handover-tools");
    tools.appendChild(button("刷新", "", this.open.bind(this)));
    tools.appendChild(button("打印", "", function () { window.print(); }));
    var shut = button("关闭", "", this.close.bind(this));
    shut.title = "关闭（Esc）";
    tools.appendChild(shut);
    head.appendChild(tools);
    return head;
  };

  Handover.prototype.tiles = function (b) {
    var strip = el("div", "handover-tiles");
    TILES.forEach(function (t) {
      var tile = el("div", "handover-tile");
      tile.setAttribute("data-count", t[0]);
      var n = b.counts[t[0]];
      tile.appendChild(el("b", n ? "is-some" : "", number(n)));
      tile.appendChild(el("span", "", t[1]));
      strip.appendChild(tile);
    });
    return strip;
  };

  // This shift so far against the whole previous one: reported and closed in each; overdue now
  // and at the previous shift's end. Only overdue is compared: a shift under way has not had
  // the previous one's hours to report and close in.
  Handover.prototype.flows = function (b) {
    var table = el("table", "handover-flows");
    var head = el("tr");
    ["", "本班 " + b.shift.label + "（至今）", "上一班 " + b.previous.label, "较上一班交班时"].forEach(function (t) {
      head.appendChild(el("th", "", t));
    });
    table.appendChild(head);
    FLOWS.forEach(function (f) {
      var row = el("tr");
      row.setAttribute("data-flow", f[0]);
      var now = b.shift[f[0]], before = b.previous.complete ? b.previous[f[0]] : null;
      var standing = f[0] === "overdue";
      row.appendChild(el("th", "", f[1] + (standing ? "（现在 / 上一班交班时）" : "")));
      row.appendChild(el("td", "is-now", number(now)));
      row.appendChild(el("td", "", before === null ? "— 数据不全" : number(before)));
      var diff = standing && before !== null ? now - before : null;
      row.appendChild(el("td", diff > 0 ? "is-up" : diff < 0 ? "is-down" : "",
        diff === null ? "" : diff === 0 ? "持平" : (diff > 0 ? "▲ " : "▼ ") + number(Math.abs(diff))));
      table.appendChild(row);
    });
    return table;
  };

  Handover.prototype.section = function (s, part) {
    var box = el("section", "handover-section");
    box.setAttribute("data-section", s[0]);
    var title = el("h3", "", s[1]);
    title.appendChild(el("span", "handover-total", number(part.total)));
    box.appendChild(title);
    if (!part.total) { box.appendChild(el("p", "handover-none", "无")); return box; }
    var list = el("table", "handover-rows");
    var self = this;
    part.rows.forEach(function (r) { list.appendChild(self.row(s[2], r)); });
    box.appendChild(list);
    if (part.total > part.rows.length) {
      box.appendChild(el("p", "handover-more", "另有 " + number(part.total - part.rows.length) + " 件，见值班台筛选"));
    }
    return box;
  };

  function cells(row, values) {
    values.forEach(function (v) { row.appendChild(el("td", v[0], v[1])); });
    return row;
  }

  Handover.prototype.row = function (kind, r) {
    var row = el("tr");
    if (kind === "warning") {
      return cells(row, [["when", stamp(r.ts)], ["place", r.place], ["title", r.title], ["", r.detail || ""]]);
    }
    if (kind === "area") {
      return cells(row, [["place", r.name], ["score", String(r.score)], ["title", (r.why || []).join("；")]]);
    }
    row.setAttribute("data-id", r.id);
    cells(row, [["id", r.id], ["cat", r.category], ["title", r.title], ["place", r.place],
                ["level", r.level], ["left" + (r.overdue ? " is-late" : ""), r.left || r.status]]);
    if (kind === "notable") {
      var why = el("td", "why");
      (r.reasons || []).forEach(function (reason) { why.appendChild(el("span", "handover-chip", reason)); });
      row.appendChild(why);
    } else if (kind === "instruction" && r.instruction) {
      row.appendChild(el("td", "said", r.instruction.by + " " + r.instruction.at + "：" + r.instruction.text));
    }
    row.addEventListener("click", function () {
      if (onemap.duty && onemap.duty.open) onemap.duty.open(r.id);
    });
    row.title = "在值班台打开";
    return row;
  };

  // -- 接班: the pending hand-over of this jurisdiction ---------------------------------------------
  Handover.prototype.takeOver = function (p) {
    var self = this;
    var box = el("section", "handover-pending");
    box.setAttribute("data-pending", p.id);
    var line = p.mine ? "已交班，等待接班" : "待接班确认";
    box.appendChild(el("h3", "", line + " · " + p.byName + " 于 " + stamp(p.ts) + " 交班"));
    box.appendChild(el("div", "handover-notes", p.notes || "（无交班说明）"));
    var counts = el("p", "handover-counts");
    counts.textContent = "交班时：" + TILES.map(function (t) {
      return t[1] + " " + number((p.counts || {})[t[0]]);
    }).join(" · ");
    box.appendChild(counts);
    if (!p.mine) {
      var status = el("span", "handover-status");
      var confirm = button("接班确认", "is-primary handover-take", function () {
        if (self.busy) return;
        self.busy = true;
        confirm.disabled = true;
        self.emit("take_over", { id: p.id }, function (reply) {
          self.busy = false;
          if (reply.ok) {
            status.textContent = "已接班 · " + stamp(new Date().toISOString());
            box.classList.add("is-done");
            self.checkPending();
          } else {
            confirm.disabled = false;
            status.textContent = "未成功：" + reply.error;
          }
        });
      });
      var actions = el("div", "handover-actions");
      actions.appendChild(confirm);
      actions.appendChild(status);
      box.appendChild(actions);
    }
    return box;
  };

  // -- 交班: notes and the confirmation ---------------------------------------------------------------
  Handover.prototype.handOver = function () {
    var self = this;
    var box = el("section", "handover-give");
    box.appendChild(el("h3", "", "交班说明"));
    var notes = el("textarea", "handover-input");
    notes.maxLength = NOTES_MAX;
    notes.rows = 4;
    notes.placeholder = "需接班人跟进的事项、已联系的部门、领导交办…（可不填）";
    var printed = el("div", "handover-notes handover-print-only");  // a textarea prints badly
    var count = el("span", "handover-count", "0 / " + NOTES_MAX);
    notes.addEventListener("input", function () {
      count.textContent = notes.value.length + " / " + NOTES_MAX;
      printed.textContent = notes.value;
    });
    box.appendChild(notes);
    box.appendChild(printed);
    var status = el("span", "handover-status");
    var give = button("确认交班", "is-primary handover-give-button", function () {
      if (self.busy) return;
      self.busy = true;
      give.disabled = true;
      self.emit("hand_over", { notes: notes.value }, function (reply) {
        self.busy = false;
        if (reply.ok) {
          status.textContent = "已交班 · " + stamp(new Date().toISOString()) + " · 等待接班确认";
          box.classList.add("is-done");
          notes.readOnly = true;
          self.checkPending();
        } else {
          give.disabled = false;
          status.textContent = "未成功：" + reply.error;
        }
      });
    });
    var actions = el("div", "handover-actions");
    actions.appendChild(give);
    actions.appendChild(count);
    actions.appendChild(status);
    box.appendChild(actions);
    var sign = el("div", "handover-sign handover-print-only");
    sign.appendChild(el("span", "", "交班人："));
    sign.appendChild(el("span", "", "接班人："));
    sign.appendChild(el("span", "", "时间："));
    box.appendChild(sign);
    return box;
  };

  function boot() {
    var duty = onemap.duty;
    if (!duty || duty.handover || !duty.live || !ROLES[duty.role]) return false;
    duty.handover = new Handover(duty);
    duty.handover.start();
    return true;
  }

  // The desk is built once Dash has rendered it and its grid is ready, and built anew when the
  // officer comes back to it from another page: look for a desk without its button each second.
  setInterval(boot, 1000);
  boot();
})();
