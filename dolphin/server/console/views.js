// The console's views: profile, overlap, saved audiences, ad effect, lookalike and CSV export.
// Each reads its inputs, calls the HTTP API, and renders tables (text nodes) beside charts.

import { call, stream } from "./api.js";
import { tgiBars, funnelBars, overlapHeatmap, trendLines } from "./charts.js";
import { byId, count, el, fill, number, percent, table } from "./dom.js";
import { t } from "./i18n.js";

// -- profile --------------------------------------------------------------------------------------------------

/** Run Profile and render one chart and one table per dimension into out. */
export async function showProfile(out, expression, dimensions, topK) {
  const result = await call("AudienceService", "Profile", { expression, dimensions, topK });
  const blocks = result.dimensions.map((dim, i) => {
    const values = [...dim.values].sort((a, b) => b.tgi - a.tgi);
    const chart = el("div", { class: "chart" });
    chart.style.height = `${60 + 26 * values.length}px`; // CSSOM, which the policy allows (unlike style="")
    const rows = values.map((v) => [
      { text: v.value, class: "value" }, count(v.count, v.suppressed), percent(v.share),
      percent(v.populationShare), { text: number(v.tgi, 1), class: v.tgi >= 120 ? "high" : v.tgi <= 80 ? "low" : "",
        raw: String(v.tgi) },
    ]);
    const block = el("div", { class: "profile-dim", "data-dimension": dim.dimension },
      el("div", {}, el("h3", {}, dim.dimension, " ", el("span", { class: "muted" },
        `(${Number(dim.valueCount)} ${t("values")})`)), chart),
      table([[t("value")], [t("count"), "num"], [t("share"), "num"], [t("populationShare"), "num"], [t("tgi"), "num"]],
        rows, { id: `${out.id}-table-${i}`, "data-dimension": dim.dimension }));
    return { block, chart, values };
  });
  fill(out, el("p", { class: "muted" }, `${t("audience")}: `, count(result.audienceCount, result.audienceSuppressed).text,
    ` / ${Number(result.populationCount).toLocaleString("en-US")}`), blocks.map((b) => b.block));
  blocks.forEach((b) => tgiBars(b.chart, b.values));
  return result;
}

// -- overlap --------------------------------------------------------------------------------------------------

export function overlapInputs(n = 6) {
  const box = byId("overlap-inputs");
  fill(box, Array.from({ length: n }, (_, i) => el("input", {
    id: `overlap-expr-${i}`, spellcheck: false, placeholder: `${t("audience")} ${String.fromCharCode(65 + i)}`,
  })));
}

export async function showOverlap() {
  const expressions = [...byId("overlap-inputs").querySelectorAll("input")]
    .map((input) => input.value.trim()).filter(Boolean);
  if (expressions.length < 2) throw new Error(t("needTwo"));
  const result = await call("AudienceService", "Overlap", { expressions });
  const sizes = result.counts.map(Number);
  const labels = expressions.map((_, i) => String.fromCharCode(65 + i));
  const matrix = sizes.map((_, i) => sizes.map((__, j) => (i === j ? 1 : 0)));
  const rows = (result.intersections || []).map((pair) => {
    const a = pair.first || 0;
    const b = pair.second || 0;
    const both = Number(pair.count || 0);
    const union = sizes[a] + sizes[b] - both;
    const jaccard = union ? both / union : 0;
    matrix[a][b] = jaccard;
    matrix[b][a] = jaccard;
    return [`${labels[a]} ∩ ${labels[b]}`, count(pair.count, pair.suppressed), { text: number(jaccard, 3),
      raw: String(jaccard) }];
  });
  const legend = expressions.map((expression, i) => [labels[i], { text: expression, class: "value" },
    count(result.counts[i], (result.suppressed || [])[i])]);
  fill(byId("overlap-out"),
    table([[t("audience")], [t("expression")], [t("count"), "num"]], legend, { id: "overlap-sizes" }),
    table([[t("pair")], [t("intersection"), "num"], [t("jaccard"), "num"]], rows, { id: "overlap-table" }));
  overlapHeatmap(byId("overlap-chart"), labels, matrix);
  return result;
}

