/* Wall commands from operators: "cast" an incident (zoom to it, show its card for a while),
 * "follow" a leader's tablet (show the area it shows until released), "release" (by the leader,
 * or by the server when the tablet has gone or the follow has lasted its longest: the wall then
 * says so for a few seconds), "replay" a past moment and "live" again (复盘, a duty officer's:
 * assets/onemap-92-replay.js does the replaying).
 *
 * Commands arrive on the wall's socket (the room of its registered wall, which they name)
 * through the Live view's optional onCommand. While a cast or a follow holds the wall, its
 * automatic tour waits. Who drives it is shown by display name. Field text reaches the card
 * through textContent only.
 */
(function () {
  "use strict";

  var onemap = (window.onemap = window.onemap || {});
  var el = function (tag, cls, text) { return onemap.el(tag, cls, text); };
  var NOTICE_MS = 10000;  // how long the wall says that a follow has ended

  // "12月8日 09:00": a deadline or a report time with its date (China time), not only a clock.
  var DATE_TIME = new Intl.DateTimeFormat("zh-CN", {
    month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    timeZone: "Asia/Shanghai",
  });
  function dateTime(iso) {
    if (!iso) return "";
    var p = {};
    DATE_TIME.formatToParts(new Date(iso)).forEach(function (x) { p[x.type] = x.value; });
    return p.month + "月" + p.day + "日 " + p.hour + ":" + p.minute;
  }
  onemap.dateTime = dateTime;
  function who(cmd) { return cmd.byName || cmd.by || ""; }

  function Commands(wall) {
    this.wall = wall;
    this.castTimer = null;
    this.following = null;
    this.card = null;
    var self = this, goTo = wall.goTo;
    // The tour calls goTo on a timer; it must not pull the wall away from a cast, a follow or
    // a replay (which lets the wall's first goTo through: its map is drawn by it).
    wall.goTo = function (code, highlight, then) {
      var held = self.following || self.castTimer || (wall.replay && wall.replay.active && wall.geo);
      if (held && !self.forcing) { if (then) then(); return; }
      return goTo.call(wall, code, highlight, then);
    };
    this.force = function (code, then) {
      self.forcing = true;
      try { goTo.call(wall, code, null, then || null); } finally { self.forcing = false; }
    };
  }

  Commands.prototype.handle = function (cmd) {
    if (!cmd || !cmd.verb) return;
    if (cmd.verb === "release") { this.release(cmd); return; }
    var replay = this.wall.replay;
    if (cmd.verb === "replay" || cmd.verb === "live") { if (replay) replay.command(cmd); return; }
    if (replay && replay.active) replay.toLive("");  // a cast or a follow is about now
    this.wall.root.setAttribute("data-command", cmd.verb);
    if (cmd.verb === "cast") this.cast(cmd);
    else if (cmd.verb === "follow") this.follow(cmd);
  };

  // A cast takes the wall to the incident's town (its grids drawn), centres the incident with a
  // ring, shows its card, and after ``seconds`` returns to where the wall was.
  Commands.prototype.cast = function (cmd) {
    var self = this, wall = this.wall;
    if (!cmd.card) return;
    clearTimeout(this.castTimer);
    if (!this.castFrom) this.castFrom = wall.scope;
    this.castTimer = setTimeout(function () { self.endCast(); }, 1000 * (cmd.seconds || 60));
    this.force(cmd.card.town, function () {
      wall.live.setScope(wall.scope);
      self.showCard(cmd.card, "投屏 · " + who(cmd));
      self.zoomTo(cmd.card);
    });
  };

  Commands.prototype.endCast = function () {
    var self = this, wall = this.wall, back = this.castFrom;
    this.castTimer = null;
    this.castFrom = null;
    if (this.following) return;  // the follow took over; its own card stays
    this.hideCard();
    wall.root.removeAttribute("data-command");
    if (back) this.force(back, function () { wall.live.setScope(wall.scope); });
  };

  Commands.prototype.follow = function (cmd) {
    var self = this, was = this.following;
    this.following = cmd;
    this.notice("");
    this.badge("跟随 " + who(cmd) + " 的平板");
    // Every hello while followed repeats the follow (so a reloaded wall resumes it), and a
    // tablet that reconnects follows again: the same area again changes nothing, else the wall
    // would re-drill each time.
    if (was && was.area === cmd.area && was.scope === cmd.scope && was.incident === cmd.incident) return;
    this.force(cmd.scope || this.wall.live.home, function () {
      self.wall.live.setScope(self.wall.scope);
      if (cmd.card) { self.showCard(cmd.card, "跟随 · " + who(cmd)); self.zoomTo(cmd.card); }
      else self.hideCard();
    });
  };

  // A release the server made names the follow it ends: one that ended an older follow (a newer
  // one came meanwhile) is not this wall's business.
  Commands.prototype.release = function (cmd) {
    var self = this;
    if (!this.following) return;
    if (cmd && cmd.ends && cmd.ends !== this.following.id) return;
    this.following = null;
    this.badge("");
    this.hideCard();
    this.wall.root.removeAttribute("data-command");
    this.notice((cmd && cmd.text) || "大屏跟随已结束" + (cmd && who(cmd) ? "（" + who(cmd) + "）" : ""));
    this.force(this.wall.live.home, function () { self.wall.live.setScope(self.wall.scope); });
  };

  // Said briefly on the map, then gone: "the wall is back on its own view, and why".
  Commands.prototype.notice = function (text) {
    var box = this.wall.root.querySelector(".wall-notice");
    clearTimeout(this.noticeTimer);
    if (!box && text) {
      box = el("div", "wall-notice");
      box.setAttribute("role", "status");
      (this.wall.root.querySelector(".wall-map-panel") || this.wall.root).appendChild(box);
    }
    if (!box) return;
    box.textContent = text ? text + " · 已回到本屏视图" : "";
    box.hidden = !text;
    if (text) this.noticeTimer = setTimeout(function () { box.hidden = true; }, NOTICE_MS);
  };

  Commands.prototype.zoomTo = function (card) {
    var L = window.L, map = this.wall.map && this.wall.map.map;
    if (!map || !card.lat || !card.lon) return;
    map.setView([card.lat, card.lon], Math.max(map.getZoom(), 13), { animate: false });
    var k = this.wall.map.k || 1;
    this.ring = L.layerGroup([
      L.circleMarker([card.lat, card.lon], { radius: 26 * k, color: card.overdue ? "#ff3b3b" : "#38c6ff",
        weight: 3 * k, fill: false, className: "cast-ring", interactive: false }),
      L.circleMarker([card.lat, card.lon], { radius: 8 * k, color: "#ffffff", weight: 2 * k,
        fillColor: card.colour || "#38c6ff", fillOpacity: 1, interactive: false }),
    ]).addTo(map);
  };

  Commands.prototype.badge = function (text) {
    var box = this.wall.root.querySelector(".wall-follow");
    if (!box) {
      box = el("div", "wall-follow");
      var panel = this.wall.root.querySelector(".wall-map-panel") || this.wall.root;
      panel.appendChild(box);
    }
    box.textContent = text;
    box.hidden = !text;
  };

  Commands.prototype.showCard = function (c, by) {
    this.hideCard();
    var card = (this.card = el("section", "wall-cast" + (c.overdue ? " is-overdue" : "")));
    card.setAttribute("data-incident", c.id);
    var head = el("header", "cast-head");
    var dot = el("span", "cast-dot");
    dot.style.background = c.colour || "#4fc3f7";
    head.appendChild(dot);
    head.appendChild(el("span", "cast-cat", c.catName));
    head.appendChild(el("span", "cast-by", by));
    card.appendChild(head);
    card.appendChild(el("div", "cast-title", c.title));
    var facts = el("dl", "cast-facts");
    [["地点", c.place], ["层级", c.levelName], ["状态", c.status === "closed" ? "已办结" : (c.overdue ? "已超期" : "办理中")],
     ["上报", dateTime(c.reported)], ["时限", dateTime(c.deadline)]].forEach(function (f) {
      facts.appendChild(el("dt", null, f[0]));
      facts.appendChild(el("dd", null, f[1]));
    });
    card.appendChild(facts);
    var panel = this.wall.root.querySelector(".wall-map-panel") || this.wall.root;
    panel.appendChild(card);
  };

  Commands.prototype.hideCard = function () {
    if (this.card && this.card.parentNode) this.card.parentNode.removeChild(this.card);
    this.card = null;
    if (this.ring) { this.ring.remove(); this.ring = null; }
  };

  onemap.Commands = Commands;

  // The wall assigns itself to onemap.wall in its constructor, before it connects: attach then,
  // so a "following" state in the first hello reply is not missed.
  var current = onemap.wall || null;
  function attach(wall) {
    if (!wall || wall.commands) return;
    if (onemap.Replay && !wall.replay) wall.replay = new onemap.Replay(wall);
    wall.commands = new Commands(wall);
    wall.onCommand = function (cmd) { wall.commands.handle(cmd); };
  }
  Object.defineProperty(onemap, "wall", {
    configurable: true,
    get: function () { return current; },
    set: function (wall) { current = wall; attach(wall); },
  });
  attach(current);
})();
