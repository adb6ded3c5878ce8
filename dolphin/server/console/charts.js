// Apache ECharts (vendored, global `echarts`) drawing on canvas. Tooltips are drawn as rich text on the canvas
// too, so a name like "<img onerror=...>" is painted as characters and never parsed as HTML.

const charts = new Map();

function chartOf(node) {
  if (typeof echarts === "undefined") return null; // the page still works, as tables
  let chart = charts.get(node);
  if (!chart) {
    chart = echarts.init(node, null, { renderer: "canvas" });
    charts.set(node, chart);
  }
  return chart;
}

window.addEventListener("resize", () => charts.forEach((chart) => chart.resize()));

const TOOLTIP = { trigger: "item", renderMode: "richText", confine: true };
const GRID = { left: 8, right: 40, top: 28, bottom: 8, containLabel: true };

/** Horizontal bars of TGI per value, with a line at 100 (as likely as in the population). */
export function tgiBars(node, values) {
  const chart = chartOf(node);
  if (!chart) return;
  const rows = [...values].reverse();
  chart.setOption({
    tooltip: TOOLTIP, grid: GRID, animation: false,
    xAxis: { type: "value", name: "TGI" },
    yAxis: { type: "category", data: rows.map((v) => v.value), axisLabel: { width: 160, overflow: "truncate" } },
    series: [{
      type: "bar", data: rows.map((v) => Number(v.tgi.toFixed(1))),
      itemStyle: { color: (p) => (p.value >= 100 ? "#1f6feb" : "#9aa7bd") },
      markLine: { silent: true, symbol: "none", data: [{ xAxis: 100 }], lineStyle: { color: "#c62828" } },
      label: { show: true, position: "right" },
    }],
  }, true);
}

/** Bars of users per funnel stage. */
export function funnelBars(node, stages) {
  const chart = chartOf(node);
  if (!chart) return;
  chart.setOption({
    tooltip: TOOLTIP, grid: GRID, animation: false,
    xAxis: { type: "category", data: stages.map((s) => s.event) },
    yAxis: { type: "value" },
    series: [{ type: "bar", data: stages.map((s) => Number(s.count || 0)), label: { show: true, position: "top" },
      itemStyle: { color: "#1f6feb" } }],
  }, true);
}

/** A heat map of pairwise Jaccard similarity (the diagonal is 1). */
export function overlapHeatmap(node, labels, matrix) {
  const chart = chartOf(node);
  if (!chart) return;
  const data = [];
  matrix.forEach((row, i) => row.forEach((value, j) => data.push([j, i, Number(value.toFixed(3))])));
  chart.setOption({
    tooltip: TOOLTIP, animation: false, grid: { left: 8, right: 8, top: 8, bottom: 60, containLabel: true },
    xAxis: { type: "category", data: labels, axisLabel: { width: 90, overflow: "truncate" } },
    yAxis: { type: "category", data: labels, axisLabel: { width: 90, overflow: "truncate" } },
    visualMap: { min: 0, max: 1, calculable: false, orient: "horizontal", left: "center", bottom: 0,
      inRange: { color: ["#f6f7fa", "#1f6feb"] } },
    series: [{ type: "heatmap", data, label: { show: true } }],
  }, true);
}

/** Lines of daily counts, one per event. */
export function trendLines(node, series) {
  const chart = chartOf(node);
  if (!chart) return;
  const days = series.length ? series[0].days : [];
  chart.setOption({
    tooltip: { ...TOOLTIP, trigger: "axis" }, grid: { ...GRID, top: 36 }, animation: false,
    legend: { data: series.map((s) => s.event), top: 0 },
    xAxis: { type: "category", data: days },
    yAxis: { type: "value" },
    series: series.map((s) => ({ name: s.event, type: "line", data: s.counts.map(Number), smooth: false })),
  }, true);
}
