/* Replay (复盘): the wall as it was at a past moment, played at ×1 to ×60, and back to live.
 *
 * Two ways in: the URL (/wall?at=<ISO time>&speed=0..60; a time without an offset is China
 * time), with a control bar for a person at a screen; or a duty officer's command to a
 * registered wall (verb "replay", assets/onemap-95-commands.js), without controls, ending by
 * itself after the command's ``seconds`` (REPLAY_MAX_S in dashboard/views/act.py). A reload
 * of a commanded wall is live again; a URL replay is its URL.
 *
 * The server keeps one replay session per socket (socket event ``replay``, docs/socket.md):
 * ``seek`` answers a snapshot of the moment (the fields of a hello's snapshot, plus at,
 * earliest, latest), ``advance`` what happened since the session's moment, ``stop`` frees it.
 * Both are applied through the view's own functions (onemap-10-core.js Live.welcome, steps,
 * positions; the wall's onKpis, onPanels, onWarnings), so a replayed wall is drawn by the same
 * code as a live one. While replaying, the live events of the page's room are ignored (the
 * socket stays in its rooms for commands); back to live, the page says hello afresh, without
 * ``after``, so nothing of the replay lingers.
 *
 * The wall says it is not live, across the room: an amber frame, a large 回放 badge with the
 * replayed time, the header clock showing the replayed time in amber. Text via textContent.
 */
