/* Flexplan plots: the outline of one proposed plot, or a click-to-draw polygon tool that fills
 * the hidden "geometry" field of the propose form. No text from the data becomes HTML. */
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("fp-config").textContent);
  var mapEl = document.getElementById("fp-map");
  if (!mapEl) { return; }
  var NL = [[50.75, 3.3], [53.6, 7.25]];
  var map = L.map(mapEl, {keyboard: true});
  if (config.tiles) {
    L.tileLayer(config.tiles.url, {
      maxZoom: 19, attribution: config.tiles.attribution.replace(/[<>&"']/g, "")
    }).addTo(map);
  }
  window.flexplan = {map: map};

  if (config.feature) {
    var outline = L.geoJSON(config.feature, {style: {color: "#08519c", weight: 2}}).addTo(map);
    map.fitBounds(outline.getBounds(), {maxZoom: 17, padding: [20, 20]});
    mapEl.setAttribute("data-ready", "true");
    return;
  }

  map.fitBounds(NL);
  var field = document.getElementById("fp-geometry");
  var status = document.getElementById("fp-draw-status");
  var vertices = [];
  var shape = null;

  function redraw() {
    if (shape) { map.removeLayer(shape); shape = null; }
    if (vertices.length === 1) {
      shape = L.circleMarker(vertices[0], {radius: 4}).addTo(map);
    } else if (vertices.length === 2) {
      shape = L.polyline(vertices).addTo(map);
    } else if (vertices.length > 2) {
      shape = L.polygon(vertices, {color: "#d95f02"}).addTo(map);
    }
    if (vertices.length > 2) {
      var ring = vertices.map(function (p) { return [p.lng, p.lat]; });
      ring.push(ring[0]);
      field.value = JSON.stringify({type: "Polygon", coordinates: [ring]});
    } else {
      field.value = "";
    }
    status.textContent = vertices.length ? String(vertices.length) : "";
    mapEl.setAttribute("data-vertices", String(vertices.length));
  }

  map.on("click", function (event) {
    vertices.push(event.latlng);
    redraw();
  });
  document.getElementById("fp-draw-clear").addEventListener("click", function () {
    vertices = [];
    redraw();
  });
  mapEl.setAttribute("data-ready", "true");
}());
