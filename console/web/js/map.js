// The district map: the registry's buildings (footprints, or pins where none is recorded) with
// their names and homes, on the district's base map or, with none configured, on the
// registry's own streets and grids. A building with an alarm is red, and pulses until someone
// acknowledges it; clicking one lists its households and open incidents.
// Base maps by configuration (docs/console.md): any XYZ/WMTS template, Tianditu (WGS-84) or
// AMap (GCJ-02); on a GCJ-02 layer every registry position (WGS-84) is converted first.
// Registry strings are only ever set as text (DOM nodes), never as HTML.
import { api } from "./api.js";
import { colon, el } from "./format.js";
import { wgs84ToGcj02 } from "./gcj02.js";
import { label, t } from "./i18n.js";
import { onLive } from "./live.js";

const COLOUR = { alarm: "#d62728", supervisory: "#ff7f0e", trouble: "#bcbd22", ok: "#2ca02c" };

function projector(config) {
  return config.tile_url && config.tile_crs === "gcj02" ? (lat, lon) => wgs84ToGcj02(lat, lon) : (lat, lon) => [lat, lon];
}

// GeoJSON [lon, lat] rings -> Leaflet [lat, lon], projected.
function ring(coords, project) {
  return coords.map(([lon, lat]) => project(lat, lon));
}

export function mount(root, { config, me }) {
  const L = window.L;
  const project = projector(config);
  const box = el("div", { id: "map", class: config.tile_url ? "map" : "map schematic", "data-testid": "map",
    dataset: { crs: config.tile_url ? config.tile_crs : "none" } });
  const side = el("aside", { class: "map-side", hidden: true, "data-testid": "building-panel" });
  const legend = el("div", { class: "legend" }, el("strong", {}, t("map.legend"), colon()),
    Object.entries(COLOUR).map(([status, colour]) =>
      el("span", {}, el("i", { style: `background:${colour}` }), label("status", status))));
  root.append(legend, el("div", { class: "map-wrap" }, box, side));
  const map = L.map(box, { zoomSnap: 0.25, attributionControl: Boolean(config.tile_url) });
  if (config.tile_url) {
    const options = { attribution: config.tile_attribution, maxZoom: 19 };
    if (config.tile_subdomains) options.subdomains = config.tile_subdomains;
    L.tileLayer(config.tile_url, options).addTo(map);
    if (config.tile_overlay_url) L.tileLayer(config.tile_overlay_url, options).addTo(map);
  }
  const streetsLayer = L.layerGroup().addTo(map);
  const layer = L.layerGroup().addTo(map);
  const byBuilding = new Map();
  box.vigil = { map, buildings: byBuilding, project };
  let fitted = false;
  let chosen = null;
  let data = null;

  function showBuilding(b) {
    chosen = b.id;
    side.hidden = false;
    side.replaceChildren(
      el("button", { type: "button", class: "close", onclick: () => { side.hidden = true; chosen = null; } }, "×"),
      el("h3", {}, b.name),
      el("p", {}, b.address, b.floors ? ` · ${b.floors}${t("map.floors")}` : ""),
      el("h4", {}, t("map.open")),
      (() => {
        const open = b.households.flatMap((h) => h.incidents.map((i) => ({ h, i })));
        return open.length ? el("ul", { "data-testid": "building-incidents" }, open.map(({ h, i }) =>
          el("li", { class: `status-${i.signal}` }, el("a", { href: `#/incident/${i.id}` },
            `${h.unit} · ${label("cause", i.cause)} #${i.id} · ${label("state", i.state)}`))))
          : el("p", { class: "empty" }, t("map.no_open"));
      })(),
      el("h4", {}, `${t("registry.households")}（${b.households.length}）`),
      el("table", { class: "small", "data-testid": "building-households" }, el("tbody", {}, b.households.map((h) =>
        el("tr", { class: `status-${h.status}` }, el("td", {}, h.unit), el("td", {}, h.living_alone ? t("alone") : ""),
          el("td", {}, label("status", h.status)), el("td", {}, el("code", {}, h.id)))))),
    );
  }

  function drawStreets(sites) {
    streetsLayer.clearLayers();
    if (config.tile_url) return; // the base map has the streets
    for (const site of sites) {
      for (const f of site.streets?.features ?? []) {
        if (f.geometry?.type !== "LineString") continue;
        const points = ring(f.geometry.coordinates, project);
        L.polyline(points, { color: "#cbd5e1", weight: 9, opacity: 1, interactive: false }).addTo(streetsLayer);
        L.polyline(points, { color: "#fff", weight: 5, interactive: false }).addTo(streetsLayer);
        if (f.properties?.name) {
          const [a, b] = [points[0], points[points.length - 1]];
          const mid = [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2];
          L.tooltip({ permanent: true, direction: "center", className: "street-label", interactive: false })
            .setLatLng(mid).setContent(el("span", {}, f.properties.name)).addTo(streetsLayer);
        }
      }
    }
  }

  async function draw() {
    data = await api("/district/map");
    layer.clearLayers();
    byBuilding.clear();
    drawStreets(data.sites);
    const bounds = L.latLngBounds([]);
    for (const grid of data.grids) {
      if (grid.geometry?.type !== "Polygon") continue;
      const shape = L.polygon(ring(grid.geometry.coordinates[0], project), {
        color: COLOUR[grid.status], weight: 1.5, dashArray: "6 4", fillOpacity: grid.status === "ok" ? 0.03 : 0.12, interactive: false,
      }).addTo(layer);
      bounds.extend(shape.getBounds());
      L.tooltip({ permanent: true, direction: "bottom", className: "grid-label" })
        .setLatLng([shape.getBounds().getNorth(), shape.getBounds().getCenter().lng])
        .setContent(el("span", {}, grid.name)).addTo(layer);
    }
    for (const b of data.buildings) {
      if (b.lat === null || b.lon === null) continue;
      const style = {
        color: COLOUR[b.status], fillColor: COLOUR[b.status], weight: b.status === "ok" ? 1.5 : 3,
        fillOpacity: 0.6, className: b.unacknowledged ? "pulse" : "",
      };
      const shape = b.footprint?.type === "Polygon"
        ? L.polygon(ring(b.footprint.coordinates[0], project), style)
        : L.circleMarker(project(b.lat, b.lon), { ...style, radius: 9 });
      shape.addTo(layer);
      shape.bindTooltip(el("span", {}, b.name, " · ", `${b.households.length}${t("map.units")}`),
        { permanent: true, direction: "top", className: "building-label", offset: [0, -4] });
      shape.on("click", () => showBuilding(b));
      shape.getElement?.()?.setAttribute("data-building-id", b.id);
      byBuilding.set(b.id, { shape, at: project(b.lat, b.lon) });
      bounds.extend(project(b.lat, b.lon));
    }
    if (!fitted && bounds.isValid()) {
      map.fitBounds(bounds.pad(0.05));
      fitted = true;
    } else if (!fitted) {
      map.setView([30.27, 120.12], 14);
    }
    if (chosen) {
      const again = data.buildings.find((b) => b.id === chosen);
      if (again) showBuilding(again);
    }
  }

  let pending = null;
  const stop = onLive((change) => {
    if (change.kind !== "incident" && change.kind !== "snapshot") return;
    clearTimeout(pending);
    pending = setTimeout(() => draw().catch(() => {}), 300);
  });
  draw().catch((error) => root.append(el("p", { class: "error" }, error.message)));
  return () => {
    stop();
    clearTimeout(pending);
    map.remove();
  };
}
