/* The event ticker: a queue drained at a readable pace, so bursts scroll instead of jumping.
 *
 * Items slide in at the top one at a time. When the queue grows, the pace quickens (down to a
 * floor a reader can still follow); beyond that, the oldest ordinary items are folded into a
 * "+N" count rather than shown late. Red incidents (overdue, urgent) are pinned above the list
 * until they close, however busy the feed is, and are then not in the feed below as well (a pin
 * shows the incident's latest step; its closing step goes to the feed). Early warnings (the server's ``warnings`` event,
 * dashboard/analytics) are pinned above those, newest first, for ``warningPinMs`` after they
 * arrive; a change of area or a fresh snapshot keeps them (they are not steps of the area's
 * feed, and nothing else would bring them back).
 */
(function () {
  "use strict";

  var onemap = (window.onemap = window.onemap || {});
  var el = onemap.el;
  var VISIBLE_MAX = 40;
  var QUEUE_MAX = 150;
  var SLOWEST_MS = 1200;
  var FASTEST_MS = 140;
  var PINNED_MAX = 3; // pinned items on show (wall.css hides the rest), 2 beside a warning
  var SLIDE_MS = 450;
  var WARNING_PIN_MS = 10 * 60 * 1000;
  var WARNING_TYPES = {
    spike: "数量突增", cluster: "多渠道聚集", index_drop: "指数转色", worker_offline: "网格员失联",
  };
  var SEVERITY_NAMES = { urgent: "紧急", major: "重大" };

  function Ticker(list, pinned) {
    this.list = list;
    this.pinned = pinned;
    this.queue = [];
    this.folded = 0;
    this.pins = Object.create(null); // incident id -> its pinned item
    this.pinCount = 0;
    this.warnings = Object.create(null); // warning id -> {item, timer}
    this.warningCount = 0;
    this.warningPinMs = WARNING_PIN_MS;
    this.timer = null;
    this.sliding = null;
    this.slideFrom = 0;
    this.foldNote = el("li", "ticker-fold");
    this.body = list.parentNode;
    this.panel = list.closest ? list.closest(".panel") : null;
    if (window.ResizeObserver && this.panel) {
      var fit = this.fitRows.bind(this);
      this.resizes = new ResizeObserver(function () { fit(); });
      [this.panel, pinned, list].forEach(function (node) { this.resizes.observe(node); }, this);
    }
  }

  // Whole rows only: the feed ends at its last item that shows in full, none cut in half at
  // the panel's foot, whatever the pins above take. Run after layout (a ResizeObserver), when
  // the panel, the pins or the list change size; sizes read, one write if it changed.
  Ticker.prototype.fitRows = function () {
    var item = this.list.querySelector(".ticker-item");
    var title = this.panel.querySelector(".panel-title");
    if (!item || !item.offsetHeight) return;
    var room = this.panel.clientHeight - (title ? title.offsetHeight : 0);
    var fold = this.foldNote.parentNode ? this.foldNote.offsetHeight : 0;
    var above = this.pinned.offsetHeight + fold;
    var rows = Math.max(0, Math.floor((room - above) / item.offsetHeight));
    var height = Math.min(room, above + rows * item.offsetHeight) + "px";
    if (this.body.style.maxHeight !== height) this.body.style.maxHeight = height;
  };

  // The incidents go; early warnings stay pinned until their time is up.
  Ticker.prototype.clear = function () {
    this.queue = [];
    this.folded = 0;
    for (var id in this.pins) this.pins[id].remove();
    this.pins = Object.create(null);
    this.pinCount = 0;
    this.list.textContent = "";
    this.countPins();
  };

  // steps arrive oldest first; a snapshot fills the list at once, live steps are queued
  Ticker.prototype.add = function (steps, immediately) {
    for (var i = 0; i < steps.length; i++) {
      var s = steps[i];
      this.updatePin(s);
      if (immediately) this.show(s, false);
      else this.queue.push(s);
    }
    this.fold();
    this.schedule();
  };

  Ticker.prototype.isRed = function (s) {
    return s.overdue || s.severity === "urgent";
  };

  Ticker.prototype.updatePin = function (s) {
    var pin = this.pins[s.id];
    if (s.status === "closed") {
      if (pin) { pin.remove(); delete this.pins[s.id]; this.pinCount -= 1; this.countPins(); }
      return;
    }
    if (!this.isRed(s)) return;
    var item = this.item(s, "pinned-item");
    if (pin) pin.replaceWith(item);
    else {
      this.pinned.insertBefore(item, this.firstIncidentPin());
      this.pinCount += 1;
      this.unlist(s.id);
    }
    this.pins[s.id] = item;
    this.countPins();
  };

  // Incident pins go under the warnings (null: after them all).
  Ticker.prototype.firstIncidentPin = function () {
    return this.pinned.querySelector(".pinned-item:not(.warning-item)");
  };

  Ticker.prototype.countPins = function () {
    var total = this.pinCount + this.warningCount;
    // wall.css may show fewer (--pinned-max: a 3x3 wall's short top panel holds one)
    var most = parseInt(getComputedStyle(this.pinned).getPropertyValue("--pinned-max"), 10) || PINNED_MAX;
    var shown = Math.max(1, this.warningCount ? most - 1 : most); // a warning takes two lines
    var more = total > shown ? String(total - shown) : "";
    if (this.pinned.getAttribute("data-more") !== more) this.pinned.setAttribute("data-more", more);
  };

  // Early warnings (dashboard/analytics/outbox.py payload): each new one pinned at the top.
  Ticker.prototype.warn = function (warnings) {
    var self = this;
    for (var i = 0; i < warnings.length; i++) {
      var w = warnings[i];
      if (!w || !w.id || this.warnings[w.id]) continue; // said once; a repeat changes nothing
      var item = this.warningItem(w);
      this.pinned.insertBefore(item, this.pinned.firstChild);
      this.warnings[w.id] = {
        item: item,
        // pinFor: a snapshot's warning, pinned for what is left of its time (server-counted)
        timer: setTimeout(function (id) { self.unpinWarning(id); },
                          w.pinFor > 0 ? 1000 * w.pinFor : this.warningPinMs, w.id),
      };
      this.warningCount += 1;
    }
    this.countPins();
  };

  Ticker.prototype.unpinWarning = function (id) {
    var pin = this.warnings[id];
    if (!pin) return;
    clearTimeout(pin.timer);
    pin.item.remove();
    delete this.warnings[id];
    this.warningCount -= 1;
    this.countPins();
  };

  function named(names, key) {
    return Object.prototype.hasOwnProperty.call(names, key) ? names[key] : "";
  }

  Ticker.prototype.warningItem = function (w) {
    var severity = named(SEVERITY_NAMES, w.severity) ? w.severity : "normal";
    var kind = named(WARNING_TYPES, w.type);
    var li = el("li", "pinned-item warning-item warning-" + severity);
    li.setAttribute("data-warning", w.id);
    li.setAttribute("data-type", kind ? w.type : "");
    var head = el("div", "warning-head");
    head.appendChild(el("span", "warning-badge", "预警" + (kind ? " · " + kind : "")));
    if (severity !== "normal") head.appendChild(el("span", "warning-severity", SEVERITY_NAMES[severity]));
    // the analytics' titles mostly begin with the place: not said twice
    var place = w.place ? String(w.place) : "";
    if (place && String(w.title || "").indexOf(place) !== 0) head.appendChild(el("span", "warning-place", place));
    head.appendChild(el("span", "warning-time", onemap.clock(w.ts)));
    li.appendChild(head);
    li.appendChild(el("div", "warning-title", w.title));
    return li;
  };

  Ticker.prototype.fold = function () {
    while (this.queue.length > QUEUE_MAX) {
      var dropAt = this.queue.findIndex(function (s) { return !this.isRed(s); }, this);
      if (dropAt < 0) break;
      this.queue.splice(dropAt, 1);
      this.folded += 1;
    }
  };

  Ticker.prototype.schedule = function () {
    if (this.timer || !this.queue.length) return;
    var self = this;
    var pace = Math.max(FASTEST_MS, SLOWEST_MS / (1 + this.queue.length / 4));
    this.timer = setTimeout(function () {
      self.timer = null;
      var next = self.queue.shift();
      if (next) self.show(next, true);
      self.schedule();
    }, pace);
  };

  // An incident now pinned leaves the feed: shown once, in the pins.
  Ticker.prototype.unlist = function (id) {
    var items = this.list.querySelectorAll(".ticker-item");
    for (var i = 0; i < items.length; i++) {
      if (items[i].getAttribute("data-incident") === id) items[i].remove();
    }
  };

  Ticker.prototype.show = function (s, animate) {
    if (this.pins[s.id]) return;  // pinned: its latest step is the pin
    var li = this.item(s, "ticker-item" + (animate ? " entering" : ""));
    this.list.insertBefore(li, this.list.firstChild);
    while (this.list.childNodes.length > VISIBLE_MAX) this.list.removeChild(this.list.lastChild);
    this.showFold();
    if (animate && this.list.animate) this.slide(li);
  };

  // The list slides down by the new item's height and the item fades in: transform and opacity
  // only, which the compositor animates without the main thread (a height transition lays the
  // list out again on every frame). A slide that starts before the last one ended carries on
  // from where that one was.
  Ticker.prototype.slide = function (li) {
    // Items are all one height (two nowrap lines): measured once, since a read of offsetHeight
    // after an insert lays the page out on the spot.
    var from = this.itemHeight || (this.itemHeight = li.offsetHeight);
    if (this.sliding && this.sliding.playState === "running") {
      from += this.slideFrom * (1 - (this.sliding.effect.getComputedTiming().progress || 0));
      this.sliding.cancel();
    }
    this.slideFrom = from;
    this.sliding = this.list.animate(
      [{ transform: "translateY(" + -from + "px)" }, { transform: "translateY(0)" }],
      { duration: SLIDE_MS, easing: "ease-out" });
    li.animate([{ opacity: 0 }, { opacity: 1 }], { duration: SLIDE_MS, easing: "ease-out" });
    setTimeout(function () { li.classList.remove("entering"); }, SLIDE_MS);
  };

  Ticker.prototype.showFold = function () {
    if (!this.folded) return;
    this.foldNote.textContent = "另有 " + this.folded + " 条事件已汇总至统计";
    this.list.insertBefore(this.foldNote, this.list.firstChild);
  };

  Ticker.prototype.item = function (s, cls) {
    var li = el("li", cls + (this.isRed(s) ? " red" : "") +
      (s.severity && s.severity !== "normal" ? " severity-" + s.severity : ""));
    li.setAttribute("data-incident", s.id);
    li.setAttribute("data-sid", s.sid || "");
    var head = el("div", "ticker-head");
    head.appendChild(el("span", "ticker-time", onemap.clock(s.ts)));
    head.appendChild(el("span", "ticker-place", s.place));
    head.appendChild(el("span", "ticker-cat platform-" + s.platform, s.catName));
    head.appendChild(el("span", "ticker-step step-" + s.type, s.step));
    head.appendChild(el("span", "ticker-level", s.overdue ? "超期 · " + s.levelName : s.levelName));
    li.appendChild(head);
    li.appendChild(el("div", "ticker-title", s.title));
    return li;
  };

  onemap.Ticker = Ticker;
})();
