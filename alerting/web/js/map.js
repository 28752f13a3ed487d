// The district map: grids, buildings and households coloured by their worst open incident.
// With a tile URL configured it draws on tiles; without, on a plain schematic of our geometry.
// Leaflet takes a string as HTML: names typed by users go in as DOM nodes (el), never strings.
import { api } from "./api.js";
import { el } from "./format.js";
import { label, t } from "./i18n.js";
import { onLive } from "./live.js";

const COLOUR = { alarm: "#d62728", supervisory: "#ff7f0e", trouble: "#bcbd22", ok: "#2ca02c" };

export function mount(root, { config }) {
  const box = el("div", { id: "map", class: config.tile_url ? "map" : "map schematic", "data-testid": "map" });
  const legend = el("div", { class: "legend" }, el("strong", {}, t("map.legend"), ": "),
    Object.entries(COLOUR).map(([status, colour]) =>
      el("span", {}, el("i", { style: `background:${colour}` }), label("status", status))));
  root.append(legend, box);
  const L = window.L;
  const map = L.map(box, { zoomSnap: 0.25, attributionControl: Boolean(config.tile_url) });
  if (config.tile_url) {
    L.tileLayer(config.tile_url, { attribution: config.tile_attribution, maxZoom: 19 }).addTo(map);
  }
  const layer = L.layerGroup().addTo(map);
  let fitted = false;

  async function draw() {
    const data = await api("/grids/map");
    layer.clearLayers();
    const bounds = L.latLngBounds([]);
    for (const grid of data.grids) {
      if (grid.geometry) {
        const shape = L.geoJSON(grid.geometry, {
          style: { color: COLOUR[grid.status], weight: 2, fillOpacity: grid.status === "ok" ? 0.05 : 0.2 },
        });
        shape.addTo(layer);
        const box = shape.getBounds();
        bounds.extend(box);
        // The grid's name along its top edge, clear of the buildings inside.
        L.tooltip({ permanent: true, direction: "bottom", className: "grid-label" })
          .setLatLng([box.getNorth(), box.getCenter().lng])
          .setContent(el("span", {}, `${grid.name} (${grid.id})`))
          .addTo(layer);
      }
      for (const b of grid.buildings) {
        if (b.lat === null || b.lon === null) continue;
        const homes = b.households.map((h) => el("li", { class: `status-${h.status}` },
          `${h.unit} ${h.living_alone ? t("alone") : ""} — ${label("status", h.status)}`));
        const marker = L.circleMarker([b.lat, b.lon], {
          radius: 7 + Math.min(b.households.length, 10), color: COLOUR[b.status],
          fillOpacity: 0.7, weight: b.status === "ok" ? 1 : 3,
        }).bindTooltip(el("span", {}, b.name), { direction: "top" }).bindPopup(el("div", {}, el("strong", {}, b.name), el("br"), b.address,
          el("ul", {}, homes)));
        marker.addTo(layer);
        bounds.extend([b.lat, b.lon]);
      }
    }
    if (!fitted && bounds.isValid()) {
      map.fitBounds(bounds.pad(0.1));
      fitted = true;
    } else if (!fitted) {
      map.setView([39.9, 116.4], 13);
    }
  }

  let pending = null;
  const stop = onLive(() => {
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
