/* The wall's arrangement for its screen's shape (docs/operations.md, "Wall shapes").
 *
 * The root's data-layout is what the kiosk link asked for (layouts/wall.py: ?layout=standard,
 * wide or auto); with "auto" the window's aspect ratio decides: "wide" (panels left and right
 * of the map) from 3:1 up, so 32:9 and 48:9 spliced walls; "standard" below, so 16:9 single
 * screens, 2x2 and 3x3 grids of them, 16:10 and 21:9. wall.css keys every arrangement on the
 * root's data-shape, which is set before the first paint and again when the window changes.
 */
(function () {
  "use strict";

  var onemap = (window.onemap = window.onemap || {});
  var WIDE_FROM = 3;  // width / height
  var SEAMS = ["2x2", "3x3"];

  onemap.wallShape = function (root, width, height) {
    var asked = root.getAttribute("data-layout");
    if (asked === "standard" || asked === "wide") return asked;
    return width / Math.max(1, height) >= WIDE_FROM ? "wide" : "standard";
  };

  var shaped = null;  // the root last shaped: the page's other mutations cost one lookup

  function apply(resized) {
    var root = document.getElementById("wall-root");
    if (!root || (root === shaped && resized !== true)) return;
    shaped = root;
    var shape = onemap.wallShape(root, window.innerWidth, window.innerHeight);
    if (root.getAttribute("data-shape") !== shape) root.setAttribute("data-shape", shape);
    // a spliced grid of screens (?seams=2x2 or 3x3, from the kiosk link): wall.css keeps every
    // block off the seams between them
    var seams = new URLSearchParams(window.location.search).get("seams");
    if (SEAMS.indexOf(seams) >= 0 && root.getAttribute("data-seams") !== seams) root.setAttribute("data-seams", seams);
  }

  // Mutation callbacks run before the page paints: the wall never shows in the wrong shape.
  new MutationObserver(apply).observe(document.documentElement, { childList: true, subtree: true });
  window.addEventListener("resize", function () { apply(true); });
  document.addEventListener("DOMContentLoaded", apply);
})();
