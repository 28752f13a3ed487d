// A household's learned routine: 7 x 24 activity heat-map with the sleep window, usual
// absences and the hours the PIRs miss the resident, and the last 48 h of activity with the
// silences that raised a wellness check.
import { api } from "./api.js";
import { el } from "./format.js";
import { language } from "./i18n.js";

const WORDS = {
  zh: {
    title: "作息规律", learning: "仍在学习（安装不足 7 天），检查较宽松", heat: "近 28 天各时段活动（颜色越深越活跃）",
    sleep: "睡眠时段", absences: "习惯性外出", recent: "最近 48 小时活动（每格 15 分钟）", checks: "关怀检查",
    weekday: "工作日", weekend: "周末", bed: "通常入睡", wake: "通常起床", latest: "近 28 天最晚起床",
    leaves: "出门", back: "最晚回家", times: "次数", none: "暂无", days: ["一", "二", "三", "四", "五", "六", "日"],
    blind: "传感器看不到住户的时段（白天上限按开关类住户）", cap: "白天上限", hours: "小时",
  },
  en: {
    title: "Routine", learning: "Still learning (installed under 7 days ago): checks are conservative",
    heat: "Activity by hour, last 28 days (darker is busier)", sleep: "Sleep window", absences: "Usual absences",
    recent: "Last 48 h of activity (15-minute steps)", checks: "Wellness checks", weekday: "Weekdays",
    weekend: "Weekends", bed: "Usually asleep by", wake: "Usually up by", latest: "Latest up in 28 days",
    leaves: "Leaves", back: "Back by", times: "Times", none: "None", days: ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
    blind: "Hours the sensors miss the resident (the switches' daytime ceiling holds)", cap: "daytime ceiling", hours: "h",
  },
};

function w(key) {
  return (WORDS[language()] ?? WORDS.zh)[key];
}

function heatmap(activity) {
  const head = el("tr", {}, el("th", {}), [...Array(24).keys()].map((h) => el("th", {}, String(h))));
  const rows = activity.map((day, d) => el("tr", {}, el("th", {}, w("days")[d]),
    day.map((v, h) => el("td", { class: "heat", title: `${w("days")[d]} ${h}:00 · ${Math.round(v * 100)}%`,
      style: `background: rgba(35, 94, 168, ${Math.max(0.04, v).toFixed(2)})`, "data-testid": "heat-cell" }))));
  return el("table", { class: "heatmap", "data-testid": "routine-heatmap" }, el("thead", {}, head), el("tbody", {}, rows));
}

function recentBars(recent) {
  const peak = Math.max(1, ...recent.counts);
  const step = recent.step_s;
  const silent = (i) => recent.checks.some((c) => c.from !== null && recent.start + i * step >= c.from && recent.start + i * step < c.at + step);
  return el("div", { class: "recent", "data-testid": "routine-recent" }, recent.counts.map((n, i) =>
    el("span", { class: silent(i) ? "bar silent" : "bar", style: `height: ${Math.round((n / peak) * 100)}%`,
      title: new Date((recent.start + i * step) * 1000).toLocaleString(document.documentElement.lang, { hour12: false }) })));
}

export function mount(root, { id }) {
  root.append(el("a", { href: "#/board", class: "back" }, "←"));
  api(`/households/${encodeURIComponent(id)}/routine`).then((r) => {
    const sleep = r.sleep.map((s) => el("li", {}, `${w(s.day_type)}: ${w("bed")} ${s.usual_bed ?? "—"} · ${w("wake")} ${s.usual_wake ?? "—"} · ${w("latest")} ${s.latest_wake ?? "—"}`));
    const absences = r.absences.length
      ? el("table", { class: "small" }, el("tbody", {}, r.absences.map((a) => el("tr", {},
        el("td", {}, w(a.day_type)), el("td", {}, `${w("leaves")} ${a.leaves}`), el("td", {}, `${w("back")} ${a.latest_return}`), el("td", {}, `${w("times")} ${a.times}`)))))
      : el("p", {}, w("none"));
    const blind = r.blind?.length
      ? [el("h3", {}, w("blind")), el("ul", { "data-testid": "routine-blind" }, r.blind.map((b) => el("li", {},
        `${w(b.day_type)} ${b.from}–${b.to} · ${w("cap")} ${(r.blind_cap_s / 3600).toFixed(1)} ${w("hours")}`)))]
      : [];
    const checks = r.recent.checks.length
      ? el("ul", {}, r.recent.checks.map((c) => el("li", { class: "silent" }, c.reason)))
      : el("p", {}, w("none"));
    root.append(
      el("h2", {}, `${w("title")} · ${id}`),
      r.learning ? el("p", { class: "note" }, w("learning")) : null,
      el("h3", {}, w("heat")), heatmap(r.activity),
      el("h3", {}, w("sleep")), el("ul", {}, sleep),
      el("h3", {}, w("absences")), absences,
      ...blind,
      el("h3", {}, w("recent")), recentBars(r.recent),
      el("h3", {}, w("checks")), checks,
    );
  }).catch((error) => root.append(el("p", { class: "error" }, error.message)));
  return () => {};
}
