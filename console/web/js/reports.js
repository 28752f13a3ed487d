// Reports: response times per grid or department, false-alarm rates, alarms per week; CSV too.
import { api } from "./api.js";
import { el } from "./format.js";
import { label, language, t } from "./i18n.js";

const SIGNAL_COLOUR = { alarm: "#d62728", supervisory: "#ff7f0e", trouble: "#bcbd22" };

function chartBox(title, csvHref) {
  const canvas = el("canvas");
  const link = el("a", { href: csvHref, download: "", class: "csv" }, t("reports.csv"));
  return { canvas, link, node: el("section", { class: "card" }, el("h3", {}, title, " ", link), el("div", { class: "chart" }, canvas)) };
}

export function mount(root) {
  const days = el("select", {}, [7, 30, 90, 365].map((d) => el("option", { value: d, selected: d === 30 }, d)));
  const by = el("select", {}, el("option", { value: "grid" }, t("reports.by_grid")),
    el("option", { value: "department" }, t("reports.by_department")));
  const controls = el("div", { class: "controls" },
    el("label", {}, `${t("reports.days")} `, days), " ", el("label", {}, `${t("reports.by")} `, by));
  const response = chartBox(t("reports.response"), "#");
  const falseRate = chartBox(t("reports.false"), "#");
  const weekly = chartBox(t("reports.weekly"), `/api/reports/weekly.csv?weeks=12&lang=${language()}`);
  root.append(controls, el("div", { class: "reports" }, response.node, falseRate.node, weekly.node));
  let charts = [];

  async function load() {
    const q = `days=${days.value}`;
    response.link.href = `/api/reports/response-times.csv?${q}&by=${by.value}&lang=${language()}`;
    falseRate.link.href = `/api/reports/false-alarms.csv?${q}&lang=${language()}`;
    const [times, rates, weeks] = await Promise.all([
      api(`/reports/response-times?${q}&by=${by.value}`),
      api(`/reports/false-alarms?${q}`),
      api("/reports/weekly?weeks=12"),
    ]);
    for (const chart of charts) chart.destroy();
    const Chart = window.Chart;
    const keys = (rows) => rows.map((r) => r.key ?? "—");
    charts = [
      new Chart(response.canvas, {
        type: "bar",
        data: { labels: keys(times), datasets: [
          { label: t("reports.ack"), data: times.map((r) => r.ack_p50_s), backgroundColor: "#1f77b4" },
          { label: t("reports.arrive"), data: times.map((r) => r.arrive_p50_s), backgroundColor: "#ff7f0e" },
          { label: t("reports.close"), data: times.map((r) => r.close_p50_s), backgroundColor: "#2ca02c" },
        ] },
        options: { animation: false, maintainAspectRatio: false },
      }),
      new Chart(falseRate.canvas, {
        type: "bar",
        data: { labels: keys(rates), datasets: [{ label: t("reports.false"),
          data: rates.map((r) => (r.rate === null ? 0 : r.rate * 100)), backgroundColor: "#9467bd" }] },
        options: { animation: false, maintainAspectRatio: false, scales: { y: { min: 0, max: 100, title: { display: true, text: "%" } } } },
      }),
      new Chart(weekly.canvas, {
        type: "bar",
        data: {
          labels: [...new Set(weeks.map((w) => w.week))],
          datasets: Object.keys(SIGNAL_COLOUR).map((signal) => ({
            label: label("signal", signal), backgroundColor: SIGNAL_COLOUR[signal],
            data: weeks.filter((w) => w.signal === signal).map((w) => w.incidents),
          })),
        },
        options: { animation: false, maintainAspectRatio: false, scales: { x: { stacked: true }, y: { stacked: true } } },
      }),
    ];
  }

  days.addEventListener("change", () => load());
  by.addEventListener("change", () => load());
  load().catch((error) => root.append(el("p", { class: "error" },
    error.status === 403 ? t("reports.forbidden") : error.message)));
  return () => { for (const chart of charts) chart.destroy(); };
}
