// The inbox follows case changes live (server-sent events). EventSource reconnects by
// itself and sends the last event id, from which the server resumes.
(function () {
  "use strict";
  var table = document.getElementById("cases");
  if (!table || !window.EventSource) { return; }
  var body = table.tBodies[0];
  var live = document.getElementById("live");
  var empty = document.getElementById("empty");
  var want = table.dataset;
  var RANK = { critical: 0, high: 1, medium: 2, low: 3, none: 4 };

  function matches(c) {
    return (!want.status || c.status === want.status) &&
      (!want.severity || c.severity === want.severity) &&
      (!want.platform || c.platform === want.platform) &&
      (!want.label || c.labels.indexOf(want.label) >= 0);
  }

  function cell(tr, text) {
    var td = document.createElement("td");
    td.textContent = text;
    tr.appendChild(td);
    return td;
  }

  function row(c) {
    var tr = document.createElement("tr");
    tr.dataset.id = c.id;
    tr.dataset.rank = String(RANK[c.severity] === undefined ? 9 : RANK[c.severity]);
    tr.dataset.opened = c.opened_at;
    tr.className = "sev-" + c.severity;
    var first = cell(tr, "");
    var link = document.createElement("a");
    link.href = "/console/cases/" + encodeURIComponent(c.id);
    link.textContent = c.severity;
    first.appendChild(link);
    cell(tr, c.status);
    cell(tr, c.route);
    cell(tr, c.labels.join(", "));
    cell(tr, c.platform || "");
    cell(tr, c.opened_at.slice(0, 16).replace("T", " "));
    cell(tr, c.assignee || "");
    return tr;
  }

  function before(a, b) {
    var ra = Number(a.dataset.rank), rb = Number(b.dataset.rank);
    return ra !== rb ? ra < rb : a.dataset.opened < b.dataset.opened;
  }

  function place(tr) {
    var rows = body.rows;
    for (var i = 0; i < rows.length; i++) {
      if (before(tr, rows[i])) { body.insertBefore(tr, rows[i]); return; }
    }
    body.appendChild(tr);
  }

  function apply(c) {
    var old = body.querySelector('tr[data-id="' + CSS.escape(c.id) + '"]');
    if (old) { old.remove(); }
    // A search is answered by the server only: live changes update the rows it found.
    if (matches(c) && (!want.searching || old)) { place(row(c)); }
    empty.hidden = body.rows.length > 0;
  }

  var source = new EventSource("/console/events?since=" + encodeURIComponent(want.cursor));
  source.addEventListener("open", function () {
    live.className = "live on"; live.textContent = live.dataset.on;
  });
  source.addEventListener("error", function () {
    live.className = "live off"; live.textContent = live.dataset.off;
  });
  source.addEventListener("case", function (event) { apply(JSON.parse(event.data)); });
})();