// -- saved audiences ------------------------------------------------------------------------------------------

/** List saved audiences; use(name) puts @name in the builder, removed() is told after a delete. */
export async function showSaved(use, removed) {
  const audiences = [];
  let pageToken = "";
  do {
    const page = await call("AudienceService", "ListAudiences", { pageSize: 500, pageToken });
    audiences.push(...(page.audiences || []));
    pageToken = page.nextPageToken;
  } while (pageToken);
  const rows = audiences.map((a) => [
    { text: a.name, class: "value" }, { text: a.expression, class: "value" }, count(a.count, a.belowReportable),
    a.createdAt ? a.createdAt.replace("T", " ").slice(0, 19) : "",
    el("span", {}, el("button", { type: "button", class: "link", "data-use": a.name, on: { click: () => use(a.name) } },
      t("use")), el("button", { type: "button", class: "link", "data-delete": a.name, on: { click: async () => {
      await call("AudienceService", "DeleteAudience", { name: a.name });
      removed(a.name);
    } } }, t("delete"))),
  ]);
  fill(byId("saved-out"), rows.length
    ? table([[t("name")], [t("expression")], [t("count"), "num"], [t("created")], [t("actions")]], rows,
      { id: "saved-table" })
    : el("p", { class: "muted" }, t("noSaved")));
  return audiences;
}

// -- ad effect ------------------------------------------------------------------------------------------------

const FUNNEL_ORDER = ["impression", "view", "visit", "click", "add_to_cart", "cart", "checkout", "conversion",
  "purchase", "order"];

