// The koubei dashboard: pages of charts drawn from the API's reports.
//
// The URL's hash holds the whole state (page, date range, interval,
// breakdown), so a link opens the same view. Every chart and table offers
// its data as CSV. A report page sets window.KOUBEI_DATA to the reports it
// was made with, and the same code draws them without a server.
"use strict";

(() => {
  const REPORT = window.KOUBEI_DATA || null;
  const PAGES = [
    ["overview", "Overview 概览"],
    ["sales", "Sales 销售"],
  ];
  const BREAKDOWNS = ["", "country", "region", "channel", "category"];
  const INTERVALS = ["", "day", "week", "month", "quarter", "year"];
  const PRESETS = [["7", "Last 7 days"], ["30", "Last 30 days"], ["90", "Last 90 days"], ["365", "Last 365 days"], ["custom", "Custom"]];
  const charts = [];

  // ---- state in the URL ----------------------------------------------------

  function readState() {
    const [page, query] = location.hash.replace(/^#/, "").split("?");
    const params = Object.fromEntries(new URLSearchParams(query || ""));
    return { page: PAGES.some(([p]) => p === page) ? page : "overview", params };
  }

  function writeState(page, params) {
    const kept = Object.fromEntries(Object.entries(params).filter(([, v]) => v !== "" && v != null));
    const hash = `#${page}?${new URLSearchParams(kept)}`;
    if (location.hash !== hash) location.hash = hash; else draw();
  }

  // ---- data ----------------------------------------------------------------

  // A report holds each section's answer under the section's name.
  async function api(op, params, section) {
    const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== "" && v != null));
    if (REPORT) {
      if (!(section in REPORT.sections)) throw new Error(`this report has no ${section} section`);
      return REPORT.sections[section];
    }
    const headers = {};
    const token = sessionStorage.getItem("koubei-token");
    if (token) headers.Authorization = `Bearer ${token}`;
    const r = await fetch(`/v1/${op}?${query}`, { headers });
    if (r.status === 401) {
      const t = prompt("This server needs its token to read:");
      if (t) { sessionStorage.setItem("koubei-token", t); return api(op, params); }
    }
    const body = await r.json();
    if (!r.ok) throw new Error(body.field ? `${body.field}: ${body.error}` : body.error);
    return body;
  }

  // ---- formatting ------------------------------------------------------------

  const nf2 = new Intl.NumberFormat("en", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const nf0 = new Intl.NumberFormat("en", { maximumFractionDigits: 0 });
  const FORMAT = {
    money: (v) => nf2.format(v),
    count: (v) => nf0.format(v),
    number: (v) => nf2.format(v),
    share: (v) => `${(v * 100).toFixed(1)}%`,
  };
  const UNIT_NAME = { money: "amount", count: "count", number: "number", share: "%" };

  function fmt(unit, v) {
    return v == null ? "–" : FORMAT[unit](v);
  }

  function growth(v) {
    if (v == null) return { text: "–", cls: "" };
    return { text: `${v >= 0 ? "▲ +" : "▼ "}${(v * 100).toFixed(1)}%`, cls: v >= 0 ? "up" : "down" };
  }

  // ---- building blocks -------------------------------------------------------

  function el(tag, attrs = {}, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") e.className = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c);
    return e;
  }

  function csvButton(name, header, rows) {
    return el("button", {
      type: "button",
      "data-csv": name,
      onclick: () => {
        const quote = (v) => (v == null ? "" : /[",\n]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v));
        const text = [header, ...rows].map((r) => r.map(quote).join(",")).join("\n") + "\n";
        const a = el("a", { href: URL.createObjectURL(new Blob([text], { type: "text/csv" })), download: `${name}.csv` });
        document.body.append(a);
        a.click();
        a.remove();
      },
    }, "CSV");
  }

  function chart(container, option) {
    const c = echarts.init(container, null, { renderer: "canvas" });
    c.setOption({
      textStyle: { fontFamily: getComputedStyle(document.body).fontFamily },
      animation: false,
      ...option,
    });
    charts.push(c);
    return c;
  }

  // A chart's own title names it; the panel carries its tools.
  function panel(title, csv, ...body) {
    return el("div", { class: "panel", "aria-label": title }, el("div", { class: "tools" }, csv), ...body);
  }

  function table(header, rows) {
    return el("table", {},
      el("thead", {}, el("tr", {}, ...header.map((h) => el("th", {}, h)))),
      el("tbody", {}, ...rows.map((r) => el("tr", {}, ...r.map((c) => el("td", {}, c))))));
  }

  // ---- controls --------------------------------------------------------------

  function addDays(day, n) {
    const d = new Date(`${day}T00:00:00Z`);
    d.setUTCDate(d.getUTCDate() + n);
    return d.toISOString().slice(0, 10);
  }

  function controls(page, params, range) {
    const box = document.getElementById("controls");
    box.replaceChildren();
    const days = Math.round((new Date(range.until) - new Date(range.since)) / 864e5) + 1;
    const preset = el("select", { id: "preset", "aria-label": "date range" },
      ...PRESETS.map(([v, t]) => el("option", { value: v }, t)));
    preset.value = PRESETS.some(([v]) => v === String(days)) && params.until === range.last ? String(days) : "custom";
    const since = el("input", { type: "date", id: "since", value: range.since, "aria-label": "since" });
    const until = el("input", { type: "date", id: "until", value: range.until, "aria-label": "until" });
    const by = el("select", { id: "by", "aria-label": "interval" },
      ...INTERVALS.map((v) => el("option", { value: v }, v || "auto")));
    by.value = params.by || "";
    const apply = (changes) => writeState(page, { ...params, since: since.value, until: until.value, by: by.value, ...changes });
    preset.addEventListener("change", () => {
      if (preset.value === "custom") return;
      apply({ since: addDays(range.last, 1 - Number(preset.value)), until: range.last });
    });
    since.addEventListener("change", () => apply({}));
    until.addEventListener("change", () => apply({}));
    by.addEventListener("change", () => apply({}));
    box.append(el("label", { for: "preset" }, "Dates"), preset, since, el("span", {}, "to"), until,
      el("label", { for: "by" }, "Interval"), by);
    if (page === "sales") {
      const breakdown = el("select", { id: "breakdown", "aria-label": "breakdown" },
        ...BREAKDOWNS.map((v) => el("option", { value: v }, v || "none")));
      breakdown.value = params.breakdown || "";
      breakdown.addEventListener("change", () => apply({ breakdown: breakdown.value }));
      box.append(el("label", { for: "breakdown" }, "Breakdown"), breakdown);
    }
  }

  // ---- pages -----------------------------------------------------------------

  async function overviewPage(main, params) {
    const o = await api("overview", { since: params.since, until: params.until, by: params.by }, "overview");
    const cards = el("div", { class: "cards" });
    main.append(el("h2", {}, `${o.range.since} to ${o.range.until}`),
      el("p", { class: "cmp" }, `Compared with ${o.previous.since} to ${o.previous.until}, and with ${o.year_before.since} to ${o.year_before.until}.`),
      cards);
    for (const k of o.kpis) {
      const prev = growth(k.change);
      const yoy = growth(k.yoy);
      const spark = el("div", { class: "spark" });
      cards.append(el("div", { class: "card", "data-kpi": k.key, "data-value": k.value ?? "" },
        el("div", { class: "label" }, k.label),
        el("div", { class: "value" }, fmt(k.unit, k.value)),
        el("div", { class: "cmp" }, el("span", { class: prev.cls }, prev.text), " vs previous · ",
          el("span", { class: yoy.cls }, yoy.text), " vs a year before"),
        spark));
      if (k.series.length) {
        chart(spark, {
          grid: { left: 2, right: 2, top: 4, bottom: 4 },
          xAxis: { type: "category", show: false, data: k.series.map((p) => p.period) },
          yAxis: { type: "value", show: false, scale: true },
          tooltip: { trigger: "axis", valueFormatter: (v) => fmt(k.unit, v) },
          series: [{ type: "line", data: k.series.map((p) => p.value), showSymbol: false, lineStyle: { width: 1.5 }, name: k.label }],
        });
      }
    }
    const revenue = o.kpis.find((k) => k.key === "revenue");
    const orders = o.kpis.find((k) => k.key === "orders");
    const trend = el("div", { class: "chart", id: "overview-trend" });
    main.append(panel(`Revenue and orders by ${o.by}`,
      csvButton("overview", ["kpi", "value", "previous", "change", "year_before", "yoy"],
        o.kpis.map((k) => [k.key, k.value, k.previous, k.change, k.year_before, k.yoy])),
      trend));
    chart(trend, {
      title: { text: `Revenue and orders by ${o.by}`, left: "center", textStyle: { fontSize: 13 } },
      tooltip: { trigger: "axis" },
      legend: { bottom: 0 },
      grid: { left: 70, right: 60, top: 40, bottom: 72 },
      xAxis: { type: "category", name: o.by, nameLocation: "middle", nameGap: 28, data: revenue.series.map((p) => p.period) },
      yAxis: [
        { type: "value", name: "revenue", axisLabel: { formatter: (v) => nf0.format(v) } },
        { type: "value", name: "orders" },
      ],
      series: [
        { name: "revenue", type: "bar", data: revenue.series.map((p) => p.value), tooltip: { valueFormatter: (v) => fmt("money", v) } },
        { name: "orders", type: "line", yAxisIndex: 1, data: orders.series.map((p) => p.value) },
      ],
    });
  }

  async function salesPage(main, params) {
    const s = await api("sales", {
      by: params.by || "month", since: params.since, until: params.until,
      breakdown: params.breakdown, top: params.breakdown ? 8 : undefined,
    }, params.breakdown ? `sales_${params.breakdown}` : "sales");
    const rows = s.breakdown ? s.groups : s.total;
    const periods = [...new Set(rows.map((r) => r.period))];
    const box = el("div", { class: "chart", id: "sales-trend" });
    const header = ["period", ...(s.breakdown ? [s.breakdown] : []), "revenue", "orders", "buyers", "average_order_value", "new_buyers", "revenue_growth", "revenue_yoy"];
    const data = rows.map((r) => [r.period, ...(s.breakdown ? [r.group] : []), r.revenue, r.orders, r.buyers, r.average_order_value, r.new_buyers, r.revenue_growth, r.revenue_yoy]);
    main.append(panel(`Revenue by ${s.by}${s.breakdown ? ` and ${s.breakdown}` : ""}`, csvButton("sales", header, data), box,
      table(header, data.map((r) => r.map((v, i) => (typeof v === "number" ? (i >= r.length - 2 ? growth(v).text : header[i].includes("revenue") || header[i].includes("value") ? fmt("money", v) : fmt("count", v)) : v ?? "–"))))));
    const series = s.breakdown
      ? [...new Set(rows.map((r) => r.group))].map((g) => ({
          name: g, type: "bar", stack: "revenue",
          data: periods.map((p) => rows.find((r) => r.period === p && r.group === g)?.revenue ?? 0),
        }))
      : [{ name: "revenue", type: "bar", data: rows.map((r) => r.revenue) }];
    chart(box, {
      title: { text: `Revenue by ${s.by}${s.breakdown ? ` and ${s.breakdown}` : ""}`, left: "center", textStyle: { fontSize: 13 } },
      tooltip: { trigger: "axis", valueFormatter: (v) => fmt("money", v) },
      legend: { bottom: 0, type: "scroll" },
      grid: { left: 80, right: 30, top: 40, bottom: 72 },
      xAxis: { type: "category", name: s.by, nameLocation: "middle", nameGap: 28, data: periods },
      yAxis: { type: "value", name: "revenue", axisLabel: { formatter: (v) => nf0.format(v) } },
      series,
    });
  }

  const DRAW = { overview: overviewPage, sales: salesPage };

  // ---- the page --------------------------------------------------------------

  let defaults = null;

  async function draw() {
    while (charts.length) charts.pop().dispose();
    const { page, params } = readState();
    document.getElementById("pages").replaceChildren(...PAGES.map(([p, t]) =>
      el("a", { href: `#${p}?${new URLSearchParams(Object.entries(params).filter(([k]) => k !== "breakdown"))}`, class: p === page ? "active" : "" }, t)));
    const main = document.getElementById("page");
    main.replaceChildren();
    main.dataset.state = "loading";
    try {
      // One date range for every page: by default, 30 days to the last order.
      defaults = defaults || (await api("overview", {}, "overview")).range;
      const range = { since: params.since || defaults.since, until: params.until || defaults.until, last: defaults.until };
      if (!params.since || !params.until) {
        writeState(page, { ...params, since: range.since, until: range.until });
        return;
      }
      controls(page, params, range);
      await DRAW[page](main, params);
      main.dataset.state = "ready";
    } catch (e) {
      main.replaceChildren(el("div", { class: "error" }, String(e.message || e)));
      main.dataset.state = "error";
    }
  }

  // A report: every section, one after another, with no controls.
  async function drawReport() {
    const main = document.getElementById("page");
    main.dataset.state = "loading";
    const { since, until } = REPORT.range;
    document.getElementById("pages").replaceChildren(el("span", {}, `Report, ${since} to ${until}`));
    try {
      for (const [title, page, params] of [
        ["Overview 概览", overviewPage, { since, until }],
        ["Sales 销售", salesPage, { since, until, by: "month" }],
        ["Sales by country 各国销售", salesPage, { since, until, by: "month", breakdown: "country" }],
      ]) {
        const section = el("section", {}, el("h2", {}, title));
        main.append(section);
        await page(section, params);
      }
      main.dataset.state = "ready";
    } catch (e) {
      main.append(el("div", { class: "error" }, String(e.message || e)));
      main.dataset.state = "error";
    }
  }

  window.addEventListener("resize", () => charts.forEach((c) => c.resize()));
  if (REPORT) {
    drawReport();
  } else {
    window.addEventListener("hashchange", draw);
    draw();
  }
})();
