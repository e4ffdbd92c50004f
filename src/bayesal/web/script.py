"""The labelling pages' one script (served as ``/static/keys.js``; no inline code, the
Content-Security-Policy forbids it).

What it does:

* **Keys.** A key shown on a button presses it (``data-keys``, several separated by
  spaces); keys are ignored while a text field has focus, with a modifier, on repeat,
  and while an action is on its way (a double press never labels the next item).
* **The fast path** (``/label`` with an item, the default): a label, skip or undo is
  sent to the JSON API (``POST /api/label``, ``/api/skip``, ``/api/undo`` with
  ``"prefetch": true``) and the answer's next item is drawn in the page, without
  loading a new one. The answer also names the item most likely to come after it
  (``after``), whose image is loaded ahead, so the next keypress finds it in the cache.
  Progress is refreshed from ``GET /api/status`` in the background.
* **The form path.** Without JavaScript, or after ``?mode=form`` (kept for the tab in
  ``sessionStorage``; ``?mode=fast`` goes back), every action is the plain HTML form
  (Post/Redirect/Get), as the server renders it.
* **Timings.** From the key (the event's time stamp) to the next item drawn with its
  image decoded (the next animation frame): a ``bayesal-next`` Performance API measure
  on the fast path, and, on both paths, ``{mode, ms, item}`` appended to
  ``sessionStorage["bayesalTimings"]`` (the form path measures across the page load,
  from ``performance.timeOrigin``). ``document.body.dataset.item`` and ``.ready`` say
  which item is drawn and that it is ready for the next key.
"""

from __future__ import annotations

__all__ = ["MASK_ALPHA", "MASK_PALETTE", "MASK_SCRIPT", "SCRIPT"]

#: The colour of mask class ``c`` on a segmentation page: ``MASK_PALETTE[c % 12]`` (RGB),
#: drawn over the image with opacity ``MASK_ALPHA / 255``.
MASK_PALETTE = (
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
    (255, 221, 0),
    (0, 0, 0),
)
MASK_ALPHA = 110

