/* Two maps kept on the same view (a few lines instead of a plugin), used plots with popups. */
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
  function make(id, url, color) {
    var map = L.map(id, {preferCanvas: true});
    map.fitBounds([[50.75, 3.35], [53.55, 7.23]]);
    L.control.scale({imperial: false}).addTo(map);
    fetch(config.regions).then(function (r) { return r.json(); }).then(function (data) {
      L.geoJSON(data, {style: function () { return {color: "#777", weight: 1, fill: false}; }})
        .addTo(map);
    });
    fetch(url).then(function (r) { return r.json(); }).then(function (data) {
      var layer = L.geoJSON(data, {
        style: function () { return {color: color, weight: 1.5, fillOpacity: 0.7}; },
        onEachFeature: function (f, l) { l.bindPopup(function () { return popup(f.properties); }); }
      }).addTo(map);
      if (data.features.length && id === "fp-map-a") { map.fitBounds(layer.getBounds()); }
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
