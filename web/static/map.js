/* Flexplan scenario map: layers fetched as GeoJSON, popups and legend built with textContent.
 * No name from the data is ever inserted as HTML (Leaflet's layer control and popups accept
 * HTML strings, so they only get DOM nodes or our own fixed labels). */
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("fp-config").textContent);
  var L_ = config.labels;
  var lang = document.documentElement.lang || "nl";
  var numFmt = new Intl.NumberFormat(lang, {maximumFractionDigits: 2});
  var pctFmt = new Intl.NumberFormat(lang, {style: "percent", maximumFractionDigits: 2});
  var HOMES = ["#c6dbef", "#9ecae1", "#6baed6", "#3182bd", "#08519c"];
  var SHARE = ["#f2f0f7", "#cbc9e2", "#9e9ac8", "#756bb1", "#54278f"];
  var KINDS = ["#1b9e77", "#d95f02", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#7570b3",
    "#666666"];
  var statusEl = document.getElementById("fp-map-status");
  var mapEl = document.getElementById("fp-map");
  var popupOptions = {autoPanPadding: [60, 60]};  // clear of the zoom and layer controls

  function fmt(v) {
    if (v === null || v === undefined || v === "") { return "-"; }
    if (typeof v === "number") { return isFinite(v) ? numFmt.format(v) : "-"; }
    return String(v);
  }
  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined) { node.textContent = text; }
    if (cls) { node.className = cls; }
    return node;
  }
  function box(title, rows) {
    var div = el("div");
    div.appendChild(el("strong", fmt(title)));
    var table = el("table", undefined, "fp-popup");
    rows.forEach(function (row) {
      var tr = table.insertRow();
      var th = el("th", row[0]);
      th.scope = "row";
      tr.appendChild(th);
      var td = tr.insertCell();
      td.textContent = row[1];
      if (row[2]) { td.lang = row[2]; }
    });
    div.appendChild(table);
    return div;
  }
  function ramp(max, colors) {
    var step = Math.max(1, Math.ceil(max / colors.length));
    var n = Math.max(1, Math.min(colors.length, Math.ceil(max / step)));
    var used = colors.slice(colors.length - n);
    return {
      colors: used,
      uppers: used.map(function (_c, i) { return step * (i + 1); }),
      color: function (v) {
        for (var i = 0; i < this.uppers.length; i++) { if (v <= this.uppers[i]) { return used[i]; } }
        return used[used.length - 1];
      }
    };
  }

  function fill(template, values) {  // "{year}" placeholders of the translated labels
    return template.replace(/\{(\w+)\}/g, function (_m, key) { return values[key]; });
  }

  function plotRows(p, used) {
    var rows = [[L_.plot, fmt(p.plot_id)], [L_.name, fmt(p.name)]];
    if (used) { rows.push([L_.homes, fmt(p.homes)], [L_.support, fmt(p.support_homes)]); }
    if (used && years) {
      rows.push([fill(L_.homesIn, {year: years.years[yearIndex]}), fmt(homesThen(p.plot_id))]);
    }
    rows.push([L_.capacity, fmt(p.capacity)], [L_.suitability, fmt(p.suitability)]);
    Object.keys(p).sort().forEach(function (key) {
      var m = /^dist_(.+)_m$/.exec(key);
      if (m) { rows.push([L_.nearest + ": " + m[1], p[key] === null ? "-" : fmt(p[key]) + " m"]); }
    });
    if (!used) { rows.push([L_.reason, fmt(p.reason), "en"]); }  // the planner's own words
    return rows;
  }

  var map = L.map("fp-map", {preferCanvas: true, zoomControl: true, keyboard: true});
  window.flexplan = {map: map};  // for the browser tests and the console; nothing reads it here
  map.fitBounds([[50.75, 3.35], [53.55, 7.23]]);
  L.control.scale({imperial: false}).addTo(map);
  var plain = L.layerGroup();
  var brt = config.tiles ? L.tileLayer(config.tiles.url, {
    maxZoom: 19, attribution: config.tiles.attribution.replace(/[<>&"']/g, "")
  }) : null;
  var bases = {};
  bases[esc(L_.plain)] = plain;
  if (brt) { bases[esc(L_.brt)] = brt; }
  var control = L.control.layers(bases, {}, {collapsed: false}).addTo(map);
  startBasemap();
  var legendDiv = document.getElementById("fp-legend");  // beside the map: never covers it

  function legendBlock(title, items) {
    legendDiv.appendChild(el("h3", title));
    var ul = el("ul");
    items.forEach(function (item) {
      var li = el("li");
      var sw = el("span", undefined, "fp-sw" + (item.cls ? " " + item.cls : ""));
      if (item.color) { sw.style.background = item.color; }
      li.appendChild(sw);
      li.appendChild(document.createTextNode(item.label));
      ul.appendChild(li);
    });
    legendDiv.appendChild(ul);
  }
  // The background: PDOK's BRT when configured; the first tile that fails switches to the plain
  // background once (offline, PDOK down) and says so. data-basemap names the one shown.
  function showBase(layer) {
    var other = layer === plain ? brt : plain;
    if (other) { map.removeLayer(other); }
    layer.addTo(map);
    mapEl.setAttribute("data-basemap", layer === plain ? "plain" : "pdok");
  }
  function startBasemap() {
    if (!brt || config.basemap !== "pdok") {
      showBase(plain);
      return;
    }
    brt.once("tileerror", function () {
      showBase(plain);
      document.getElementById("fp-basemap-note").textContent = L_.noTiles;
    });
    showBase(brt);
  }
  function esc(text) {  // the layer control inserts names with innerHTML
    var span = el("span", text);
    return span.innerHTML;
  }
  // data-layers on the map lists the overlays shown (keys, not labels): tests and tools read it.
  var shown = {};
  function markShown(key, on) {
    shown[key] = on;
    mapEl.setAttribute("data-layers", Object.keys(shown).filter(function (k) {
      return shown[k];
    }).sort().join(" "));
  }
  function overlay(layer, key, label, count, show) {
    control.addOverlay(layer, esc(label + (count === undefined ? "" : " (" + fmt(count) + ")")));
    layer.on("add", function () { markShown(key, true); });
    layer.on("remove", function () { markShown(key, false); });
    if (show) { layer.addTo(map); } else { markShown(key, false); }
  }
  // Once every layer is on the map and painted (Leaflet's canvas draws on the next frame):
  // data-ready="true" and the performance mark the speed benchmark reads.
  function ready(state) {
    window.requestAnimationFrame(function () {
      window.requestAnimationFrame(function () {
        if (state === "true" && window.performance && performance.mark) {
          performance.mark("flexplan:layers-drawn");
        }
        mapEl.setAttribute("data-ready", state);
      });
    });
  }
  function get(url, accept) {
    return fetch(url, {headers: {Accept: accept || "application/geo+json"}}).then(function (r) {
      if (!r.ok) { throw new Error(url + ": " + r.status); }
      return r.json();
    });
  }

  // Services: one overlay per type, filled on first use (a national run has thousands).
  var serviceGroups = {};
  var servicesLoaded = null;
  function loadServices() {
    if (servicesLoaded) { return servicesLoaded; }
    servicesLoaded = get(config.urls.services).then(function (data) {
      data.features.forEach(function (f) {
        var g = serviceGroups[f.properties.type];
        if (!g) { return; }
        var p = f.properties;
        var c = f.geometry.coordinates;
        L.circleMarker([c[1], c[0]], {
          radius: 4, color: "#ffffff", weight: 1, fillColor: g.color, fillOpacity: 0.95
        }).bindPopup(function () {
          var cap = p.capacity === null ? L_.unlimited : fmt(p.capacity);
          return box(p.name || p.service_id, [[L_.service, fmt(p.service_id)],
            [L_.type, fmt(p.type)], [L_.load, fmt(p.load) + " / " + cap]]);
        }, popupOptions).addTo(g.layer);
      });
    });
    return servicesLoaded;
  }
  var serviceItems = [];
  config.serviceTypes.forEach(function (t, i) {
    var color = KINDS[i % KINDS.length];
    var layer = L.featureGroup();
    serviceGroups[t.type] = {layer: layer, color: color};
    layer.on("add", loadServices);
    overlay(layer, "services:" + t.type, L_.services + ": " + t.type, t.count,
      config.showServices);
    serviceItems.push({color: color, cls: "fp-dot", label: t.type + " (" + fmt(t.count) + ")"});
  });

  var usedLayer = null;
  var homesRamp = null;
  // A phased run: the year slider shows the plots standing in that year, coloured by their homes
  // then; the others fade. data-year and data-standing (plot ids) on the map say what is drawn.
  var years = null;  // the API's timeline.json, for a phased run only
  var yearIndex = -1;
  var slider = document.getElementById("fp-year");
  function homesThen(id) {
    var series = years ? years.plots[id] : null;
    return series ? series[yearIndex] || 0 : 0;
  }
  function usedStyle(homes) {
    if (homes > 0) {
      return {color: "#08306b", weight: 1.5, opacity: 1, dashArray: null,
        fillColor: homesRamp.color(homes), fillOpacity: 0.85};
    }
    return {color: "#08306b", weight: 1, opacity: 0.8, dashArray: "2 4", fillColor: "#ffffff",
      fillOpacity: 0.5};  // not standing this year: a pale outline, unlike the grey unused plots
  }
  function yearText(i) {
    var text = fill(L_.standingIn, {standing: fmt(years.standing[i])});
    var target = years.target[i];
    return target === null ? text : text + " (" + fill(L_.targetIn, {target: fmt(target)}) + ")";
  }
  function markNow(selector, year) {
    document.querySelectorAll(selector).forEach(function (node) {
      node.classList.toggle("fp-now", node.getAttribute("data-year") === String(year));
    });
  }
  function showYear(year) {
    yearIndex = years.years.indexOf(year);
    var standing = [];
    usedLayer.eachLayer(function (l) {
      var homes = homesThen(l.feature.properties.plot_id);
      if (homes > 0) { standing.push(String(l.feature.properties.plot_id)); }
      l.setStyle(usedStyle(homes));
    });
    var text = yearText(yearIndex);
    document.getElementById("fp-year-label").textContent = String(year);
    document.getElementById("fp-year-standing").textContent = text;
    slider.setAttribute("aria-valuetext", year + ": " + text);
    markNow(".fp-chart-bar", year);
    markNow(".fp-yeartable tbody tr", year);
    mapEl.setAttribute("data-year", String(year));
    mapEl.setAttribute("data-standing", standing.sort().join(" "));
  }
  function startYears(data) {
    years = data;
    slider.addEventListener("input", function () { showYear(Number(slider.value)); });
    slider.disabled = false;
    showYear(Number(slider.value));
  }
  function addRegions(data) {
    var layer = L.geoJSON(data, {
      style: function () { return {color: "#777777", weight: 1, fill: false}; },
      onEachFeature: function (f, l) {
        var p = f.properties;
        l.bindTooltip(function () {
          return box(p.name || p.region_id, [[L_.region, fmt(p.region_id)],
            [L_.flexHomes, fmt(p.homes)], [L_.min, fmt(p.min_homes)], [L_.cap, fmt(p.max_homes)]]);
        }, {sticky: true});
      }
    });
    overlay(layer, "regions", L_.regions, data.features.length, true);
  }
  function addBuurten(data) {
    var max = 0;
    data.features.forEach(function (f) { max = Math.max(max, f.properties.share || 0); });
    var uppers = SHARE.map(function (_c, i) { return max * (i + 1) / SHARE.length; });
    function color(v) {
      for (var i = 0; i < uppers.length; i++) { if (v <= uppers[i]) { return SHARE[i]; } }
      return SHARE[SHARE.length - 1];
    }
    var layer = L.geoJSON(data, {
      style: function (f) {
        return {color: "#54278f", weight: 0.8, fillColor: color(f.properties.share || 0),
          fillOpacity: 0.45};
      },
      onEachFeature: function (f, l) {
        var p = f.properties;
        l.bindTooltip(function () {
          return box(p.name || p.buurt_id, [[L_.buurt, fmt(p.buurt_id)],
            [L_.dwellings, fmt(p.dwellings)], [L_.flexHomes, fmt(p.homes)], [L_.cap, fmt(p.cap)],
            [L_.share, p.share === null ? "-" : pctFmt.format(p.share)]]);
        }, {sticky: true});
      }
    });
    overlay(layer, "buurten", L_.buurten, data.features.length, true);
    return data.features.length ? SHARE.map(function (c, i) {
      var lo = i ? uppers[i - 1] : 0;
      return {color: c, label: pctFmt.format(lo) + " – " + pctFmt.format(uppers[i])};
    }) : [];
  }
  function addPlots(data, used) {
    if (used) {
      var max = 0;
      data.features.forEach(function (f) { max = Math.max(max, f.properties.homes || 0); });
      homesRamp = ramp(max, HOMES);
    }
    var layer = L.geoJSON(data, {
      style: function (f) {
        if (!used) {
          return {color: "#636363", weight: 1, dashArray: "4 3", fillColor: "#bdbdbd",
            fillOpacity: 0.35};
        }
        return usedStyle(f.properties.homes || 0);
      },
      onEachFeature: function (f, l) {
        l.bindPopup(function () {
          return box(f.properties.name || f.properties.plot_id, plotRows(f.properties, used));
        }, popupOptions);
      }
    });
    overlay(layer, used ? "used" : "unused", used ? L_.usedPlots : L_.unusedPlots,
      data.features.length, true);
    if (used) { usedLayer = layer; }
  }

  statusEl.textContent = L_.loading;
  Promise.all([
    get(config.urls.regions), get(config.urls.buurten), get(config.urls.unused),
    get(config.urls.allocation),
    config.urls.timeline ? get(config.urls.timeline, "application/json") : null
  ]).then(function (data) {
    addRegions(data[0]);
    var shareItems = addBuurten(data[1]);
    addPlots(data[2], false);
    addPlots(data[3], true);
    if (data[4]) { startYears(data[4]); }
    if (data[3].features.length) {
      var faded = years ? [{cls: "fp-faded", label: L_.notStanding}] : [];
      legendBlock(L_.homesLegend, homesRamp.colors.map(function (c, i) {
        var lo = i ? homesRamp.uppers[i - 1] + 1 : 1;
        return {color: c, label: fmt(lo) + "–" + fmt(homesRamp.uppers[i])};
      }).concat(faded, [{cls: "fp-unused", label: L_.unusedPlots}]));
      map.fitBounds(usedLayer.getBounds(), {padding: [10, 10]});
    }
    if (serviceItems.length) { legendBlock(L_.services, serviceItems); }
    if (shareItems.length) { legendBlock(L_.shareLegend, shareItems); }
    statusEl.textContent = L_.loaded;
    ready("true");
  }).catch(function (err) {
    statusEl.textContent = L_.failed;
    statusEl.classList.remove("fp-sr");
    statusEl.classList.add("fp-error");
    if (window.console) { window.console.error(err); }
    ready("failed");
  });

  // The table's "show" buttons: zoom to the plot and open its popup (keyboard route to popups).
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button.fp-zoom") : null;
    if (!button || !usedLayer) { return; }
    var layers = usedLayer.getLayers();
    var target = layers[Number(button.getAttribute("data-plot"))];
    if (!target) { return; }
    map.fitBounds(target.getBounds(), {maxZoom: 16});
    target.openPopup();
    mapEl.focus();
  });
})();