(function () {
  "use strict";

  var onemap = (window.onemap = window.onemap || {});
  var el = function (tag, cls, text) { return onemap.el(tag, cls, text); };
  var TICK_MS = 500;          // how often a playing replay asks for what happened since
  var MAX_SPEED = 60;
  var SPEEDS = [1, 10, 60];
  var COMMAND_MAX_S = 2 * 3600;  // a command without ``seconds``: as REPLAY_MAX_S
  var LIVE_MARGIN_MS = 3000;  // a replay that has caught up with now is live again
  var NOTE_MS = 8000;
  var PROTO = onemap.Live.prototype;

  var CLOCK = new Intl.DateTimeFormat("zh-CN", {
    hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23", timeZone: "Asia/Shanghai",
  });
  var WEEKDAY = new Intl.DateTimeFormat("zh-CN", { weekday: "short", timeZone: "Asia/Shanghai" });

  var parseMoment = function (text) { return onemap.parseMoment(text); };  // onemap-93
  var localValue = function (ms) { return onemap.chinaLocal(ms); };

  function iso(ms) { return new Date(ms).toISOString(); }
  // "12月5日", "12月5日 21:03:15", "12月5日 周六"
  function day(ms) { return onemap.dateTime(iso(ms)).split(" ")[0]; }
  function dayTime(ms) { return day(ms) + " " + CLOCK.format(new Date(ms)); }
  function dayWeek(ms) { return day(ms) + " " + WEEKDAY.format(new Date(ms)); }
  function speedOf(value) {
    var n = Math.round(Number(value));
    return isNaN(n) ? 0 : Math.max(0, Math.min(MAX_SPEED, n));
  }
  function setText(node, text) { if (node && node.textContent !== text) node.textContent = text; }

  // ---------------------------------------------------------------------------------------
  function Replay(wall) {
    this.wall = wall;
    this.live = wall.live;
    this.active = false;
    this.applying = false;   // our own calls pass the gates below
    this.anchorAt = 0;       // the replayed moment (ms) at real time anchorReal (performance.now)
    this.anchorReal = 0;
    this.speed = 0;          // the chosen speed; it plays only while ``playing``
    this.playing = false;
    this.earliest = null;
    this.latest = null;
    this.busy = false;       // a seek or an advance is on its way
    this.generation = 0;     // replies to an older seek are dropped
    this.commanded = null;   // the command a registered wall obeys, if any
    this.controls = false;
    this.dragging = false;
    this.stats = { seeks: 0, advances: 0, steps: 0, positions: 0, lastMs: 0, maxMs: 0 };
    onemap.replayStats = this.stats;
    this.gate();
    var asked = new URLSearchParams(window.location.search);
    var at = parseMoment(asked.get("at"));
    if (at !== null) {
      this.begin(at, speedOf(asked.get("speed") || 0), { controls: asked.get("controls") !== "0" });
    }
  }

  // Live data of the room, while replaying, is not this page's business: each path from the
  // socket to the view is closed unless the replay itself is applying.
  Replay.prototype.gate = function () {
    var self = this, live = this.live, wall = this.wall;
    function open() { return !self.active || self.applying; }
    live.live = function (kind, rows) { if (open()) PROTO.live.call(live, kind, rows); };
    live.beat = function (data) {
      if (open()) { PROTO.beat.call(live, data); return; }
      live.lastBeat = Date.now();  // the connection is alive: that much is still true
      if (data && data.bridge) live.bridge = data.bridge;
    };
    live.hello = function () { if (self.active) self.rejoin(); else PROTO.hello.call(live); };
    live.welcome = function (scope, reply) {
      if (open()) return PROTO.welcome.call(live, scope, reply);
      live.pending = null;  // a live hello answered after the replay began: not shown
      return true;
    };
    ["onKpis", "onPanels", "onWarnings"].forEach(function (name) {
      var own = wall[name];
      wall[name] = function (data) { if (open()) return own.call(wall, data); };
    });
    var tick = wall.tick;
    wall.tick = function () { if (self.active) self.paint(); else tick.call(wall); };
  };

  // The replayed moment now (ms).
  Replay.prototype.moment = function () {
    var rate = this.playing ? this.speed : 0;
    return this.anchorAt + rate * (performance.now() - this.anchorReal);
  };

  Replay.prototype.anchor = function (at) {
    this.anchorAt = at;
    this.anchorReal = performance.now();
  };

  // Into replay at ``at`` (ms), playing at ``speed`` (0: paused there).
  Replay.prototype.begin = function (at, speed, options) {
    var self = this, wall = this.wall, first = !this.active;
    options = options || {};
    this.active = true;
    onemap.clockSource = function () { return self.moment(); };
    this.controls = !!options.controls;
    this.commanded = options.command || null;
    this.speed = speed || (this.speed || 0);
    this.playing = speed > 0;
    this.anchor(Math.min(at, Date.now()));
    wall.root.setAttribute("data-replay", this.playing ? "playing" : "paused");
    if (this.controls) wall.root.setAttribute("data-replay-controls", "1");
    else wall.root.removeAttribute("data-replay-controls");
    this.draw();
    clearTimeout(this.endTimer);
    if (this.commanded) {
      var seconds = Number(this.commanded.seconds) || COMMAND_MAX_S;
      this.endTimer = setTimeout(function () { self.toLive("回放时间已到"); }, 1000 * seconds);
    }
    if (!this.timer) this.timer = setInterval(function () { self.tick(); }, TICK_MS);
    // Not yet connected (a URL replay opening): the first connect's hello rejoins and seeks.
    if (this.live.socket && this.live.connected) this.seek(this.moment());
    this.paint();
  };

  // On a (re)connect while replaying: join the rooms again (a lite hello: the wall's room
  // brings commands), then seek where the replay is; the server's session did not survive.
  Replay.prototype.rejoin = function () {
    var self = this, live = this.live, generation = ++this.generation;
    live.pending = null;
    this.busy = true;
    live.socket.emit("hello", { scope: live.scope, after: null, home: live.home, lite: true }, function (reply) {
      if (generation !== self.generation || !self.active) return;
      if (reply && !reply.ok && reply.retry) {
        setTimeout(function () { if (generation === self.generation && self.active) self.rejoin(); }, 1000 * reply.retry);
        return;
      }
      self.busy = false;
      self.seek(self.moment());
    });
  };

  Replay.prototype.seek = function (at) {
    var self = this, live = this.live, generation = ++this.generation;
    if (!live.socket || !live.connected) return;
    this.busy = true;
    this.anchor(at);
    this.say("正在载入 " + CLOCK.format(new Date(at)) + " 的数据…");
    this.stats.seeks += 1;
    live.socket.emit("replay", { op: "seek", scope: live.scope, at: iso(at) }, function (reply) {
      if (generation !== self.generation || !self.active) return;
      self.busy = false;
      if (!reply || !reply.ok) { self.refused(reply, at); return; }
      self.bounds(reply);
      self.anchor(Date.parse(reply.at));
      self.show(reply);
      self.say("");
    });
  };

  Replay.prototype.bounds = function (reply) {
    if (reply.earliest) this.earliest = Date.parse(reply.earliest);
    if (reply.latest) this.latest = Date.parse(reply.latest);
  };

  // A seek's answer: a snapshot of the moment, drawn by the live code.
  Replay.prototype.show = function (reply) {
    var live = this.live;
    this.clearWarnings();
    live.pending = null;
    live.lastSid = null;
    var snapshot = Object.assign({}, reply, { mode: "snapshot", following: null });
    this.applying = true;
    try { PROTO.welcome.call(live, live.scope, snapshot); } finally { this.applying = false; }
    this.paint();
  };

  // Every TICK_MS: what happened between the last moment applied and now's replayed moment.
  Replay.prototype.tick = function () {
    if (!this.active) return;
    this.paint();
    if (!this.playing || this.busy || !this.live.connected || this.dragging) return;
    var at = this.moment();
    if (at >= Date.now() - LIVE_MARGIN_MS) { this.toLive("回放已追上实时"); return; }
    this.advance(at);
  };

  Replay.prototype.advance = function (at) {
    var self = this, live = this.live, generation = this.generation, asked = performance.now();
    this.busy = true;
    live.socket.emit("replay", { op: "advance", scope: live.scope, at: iso(at) }, function (reply) {
      if (generation !== self.generation || !self.active) return;
      self.busy = false;
      if (!reply || !reply.ok) { self.refused(reply, self.moment()); return; }
      var started = performance.now();
      self.apply(reply);
      var took = performance.now() - started;
      self.stats.advances += 1;
      self.stats.lastMs = took;
      self.stats.maxMs = Math.max(self.stats.maxMs, took);
      self.stats.roundTripMs = started - asked;
      if (reply.latest) self.latest = Date.parse(reply.latest);
    });
  };

  Replay.prototype.apply = function (reply) {
    var live = this.live, wall = this.wall;
    this.applying = true;
    try {
      if (reply.steps && reply.steps.length) { live.steps(reply.steps, false); this.stats.steps += reply.steps.length; }
      if (reply.positions && reply.positions.length) { live.positions(reply.positions); this.stats.positions += reply.positions.length; }
      if (reply.kpis) { PROTO.beat.call(live, reply); wall.onKpis(reply); }
      if (reply.panels) wall.onPanels(reply.panels);
      if (reply.warnings && reply.warnings.length) wall.onWarnings(reply.warnings);
    } finally { this.applying = false; }
  };

  // The server said no: say why, and do what can be done.
  Replay.prototype.refused = function (reply, at) {
    var self = this, error = (reply && reply.error) || "no answer";
    if (error === "no_session" || error === "backwards") { this.seek(at); return; }
    if (error === "busy") {
      var retry = Number(reply.retry) || 2;
      this.say("回放服务繁忙，" + retry + " 秒后重试");
      this.busy = true;
      setTimeout(function () { self.busy = false; if (self.active) self.seek(at); }, 1000 * retry);
      return;
    }
    if (error === "out_of_range") {
      this.bounds(reply);
      if (this.latest !== null && at > this.latest) { this.toLive("回放已追上实时"); return; }
      if (this.earliest !== null && at < this.earliest) {
        this.say("最早可回放至 " + onemap.dateTime(iso(this.earliest)) + "，已从该时刻开始");
        this.seek(this.earliest + 1000);
        return;
      }
    }
    this.playing = false;
    this.anchor(at);
    this.say("回放失败：" + error);
  };

  // Back to live: the server's session freed, the page's replay cleared, a fresh hello.
  Replay.prototype.toLive = function (why) {
    if (!this.active) return;
    var live = this.live, wall = this.wall, socket = live.socket;
    this.active = false;
    onemap.clockSource = null;
    this.playing = false;
    this.commanded = null;
    this.generation += 1;
    this.busy = false;
    clearInterval(this.timer);
    this.timer = null;
    clearTimeout(this.endTimer);
    if (socket && live.connected) socket.emit("replay", { op: "stop", scope: live.scope }, function () {});
    this.dropUrl();
    wall.root.removeAttribute("data-replay");
    wall.root.removeAttribute("data-replay-controls");
    if (this.badge) { this.badge.remove(); this.badge = null; }
    if (this.bar) { this.bar.remove(); this.bar = null; }
    this.clearWarnings();
    live.lastSid = null;
    live.pending = null;
    if (why && wall.commands) wall.commands.notice(why);
    if (live.connected) PROTO.hello.call(live);
    wall.tick();
  };

  // A URL replay's address becomes the live wall's: at, speed and controls dropped.
  Replay.prototype.dropUrl = function () {
    var url = new URL(window.location.href);
    if (!url.searchParams.has("at")) return;
    ["at", "speed", "controls"].forEach(function (k) { url.searchParams.delete(k); });
    window.history.replaceState(window.history.state, "", url.pathname + url.search + url.hash);
  };

  Replay.prototype.clearWarnings = function () {
    var ticker = this.wall.ticker;
    Object.keys(ticker.warnings || {}).forEach(function (id) { ticker.unpinWarning(id); });
  };

  // A registered wall's command (onemap-95-commands.js): replay (at, speed) or live.
  Replay.prototype.command = function (cmd) {
    if (cmd.verb === "live") { this.toLive("回放结束" + (cmd.byName ? "（" + cmd.byName + "）" : "")); return; }
    var at = parseMoment(cmd.at);
    if (at === null) return;
    this.begin(at, speedOf(cmd.speed), { command: cmd, controls: false });
  };

  // -- what the wall shows ------------------------------------------------------------------
  Replay.prototype.draw = function () {
    var panel = this.wall.root.querySelector(".wall-map-panel") || this.wall.root;
    if (!this.badge) {
      var badge = (this.badge = el("div", "replay-badge"));
      badge.setAttribute("role", "status");
      badge.appendChild(el("span", "replay-word", "回放"));
      badge.appendChild(el("span", "replay-time", "--:--:--"));
      var line = el("span", "replay-line");
      line.appendChild(el("span", "replay-date", ""));
      line.appendChild(el("span", "replay-state", ""));
      badge.appendChild(line);
      badge.appendChild(el("span", "replay-note", ""));
      panel.appendChild(badge);
    }
    setText(this.badge.querySelector(".replay-note"), this.commanded ? "复盘 · " + (this.commanded.byName || this.commanded.by || "") : "");
    if (this.controls && !this.bar) this.bar = this.controlBar(panel);
    if (!this.controls && this.bar) { this.bar.remove(); this.bar = null; }
  };

  Replay.prototype.say = function (text) {
    var self = this;
    if (!this.badge) return;
    var status = this.badge.querySelector(".replay-note");
    if (!text) { setText(status, this.commanded ? "复盘 · " + (this.commanded.byName || "") : ""); return; }
    setText(status, text);
    clearTimeout(this.sayTimer);
    this.sayTimer = setTimeout(function () { if (self.badge) self.say(""); }, NOTE_MS);
  };

  // Each tick: the badge, the header's clock and health, the control bar.
  Replay.prototype.paint = function () {
    var wall = this.wall, root = wall.root, at = new Date(this.moment());
    var state = this.playing ? "×" + this.speed + " 播放中" : "已暂停";
    var mode = this.playing ? "playing" : "paused";
    if (root.getAttribute("data-replay") !== mode) root.setAttribute("data-replay", mode);
    if (this.badge) {
      setText(this.badge.querySelector(".replay-time"), CLOCK.format(at));
      setText(this.badge.querySelector(".replay-date"), dayWeek(at.getTime()));
      setText(this.badge.querySelector(".replay-state"), state);
    }
    setText(root.querySelector(".wall-clock"), CLOCK.format(at));
    setText(root.querySelector(".wall-date"), onemap.today ? onemap.today(at) : dayWeek(at.getTime()));
    var down = !this.live.connected && wall.everLive, waiting = !this.live.connected && !down;
    var health = down ? "down" : waiting ? "connecting" : "replay";
    root.querySelector(".wall-health").setAttribute("data-state", health);
    setText(root.querySelector("#wall-health-text"), down ? "连接中断 · 正在重连" : waiting ? "连接中" : "回放 · 非实时");
    if (root.getAttribute("data-health") !== health) root.setAttribute("data-health", health);
    var banner = root.querySelector(".wall-outage");
    if (banner) banner.hidden = true;
    wall.unhealthySince = down ? (wall.unhealthySince || Date.now()) : null;
    if (this.bar) this.paintBar(at.getTime());
  };

  // -- the control bar (a person at a screen: a URL replay) -----------------------------------
  function button(text, cls, onClick) {
    var b = el("button", "replay-button " + (cls || ""), text);
    b.type = "button";
    b.addEventListener("click", onClick);
    return b;
  }

  Replay.prototype.controlBar = function (panel) {
    var self = this, bar = el("div", "replay-bar");
    bar.setAttribute("role", "toolbar");
    bar.setAttribute("aria-label", "回放控制");
    var scrub = el("div", "replay-scrub"), row = el("div", "replay-row");
    bar.appendChild(scrub);
    bar.appendChild(row);
    this.sliderLabel = el("span", "replay-slider-label", "");
    scrub.appendChild(this.sliderLabel);
    this.playButton = button("▶ 播放", "replay-play", function () { self.setPlaying(!self.playing); });
    row.appendChild(this.playButton);
    var speeds = el("div", "replay-speeds");
    this.speedButtons = SPEEDS.map(function (n) {
      var b = button("×" + n, "replay-speed", function () { self.setSpeed(n); });
      b.setAttribute("data-speed", String(n));
      speeds.appendChild(b);
      return b;
    });
    row.appendChild(speeds);
    var slider = (this.slider = el("input", "replay-slider"));
    slider.type = "range";
    slider.step = "1000";
    slider.setAttribute("aria-label", "回放时刻");
    slider.addEventListener("input", function () {
      self.dragging = true;
      setText(self.sliderLabel, "跳至 " + dayTime(Number(slider.value)));
    });
    slider.addEventListener("change", function () { self.dragging = false; self.seek(Number(slider.value)); });
    scrub.appendChild(slider);
    scrub.appendChild(el("span", "replay-slider-end", "现在"));
    row.appendChild(el("span", "replay-row-gap"));
    row.appendChild(el("span", "replay-picker-label", "跳转到"));
    var picker = (this.picker = el("input", "replay-picker"));
    picker.type = "datetime-local";
    picker.step = "1";
    picker.setAttribute("aria-label", "跳转到时刻");
    picker.addEventListener("change", function () {
      var at = parseMoment(picker.value);
      if (at !== null) self.seek(Math.min(at, Date.now()));
    });
    row.appendChild(picker);
    row.appendChild(button("回到实时", "replay-live", function () { self.toLive(""); }));
    panel.appendChild(bar);
    return bar;
  };

  Replay.prototype.setPlaying = function (playing) {
    this.anchor(this.moment());
    if (playing && !this.speed) this.speed = 1;
    this.playing = !!playing;
    this.paint();
  };

  Replay.prototype.setSpeed = function (speed) {
    this.anchor(this.moment());
    this.speed = speedOf(speed);
    this.playing = this.speed > 0;
    this.paint();
  };

  Replay.prototype.paintBar = function (at) {
    setText(this.playButton, this.playing ? "‖ 暂停" : "▶ 播放");
    this.playButton.setAttribute("aria-pressed", this.playing ? "true" : "false");
    var speed = this.speed;
    this.speedButtons.forEach(function (b) {
      b.setAttribute("aria-pressed", Number(b.getAttribute("data-speed")) === speed ? "true" : "false");
    });
    var latest = Math.max(this.latest || 0, Date.now());
    var earliest = this.earliest !== null ? this.earliest : latest - 72 * 3600 * 1000;
    if (this.slider.min !== String(earliest)) this.slider.min = String(earliest);
    this.slider.max = String(latest);
    if (!this.dragging) {
      this.slider.value = String(Math.round(at));
      setText(this.sliderLabel, "最早 " + dayTime(earliest));
    }
    if (document.activeElement !== this.picker) {
      var value = localValue(at);
      if (this.picker.value !== value) this.picker.value = value;
      this.picker.min = localValue(earliest);
      this.picker.max = localValue(latest);
    }
  };

  onemap.Replay = Replay;
})();
