// The console's words in English and Chinese. Elements carry data-i18n (text) or data-i18n-placeholder.

const LANG_KEY = "dolphin.lang";

const STRINGS = {
  en: {
    title: "Dolphin", snapshot: "snapshot", population: "population", token: "token",
    tokenHint: "paste a bearer token", useToken: "use", tabAudience: "Audience", tabOverlap: "Overlap",
    tabSaved: "Saved audiences", tabAdEffect: "Ad effect", tabLookalike: "Lookalike",
    expression: "Audience expression",
    expressionHint: "gender=F AND city IN (Hangzhou, Shanghai) AND interest=tennis AND NOT vip=true",
    users: "users", ofPopulation: "of the population", save: "Save", exportCsv: "Export CSV",
    audienceName: "audience name", profile: "Profile", dimensions: "Dimensions", topK: "Top values",
    runProfile: "Profile", overlapTitle: "Overlap of 2 to 6 audiences", runOverlap: "Compare",
    refresh: "Refresh", campaign: "Campaign", stages: "Funnel stages", from: "From", to: "To",
    withinAudience: "Within audience", everyone: "everyone (leave empty)", breakdown: "Break down by",
    none: "(none)", runFunnel: "Funnel", lift: "Lift", exposure: "Exposure", outcome: "Outcome", runLift: "Lift",
    trend: "Daily trend", runTrend: "Trend", seed: "Seed audience", candidates: "Candidates",
    k: "Users to find (k)", method: "Method", runLookalike: "Find similar users",
    saveAndProfile: "Save and profile", suppressed: "suppressed", counting: "counting…",
    value: "value", count: "users", share: "audience share", populationShare: "population share", tgi: "TGI",
    values: "values", audience: "audience", pair: "pair", intersection: "both", jaccard: "Jaccard",
    name: "name", created: "created", actions: "", delete: "delete", use: "use", stage: "stage",
    fromPrevious: "from previous", fromFirst: "from first", segment: "segment", exposed: "exposed",
    unexposed: "unexposed", rate: "outcome rate", absoluteLift: "absolute lift", ci95: "95% interval",
    relativeLift: "relative lift", zScore: "z", pValue: "p-value", day: "day", event: "event",
    found: "found", seedUsers: "seed users", withVectors: "with vectors", candidatesCount: "candidates",
    searchPath: "search", score: "score", user: "user", replaceWith: "use", exported: "exported",
    saved: "saved", deleted: "deleted", needName: "give the audience a name", needTwo: "give at least 2 audiences",
    noCampaigns: "no campaigns loaded", noSaved: "no saved audiences yet", confirmDelete: "delete",
    audienceOf: "audience of", elapsed: "ms",
  },
  zh: {
    title: "Dolphin 海豚", snapshot: "快照", population: "总人数", token: "令牌", tokenHint: "粘贴 Bearer 令牌",
    useToken: "使用", tabAudience: "人群圈选", tabOverlap: "人群重叠", tabSaved: "已存人群", tabAdEffect: "广告效果",
    tabLookalike: "相似人群扩展", expression: "人群表达式",
    expressionHint: "gender=F AND city IN (杭州, 上海) AND interest=tennis AND NOT vip=true",
    users: "人", ofPopulation: "占总人数", save: "保存", exportCsv: "导出 CSV", audienceName: "人群名称",
    profile: "人群画像", dimensions: "维度", topK: "前几个值", runProfile: "画像", overlapTitle: "2 至 6 个人群的重叠",
    runOverlap: "对比", refresh: "刷新", campaign: "广告活动", stages: "漏斗阶段", from: "开始", to: "结束",
    withinAudience: "限定人群", everyone: "全部用户（留空）", breakdown: "拆分维度", none: "（无）",
    runFunnel: "漏斗", lift: "提升度", exposure: "曝光事件", outcome: "转化事件", runLift: "计算提升",
    trend: "每日趋势", runTrend: "趋势", seed: "种子人群", candidates: "候选人群", k: "扩展人数 (k)",
    method: "方法", runLookalike: "查找相似用户", saveAndProfile: "保存并画像", suppressed: "已隐藏",
    counting: "计算中…", value: "取值", count: "人数", share: "人群占比", populationShare: "全体占比", tgi: "TGI",
    values: "个取值", audience: "人群", pair: "组合", intersection: "交集", jaccard: "Jaccard 系数",
    name: "名称", created: "创建时间", actions: "", delete: "删除", use: "使用", stage: "阶段",
    fromPrevious: "上一阶段转化率", fromFirst: "总转化率", segment: "分组", exposed: "曝光组",
    unexposed: "未曝光组", rate: "转化率", absoluteLift: "绝对提升", ci95: "95% 置信区间",
    relativeLift: "相对提升", zScore: "z 值", pValue: "p 值", day: "日期", event: "事件",
    found: "找到", seedUsers: "种子用户", withVectors: "有向量", candidatesCount: "候选用户", searchPath: "检索方式",
    score: "相似度", user: "用户", replaceWith: "改为", exported: "已导出", saved: "已保存", deleted: "已删除",
    needName: "请填写人群名称", needTwo: "请至少填写 2 个人群", noCampaigns: "尚未加载广告活动",
    noSaved: "还没有保存的人群", confirmDelete: "删除", audienceOf: "人群", elapsed: "毫秒",
  },
};

let current = localStorage.getItem(LANG_KEY) || (navigator.language.startsWith("zh") ? "zh" : "en");

/** Return the word for key in the current language. */
export function t(key) {
  return STRINGS[current][key] ?? STRINGS.en[key] ?? key;
}

export function language() {
  return current;
}

/** Switch language and re-label every element that carries a key. */
export function setLanguage(lang) {
  current = STRINGS[lang] ? lang : "en";
  localStorage.setItem(LANG_KEY, current);
  applyLanguage();
}

export function applyLanguage() {
  document.documentElement.lang = current === "zh" ? "zh-CN" : "en";
  document.querySelectorAll("[data-i18n]").forEach((node) => { node.textContent = t(node.dataset.i18n); });
  document.querySelectorAll("[data-i18n-placeholder]").forEach((node) => {
    node.placeholder = t(node.dataset.i18nPlaceholder);
  });
  document.getElementById("lang").textContent = current === "zh" ? "English" : "中文";
  document.title = `${t("title")} console`;
}
