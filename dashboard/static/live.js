// Live updates for the dashboard: poll the page's JSON endpoint (the
// body's data-live) and write the figures into the elements that name
// them with data-field. Without JavaScript the pages are complete, only
// not live. No inline script: the CSP forbids it.
"use strict";
(function () {
  var url = document.body.getAttribute("data-live");
  var badge = document.getElementById("live");
  if (!url || !window.fetch) { return; }
  var every = 2000;

  function cny(fen) {
    var sign = fen < 0 ? "-" : "";
    fen = Math.abs(fen);
    var yuan = String(Math.floor(fen / 100)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    var f = String(fen % 100);
    return sign + "¥" + yuan + "." + (f.length < 2 ? "0" + f : f);
  }
  function eta(s) {
    if (s === 0) { return "done"; }
    if (s < 0) { return "no payment in the rate window"; }
    var h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60), sec = s % 60;
    return (h ? h + "h" : "") + (h || m ? m + "m" : "") + sec + "s";
  }
  function fill(root, data) {
    root.querySelectorAll("[data-field]").forEach(function (el) {
      var k = el.getAttribute("data-field");
      if (!(k in data)) { return; }
      var v = data[k];
      if (el.hasAttribute("data-fen")) { el.setAttribute("data-fen", v); el.textContent = cny(v); }
      else if (el.hasAttribute("data-eta")) { el.textContent = eta(v); }
      else if (el.hasAttribute("data-bool")) { el.textContent = el.getAttribute("data-bool").split("|")[v ? 0 : 1]; }
      else if (k === "rate_per_minute") { el.textContent = v.toFixed(1); }
      else { el.textContent = v; }
    });
  }
  // phrase is pages.go's phrase: "queued 1, skipped 3", or "none".
  function phrase(m) {
    var parts = Object.keys(m || {}).sort().filter(function (k) { return m[k] !== 0; })
      .map(function (k) { return k + " " + m[k]; });
    return parts.length ? parts.join(", ") : "none";
  }
  // rules fills a rule set's rules table and its awards per hour.
  function rules(data) {
    (data.rules || []).forEach(function (r) {
      var row = document.querySelector('tr[data-rule="' + CSS.escape(r.name) + '"]');
      if (!row) { return; }
      row.querySelectorAll("[data-rule-field]").forEach(function (el) {
        var v = r[el.getAttribute("data-rule-field")];
        if (v === undefined) { return; }
        if (el.hasAttribute("data-fen")) { el.setAttribute("data-fen", v); el.textContent = cny(v); }
        else if (el.hasAttribute("data-counts")) { el.textContent = phrase(v); }
        else { el.textContent = v; }
      });
    });
    var hours = {}, latest = 0;
    (data.awards_per_hour || []).forEach(function (b) {
      var at = Date.parse(b.at);
      hours[at] = b;
      latest = Math.max(latest, at);
    });
    newHours(latest);
    document.querySelectorAll("tr[data-hour]").forEach(function (row) {
      var b = hours[Number(row.getAttribute("data-hour"))] || {count: 0, amount: 0};
      row.querySelector('[data-hour-field="count"]').textContent = b.count;
      var a = row.querySelector('[data-hour-field="amount"]');
      a.setAttribute("data-fen", b.amount); a.textContent = cny(b.amount);
    });
  }
  // newHours adds, above the awards-per-hour table's first row, a row for
  // every hour after it up to latest (an hour an award was made in since
  // the page was rendered), and drops as many from the bottom: the table
  // keeps its 24 hours, the newest first, as pages.go's lastHours.
  function newHours(latest) {
    var body = document.querySelector("#awards-per-hour tbody");
    var first = body && body.querySelector("tr[data-hour]");
    if (!first) { return; }
    var hour = 3600 * 1000, n = body.querySelectorAll("tr[data-hour]").length;
    for (var at = Number(first.getAttribute("data-hour")) + hour; at <= latest; at += hour) {
      var row = document.createElement("tr");
      row.setAttribute("data-hour", at);
      // The hour in China time, as the template's "when" writes it.
      var label = new Date(at + 8 * hour).toISOString().slice(0, 16).replace("T", " ");
      [["td", label], ["count", "0"], ["amount", cny(0)]].forEach(function (c) {
        var td = document.createElement("td");
        td.textContent = c[1];
        if (c[0] !== "td") { td.className = "n"; td.setAttribute("data-hour-field", c[0]); }
        row.appendChild(td);
      });
      body.insertBefore(row, body.firstChild);
    }
    var rows = body.querySelectorAll("tr[data-hour]");
    for (var i = n; i < rows.length; i++) { rows[i].remove(); }
  }
  function chart(name) {
    var old = document.getElementById("rate-chart");
    if (!old) { return Promise.resolve(); }
    return fetch("/c/" + encodeURIComponent(name) + "/chart.svg", {credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (text) {
        var svg = new DOMParser().parseFromString(text, "image/svg+xml").documentElement;
        old.replaceWith(document.importNode(svg, true));
      });
  }
  function tick() {
    fetch(url, {credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (data) {
        if (Array.isArray(data)) {
          data.forEach(function (c) {
            var row = document.querySelector('tr[data-campaign="' + CSS.escape(c.name) + '"]');
            if (row) { fill(row, c); }
          });
        } else {
          fill(document, data);
          rules(data);
          var p = document.getElementById("paid-progress");
          if (p) { p.max = data.amount_total; p.value = data.amount_paid; }
          var pct = document.getElementById("paid-pct");
          if (pct) { pct.textContent = (data.amount_total > 0 ? data.amount_paid * 100 / data.amount_total : 0).toFixed(1); }
          return chart(data.name);
        }
      })
      .then(function () { badge.textContent = "live"; badge.className = "live on"; },
            function () { badge.textContent = "not updating"; badge.className = "live off"; })
      .then(function () { setTimeout(tick, every); });
  }
  tick();
})();
