// The console's entry point: header, tabs, and the wiring of every view to its buttons.

import { call, setToken, token } from "./api.js";
import { byId, busy, clearError, el, fill, showError } from "./dom.js";
import { ExpressionEditor } from "./editor.js";
import { applyLanguage, language, setLanguage, t } from "./i18n.js";
import {
  exportCsv, funnelOrder, overlapInputs, saveLookalike, showFunnel, showLift, showLookalike, showOverlap,
  showProfile, showSaved, showTrend,
} from "./views.js";

const state = { population: 0, dimensions: [], campaigns: [], audiences: [] };
const PROFILE_DEFAULTS = ["gender", "age_band", "city", "interest", "vip"];

async function refreshHeader() {
  const status = await call("AdminService", "Status");
  state.population = Number(status.users || 0);
  fill(byId("snapshot-version"), String(status.snapshotVersion || 0));
  fill(byId("population"), state.population.toLocaleString("en-US"));
}

async function loadDimensions() {
  const dimensions = [];
  let pageToken = "";
  do {
    const page = await call("CatalogService", "ListDimensions", { pageSize: 1000, maxValues: 1, pageToken });
    dimensions.push(...page.dimensions);
    pageToken = page.nextPageToken;
  } while (pageToken);
  state.dimensions = dimensions;
  const chosen = new Set(PROFILE_DEFAULTS.filter((name) => dimensions.some((d) => d.name === name)));
  if (!chosen.size) dimensions.slice(0, 3).forEach((d) => chosen.add(d.name));
  fill(byId("profile-dims"), dimensions.map((d) => el("option", { value: d.name, selected: chosen.has(d.name) },
    d.name)));
  fill(byId("breakdown"), el("option", { value: "" }, t("none")), dimensions.map((d) => el("option", { value: d.name },
    d.name)));
}

async function loadCampaigns() {
  const campaigns = [];
  let pageToken = "";
  do {
    const page = await call("CatalogService", "ListCampaigns", { pageSize: 1000, pageToken });
    campaigns.push(...(page.campaigns || []));
    pageToken = page.nextPageToken;
  } while (pageToken);
  state.campaigns = campaigns;
  fill(byId("campaign"), campaigns.length
    ? campaigns.map((c) => el("option", { value: c.name }, c.name))
    : el("option", { value: "" }, t("noCampaigns")));
  // Start on the campaign with the longest funnel: the most there is to see.
  const longest = [...campaigns].sort((a, b) => b.events.length - a.events.length)[0];
  if (longest) byId("campaign").value = longest.name;
  campaignChosen();
}

function campaignChosen() {
  const campaign = state.campaigns.find((c) => c.name === byId("campaign").value);
  const events = campaign ? funnelOrder(campaign.events.map((e) => e.event)) : [];
  byId("stages").value = events.join(", ");
  const days = campaign ? campaign.events.flatMap((e) => [e.firstDay, e.lastDay]).sort() : [];
  byId("date-from").value = days[0] || "";
  byId("date-to").value = days[days.length - 1] || "";
  const options = () => events.map((e) => el("option", { value: e }, e));
  fill(byId("lift-exposure"), options());
  fill(byId("lift-outcome"), options());
  if (events.length) byId("lift-outcome").value = events[events.length - 1];
}

async function refreshSaved() {
  state.audiences = await showSaved((name) => {
    editor.text = `@${name}`;
    openTab("audience");
  }, async () => { await refreshSaved(); });
  editor.setCatalog(state.dimensions, state.audiences);
}

function openTab(name) {
  document.querySelectorAll(".tabs button").forEach((b) => b.classList.toggle("active", b.dataset.tab === name));
  document.querySelectorAll("section.tab").forEach((s) => { s.hidden = s.id !== `tab-${name}`; });
  window.dispatchEvent(new Event("resize")); // charts drawn while hidden take their size now
}

function chosenDimensions() {
  return [...byId("profile-dims").selectedOptions].map((o) => o.value);
}

async function start() {
  clearError();
  try {
    await refreshHeader();
    await Promise.all([loadDimensions(), loadCampaigns(), refreshSaved()]);
    editor.setCatalog(state.dimensions, state.audiences);
    document.body.dataset.ready = "true";
    if (editor.text.trim()) editor.changed();
  } catch (error) {
    showError(error);
  }
}

const editor = new ExpressionEditor({ onCount: () => clearError(), population: () => state.population });

function wire() {
  applyLanguage();
  byId("token").value = token();
  byId("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    setToken(byId("token").value.trim());
    start();
  });
  byId("lang").addEventListener("click", () => {
    setLanguage(language() === "zh" ? "en" : "zh");
    overlapInputs();
    if (editor.text.trim()) editor.changed(); // the count line's words too
  });
  document.querySelectorAll(".tabs button").forEach((b) => b.addEventListener("click", () => openTab(b.dataset.tab)));
  byId("profile-run").addEventListener("click", (event) => busy(event.target, () => showProfile(
    byId("profile-out"), editor.text || "ALL", chosenDimensions(), Number(byId("profile-topk").value || 10))));
  byId("save-btn").addEventListener("click", (event) => busy(event.target, async () => {
    const name = byId("save-name").value.trim();
    if (!name) throw new Error(t("needName"));
    await call("AudienceService", "SaveAudience", { name, expression: editor.text, overwrite: true });
    fill(byId("export-status"), `${t("saved")} @${name}`);
    await refreshSaved();
  }));
  byId("export-csv").addEventListener("click", (event) => busy(event.target, () => exportCsv(
    editor.text || "ALL", byId("export-status"))));
  overlapInputs();
  byId("overlap-run").addEventListener("click", (event) => busy(event.target, showOverlap));
  byId("saved-refresh").addEventListener("click", (event) => busy(event.target, refreshSaved));
  byId("campaign").addEventListener("change", campaignChosen);
  byId("funnel-run").addEventListener("click", (event) => busy(event.target, showFunnel));
  byId("lift-run").addEventListener("click", (event) => busy(event.target, showLift));
  byId("trend-run").addEventListener("click", (event) => busy(event.target, showTrend));
  byId("ll-run").addEventListener("click", (event) => busy(event.target, showLookalike));
  byId("ll-save").addEventListener("click", (event) => busy(event.target, async () => {
    await saveLookalike(byId("ll-name").value.trim(), chosenDimensions());
    await refreshSaved();
  }));
  setInterval(() => refreshHeader().catch(() => {}), 10_000);
}

wire();
start();