/** Return a campaign's events in likely funnel order (known stage names first). */
export function funnelOrder(events) {
  const rank = (name) => {
    const i = FUNNEL_ORDER.indexOf(name.toLowerCase());
    return i < 0 ? FUNNEL_ORDER.length : i;
  };
  return [...events].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

function adRequest() {
  return {
    campaign: byId("campaign").value, startDate: byId("date-from").value, endDate: byId("date-to").value,
    audienceExpression: byId("ad-audience").value.trim(),
  };
}

export async function showFunnel() {
  const stages = byId("stages").value.split(",").map((s) => s.trim()).filter(Boolean);
  const breakdownDimension = byId("breakdown").value;
  const result = await call("AdEffectService", "Funnel", { ...adRequest(), stages, breakdownDimension, topK: 10 });
  const rows = result.stages.map((s) => [s.event, count(s.count, s.suppressed), percent(s.rateFromPrevious),
    percent(s.rateFromFirst)]);
  fill(byId("funnel-out"), table([[t("stage")], [t("count"), "num"], [t("fromPrevious"), "num"],
    [t("fromFirst"), "num"]], rows, { id: "funnel-table" }));
  funnelBars(byId("funnel-chart"), result.stages);
  const segments = result.segments || [];
  if (segments.length) {
    const segmentRows = segments.map((seg) => {
      const counts = seg.counts.map(Number);
      const last = counts.length ? counts[counts.length - 1] : 0;
      return [{ text: seg.value, class: "value" },
        ...seg.counts.map((c, i) => count(c, (seg.suppressed || [])[i])),
        percent(counts[0] ? last / counts[0] : 0)];
    });
    fill(byId("breakdown-out"), el("h3", {}, `${t("breakdown")} ${breakdownDimension}`),
      table([[t("segment")], ...result.stages.map((s) => [s.event, "num"]), [t("fromFirst"), "num"]],
        segmentRows, { id: "breakdown-table" }));
  } else {
    fill(byId("breakdown-out"));
  }
  return result;
}

export async function showLift() {
  const result = await call("AdEffectService", "Lift", { ...adRequest(),
    exposureEvent: byId("lift-exposure").value, outcomeEvent: byId("lift-outcome").value });
  const low = result.absoluteLiftCiLow || 0;
  const high = result.absoluteLiftCiHigh || 0;
  const rows = [
    [t("exposed"), count(result.exposed, result.suppressed), percent(result.exposedRate, 2)],
    [t("unexposed"), count(result.unexposed, result.suppressed), percent(result.unexposedRate, 2)],
  ];
  const sign = (v) => (v > 0 ? "+" : "");
  fill(byId("lift-out"),
    table([[""], [t("count"), "num"], [t("rate"), "num"]], rows, { id: "lift-groups" }),
    table([[t("absoluteLift")], [t("ci95")], [t("relativeLift")], [t("zScore")], [t("pValue")]], [[
      { text: `${sign(result.absoluteLift)}${percent(result.absoluteLift, 2)}`, raw: String(result.absoluteLift || 0) },
      { text: `[${percent(low, 2)}, ${percent(high, 2)}]`, raw: `${low},${high}` },
      `${sign(result.relativeLift)}${percent(result.relativeLift, 1)}`,
      number(result.z, 2), Number(result.pValue || 0).toExponential(2),
    ]], { id: "lift-table" }));
  return result;
}

export async function showTrend() {
  const events = byId("stages").value.split(",").map((s) => s.trim()).filter(Boolean);
  const result = await call("AdEffectService", "Trend", { ...adRequest(), events });
  const series = result.series || [];
  const days = series.length ? series[0].days : [];
  const rows = days.map((day, i) => [day, ...series.map((s) => count(s.counts[i], (s.suppressed || [])[i]))]);
  fill(byId("trend-out"), table([[t("day")], ...series.map((s) => [s.event, "num"])], rows, { id: "trend-table" }));
  trendLines(byId("trend-chart"), series);
  return result;
}

// -- lookalike ------------------------------------------------------------------------------------------------

function lookalikeRequest() {
  return {
    seedExpression: byId("ll-seed").value.trim(), candidateExpression: byId("ll-candidates").value.trim(),
    k: Number(byId("ll-k").value || 0), method: byId("ll-method").value,
  };
}

export async function showLookalike() {
  const result = await call("LookalikeService", "Lookalike", lookalikeRequest());
  const users = result.users || [];
  const scores = users.map((u) => u.score);
  fill(byId("ll-out"),
    table([[t("found"), "num"], [t("seedUsers"), "num"], [t("withVectors"), "num"], [t("candidatesCount"), "num"],
      [t("searchPath")], [t("elapsed"), "num"]], [[
      count(users.length), count(result.seedCount), count(result.seedWithVectors), count(result.candidatesCount),
      `${result.searchPath || ""} ${result.indexType || ""}`.trim(), number(result.elapsedMs, 1),
    ]], { id: "ll-table" }),
    scores.length ? el("p", { class: "muted" }, `${t("score")}: ${number(scores[0], 3)} … ${number(scores[scores.length - 1], 3)}`) : "",
    table([[t("user")], [t("score"), "num"]], users.slice(0, 20).map((u) => [{ text: u.userId, class: "value" },
      number(u.score, 4)]), { id: "ll-users" }));
  return result;
}

/** Save the lookalike result as name, then profile it against the population. */
export async function saveLookalike(name, dimensions) {
  if (!name) throw new Error(t("needName"));
  const result = await call("LookalikeService", "Lookalike", { ...lookalikeRequest(), saveAs: name });
  await showProfile(byId("ll-profile"), `@${name}`, dimensions, 8);
  return result;
}

// -- export ---------------------------------------------------------------------------------------------------

function csvCell(text) {
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Stream an audience's user IDs and hand the browser a CSV file of them. */
export async function exportCsv(expression, status) {
  const parts = ["user_id\n"];
  let done = 0;
  let total = 0;
  await stream("AudienceService", "Export", { expression, pageSize: 10000 }, (page) => {
    total = Number(page.totalCount || 0);
    const ids = page.userIds || [];
    done += ids.length;
    parts.push(ids.map(csvCell).join("\n") + (ids.length ? "\n" : ""));
    fill(status, `${t("exported")} ${done.toLocaleString("en-US")} / ${total.toLocaleString("en-US")}`);
  });
  const url = URL.createObjectURL(new Blob(parts, { type: "text/csv" }));
  const link = el("a", { href: url, download: "audience.csv" });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  return done;
}
