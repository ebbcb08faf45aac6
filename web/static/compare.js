/* Two maps kept on the same view (a few lines instead of a plugin), used plots with popups.
 * Each map gets data-ready="true" once its layers are drawn ("failed" when a fetch failed). */
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("fp-config").textContent);
  var L_ = config.labels;
  var numFmt = new Intl.NumberFormat(document.documentElement.lang || "nl");
  function fmt(v) { return typeof v === "number" ? numFmt.format(v) : (v === null ? "-" : String(v)); }
  function popup(p) {
    var div = document.createElement("div");
    var head = document.createElement("strong");
    head.textContent = fmt(p.name || p.plot_id);
    div.appendChild(head);
    [[L_.plot, p.plot_id], [L_.homes, p.homes], [L_.support, p.support_homes]].forEach(function (r) {
      var line = document.createElement("div");
      line.textContent = r[0] + ": " + fmt(r[1]);
      div.appendChild(line);
    });
    return div;
  }
  function get(url) {
    return fetch(url, {headers: {Accept: "application/geo+json"}}).then(function (r) {
      if (!r.ok) { throw new Error(url + ": " + r.status); }
      return r.json();
    });
  }
  function make(id, url, color) {
    var el = document.getElementById(id);
    var map = L.map(id, {preferCanvas: true});
    map.fitBounds([[50.75, 3.35], [53.55, 7.23]]);
    L.control.scale({imperial: false}).addTo(map);
    Promise.all([get(config.regions), get(url)]).then(function (data) {
      L.geoJSON(data[0], {style: function () { return {color: "#777", weight: 1, fill: false}; }})
        .addTo(map);
      var layer = L.geoJSON(data[1], {
        style: function () { return {color: color, weight: 1.5, fillOpacity: 0.7}; },
        onEachFeature: function (f, l) {
          l.bindPopup(function () { return popup(f.properties); }, {autoPanPadding: [60, 60]});
        }
      }).addTo(map);
      if (data[1].features.length && id === "fp-map-a") { map.fitBounds(layer.getBounds()); }
      window.requestAnimationFrame(function () { el.setAttribute("data-ready", "true"); });
    }).catch(function (err) {
      var status = document.getElementById("fp-compare-status");
      status.textContent = L_.failed;
      status.classList.remove("fp-sr");
      status.classList.add("fp-error");
      el.setAttribute("data-ready", "failed");
      if (window.console) { window.console.error(err); }
    });
    return map;
  }
  var a = make("fp-map-a", config.a, "#08519c");
  var b = make("fp-map-b", config.b, "#a63603");
  var syncing = false;
  function follow(src, dst) {
    src.on("move", function () {
      if (syncing) { return; }
      syncing = true;
      dst.setView(src.getCenter(), src.getZoom(), {animate: false});
      syncing = false;
    });
  }
  follow(a, b);
  follow(b, a);
})();