SCRIPT = r"""
(function () {
  "use strict";
  var body = document.body;
  var main = document.getElementById("label-main");
  var busy = false;
  var keyAt = null;
  var store = null;
  try { store = window.sessionStorage; } catch (e) { store = null; }
  var params = new URLSearchParams(window.location.search);
  if (store) {
    if (params.get("mode") === "form") { store.setItem("bayesalMode", "form"); }
    if (params.get("mode") === "fast") { store.removeItem("bayesalMode"); }
  }
  var fast = Boolean(main) && Boolean(window.fetch) && main.dataset.task === "classification" &&
    !(store && store.getItem("bayesalMode") === "form");
  var state = { item: null, after: null, images: {} };

  function epoch(stamp) { return performance.timeOrigin + stamp; }

  function record(mode, ms, item) {
    if (!store) { return; }
    var list = [];
    try { list = JSON.parse(store.getItem("bayesalTimings") || "[]"); } catch (e) { list = []; }
    list.push({ mode: mode, ms: Math.round(ms * 1000) / 1000, item: item });
    if (list.length > 5000) { list = list.slice(-5000); }
    store.setItem("bayesalTimings", JSON.stringify(list));
  }

  // ------------------------------------------------------------------ drawing an item
  function el(id) { return document.getElementById(id); }
  function setText(id, text) { var node = el(id); if (node) { node.textContent = text; } }
  function pct(v) { return v === null || v === undefined ? "\u2013" : Math.round(100 * v) + "%"; }
  function num(v) { return v === null || v === undefined ? "\u2013" : Number(v).toFixed(3); }

  function loadImage(url) {
    if (!url) { return Promise.resolve(null); }
    if (!state.images[url]) {
      state.images[url] = new Promise(function (resolve) {
        var img = new Image();
        img.onload = function () {
          var ok = function () { resolve(img); };
          if (img.decode) { img.decode().then(ok, ok); } else { ok(); }
        };
        img.onerror = function () { delete state.images[url]; resolve(null); };
        img.src = url;
      });
    }
    return state.images[url];
  }

  function drawText(item) {
    var meta = ["item " + item.item_id];
    if (item.rank !== null && item.from_queue) {
      meta.push("rank " + (item.rank + 1) + " in the queue");
    } else if (!item.from_queue) { meta.push("outside the ranked queue"); }
    if (item.label !== null) { meta.push("labelled now: " + item.label); }
    setText("item-meta", meta.join(" \u00b7 "));
    setText("item-ref", item.ref || "");
    setText("item-text", item.text || "");
    document.title = document.title.replace(/item [-0-9]*$/, "item " + item.item_id);
    var inputs = document.querySelectorAll("input[name=item_id]");
    for (var i = 0; i < inputs.length; i++) { inputs[i].value = String(item.item_id); }
    var expect = document.querySelectorAll("input[name=expect]");
    for (var j = 0; j < expect.length; j++) { expect[j].value = "0"; }
    var tbody = el("item-fields");
    if (tbody) {
      while (tbody.firstChild) { tbody.removeChild(tbody.firstChild); }
      var fields = item.fields || {};
      Object.keys(fields).forEach(function (name) {
        var tr = document.createElement("tr");
        var th = document.createElement("th");
        th.scope = "row"; th.textContent = name;
        var td = document.createElement("td");
        var value = fields[name] === null ? "" : String(fields[name]);
        if (value.length > 80) { td.className = "long"; }
        td.textContent = value;
        tr.appendChild(th); tr.appendChild(td); tbody.appendChild(tr);
      });
    }
    var p = item.prediction;
    var guess = el("guess"), none = el("guess-none"), accept = el("accept");
    if (guess) { guess.hidden = !p; }
    if (none) { none.hidden = Boolean(p); }
    var predicted = p ? p.label : null;
    if (p) {
      setText("predicted", p.label);
      setText("guess-prob", pct(p.probability));
      setText("guess-unc", num(p.uncertainty));
      setText("guess-round", "round " + p.round);
    }
    var buttons = document.querySelectorAll("button.cls");
    for (var k = 0; k < buttons.length; k++) {
      var mine = buttons[k].getAttribute("title") === predicted;
      buttons[k].classList.toggle("guessed", mine);
      if (mine && accept) { accept.value = buttons[k].value; }
      buttons[k].classList.remove("pressed");
    }
    if (accept) {
      accept.hidden = !p;
      accept.disabled = !p;
      accept.classList.remove("pressed");
      setText("accept-name", predicted || "");
    }
    var pressed = document.querySelectorAll("button.pressed");
    for (var m = 0; m < pressed.length; m++) { pressed[m].classList.remove("pressed"); }
    var unsure = el("unsure"), comment = el("comment");
    if (unsure) { unsure.checked = false; }
    if (comment) { comment.value = ""; }
  }

  // Load the next item's image ahead; body.dataset.after names it once loaded.
  function prefetch() {
    var after = state.after;
    if (!after) { return; }
    loadImage(after.image_url).then(function () {
      if (state.after === after) { body.dataset.after = String(after.item_id); }
    });
  }

  function show(item, t0) {
    state.item = item;
    return loadImage(item.image_url).then(function (loaded) {
      var img = el("item-image");
      if (img && item.image_url) {
        img.src = item.image_url;
        img.alt = "item " + item.item_id;
        var figure = img.parentNode;
        if (loaded && figure && figure.classList) {
          figure.classList.toggle("small", loaded.naturalWidth <= 96 && loaded.naturalHeight <= 96);
        }
      }
      drawText(item);
      return img && img.decode ? img.decode().catch(function () { return null; }) : null;
    }).then(function () {
      return new Promise(function (resolve) {
        window.requestAnimationFrame(function () {
          body.dataset.item = String(item.item_id);
          body.dataset.ready = "1";
          body.classList.remove("busy");
          busy = false;
          if (t0 !== null) {
            var at = performance.now();
            try {
              performance.measure("bayesal-next", { start: t0, end: at });
            } catch (e) { /* an older browser: the sessionStorage record below is kept */ }
            record("fast", at - t0, item.item_id);
          }
          prefetch();
          resolve();
        });
      });
    });
  }

  // ------------------------------------------------------------------ messages, progress
  function flash(text, kind) {
    var node = el("flash");
    if (!node) {
      node = document.createElement("p");
      node.id = "flash";
      var col = document.querySelector("main .col");
      if (col) { col.insertBefore(node, col.firstChild); } else { return; }
    }
    node.className = "flash " + (kind || "info");
    node.textContent = text;
  }

  var statusTimer = null;
  function refreshStatus() {
    if (statusTimer !== null) { return; }
    statusTimer = window.setTimeout(function () {
      statusTimer = null;
      window.fetch("/api/status", { credentials: "same-origin" }).then(function (r) {
        return r.ok ? r.json() : null;
      }).then(function (s) {
        if (!s) { return; }
        setText("num-labelled", String(s.num_labelled));
        var you = el("you");
        if (you) { setText("you", String((s.per_annotator || {})[you.dataset.annotator] || 0)); }
        var wide = el("progress-all");
        if (wide) { wide.value = s.num_labelled; }
        var counts = s.per_class || {};
        var top = 1;
        Object.keys(counts).forEach(function (k) { top = Math.max(top, counts[k]); });
        var rows = document.querySelectorAll("ul.bars li");
        for (var i = 0; i < rows.length; i++) {
          var name = rows[i].dataset.name;
          var bar = rows[i].querySelector("progress");
          var n = counts[name] || 0;
          if (bar) { bar.max = top; bar.value = n; }
          var count = rows[i].querySelector(".count");
          if (count) { count.textContent = String(n); }
        }
        if (s.estimated_accuracy !== null) { setText("accuracy", pct(s.estimated_accuracy)); }
        if (s.round !== null) { setText("round", "round " + s.round); }
        setText("since", String(s.labels_since_round));
        var agreement = s.agreement;
        if (agreement && agreement.kappa !== null && agreement.kappa !== undefined) {
          setText("agreement", Number(agreement.kappa).toFixed(2));
        }
      }).catch(function () { /* progress only: the next refresh tries again */ });
    }, 800);
  }

  // ------------------------------------------------------------------ actions
  function send(path, payload, t0, kind) {
    busy = true;
    body.dataset.ready = "0";
    delete body.dataset.after;
    body.classList.add("busy");
    payload.prefetch = true;
    return window.fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", "accept": "application/json" },
      body: JSON.stringify(payload)
    }).then(function (r) {
      var failed = function () { return { error: "HTTP " + r.status }; };
      return r.json().catch(failed).then(function (j) { return { status: r.status, json: j }; });
    }).then(function (answer) {
      var j = answer.json;
      if (answer.status !== 200) {
        flash(j.error || ("HTTP " + answer.status), "bad");
        if (answer.status === 409 || answer.status === 404) { return next(t0); }
        return done();
      }
      var item = null;
      if (kind === "next-only") {
        item = j.item;
      } else if (kind === "label") {
        flash("Saved item " + j.item_id + " as " + j.label + ".", "good");
        item = j.next;
      } else if (kind === "skip") {
        flash("Skipped item " + j.skipped + ".", "info");
        item = j.next;
      } else {
        if (j.undone === null) {
          flash("Nothing to undo: you have no label left to take back.", "info");
          return done();
        }
        flash("Took back your label of item " + j.undone.item_id + ".", "info");
        item = j.item;
      }
      state.after = j.after || null;
      refreshStatus();
      if (!item) { window.location.assign("/label"); return null; }
      return show(item, t0);
    }).catch(function (err) {
      flash("Could not reach the server (" + err + "): this action may not be recorded. " +
        "Reload the page to see where things stand.", "bad");
      return done();
    });
  }

  function done() {
    busy = false;
    body.dataset.ready = "1";
    body.classList.remove("busy");
    var pressed = document.querySelectorAll("button.pressed");
    for (var m = 0; m < pressed.length; m++) { pressed[m].classList.remove("pressed"); }
    return null;
  }

  function next(t0) {
    return send("/api/next", {}, t0, "next-only");
  }

  function onSubmit(event) {
    var form = event.target;
    var t0 = keyAt !== null ? keyAt : event.timeStamp;
    keyAt = null;
    if (!fast || !form.dataset || !form.dataset.action) {
      busy = true;
      body.classList.add("busy");
      if (store && main) { store.setItem("bayesalKeyAt", String(epoch(t0))); }
      return;
    }
    event.preventDefault();
    var action = form.dataset.action;
    var field = form.querySelector("input[name=item_id]");
    var item = state.item ? state.item.item_id : Number(field ? field.value : NaN);
    if (action === "label") {
      var button = event.submitter;
      if (!button || button.value === "") { done(); return; }
      var payload = { item_id: item, label: Number(button.value) };
      var unsure = el("unsure"), comment = el("comment");
      if (unsure && unsure.checked) { payload.unsure = true; }
      if (comment && comment.value.trim() !== "") { payload.comment = comment.value; }
      send("/api/label", payload, t0, "label");
    } else if (action === "skip") {
      send("/api/skip", { item_id: item }, t0, "skip");
    } else if (action === "undo") {
      send("/api/undo", {}, t0, "undo");
    }
  }

  function press(button, stamp) {
    if (busy || button.disabled || button.hidden) { return; }
    keyAt = stamp;
    button.classList.add("pressed");
    if (button.form.requestSubmit) { button.form.requestSubmit(button); }
    else { button.click(); }
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) { return; }
    var target = event.target;
    var typing = target && target.tagName === "INPUT" &&
      target.type !== "checkbox" && target.type !== "radio";
    if (target && (typing || target.tagName === "TEXTAREA" ||
        target.tagName === "SELECT" || target.isContentEditable)) { return; }
    var key = String(event.key).toLowerCase();
    var buttons = document.querySelectorAll("button[data-keys], input[data-keys]");
    for (var i = 0; i < buttons.length; i++) {
      if (buttons[i].getAttribute("data-keys").split(" ").indexOf(key) >= 0) {
        if (buttons[i].hidden || buttons[i].disabled) { continue; }
        event.preventDefault();
        if (busy) { return; }
        if (buttons[i].tagName === "INPUT") {  // a multi-label checkbox: the key toggles it
          buttons[i].checked = !buttons[i].checked;
          return;
        }
        press(buttons[i], event.timeStamp);
        return;
      }
    }
  });
  document.addEventListener("submit", onSubmit);
  window.addEventListener("pageshow", function () {
    busy = false;
    body.classList.remove("busy");
  });

  function ready() {
    var shown = main ? main.dataset.item : null;
    if (shown) { body.dataset.item = shown; }
    window.requestAnimationFrame(function () {
      if (store && main) {
        var at = store.getItem("bayesalKeyAt");
        if (at !== null) {
          store.removeItem("bayesalKeyAt");
          record("form", epoch(performance.now()) - Number(at), Number(shown));
        }
      }
      body.dataset.ready = "1";
    });
    if (fast) {
      body.dataset.mode = "fast";
      // The item on the page is ours (leased); ask again for it as JSON, with the
      // item after it, whose image is then loaded ahead.
      window.fetch("/api/next", {
        method: "POST", credentials: "same-origin",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ prefetch: true })
      }).then(function (r) { return r.ok ? r.json() : null; }).then(function (j) {
        if (!j || !j.item) { return; }
        state.item = j.item;
        state.after = j.after || null;
        if (String(j.item.item_id) !== shown) { return show(j.item, null); }
        prefetch();
        return null;
      }).catch(function () { fast = false; });
    } else {
      body.dataset.mode = main ? "form" : "page";
      // A regression guess filled in: selected, so typing replaces it and Enter keeps it.
      var filled = document.getElementById("value");
      if (filled && filled.value) { filled.focus(); filled.select(); }
    }
  }
  if (document.readyState === "complete") { ready(); }
  else { window.addEventListener("load", ready); }
})();
"""


