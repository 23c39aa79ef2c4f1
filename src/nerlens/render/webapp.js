/* nerlens web app: sends the form to POST api/view and fills the interactive view with the
   result. Error messages are shown as text (textContent), never as markup. */
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("nl-config").textContent);
  var input = document.getElementById("nl-input");
  var method = document.getElementById("nl-method");
  var targets = document.getElementById("nl-targets");
  var steps = document.getElementById("nl-steps");
  var skipO = document.getElementById("nl-skip-o");
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
  root.style.display = "none";

  function say(text, isError) {
    status.textContent = text;
    status.className = isError ? "nl-error" : "";
  }

  function takesSteps() { return config.stepMethods.indexOf(method.value) >= 0; }
  method.addEventListener("change", function () { steps.disabled = !takesSteps(); });

  function explain() {
    var body = {
      text: input.value,
      method: method.value,
      targets: targets.value,
      ignored_labels: skipO.checked ? ["O"] : []
    };
    if (takesSteps()) body.n_steps = steps.value === "auto" ? "auto" : Number(steps.value);
    button.disabled = true;
    say("Explaining\u2026", false);
    fetch("api/view", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().then(function (data) { return { ok: response.ok, data: data }; });
    }).then(function (result) {
      if (!result.ok) throw new Error(result.data.error || "the request failed");
      root.style.display = "";
      window.nerlensView.mount(root, result.data.view);
      say("", false);
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
