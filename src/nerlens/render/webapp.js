/* nerlens web app: sends the form to POST api/view and fills the interactive view with the
   result. Error messages are shown as text (textContent), never as markup. The menus start at the
   library's defaults, which the server sends in the page's config (config.defaults). A zero-shot
   model (GLiNER) gets its labels and threshold from the form (config.modelOptions); the skipping
   of O tokens and the fallback to every token exist only where the model has token targets. */
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("nl-config").textContent);
  var input = document.getElementById("nl-input");
  var method = document.getElementById("nl-method");
  var targets = document.getElementById("nl-targets");
  var steps = document.getElementById("nl-steps");
  var skipO = document.getElementById("nl-skip-o");  // absent: no token targets
  var labelsInput = document.getElementById("nl-labels");  // absent: fixed labels
  var threshold = document.getElementById("nl-threshold");
  var goldInput = document.getElementById("nl-gold");
  var button = document.getElementById("nl-explain");
  var status = document.getElementById("nl-status");
  var root = document.querySelector("#nl-result .nerlens");

  function option(select, value, text) {
    var node = document.createElement("option");
    node.value = String(value);
    node.textContent = String(text);
    select.appendChild(node);
  }
  document.querySelector(".nl-model").textContent = config.model;
  input.maxLength = config.maxChars;
  config.methods.forEach(function (name) { option(method, name, name); });
  option(steps, "auto", "auto (adaptive)");
  config.steps.forEach(function (n) { option(steps, n, n); });
  method.value = config.defaults.method;
  steps.value = String(config.defaults.n_steps);
  if (labelsInput) {
    labelsInput.value = (config.labels || []).join(", ");
    labelsInput.maxLength = config.maxLabels * (config.maxLabelChars + 2);
  }
  if (threshold && config.defaults.threshold !== undefined) {
    threshold.value = String(config.defaults.threshold);
  }
  var hasTokens = (config.selectors || ["tokens"]).indexOf("tokens") >= 0;
  root.style.display = "none";

  function say(text, isError) {
    status.textContent = text;
    status.className = isError ? "nl-error" : "";
  }

  function takesSteps() { return config.stepMethods.indexOf(method.value) >= 0; }
  method.addEventListener("change", function () { steps.disabled = !takesSteps(); });
  steps.disabled = !takesSteps();

  /* "11:16:LOC, 20:35:PER" -> [{start, end, label}]; null when the field is empty. */
  function goldSpans() {
    var text = goldInput.value.trim();
    if (!text) return null;
    return text.split(/[\s,;]+/).map(function (item) {
      var match = /^(\d+):(\d+):(\S+)$/.exec(item);
      if (!match) throw new Error("gold entity " + JSON.stringify(item) +
        " is not START:END:TYPE, e.g. 11:16:LOC");
      return { start: Number(match[1]), end: Number(match[2]), label: match[3] };
    });
  }

  /* "person, location," -> ["person", "location"]: the entity types to look for. */
  function labels() {
    var given = labelsInput.value.split(",").map(function (label) { return label.trim(); })
      .filter(function (label) { return label.length > 0; });
    if (!given.length) {
      throw new Error("give the entity types to look for, e.g. person, location, organization");
    }
    return given;
  }

  function post(body) {
    return fetch("api/view", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().then(function (data) { return { ok: response.ok, data: data }; });
    }).then(function (result) {
      if (!result.ok) throw new Error(result.data.error || "the request failed");
      return result.data;
    });
  }

  function explain() {
    var body;
    try {
      body = { text: input.value, method: method.value, targets: targets.value };
      if (skipO) body.ignored_labels = skipO.checked ? ["O"] : [];
      if (labelsInput) body.labels = labels();
      if (threshold && threshold.value !== "") body.threshold = Number(threshold.value);
      var gold = goldSpans();
      if (gold) body.gold = gold;
    } catch (error) {
      say("Error: " + error.message, true);
      return;
    }
    if (takesSteps()) body.n_steps = steps.value === "auto" ? "auto" : Number(steps.value);
    button.disabled = true;
    say("Explaining\u2026", false);
    var note = "";
    post(body).then(function (data) {
      // No entity predicted: explain every token instead (where there are token targets), and
      // say so.
      if (body.targets === "entities" && !data.explanation.entities.length) {
        if (!hasTokens) {
          note = "The model predicts no entity of these labels in this text" +
            (threshold ? " at this threshold." : ".");
          return data;
        }
        body.targets = "tokens";
        note = "The model predicts no entity in this text: every token is explained.";
        return post(body);
      }
      return data;
    }).then(function (data) {
      root.style.display = "";
      window.nerlensView.mount(root, data.view);
      say(note, false);
    }).catch(function (error) {
      say("Error: " + error.message, true);
    }).then(function () {
      button.disabled = false;
    });
  }

  button.addEventListener("click", explain);
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) explain();
  });
})();