#: The mask painter of a segmentation item (served as ``/static/mask.js``; the page's
#: ``#seg`` element carries the item, the mask size and the model's guess as base64).
#: The image is drawn on a canvas, the mask over it in a colour per class
#: (semi-transparent); a class key (the legend's keys) or a click on the legend chooses
#: the class, the mouse paints a square brush (``[`` / ``]`` size, ``O`` hides the
#: overlay), Enter posts the mask shown (the guess unless painted over) as
#: ``{"item_id", "mask": {"height", "width", "data": base64}}`` to ``POST /api/mask``
#: and loads the next item; a refusal is shown in ``#seg-error``, nothing changes.
#: ``document.body.dataset.maskReady`` is ``"1"`` once the image and mask are drawn.
MASK_SCRIPT = r"""
(function () {
  "use strict";
  var root = document.getElementById("seg");
  if (!root) { return; }
  var H = Number(root.dataset.height), W = Number(root.dataset.width);
  var item = Number(root.dataset.item);
  if (!(H > 0 && W > 0)) { return; }
  var PALETTE = __PALETTE__;
  var ALPHA = __ALPHA__;
  var mask = new Uint8Array(H * W);
  if (root.dataset.guess) {
    try {
      var raw = window.atob(root.dataset.guess);
      if (raw.length === H * W) {
        for (var i = 0; i < raw.length; i++) { mask[i] = raw.charCodeAt(i); }
      }
    } catch (e) { /* no guess: the first class everywhere */ }
  }
  var canvas = document.getElementById("seg-canvas");
  var img = document.getElementById("item-image");
  var ctx = canvas.getContext("2d");
  var layer = document.createElement("canvas");
  layer.width = W; layer.height = H;
  var lctx = layer.getContext("2d");
  var scale = Math.max(1, Math.floor(Math.min(480 / W, 480 / H)));
  canvas.width = W * scale; canvas.height = H * scale;
  var buttons = root.querySelectorAll("button.seg-class");
  var current = 0, brush = 1, overlay = true, painting = false, busy = false;

  function colour(c) { return PALETTE[c % PALETTE.length]; }

  function choose(c) {
    if (c < 0 || c >= buttons.length) { return; }
    current = c;
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].classList.toggle("active", i === c);
    }
    var name = document.getElementById("seg-class-name");
    if (name) { name.textContent = buttons[c].title; }
  }

  function draw() {
    var data = lctx.createImageData(W, H);
    for (var p = 0; p < H * W; p++) {
      var rgb = colour(mask[p]);
      data.data[4 * p] = rgb[0]; data.data[4 * p + 1] = rgb[1];
      data.data[4 * p + 2] = rgb[2]; data.data[4 * p + 3] = overlay ? ALPHA : 0;
    }
    lctx.putImageData(data, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
    ctx.drawImage(layer, 0, 0, canvas.width, canvas.height);
  }

  function paintAt(event) {
    var rect = canvas.getBoundingClientRect();
    var x = Math.floor((event.clientX - rect.left) / rect.width * W);
    var y = Math.floor((event.clientY - rect.top) / rect.height * H);
    var r = brush - 1;
    for (var dy = -r; dy <= r; dy++) {
      for (var dx = -r; dx <= r; dx++) {
        var px = x + dx, py = y + dy;
        if (px >= 0 && px < W && py >= 0 && py < H) { mask[py * W + px] = current; }
      }
    }
    draw();
  }

  function setBrush(size) {
    brush = Math.max(1, Math.min(64, size));
    var shown = document.getElementById("seg-brush");
    if (shown) { shown.textContent = String(2 * brush - 1); }
  }

  function fail(message) {
    var box = document.getElementById("seg-error");
    box.textContent = message;
    box.hidden = false;
    busy = false;
    document.body.classList.remove("busy");
  }

  function save() {
    if (busy) { return; }
    busy = true;
    document.body.classList.add("busy");
    var bytes = "";
    for (var p = 0; p < mask.length; p += 8192) {
      bytes += String.fromCharCode.apply(null, mask.subarray(p, p + 8192));
    }
    var body = { item_id: item, mask: { height: H, width: W, data: window.btoa(bytes) } };
    window.fetch("/api/mask", {
      method: "POST", credentials: "same-origin",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().then(function (j) { return { ok: r.ok, json: j }; });
    }).then(function (answer) {
      if (!answer.ok) { return fail("Not saved: " + (answer.json.error || "refused")); }
      window.location.assign("/label");
      return null;
    }).catch(function (e) { fail("Not saved: " + e); });
  }

  for (var b = 0; b < buttons.length; b++) {
    buttons[b].addEventListener("click", (function (c) {
      return function () { choose(c); };
    })(b));
    var swatch = buttons[b].querySelector(".swatch");
    var rgb = colour(b);
    if (swatch) { swatch.style.backgroundColor = "rgb(" + rgb.join(",") + ")"; }
  }
  canvas.addEventListener("pointerdown", function (event) {
    painting = true;
    if (canvas.setPointerCapture) { canvas.setPointerCapture(event.pointerId); }
    paintAt(event);
  });
  canvas.addEventListener("pointermove", function (event) { if (painting) { paintAt(event); } });
  canvas.addEventListener("pointerup", function () { painting = false; });
  canvas.addEventListener("pointercancel", function () { painting = false; });
  document.getElementById("seg-save").addEventListener("click", save);

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) { return; }
    var target = event.target;
    if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA")) { return; }
    var key = String(event.key).toLowerCase();
    if (key === "enter") { event.preventDefault(); save(); return; }
    if (key === "[") { setBrush(brush - 1); return; }
    if (key === "]") { setBrush(brush + 1); return; }
    for (var i = 0; i < buttons.length; i++) {
      if (buttons[i].dataset.key && buttons[i].dataset.key === key) {
        event.preventDefault();
        choose(i);
        return;
      }
    }
    // After the class keys: a session of 25 or more classes has a class on "o".
    if (key === "o") { overlay = !overlay; draw(); }
  });

  function start() {
    img.hidden = true;
    canvas.hidden = false;
    document.getElementById("seg-tools").hidden = false;
    choose(0);
    setBrush(1);
    draw();
    document.body.dataset.maskReady = "1";
  }
  if (img.complete && img.naturalWidth) { start(); }
  else { img.addEventListener("load", start); }
})();
"""
MASK_SCRIPT = MASK_SCRIPT.replace(
    "__PALETTE__", "[" + ", ".join(f"[{r}, {g}, {b}]" for r, g, b in MASK_PALETTE) + "]"
).replace("__ALPHA__", str(MASK_ALPHA))
