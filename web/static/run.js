/* Poll a run's state from the API until it ends; all text goes in with textContent. */
(function () {
  "use strict";
  var box = document.getElementById("fp-run");
  if (!box) { return; }
  var labels = JSON.parse(document.getElementById("fp-run-labels").textContent);
  var FINAL = ["done", "failed", "cancelled"];
  function show(run) {
    document.getElementById("fp-progress").value = run.progress || 0;
    document.getElementById("fp-state").textContent = labels[run.state] || run.state;
    var message = run.message === run.state ? "" : run.message || "";  // the state already says it
    document.getElementById("fp-message").textContent = labels[message] || message;
    document.getElementById("fp-error").textContent = run.error || "";
    document.getElementById("fp-done").hidden = run.state !== "done";
    var cancel = document.getElementById("fp-cancel");
    if (cancel && FINAL.indexOf(run.state) >= 0) { cancel.hidden = true; }
  }
  function poll() {
    fetch(box.getAttribute("data-url"), {headers: {Accept: "application/json"}})
      .then(function (r) { return r.json(); })
      .then(function (run) {
        show(run);
        if (FINAL.indexOf(run.state) < 0) { window.setTimeout(poll, 1000); }
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  if (FINAL.indexOf(document.getElementById("fp-state").getAttribute("data-state") || "") < 0) {
    poll();
  }
})();
