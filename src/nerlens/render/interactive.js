/* nerlens interactive view. Builds the DOM from a JSON payload with text nodes only (never
   innerHTML), so no text of an explanation can run as markup. One definition per page:
   window.nerlensView.mount(rootElement, payload) fills one rendering. */
(function () {
  "use strict";
  if (window.nerlensView) return;

  var RED = [178, 24, 43]; // ColorBrewer RdBu ends: colour-blind safe, diverging
  var BLUE = [33, 102, 172];
  var WHITE = [247, 247, 247];
  var TOP = 5;
  var KIND_ORDER = ["token", "entity", "contrast"];
  var KIND_TITLES = { token: "Tokens", entity: "Entities", contrast: "Contrasts" };

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function colour(value) {
    var t = Math.min(1, Math.abs(value));
    var end = value >= 0 ? RED : BLUE;
    var rgb = end.map(function (v, i) { return Math.round(WHITE[i] + (v - WHITE[i]) * t); });
    return "rgb(" + rgb.join(",") + ")";
  }

  function signed(value, digits) {
    var text = Math.abs(value).toFixed(digits);
    return (value < 0 ? "\u2212" : "+") + text;
  }

  function rawText(value) {
    var text = Math.abs(value).toPrecision(3);
    return (value < 0 ? "\u2212" : "+") + text;
  }

  function prepareLevel(level, scale) {
    level.maxRaw = 0;
    level.byToken = new Array(level.tokens.length).fill(-1);
    var rank = function (kind) { return KIND_ORDER.indexOf(kind); };
    level.targets.forEach(function (target, t) {
      target.index = t;
      target.positions = target.kind === "entity"
        ? range(target.start, target.end)
        : [target.position];
      var row = level.scores[t]; // packed: [first index, values...]
      for (var i = 1; i < row.length; i++) {
        var raw = Math.abs(row[i]) * target.norm / scale;
        if (raw > level.maxRaw) level.maxRaw = raw;
      }
      target.positions.forEach(function (p) {
        var current = level.byToken[p];
        if (current < 0 || rank(level.targets[current].kind) > rank(target.kind)) {
          level.byToken[p] = t;
        }
      });
    });
    return level;
  }

  function range(start, end) {
    var out = [];
    for (var i = start; i < end; i++) out.push(i);
    return out;
  }

  function mount(root, data) {
    while (root.firstChild) root.removeChild(root.firstChild);
    var levels = {};
    Object.keys(data.levels).forEach(function (name) {
      levels[name] = prepareLevel(data.levels[name], data.scale);
    });
    var state = { level: data.level || "subword", raw: false, selected: -1, shown: -1 };
    var gold = data.gold || null;
    var spans = [];
    var marked = [];

    // ---------------------------------------------------------------- controls
    var bar = el("div", "nl-bar");
    var pickLabel = el("label", "nl-pick", "Target ");
    var select = el("select", "nl-select");
    select.setAttribute("aria-label", "target to explain");
    pickLabel.appendChild(select);
    bar.appendChild(pickLabel);
    var wordBox = toggle(bar, "words", "Show whole words (scores summed over their subwords)");
    var rawBox = toggle(bar, "raw scores", "Show raw attributions instead of per-target normalised scores");
    wordBox.checked = state.level === "word";
    if (!levels.word) {
      wordBox.disabled = true;
      wordBox.parentNode.title = "This explanation has no word aggregation";
    }
    root.appendChild(bar);

    var legend = el("div", "nl-legend");
    legend.appendChild(el("span", "nl-legend-end", "lowers p(label)"));
    legend.appendChild(el("span", "nl-legend-bar"));
    legend.appendChild(el("span", "nl-legend-end", "raises p(label)"));
    var legendNote = el("span", "nl-legend-note");
    legend.appendChild(legendNote);
    root.appendChild(legend);

    if (data.warning) root.appendChild(el("div", "nl-warning", data.warning));
    if (gold) {
      root.appendChild(el("div", "nl-gold", "Against the gold: " + gold.missed.length +
        " missed (dashed, marked \u201cmissed\u201d), " + gold.spurious.length +
        " spurious (marked \u201cspurious\u201d)"));
    }
    var textBox = el("div", "nl-text");
    root.appendChild(textBox);
    var detail = el("div", "nl-detail");
    detail.setAttribute("aria-live", "polite");
    root.appendChild(detail);
    var foot = el("div", "nl-foot", Object.keys(data.settings).map(function (key) {
      return key + " " + data.settings[key];
    }).join(" \u00b7 "));
    root.appendChild(foot);

    function toggle(parent, text, title) {
      var label = el("label", "nl-toggle");
      label.title = title;
      var box = el("input");
      box.type = "checkbox";
      label.appendChild(box);
      label.appendChild(document.createTextNode(" " + text));
      parent.appendChild(label);
      return box;
    }

    // ---------------------------------------------------------------- sentence
    function buildSentence(level) {
      while (textBox.firstChild) textBox.removeChild(textBox.firstChild);
      spans = new Array(level.tokens.length);
      marked = [];
      var text = data.text;
      var entityAt = {};
      var spurious = {};
      if (gold) gold.spurious.forEach(function (e) { spurious[e] = true; });
      level.entities.forEach(function (e, k) { entityAt[e[0]] = e.concat([!!spurious[k]]); });
      var missedEnd = {};
      var missedAt = {};
      if (gold) {
        gold.missed.forEach(function (g) {
          var last = -1;
          for (var k = 0; k < level.tokens.length; k++) {
            var o = level.offsets[k];
            if (!level.special[k] && o[0] < g[1] && g[0] < o[1]) { missedAt[k] = true; last = k; }
          }
          if (last >= 0) missedEnd[last] = (missedEnd[last] || []).concat([g[2]]);
        });
      }
      var parent = textBox;
      var open = null;
      var cursor = 0;
      function close() {
        if (!open) return;
        var tag = el("span", open[3] ? "nl-tag nl-spurious" : "nl-tag",
          open[3] ? open[2] + " \u00b7 spurious" : open[2]);
        tag.setAttribute("aria-label", (open[3] ? "spurious entity " : "entity ") + open[2]);
        parent.appendChild(tag);
        parent = textBox;
        open = null;
      }
      for (var i = 0; i < level.tokens.length; i++) {
        if (open && i >= open[1]) close();
        var span;
        if (level.special[i]) {
          close();
          span = el("span", "nl-tok nl-special", level.tokens[i]);
        } else {
          var start = level.offsets[i][0];
          var end = level.offsets[i][1];
          if (start > cursor) parent.appendChild(document.createTextNode(text.slice(cursor, start)));
          if (entityAt[i]) {
            close();
            open = entityAt[i];
            parent = el("span", "nl-ent");
            textBox.appendChild(parent);
          }
          var surface = text.slice(Math.max(start, cursor), end) || level.tokens[i];
          span = el("span", "nl-tok", surface);
          cursor = Math.max(cursor, end);
        }
        span.setAttribute("data-token-index", String(i));
        span.tabIndex = 0;
        span.title = level.names[i] + ": " + level.labels[i] + " (p " + level.probs[i].toFixed(2) + ")";
        if (missedAt[i]) span.classList.add("nl-missed");
        parent.appendChild(span);
        spans[i] = span;
        (missedEnd[i] || []).forEach(function (label) {
          var chip = el("span", "nl-tag nl-missed-tag", "missed " + label);
          chip.setAttribute("aria-label", "missed gold entity " + label);
          parent.appendChild(chip);
        });
      }
      close();
      if (cursor < text.length) textBox.appendChild(document.createTextNode(text.slice(cursor)));
    }

    function buildSelect(level) {
      while (select.firstChild) select.removeChild(select.firstChild);
      if (!level.targets.length) {
        select.appendChild(el("option", "", "(no targets explained)"));
        select.disabled = true;
        return;
      }
      select.disabled = false;
      KIND_ORDER.forEach(function (kind) {
        var group = el("optgroup");
        group.label = KIND_TITLES[kind];
        level.targets.forEach(function (target) {
          if (target.kind !== kind) return;
          var option = el("option", "", "#" + target.positions[0] + " " + target.text +
            " (p " + target.p.toFixed(2) + ")" + verdictMark(target));
          option.value = String(target.index);
          group.appendChild(option);
        });
        if (group.childNodes.length) select.appendChild(group);
      });
    }

    function verdictMark(target) {
      if (target.correct === null || target.correct === undefined) return "";
      return target.correct ? " \u2713 right" : " \u2717 wrong";
    }

    // ---------------------------------------------------------------- colouring and detail
    var unpackedRow = { level: null, t: -1, row: null };
    function scoresOf(level, t) {
      if (unpackedRow.level !== level || unpackedRow.t !== t) {
        var packed = level.scores[t];
        var row = new Array(level.tokens.length).fill(0);
        for (var j = 1; j < packed.length; j++) row[packed[0] + j - 1] = packed[j];
        unpackedRow = { level: level, t: t, row: row };
      }
      return unpackedRow.row;
    }

    function value(level, t, i) {
      var s = scoresOf(level, t)[i];
      if (!state.raw) return s / data.scale;
      return level.maxRaw > 0 ? (s * level.targets[t].norm / data.scale) / level.maxRaw : 0;
    }

    function display(level, t, i) {
      var s = scoresOf(level, t)[i];
      return state.raw ? rawText(s * level.targets[t].norm / data.scale) : signed(s / data.scale, 3);
    }

    function paint(t) {
      var level = levels[state.level];
      marked.forEach(function (i) { spans[i].classList.remove("nl-target"); });
      marked = [];
      if (t < 0) return;
      for (var i = 0; i < spans.length; i++) {
        var v = value(level, t, i);
        spans[i].style.backgroundColor = colour(v);
        spans[i].classList.toggle("nl-dark", Math.abs(v) > 0.55);
      }
      level.targets[t].positions.forEach(function (p) {
        spans[p].classList.add("nl-target");
        marked.push(p);
      });
      state.shown = t;
      showDetail(level, t);
    }

    function pushes(level, t, sign) {
      var row = scoresOf(level, t);
      var order = [];
      for (var i = 0; i < row.length; i++) if (sign * row[i] > 0) order.push(i);
      order.sort(function (a, b) { return sign * (row[b] - row[a]) || a - b; });
      return order.slice(0, TOP);
    }

    function list(level, t, sign, title) {
      var box = el("div", "nl-list " + (sign > 0 ? "nl-for" : "nl-against"));
      box.appendChild(el("div", "nl-list-title", title));
      var items = pushes(level, t, sign);
      if (!items.length) box.appendChild(el("div", "nl-none", "none"));
      var ol = el("ol");
      items.forEach(function (i) {
        var li = el("li");
        var name = el("span", "nl-name", level.names[i]);
        name.setAttribute("data-ref-index", String(i));
        li.appendChild(name);
        li.appendChild(el("span", "nl-value", display(level, t, i)));
        ol.appendChild(li);
      });
      box.appendChild(ol);
      return box;
    }

    function showDetail(level, t) {
      while (detail.firstChild) detail.removeChild(detail.firstChild);
      var target = level.targets[t];
      var head = el("div", "nl-head");
      head.appendChild(el("span", "nl-kind", target.kind));
      head.appendChild(el("span", "nl-title", target.text));
      detail.appendChild(head);
      var stats = el("div", "nl-stats");
      var label = target.kind === "contrast" ? target.label + " rather than " + target.foil : target.label;
      stats.appendChild(el("span", "nl-label", label));
      stats.appendChild(el("span", "nl-p", "p = " + target.p.toFixed(3)));
      var known = target.delta !== null;
      var delta = el("span", "nl-delta", "\u0394 = " + (known ? target.delta.toExponential(1) : "n/a"));
      delta.title = known
        ? "convergence delta: how far the scores' sum is from the change in p"
        : "this method has no convergence delta";
      if (known && Math.abs(target.delta) > data.deltaWarning) delta.classList.add("nl-bad");
      stats.appendChild(delta);
      if (target.correct !== null && target.correct !== undefined) {
        stats.appendChild(el("span", target.correct ? "nl-right" : "nl-wrong", verdictMark(target).trim()));
      }
      detail.appendChild(stats);
      var lists = el("div", "nl-lists");
      lists.appendChild(list(level, t, 1, "top tokens for " + target.label));
      lists.appendChild(list(level, t, -1, "top tokens against " + target.label));
      detail.appendChild(lists);
      legendNote.textContent = state.raw
        ? "raw attributions (probability units); intensity relative to the largest in this text"
        : "scores normalised per target (divided by its L2 norm); intensity = |score|";
    }

    function unexplained(level, i) {
      while (detail.firstChild) detail.removeChild(detail.firstChild);
      detail.appendChild(el("div", "nl-none", level.names[i] + " (" + level.labels[i] +
        ", p " + level.probs[i].toFixed(3) + ") was not explained; pick a target above"));
    }

    function choose(t) {
      state.selected = t;
      if (t >= 0) select.value = String(t);
      paint(t);
    }

    function tokenOf(node) {
      while (node && node !== textBox) {
        if (node.getAttribute && node.hasAttribute("data-token-index")) {
          return Number(node.getAttribute("data-token-index"));
        }
        node = node.parentNode;
      }
      return -1;
    }

    function activate(i) {
      if (i < 0) return;
      var level = levels[state.level];
      var t = level.byToken[i];
      if (t < 0) unexplained(level, i); else choose(t);
    }

    textBox.addEventListener("click", function (event) { activate(tokenOf(event.target)); });
    textBox.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        activate(tokenOf(event.target));
      }
    });
    var pending = -1;
    textBox.addEventListener("mouseover", function (event) {
      var i = tokenOf(event.target);
      if (i < 0) return;
      var t = levels[state.level].byToken[i];
      if (t < 0 || t === state.shown) return;
      if (pending < 0) {
        window.requestAnimationFrame(function () { var next = pending; pending = -1; paint(next); });
      }
      pending = t;
    });
    textBox.addEventListener("mouseleave", function () {
      if (state.shown !== state.selected) paint(state.selected);
    });
    select.addEventListener("change", function () { choose(Number(select.value)); });
    rawBox.addEventListener("change", function () {
      state.raw = rawBox.checked;
      paint(state.selected);
    });
    wordBox.addEventListener("change", function () {
      var old = levels[state.level];
      var at = state.selected >= 0 ? old.offsets[old.targets[state.selected].positions[0]] : null;
      state.level = wordBox.checked ? "word" : "subword";
      render(at ? at[0] : null);
    });

    function initial(level, char) {
      if (char !== null) {
        for (var i = 0; i < level.tokens.length; i++) {
          var o = level.offsets[i];
          if (!level.special[i] && o[0] <= char && char < Math.max(o[1], o[0] + 1) && level.byToken[i] >= 0) {
            return level.byToken[i];
          }
        }
      }
      return level.initial;
    }

    function render(char) {
      var level = levels[state.level];
      buildSentence(level);
      buildSelect(level);
      state.shown = -1;
      choose(initial(level, char));
      if (state.selected < 0) {
        while (detail.firstChild) detail.removeChild(detail.firstChild);
        detail.appendChild(el("div", "nl-none", "No targets were explained."));
      }
    }

    render(null);
  }

  window.nerlensView = { mount: mount };
})();
