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
    ["funnel", "Funnel 转化"],
    ["retention", "Retention 留存"],
    ["customers", "RFM & CLV 客户价值"],
    ["wom", "Word of mouth 口碑"],
    ["reviews", "Reviews 评价"],
    ["recs", "Recommendations 推荐"],
  ];
  // koubei's RFM segments, in its order.
  const SEGMENTS = ["Champions", "Loyal", "Potential Loyalist", "New Customers", "Promising", "Need Attention",
    "About to Sleep", "At Risk", "Can't Lose Them", "Hibernating", "Lost"];
  const MODELS = [["itemknn", "item-kNN (bought by the same customers)"], ["als", "ALS (matrix factorisation)"], ["pop", "popularity"]];
  const WINDOWS = [["86400", "1 day"], ["604800", "7 days"], ["2592000", "30 days"]];
  const DEFAULT_STEPS = "view,add_to_cart,checkout,purchase";
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

  function hashOf(page, params) {
    const kept = Object.fromEntries(Object.entries(params).filter(([, v]) => v !== "" && v != null));
    return `#${page}?${new URLSearchParams(kept)}`;
  }

  function writeState(page, params) {
    const hash = hashOf(page, params);
    if (location.hash !== hash) location.hash = hash; else draw();
  }

  // ---- data ----------------------------------------------------------------

  // A report holds each section's answer under the section's name.
  async function ask(op, params, section) {
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
      if (t) { sessionStorage.setItem("koubei-token", t); return ask(op, params, section); }
    }
    const body = await r.json();
    if (!r.ok) throw new Error(body.field ? `${body.field}: ${body.error}` : body.error);
    return body;
  }

  // An answer to draw with the chart library: asked for before it has
  // loaded, given once it has. (`ask` alone chains the next request.)
  async function api(op, params, section) {
    const body = await ask(op, params, section);
    await libs;
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

  // Lets the answers that came in while a chart was drawn be handled (and
  // the requests chained on them be sent) before the next is drawn.
  const breathe = () => new Promise((resolve) => setTimeout(resolve, 0));

  // A chart out of sight is drawn when it comes near the window, as
  // dashboards draw panels: a page is ready once what shows is drawn, and
  // the maps and trees below wait (`data-pending` marks them). `option`
  // may be a function, so that its work waits too, returning the option or
  // a promise of it; `then` gets the chart. A report draws every chart.
  const observers = [];
  const drawing = [];
  function chart(container, option, then) {
    const make = (opt) => {
      const c = echarts.init(container, null, { renderer: "canvas" });
      c.setOption({
        textStyle: { fontFamily: getComputedStyle(document.body).fontFamily },
        animation: false,
        ...opt,
      });
      charts.push(c);
      delete container.dataset.pending;
      if (then) then(c);
    };
    const now = () => {
      const opt = typeof option === "function" ? option() : option;
      if (opt instanceof Promise) return opt.then(make);
      make(opt);
    };
    const box = container.getBoundingClientRect();
    if (REPORT || (box.top < innerHeight + 200 && box.bottom > -200)) {
      // Drawn with the page, which is ready once it is (`drawing`).
      const drawn = now();
      if (drawn) drawing.push(drawn);
      return;
    }
    container.dataset.pending = "";
    const seen = new IntersectionObserver((entries) => {
      if (!entries.some((e) => e.isIntersecting)) return;
      seen.disconnect();
      now();
    }, { rootMargin: "200px" });
    seen.observe(container);
    observers.push(seen);
  }

  // A KPI card's trend: a line drawn as SVG, with each period's value on
  // hover. Drawn without the chart library, so the cards show before it
  // has loaded.
  function sparkline(container, k) {
    const SVG = "http://www.w3.org/2000/svg";
    const node = (tag, attrs, ...kids) => {
      const e = document.createElementNS(SVG, tag);
      for (const [a, v] of Object.entries(attrs)) e.setAttribute(a, v);
      e.append(...kids);
      return e;
    };
    const [w, h, pad] = [200, 40, 3];
    const values = k.series.map((p) => p.value).filter((v) => v != null);
    const lo = Math.min(...values);
    const span = Math.max(...values) - lo || 1;
    const step = w / Math.max(k.series.length - 1, 1);
    const x = (i) => (k.series.length > 1 ? i * step : w / 2);
    const y = (v) => h - pad - ((v - lo) / span) * (h - 2 * pad);
    const svg = node("svg", { viewBox: `0 0 ${w} ${h}`, preserveAspectRatio: "none", role: "img", "aria-label": `${k.label} by period` });
    // Runs of periods with a value, each a polyline.
    let run = [];
    const flush = () => {
      if (run.length) svg.append(node("polyline", { points: run.join(" "), class: "line" }));
      run = [];
    };
    k.series.forEach((p, i) => (p.value == null ? flush() : run.push(`${x(i).toFixed(1)},${y(p.value).toFixed(1)}`)));
    flush();
    // One hover band per period, titled with its value.
    k.series.forEach((p, i) => {
      svg.append(node("rect", { x: Math.max(x(i) - step / 2, 0).toFixed(1), y: 0, width: step.toFixed(1), height: h, class: "hover", "data-period": p.period },
        node("title", {}, `${p.period}: ${fmt(k.unit, p.value)}`)));
    });
    container.append(svg);
  }

  // A chart's own title names it; the panel carries its tools.
  function panel(title, csv, ...body) {
    return el("div", { class: "panel", "aria-label": title }, el("div", { class: "tools" }, csv), ...body);
  }

  function table(header, rows, cls) {
    return el("table", cls ? { class: cls } : {},
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
    if (page === "overview") {
      // Comparison with the range before and a year before: on unless the
      // URL says compare=off.
      const compare = el("input", { type: "checkbox", id: "compare" });
      compare.checked = params.compare !== "off";
      compare.addEventListener("change", () => apply({ compare: compare.checked ? "" : "off" }));
      box.append(compare, el("label", { for: "compare" }, "Compare"));
    }
    if (page === "funnel") {
      const steps = el("input", { id: "steps", size: 40, value: params.steps || DEFAULT_STEPS, "aria-label": "steps" });
      const windowSel = el("select", { id: "window", "aria-label": "window" }, ...WINDOWS.map(([v, t]) => el("option", { value: v }, t)));
      windowSel.value = params.window || "604800";
      steps.addEventListener("change", () => apply({ steps: steps.value }));
      windowSel.addEventListener("change", () => apply({ window: windowSel.value }));
      box.append(el("label", { for: "steps" }, "Steps"), steps, el("label", { for: "window" }, "Window"), windowSel);
    }
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
    // The sales cards come quickly; the growth cards (conversion, share
    // rate, K-factor) read events and referrals, and are asked for once the
    // sales cards have come, so as not to slow them. The default range's
    // sales cards were fetched to learn the range: the same. A report holds
    // every card.
    const q = { since: params.since, until: params.until, by: params.by };
    const salesCards = !REPORT && firstOverview && params.since === defaults.since && params.until === defaults.until && !params.by
      ? firstOverview
      : ask("overview", REPORT ? q : { ...q, cards: "sales" }, "overview");
    // Asked for as soon as the sales cards have come, answered while they
    // are drawn.
    const growthCards = REPORT ? null : salesCards.catch(() => {}).then(() => ask("overview", { ...q, cards: "growth" }, "overview"));
    if (growthCards) growthCards.catch(() => {});
    const o = await salesCards;
    const cards = el("div", { class: "cards" });
    main.append(el("h2", {}, `${o.range.since} to ${o.range.until}`),
      params.compare === "off" ? "" : el("p", { class: "cmp" }, `Compared with ${o.previous.since} to ${o.previous.until}, and with ${o.year_before.since} to ${o.year_before.until}.`),
      cards);
    const drawCards = (kpis) => {
      for (const k of kpis) {
        const prev = growth(k.change);
        const yoy = growth(k.yoy);
        const spark = el("div", { class: "spark" });
        cards.append(el("div", { class: "card", "data-kpi": k.key, "data-value": k.value ?? "" },
          el("div", { class: "label" }, k.label),
          el("div", { class: "value" }, fmt(k.unit, k.value)),
          params.compare === "off" ? "" : el("div", { class: "cmp" }, el("span", { class: prev.cls }, prev.text), " vs previous · ",
            el("span", { class: yoy.cls }, yoy.text), " vs a year before"),
          spark));
        if (k.series.length) sparkline(spark, k);
      }
    };
    // The cards need no chart library; the trend does.
    drawCards(o.kpis);
    await libs;
    const csvRow = (k) => [k.key, k.value, k.previous, k.change, k.year_before, k.yoy];
    const csvRows = o.kpis.map(csvRow);
    const revenue = o.kpis.find((k) => k.key === "revenue");
    const orders = o.kpis.find((k) => k.key === "orders");
    const trend = el("div", { class: "chart", id: "overview-trend" });
    main.append(panel(`Revenue and orders by ${o.by}`,
      csvButton("overview", ["kpi", "value", "previous", "change", "year_before", "yoy"], csvRows),
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
    // Milliseconds to the sales cards and chart drawn, for benchmarks.
    main.dataset.firstMs = Math.round(performance.now());
    if (growthCards) {
      const g = await growthCards;
      drawCards(g.kpis);
      csvRows.push(...g.kpis.map(csvRow));
    }
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

  function duration(seconds) {
    if (seconds == null) return "–";
    if (seconds >= 86400 && seconds % 86400 === 0) return seconds === 86400 ? "1 day" : `${seconds / 86400} days`;
    if (seconds < 120) return `${seconds.toFixed(0)}s`;
    if (seconds < 7200) return `${(seconds / 60).toFixed(1)}m`;
    if (seconds < 172800) return `${(seconds / 3600).toFixed(1)}h`;
    return `${(seconds / 86400).toFixed(1)}d`;
  }

  function titled(text) {
    return { text, left: "center", textStyle: { fontSize: 13 } };
  }

  async function funnelPage(main, params) {
    const request = {
      steps: params.steps || DEFAULT_STEPS, window_seconds: params.window || "604800",
      since: params.since, until: params.until,
    };
    const f = await api("funnel", { ...request, trend: params.by || "week" }, "funnel");
    const bars = el("div", { class: "chart", id: "funnel-steps" });
    const header = ["step", "persons", "conversion_from_previous", "conversion_from_first", "dropoff", "median_time_from_previous"];
    const data = f.steps.map((st) => [st.name, st.persons, st.conversion_from_previous, st.conversion_from_first, st.dropoff, st.median_seconds_from_previous]);
    // A step's drop-off: a button on its row opens the list of those
    // persons, which the URL keeps (list=N for step N).
    const open = (step) => writeState("funnel", { ...params, list: String(step) });
    const cells = data.map((r) => [r[0], fmt("count", r[1]), fmt("share", r[2]), fmt("share", r[3]), fmt("count", r[4]), duration(r[5])]);
    main.append(panel("Funnel", csvButton("funnel", header, data), bars,
      table(REPORT ? header : [...header, ""], REPORT ? cells : cells.map((c, i) => [...c, i === 0 || !data[i][4] ? ""
        : el("button", { type: "button", "data-list": String(i + 1), onclick: () => open(i + 1) }, "who dropped off")]))));
    chart(bars, {
      title: titled(`Persons at each step, within ${duration(f.window_seconds)}`),
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      grid: { left: 110, right: 90, top: 40, bottom: 50 },
      xAxis: { type: "value", name: "persons", nameLocation: "middle", nameGap: 28 },
      yAxis: { type: "category", inverse: true, data: f.steps.map((st) => st.name) },
      series: [{
        type: "bar", name: "persons", data: f.steps.map((st) => st.persons),
        label: { show: true, position: "right", formatter: (p) => `${fmt("count", p.value)} (${fmt("share", f.steps[p.dataIndex].conversion_from_first)})` },
      }],
    });
    const step = Number(params.list);
    if (!REPORT && step >= 2 && step <= f.steps.length) {
      const l = await api("funnel/persons", { ...request, step, dropped_off: true }, "");
      const rows = l.persons.map((p) => [p]);
      const shown = 200;
      const title = `Dropped off before ${l.name}: ${fmt("count", rows.length)} persons`;
      main.append(panel(title, csvButton(`funnel-dropped-${step}`, ["person"], rows),
        el("h3", { id: "person-list" }, `${fmt("count", rows.length)} persons reached ${f.steps[step - 2].name} and not ${l.name}${rows.length > shown ? ` (the first ${shown} shown; the CSV has all)` : ""}.`),
        el("div", { class: "ids" }, ...rows.slice(0, shown).map((r) => el("span", {}, r[0])))));
    }
    if (f.trend && f.trend.length) {
      const trend = el("div", { class: "chart", id: "funnel-trend" });
      main.append(panel("Conversion over time", csvButton("funnel-trend", ["period", "entered", "converted", "conversion"],
        f.trend.map((t) => [t.period, t.entered, t.converted, t.conversion])), trend));
      chart(trend, {
        title: titled("Conversion by the period persons entered"),
        tooltip: { trigger: "axis" },
        legend: { bottom: 0 },
        grid: { left: 70, right: 60, top: 40, bottom: 72 },
        xAxis: { type: "category", name: "entered", nameLocation: "middle", nameGap: 28, data: f.trend.map((t) => t.period) },
        yAxis: [{ type: "value", name: "conversion", axisLabel: { formatter: (v) => `${(v * 100).toFixed(0)}%` } }, { type: "value", name: "persons" }],
        series: [
          { name: "conversion", type: "line", data: f.trend.map((t) => t.conversion), tooltip: { valueFormatter: (v) => fmt("share", v) } },
          { name: "entered", type: "bar", yAxisIndex: 1, data: f.trend.map((t) => t.entered) },
        ],
      });
    }
  }

  async function retentionPage(main, params) {
    const period = params.by && params.by !== "day" ? params.by : "month";
    const r = await api("retention", { period, periods: 12, since: params.since, until: params.until }, "retention");
    const cohorts = r.cohorts;
    const width = Math.max(0, ...cohorts.map((c) => c.retained.length));
    const offsets = [...Array(width).keys()];
    const heat = el("div", { class: "chart", id: "retention-heatmap", style: `height:${Math.max(340, 26 * cohorts.length + 90)}px` });
    const header = ["cohort", "size", ...offsets.map((o) => `${period} ${o}`)];
    const data = cohorts.map((c) => [c.cohort, c.size, ...offsets.map((o) => c.retained[o] ?? null)]);
    main.append(panel("Retention", csvButton("retention", header, data), heat,
      table(header, cohorts.map((c) => [c.cohort, fmt("count", c.size), ...offsets.map((o) => (c.retained[o] == null || !c.size ? "–" : fmt("share", c.retained[o] / c.size)))]))));
    const cells = [];
    cohorts.forEach((c, y) => offsets.forEach((o) => {
      if (c.retained[o] != null && c.size) cells.push([o, y, c.retained[o] / c.size]);
    }));
    chart(heat, {
      title: titled(`Share of each ${period}'s new customers who came back, by ${period}s since`),
      tooltip: { formatter: (p) => `${cohorts[p.value[1]].cohort}, ${period} ${p.value[0]}: ${fmt("share", p.value[2])}` },
      grid: { left: 100, right: 30, top: 40, bottom: 80 },
      xAxis: { type: "category", name: `${period}s since first`, nameLocation: "middle", nameGap: 28, data: offsets.map(String) },
      yAxis: { type: "category", name: "cohort", nameLocation: "start", inverse: true, data: cohorts.map((c) => c.cohort) },
      visualMap: { min: 0, max: 1, calculable: false, orient: "horizontal", left: "center", bottom: 0, itemHeight: 160, formatter: (v) => `${(v * 100).toFixed(0)}%` },
      series: [{ type: "heatmap", data: cells, label: { show: cells.length <= 200, formatter: (p) => `${(p.value[2] * 100).toFixed(0)}` } }],
    });
    const curves = el("div", { class: "chart", id: "retention-curves" });
    main.append(panel("Retention curves", "", curves));
    const recent = cohorts.filter((c) => c.size > 0).slice(-6);
    chart(curves, {
      title: titled(`Retention curves of the last ${recent.length} cohorts`),
      tooltip: { trigger: "axis", valueFormatter: (v) => fmt("share", v) },
      legend: { bottom: 0 },
      grid: { left: 70, right: 30, top: 40, bottom: 72 },
      xAxis: { type: "category", name: `${period}s since first`, nameLocation: "middle", nameGap: 28, data: offsets.map(String) },
      yAxis: { type: "value", name: "retained", max: 1, axisLabel: { formatter: (v) => `${(v * 100).toFixed(0)}%` } },
      series: recent.map((c) => ({ name: c.cohort, type: "line", data: c.retained.map((v) => (v == null ? null : v / c.size)) })),
    });
  }

  async function customersPage(main, params) {
    const rfmAsked = ask("rfm", { as_of: params.until }, "rfm");
    // CLV is asked for once RFM has come, and drawn after it.
    const clvAsked = rfmAsked.catch(() => {}).then(() => ask("clv", {}, "clv"));
    clvAsked.catch(() => {});
    const rfm = await rfmAsked;
    await libs;
    const seg = el("div", { class: "chart", id: "rfm-segments" });
    const header = ["segment", "customers", "share", "revenue", "revenue_share", "avg_clv"];
    const data = rfm.segments.map((g) => [g.segment, g.customers, g.share, g.revenue, g.revenue_share, g.avg_clv]);
    // A segment's customers: a button on its row (and a click on its bar)
    // opens the list, which the URL keeps.
    const open = (segment) => writeState("customers", { ...params, list: segment });
    const cells = data.map((r) => [r[0], fmt("count", r[1]), fmt("share", r[2]), fmt("money", r[3]), fmt("share", r[4]), fmt("money", r[5])]);
    const segTable = table(REPORT ? header : [...header, ""], REPORT ? cells
      : cells.map((c) => [...c, el("button", { type: "button", "data-list": c[0], onclick: () => open(c[0]) }, "customers")]));
    main.append(panel("RFM segments", csvButton("rfm", header, data), seg, segTable));
    chart(seg, {
      title: titled(`RFM segments as of ${rfm.as_of}: share of customers and of revenue`),
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, valueFormatter: (v) => fmt("share", v) },
      legend: { bottom: 0 },
      grid: { left: 130, right: 40, top: 40, bottom: 72 },
      xAxis: { type: "value", name: "share", nameLocation: "middle", nameGap: 28, axisLabel: { formatter: (v) => `${(v * 100).toFixed(0)}%` } },
      yAxis: { type: "category", inverse: true, data: rfm.segments.map((g) => g.segment) },
      series: [
        { name: "customers", type: "bar", data: rfm.segments.map((g) => g.share) },
        { name: "revenue", type: "bar", data: rfm.segments.map((g) => g.revenue_share) },
      ],
    }, (c) => c.on("click", (p) => { if (!REPORT) open(p.name); }));
    if (params.list && !REPORT) {
      const l = await api("rfm/customers", { as_of: params.until, segments: params.list }, "");
      const lh = ["customer_id", "segment", "recency_days", "frequency", "monetary", "r", "f", "m", "clv"];
      const rows = l.customers.map((c) => [c.customer_id, c.segment, c.recency_days, c.frequency, c.monetary, c.r, c.f, c.m, c.clv]);
      const shown = 200;
      main.append(panel(`Customers: ${params.list}`, csvButton(`customers-${params.list}`, lh, rows),
        el("h3", { id: "customer-list" }, `${params.list}: ${fmt("count", rows.length)} customers as of ${l.as_of}${rows.length > shown ? ` (the first ${shown} shown; the CSV has all)` : ""}`),
        table(lh, rows.slice(0, shown).map((r) => [r[0], r[1], fmt("count", r[2]), fmt("count", r[3]), fmt("money", r[4]), r[5], r[6], r[7], fmt("money", r[8])]))));
    }
    const clv = await clvAsked;
    const hist = el("div", { class: "chart", id: "clv-histogram" });
    const totals = [["customers", fmt("count", clv.customers)], ["repeat buyers", fmt("count", clv.repeat_buyers)],
      ["expected purchases (horizon)", fmt("number", clv.expected_purchases)], ["total CLV", fmt("money", clv.total_clv)]];
    main.append(panel("CLV", csvButton("clv-histogram", ["purchases", "actual", "predicted"], clv.histogram.map((h) => [h.purchases, h.actual, h.predicted])),
      table(["measure", "value"], totals), hist));
    chart(hist, {
      title: titled(`${clv.model} fit: customers by repeat purchases, actual against predicted`),
      tooltip: { trigger: "axis" },
      legend: { bottom: 0 },
      grid: { left: 70, right: 30, top: 40, bottom: 72 },
      xAxis: { type: "category", name: "repeat purchases", nameLocation: "middle", nameGap: 28, data: clv.histogram.map((h) => String(h.purchases)) },
      yAxis: { type: "value", name: "customers" },
      series: [
        { name: "actual", type: "bar", data: clv.histogram.map((h) => h.actual) },
        { name: "predicted", type: "bar", data: clv.histogram.map((h) => h.predicted), tooltip: { valueFormatter: (v) => fmt("number", v) } },
      ],
    });
  }

  // ISO 3166-2:CN to the names in china.json.
  const CN_NAMES = {
    "CN-AH": "安徽", "CN-BJ": "北京", "CN-CQ": "重庆", "CN-FJ": "福建", "CN-GD": "广东", "CN-GS": "甘肃",
    "CN-GX": "广西", "CN-GZ": "贵州", "CN-HA": "河南", "CN-HB": "湖北", "CN-HE": "河北", "CN-HI": "海南",
    "CN-HK": "香港", "CN-HL": "黑龙江", "CN-HN": "湖南", "CN-JL": "吉林", "CN-JS": "江苏", "CN-JX": "江西",
    "CN-LN": "辽宁", "CN-MO": "澳门", "CN-NM": "内蒙古", "CN-NX": "宁夏", "CN-QH": "青海", "CN-SC": "四川",
    "CN-SD": "山东", "CN-SH": "上海", "CN-SN": "陕西", "CN-SX": "山西", "CN-TJ": "天津", "CN-TW": "台湾",
    "CN-XJ": "新疆", "CN-XZ": "西藏", "CN-YN": "云南", "CN-ZJ": "浙江",
  };

  // A map's GeoJSON: inlined in a report, fetched from the server otherwise.
  // Each is fetched once per page load.
  const maps = {};
  function geo(name) {
    if (window.KOUBEI_MAPS) return Promise.resolve(window.KOUBEI_MAPS[name]);
    maps[name] ||= fetch(`/assets/${name}`).then((r) => r.json());
    return maps[name];
  }

  async function reachSection(main, reach) {
    const r = await reach;
    const header = ["code", "name", "customers"];
    const regions = r.home_region_customers.map((p) => [p.code, p.name, p.customers]);
    const countries = r.country_customers.map((p) => [p.code, p.name, p.customers]);
    const homeMap = el("div", { class: "chart map", id: "reach-home" });
    main.append(panel("Reach at home", csvButton("reach-regions", header, regions), homeMap,
      el("p", { class: "cmp" }, `${r.home_regions} of ${r.home_regions_total} regions of ${r.home} reached by ${fmt("count", r.reached)} referred customers (${fmt("share", r.home_coverage)}).`),
      table(header, regions.map((x) => [x[0], x[1], fmt("count", x[2])]))));
    const most = Math.max(1, ...r.home_region_customers.map((p) => p.customers));
    if (r.home === "CN") {
      chart(homeMap, async () => {
        echarts.registerMap("china", await geo("china.json"));
        return {
          title: titled("Referred customers by province (sketch map 示意图)"),
          tooltip: { trigger: "item", formatter: (p) => `${p.name}: ${fmt("count", p.value || 0)}` },
          visualMap: { min: 0, max: most, left: 10, bottom: 10, text: ["customers", ""], calculable: true },
          series: [{
            type: "map", map: "china", roam: false, top: 50, bottom: 10, label: { show: false },
            data: r.home_region_customers.map((p) => ({ name: CN_NAMES[p.code] || p.name, value: p.customers })),
          }],
        };
      });
    } else {
      chart(homeMap, {
        title: titled(`Referred customers by region of ${r.home}`),
        tooltip: { trigger: "axis" },
        grid: { left: 140, right: 30, top: 40, bottom: 40 },
        xAxis: { type: "value", name: "customers" },
        yAxis: { type: "category", inverse: true, data: r.home_region_customers.map((p) => p.name) },
        series: [{ type: "bar", data: r.home_region_customers.map((p) => p.customers) }],
      });
    }
    const worldMap = el("div", { class: "chart map", id: "reach-world" });
    main.append(panel("Reach in the world", csvButton("reach-countries", header, countries), worldMap,
      el("p", { class: "cmp" }, `${r.countries} countries on ${r.continents} continents; ${r.overseas_countries} overseas.`)));
    chart(worldMap, async () => {
      const topo = await geo("countries-110m.json");
      const world = topojson.feature(topo, topo.objects.countries);
      // Rings that cross the antimeridian (Russia, Fiji) would be drawn as
      // bands across the map: their western points move east of 180°.
      // Antarctica takes room and holds no customers.
      const unwrap = (ring) => {
        const lons = ring.map((p) => p[0]);
        return Math.max(...lons) - Math.min(...lons) > 180 ? ring.map(([x, y]) => [x < 0 ? x + 360 : x, y]) : ring;
      };
      world.features = world.features.filter((f) => f.properties.name !== "Antarctica" && f.geometry);
      for (const f of world.features) {
        const g = f.geometry;
        if (g.type === "Polygon") g.coordinates = g.coordinates.map(unwrap);
        if (g.type === "MultiPolygon") g.coordinates = g.coordinates.map((poly) => poly.map(unwrap));
      }
      const byNumeric = Object.fromEntries(world.features.map((f) => [f.id, f.properties.name]));
      echarts.registerMap("world", world);
      return {
        title: titled("Referred customers by country (Natural Earth 1:110m)"),
        tooltip: { trigger: "item", formatter: (p) => `${p.name}: ${fmt("count", p.value || 0)}` },
        visualMap: { min: 0, max: Math.max(1, ...r.country_customers.map((p) => p.customers)), left: 10, bottom: 10, text: ["customers", ""], calculable: true },
        series: [{
          type: "map", map: "world", roam: false, top: 50, bottom: 10,
          data: r.country_customers.map((p) => ({ name: byNumeric[p.numeric] || p.name, value: p.customers })),
        }],
      };
    });
    if (r.over_time.length) {
      const curve = el("div", { class: "chart", id: "reach-coverage" });
      main.append(panel("Coverage over time", csvButton("reach-coverage", ["period", "reached", "home_coverage", "global_coverage"],
        r.over_time.map((t) => [t.period, t.reached, t.home_coverage, t.global_coverage])), curve));
      chart(curve, {
        title: titled(`Share of ${r.home}'s regions and of the world's countries reached, so far`),
        tooltip: { trigger: "axis", valueFormatter: (v) => fmt("share", v) },
        legend: { bottom: 0 },
        grid: { left: 70, right: 30, top: 40, bottom: 72 },
        xAxis: { type: "category", name: "period", nameLocation: "middle", nameGap: 28, data: r.over_time.map((t) => t.period) },
        yAxis: { type: "value", name: "coverage", max: 1, axisLabel: { formatter: (v) => `${(v * 100).toFixed(0)}%` } },
        series: [
          { name: `${r.home} regions`, type: "line", data: r.over_time.map((t) => t.home_coverage) },
          { name: "world countries", type: "line", data: r.over_time.map((t) => t.global_coverage) },
        ],
      });
    }
  }

  function tree(node) {
    return { name: node.id, children: (node.children || []).map(tree) };
  }

  async function womPage(main, params) {
    // The three answers are asked for one after another: at a million
    // customers, asking for them at once took 23 s against 19.5 s in turn
    // (they compete for the same cores). The maps load meanwhile.
    geo("china.json");
    geo("countries-110m.json");
    // Only the periods are drawn: the referral funnel is left out.
    const asked = ask("wom/metrics", { by: params.by && params.by !== "day" ? params.by : "month", funnel: false }, "wom_metrics");
    // Each next answer is asked for as soon as the one before is in, and
    // drawn meanwhile.
    const reach = asked.catch(() => {}).then(() => ask("wom/reach", { home: "CN" }, "wom_reach"));
    const cascades = reach.catch(() => {}).then(() => ask("wom/cascades", { top: 3 }, "wom_cascades"));
    reach.catch(() => {});
    // Their failures are shown where they are awaited, not reported before.
    cascades.catch(() => {});
    const m = await asked;
    await libs;
    const periods = m.periods.filter((p) => p.period <= params.until && p.period >= params.since.slice(0, 7));
    const line = el("div", { class: "chart", id: "wom-trend" });
    const header = ["period", "buyers", "customer_share_rate", "order_share_rate", "shares", "k_factor", "new_customers_from_shares"];
    const data = periods.map((p) => [p.period, p.buyers, p.customer_share_rate, p.order_share_rate, p.shares, p.k_factor, p.new_customers_from_shares]);
    main.append(panel("Share rate and K-factor", csvButton("wom", header, data), line,
      table(header, data.map((r) => [r[0], fmt("count", r[1]), fmt("share", r[2]), fmt("share", r[3]), fmt("count", r[4]), fmt("number", r[5]), fmt("count", r[6])]))));
    chart(line, {
      title: titled(`Share rate and K-factor by ${m.by}`),
      tooltip: { trigger: "axis" },
      legend: { bottom: 0 },
      grid: { left: 70, right: 70, top: 40, bottom: 72 },
      xAxis: { type: "category", name: m.by, nameLocation: "middle", nameGap: 28, data: periods.map((p) => p.period) },
      yAxis: [{ type: "value", name: "share rate", axisLabel: { formatter: (v) => `${(v * 100).toFixed(0)}%` } }, { type: "value", name: "K-factor" }],
      series: [
        { name: "customer share rate", type: "line", data: periods.map((p) => p.customer_share_rate), tooltip: { valueFormatter: (v) => fmt("share", v) } },
        { name: "K-factor", type: "line", yAxisIndex: 1, data: periods.map((p) => p.k_factor), tooltip: { valueFormatter: (v) => fmt("number", v) } },
      ],
    });
    await breathe();
    await reachSection(main, reach);
    const c = await cascades;
    for (const [i, cascade] of c.largest.entries()) {
      const box = el("div", { class: "chart", id: `cascade-${i}` });
      main.append(panel(`Cascade ${i + 1}`, "", box));
      chart(box, {
        title: titled(`Cascade from ${cascade.root}: ${cascade.size} customers, depth ${cascade.depth}, started ${cascade.started}`),
        tooltip: { trigger: "item" },
        series: [{ type: "tree", data: [tree(cascade.tree)], top: 50, bottom: 20, left: 80, right: 120, symbolSize: 9, initialTreeDepth: -1, label: { position: "left", fontSize: 11 }, leaves: { label: { position: "right" } } }],
      });
    }
  }

  // The service dimensions shops are rated on (DSR), and price.
  const ASPECTS = [["description", "描述相符 description"], ["service", "服务态度 service"], ["logistics", "物流服务 logistics"], ["price", "价格 price"]];

  async function reviewsPage(main, params) {
    const by = params.by || "month";
    const asked = ask("reviews", { since: params.since, until: params.until, by }, "reviews");
    // The terms and the products are asked for in turn while this is drawn.
    const termsAsked = asked.catch(() => {}).then(() => ask("reviews/terms", { since: params.since, until: params.until, top: 10 }, "reviews_terms"));
    const productsAsked = termsAsked.catch(() => {}).then(() =>
      ask("reviews", { since: params.since, until: params.until, by: "product", top: 10, rank_by_bayesian_mean: true, by_rating: false }, "reviews_product"));
    termsAsked.catch(() => {});
    productsAsked.catch(() => {});
    const r = await asked;
    await libs;
    const t = r.total;
    const c = t.change || {};
    const diff = (v, unit) => (v == null ? { text: "–", cls: "" }
      : { text: `${v >= 0 ? "▲ +" : "▼ "}${unit === "stars" ? v.toFixed(2) : (v * 100).toFixed(1)}${unit === "stars" ? "★" : " pts"}`, cls: v >= 0 ? "up" : "down" });
    const cards = [
      ["reviews", "Reviews", "count", t.reviews, growth(c.reviews)],
      ["mean_rating", "Mean rating", "number", t.mean_rating, diff(c.mean_rating, "stars")],
      ["csat", "CSAT / 好评率 (4–5★)", "share", t.csat, diff(c.csat, "points")],
      ["nps", "NPS-like (5★ − 1–3★)", "number", t.nps, null],
      ["review_rate", "Reviews per paid order", "share", t.review_rate, null],
      ["refund_rate", "Refund rate", "share", t.refund_rate, null],
      ["positive_share", "Positive texts", "share", t.positive_share, null],
    ];
    const box = el("div", { class: "cards" });
    for (const [key, label, unit, value, ch] of cards) {
      box.append(el("div", { class: "card", "data-kpi": key, "data-value": value ?? "" },
        el("div", { class: "label" }, label), el("div", { class: "value" }, fmt(unit, value)),
        ch ? el("div", { class: "cmp" }, el("span", { class: ch.cls }, ch.text), " vs previous") : ""));
    }
    main.append(el("h2", {}, `${params.since} to ${params.until}`),
      el("p", { class: "cmp" }, `Sentiment by the ${r.model} model.${r.previous ? ` Compared with ${r.previous[0]} to ${r.previous[1]}.` : ""}`), box);

    const stars = el("div", { class: "chart", id: "reviews-stars" });
    const dsr = el("div", { class: "chart", id: "reviews-dsr" });
    main.append(el("div", { class: "pair" },
      panel("Stars", csvButton("reviews-stars", ["stars", "reviews"], t.stars.map((n, i) => [i + 1, n])), stars),
      panel("Service dimensions (DSR)", csvButton("reviews-dsr", ["dimension", "score", "reviews"], ASPECTS.map(([k]) => [k, t[k].score, t[k].reviews])), dsr)));
    chart(stars, {
      title: titled(`Reviews by stars: mean ${fmt("number", t.mean_rating)}, ${fmt("count", t.rated)} rated`),
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      grid: { left: 70, right: 30, top: 40, bottom: 50 },
      xAxis: { type: "category", name: "stars", nameLocation: "middle", nameGap: 28, data: ["1★", "2★", "3★", "4★", "5★"] },
      yAxis: { type: "value", name: "reviews" },
      series: [{ type: "bar", name: "reviews", data: t.stars, itemStyle: { color: (p) => ["#c23531", "#e07b39", "#d4b106", "#7cb305", "#389e0d"][p.dataIndex] } }],
    });
    chart(dsr, {
      title: titled("Scored 1–5 from what the reviews say"),
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, formatter: (ps) => ps.map((p) => `${p.name}: ${fmt("number", p.value)} (${fmt("count", t[ASPECTS[p.dataIndex][0]].reviews)} reviews)`).join("<br>") },
      grid: { left: 150, right: 50, top: 40, bottom: 50 },
      xAxis: { type: "value", name: "score", nameLocation: "middle", nameGap: 28, min: 1, max: 5 },
      yAxis: { type: "category", inverse: true, data: ASPECTS.map(([, n]) => n) },
      series: [{ type: "bar", data: ASPECTS.map(([k]) => t[k].score), label: { show: true, position: "right", formatter: (p) => fmt("number", p.value) } }],
    });
    await breathe();

    const trend = el("div", { class: "chart", id: "reviews-trend" });
    const header = ["period", "reviews", "mean_rating", "csat", "nps", "review_rate", "refund_rate", ...ASPECTS.map(([k]) => `dsr_${k}`)];
    const rows = r.rows.map((x) => [x.key, x.reviews, x.mean_rating, x.csat, x.nps, x.review_rate, x.refund_rate, ...ASPECTS.map(([k]) => x[k].score)]);
    main.append(panel(`Ratings by ${by}`, csvButton("reviews-trend", header, rows), trend,
      table(header, rows.map((x) => [x[0], fmt("count", x[1]), fmt("number", x[2]), fmt("share", x[3]), fmt("number", x[4]), fmt("share", x[5]), fmt("share", x[6]), ...x.slice(7).map((v) => fmt("number", v))]))));
    chart(trend, {
      title: titled(`Mean rating and CSAT by ${by}`),
      tooltip: { trigger: "axis" },
      legend: { bottom: 0 },
      grid: { left: 70, right: 70, top: 40, bottom: 72 },
      xAxis: { type: "category", name: by, nameLocation: "middle", nameGap: 28, data: r.rows.map((x) => x.key) },
      yAxis: [{ type: "value", name: "stars", min: 1, max: 5 }, { type: "value", name: "CSAT", max: 1, axisLabel: { formatter: (v) => `${(v * 100).toFixed(0)}%` } }],
      series: [
        { name: "mean rating", type: "line", data: r.rows.map((x) => x.mean_rating), tooltip: { valueFormatter: (v) => fmt("number", v) } },
        { name: "CSAT", type: "line", yAxisIndex: 1, data: r.rows.map((x) => x.csat), tooltip: { valueFormatter: (v) => fmt("share", v) } },
      ],
    });
    await breathe();

    // A tag or a term opens the reviews behind it, which the URL keeps.
    const openReviews = (filter) => writeState("reviews", { since: params.since, until: params.until, by: params.by, ...filter });
    const tagRows = r.tags.map((g) => [g.aspect, g.tag, g.label, g.reviews]);
    const chip = (g) => {
      const text = `${g.tag} (${fmt("count", g.reviews)})`;
      return el("li", { "data-tag": g.tag }, REPORT ? text
        : el("button", { type: "button", class: "link", title: "the reviews behind it", onclick: () => openReviews({ tag: g.tag, aspect: g.aspect }) }, text));
    };
    const list = (label) => el("ul", { class: `tags ${label}` }, ...r.tags.filter((g) => g.label === label).map(chip));
    main.append(panel("What customers say 大家印象", csvButton("reviews-tags", ["aspect", "tag", "label", "reviews"], tagRows),
      el("h3", {}, "What customers say 大家印象"),
      el("div", { class: "pair" }, el("div", {}, el("h4", {}, "Praise 好评"), list("positive")), el("div", {}, el("h4", {}, "Complaints 差评"), list("negative")))));
    if ((params.tag || params.term) && !REPORT) {
      const l = await api("reviews/list", { since: params.since, until: params.until, tag: params.tag, aspect: params.aspect, term: params.term, limit: 200 }, "");
      const lh = ["review_id", "ts", "customer_id", "product_id", "rating", "p_positive", "label", "text"];
      const lr = l.rows.map((x) => [x.review_id, x.ts, x.customer_id, x.product_id, x.rating, x.p_positive, x.label, x.text]);
      const what = params.tag ? `tag ${params.tag}` : `term ${params.term}`;
      main.append(panel(`Reviews: ${what}`, csvButton(`reviews-${what.replace(" ", "-")}`, lh, lr),
        el("h3", { id: "review-list" }, `${fmt("count", l.matched)} reviews with the ${what}, newest first${l.matched > lr.length ? ` (the first ${lr.length} shown)` : ""}`),
        table(lh, lr.map((x) => [x[0], x[1].slice(0, 10), x[2] ?? "", x[3] ?? "", x[4] == null ? "–" : `${x[4]}★`, fmt("number", x[5]), x[6] ?? "", x[7] ?? ""]), "texts")));
    }

    let terms;
    try {
      terms = await termsAsked;
    } catch (e) {
      // Terms need both bad and good reviews in the range.
      main.append(panel("Complaint terms", "", el("p", { class: "cmp", id: "reviews-terms-none" }, e.message)));
    }
    if (terms) {
    const th = ["term", "z", "bad_reviews", "good_reviews", "share", "mean_with", "mean_without", "drag", "example"];
    const termRows = (ts) => ts.map((x) => [x.term, x.z, x.bad_reviews, x.good_reviews, x.share, x.mean_with, x.mean_without, x.drag, x.examples[0] ?? ""]);
    const termTable = (ts) => table(th, termRows(ts).map((x) => [
      REPORT ? x[0] : el("button", { type: "button", class: "link", "data-term": x[0], title: "the reviews that use it", onclick: () => openReviews({ term: x[0] }) }, x[0]),
      fmt("number", x[1]), fmt("count", x[2]), fmt("count", x[3]), fmt("share", x[4]), fmt("number", x[5]), fmt("number", x[6]), fmt("number", x[7]), x[8]]), "texts");
    main.append(panel("Complaint terms", csvButton("reviews-terms", ["kind", ...th], [
      ...termRows(terms.complaints).map((x) => ["complaint", ...x]), ...termRows(terms.praise).map((x) => ["praise", ...x])]),
      el("h3", {}, `What ${fmt("count", terms.bad)} bad (1–2★) reviews say that ${fmt("count", terms.good)} good (4–5★) ones do not; drag: the stars the mean would gain without it`),
      termTable(terms.complaints), el("h4", {}, "Praise"), termTable(terms.praise)));
    }

    const after = el("div", { class: "chart", id: "reviews-after" });
    const ah = ["rating", "customers", "repeat_rate", "orders_after", "revenue_after", "revenue_per_customer", "refund_rate", "avg_clv"];
    const ar = r.by_rating.map((o) => [o.rating, o.customers, o.repeat_rate, o.orders_after, o.revenue_after, o.revenue_per_customer, o.refund_rate, o.avg_clv]);
    main.append(panel("After their rating", csvButton("reviews-after", ah, ar), after,
      table(ah, ar.map((x) => [`${x[0]}★`, fmt("count", x[1]), fmt("share", x[2]), fmt("number", x[3]), fmt("money", x[4]), fmt("money", x[5]), fmt("share", x[6]), x[7] == null ? "–" : fmt("money", x[7])]))));
    chart(after, {
      title: titled("Customers by their first rating: who bought again, and refunds"),
      tooltip: { trigger: "axis", valueFormatter: (v) => fmt("share", v) },
      legend: { bottom: 0 },
      grid: { left: 70, right: 30, top: 40, bottom: 72 },
      xAxis: { type: "category", name: "rating", nameLocation: "middle", nameGap: 28, data: r.by_rating.map((o) => `${o.rating}★`) },
      yAxis: { type: "value", name: "share", axisLabel: { formatter: (v) => `${(v * 100).toFixed(0)}%` } },
      series: [
        { name: "bought again", type: "bar", data: r.by_rating.map((o) => o.repeat_rate) },
        { name: "order refunded", type: "bar", data: r.by_rating.map((o) => o.refund_rate) },
      ],
    });

    const p = await productsAsked;
    const ph = ["product", "reviews", "mean_rating", "bayesian_mean", "csat", "review_rate", "refund_rate"];
    const pr = p.rows.map((x) => [x.key, x.reviews, x.mean_rating, x.bayesian_mean, x.csat, x.review_rate, x.refund_rate]);
    main.append(panel("Most reviewed products", csvButton("reviews-products", ph, pr),
      el("h3", {}, `The ${pr.length} most reviewed products, ranked by Bayesian mean (a prior of ${fmt("number", p.prior_reviews)} ratings at ${fmt("number", p.prior_mean)})`),
      table(ph, pr.map((x) => [x[0], fmt("count", x[1]), fmt("number", x[2]), fmt("number", x[3]), fmt("share", x[4]), fmt("share", x[5]), fmt("share", x[6])]))));
  }

  // Which model answered, as the API says it.
  function modelUsed(m) {
    const name = (MODELS.find(([k]) => k === m.model) || [m.model, m.model])[1];
    return `${name}, ${m.trained_at ? `stored model trained ${m.trained_at}${m.stale ? " (the data changed since: train again)" : ""}` : "fitted now on every paid order"}`;
  }

  // Recommendations: what goes together, whom to win back with what, one
  // customer's top 10, and how well each model predicts.
  async function recsPage(main, params) {
    const model = params.model || "itemknn";
    const segment = params.segment || "At Risk";
    if (!REPORT) {
      const pick = el("select", { id: "recs-model", "aria-label": "model" }, ...MODELS.map(([v, t]) => el("option", { value: v }, t)));
      pick.value = model;
      pick.addEventListener("change", () => writeState("recs", { ...params, model: pick.value }));
      document.getElementById("controls").append(el("label", { for: "recs-model" }, "Model"), pick);
    }

    // The pairs and the segment's list are asked for at once.
    const shown = 20;
    const asked = api("recommend/export", { segments: segment, n: 3, model, limit: REPORT ? shown : 0 }, "recs_winback");
    // Its failure is shown where it is awaited, not reported before.
    asked.catch(() => {});
    const t = await api("recommend/together", { top: 15 }, "recs_together");
    const th = ["product", "with", "orders", "support", "confidence", "lift"];
    const tr = t.rules.map((r) => [r.product, r.with, r.orders, r.support, r.confidence, r.lift]);
    const lifts = el("div", { class: "chart", id: "recs-together" });
    main.append(panel("Bought together 搭配购买", csvButton("recs-together", th, tr), lifts,
      el("h3", {}, `Products in the same orders, of ${fmt("count", t.orders)} paid orders: lift is how many times more often than chance; confidence, the share of orders with the first that hold the second`),
      table(th, tr.map((r) => [r[0], r[1], fmt("count", r[2]), `${(r[3] * 100).toFixed(3)}%`, fmt("share", r[4]), fmt("number", r[5])]))));
    // A pair's two rules share their lift: the chart shows each pair once.
    const seen = new Set();
    const pairs = t.rules.filter((r) => { const k = [r.product, r.with].sort().join(" "); return !seen.has(k) && seen.add(k); });
    chart(lifts, {
      title: titled("Strongest pairs by lift"),
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, formatter: (ps) => ps.map((p) => { const r = pairs[p.dataIndex]; return `${r.product} + ${r.with}<br>lift ${fmt("number", r.lift)}, ${fmt("count", r.orders)} orders together`; }).join("") },
      grid: { left: 130, right: 40, top: 40, bottom: 48 },
      xAxis: { type: "value", name: "lift (× chance)", nameLocation: "middle", nameGap: 28 },
      yAxis: { type: "category", inverse: true, data: pairs.map((r) => `${r.product} + ${r.with}`) },
      series: [{ type: "bar", name: "lift", data: pairs.map((r) => r.lift) }],
    });

    // A segment's customers with their top 3: the win-back list.
    const w = await asked;
    const wh = ["customer_id", "segment", "rank", "product_id", "score"];
    const wr = w.customers.flatMap((c) => c.products.map((p, i) => [c.customer_id, c.segment, i + 1, p.product, p.score]));
    const segPick = REPORT ? "" : el("select", { id: "recs-segment", "aria-label": "segment" }, ...SEGMENTS.map((g) => el("option", { value: g }, g)));
    if (segPick) {
      segPick.value = segment;
      segPick.addEventListener("change", () => writeState("recs", { ...params, segment: segPick.value }));
    }
    const rows = w.customers.slice(0, shown).map((c) => [
      REPORT ? c.customer_id : el("button", { type: "button", class: "link", "data-customer": c.customer_id, title: "this customer's top 10", onclick: () => writeState("recs", { ...params, customer: c.customer_id }) }, c.customer_id),
      ...[0, 1, 2].map((i) => (c.products[i] ? c.products[i].product : "–"))]);
    main.append(panel("Win back 召回", csvButton(`recs-${segment.replace(/\W+/g, "-")}`, wh, wr),
      el("h3", { id: "recs-winback" }, `${segment}: ${fmt("count", w.matched)} customers, each with the 3 products most likely to bring them back, by ${modelUsed(w)}${w.matched > rows.length ? ` (the first ${rows.length} shown${REPORT ? "" : "; the CSV has all"})` : ""}`),
      ...(segPick ? [el("div", { class: "tools-left" }, el("label", { for: "recs-segment" }, "Segment "), segPick)] : []),
      table(["customer", "1st", "2nd", "3rd"], rows)));
    if (REPORT) return;

    // One customer's top 10: the URL keeps who.
    const who = params.customer || (w.customers[0] && w.customers[0].customer_id);
    const input = el("input", { type: "text", id: "recs-customer", value: who || "", "aria-label": "customer_id", placeholder: "customer_id" });
    const go = () => writeState("recs", { ...params, customer: input.value.trim() });
    input.addEventListener("change", go);
    const box = panel("For one customer 个性化推荐", "", el("div", { class: "tools-left" }, el("label", { for: "recs-customer" }, "Customer "), input));
    main.append(box);
    if (who) {
      try {
        const f = await api("recommend/for", { customer: who, n: 10, model }, "");
        const fh = ["rank", "product_id", "score"];
        const fr = f.products.map((p, i) => [i + 1, p.product, p.score]);
        box.firstChild.replaceChildren(csvButton(`recs-${who}`, fh, fr));
        box.append(el("h3", { id: "recs-for" }, `${who}: ${fmt("count", f.bought)} products bought; the top ${fr.length} of the rest, by ${modelUsed(f)}`),
          table(fh, fr.map((r) => [r[0], r[1], fmt("number", r[2])])));
      } catch (e) {
        box.append(el("p", { class: "cmp", id: "recs-for-error" }, String(e.message || e)));
      }
    }

    // Measuring fits every model again: on a click, not on every visit.
    const ev = panel("Which model predicts best", "", el("p", {}, "Each model trains on the earliest 80% of order lines and is judged on whether it names the products bought in the latest 20%."));
    main.append(ev);
    const show = async () => {
      const e = await api("recommend/evaluate", {}, "");
      const eh = ["model", "precision", "recall", "ndcg", "map", "coverage", "ndcg_vs_pop", "fit_seconds"];
      const er = e.models.map((m) => [m.model, m.precision, m.recall, m.ndcg, m.map, m.coverage, m.vs_pop[2], m.fit_seconds]);
      const c = el("div", { class: "chart", id: "recs-evaluate" });
      ev.replaceChildren(el("div", { class: "tools" }, csvButton("recs-evaluate", eh, er)), c,
        el("h3", {}, `At k = ${e.k}, over ${fmt("count", e.customers)} customers with orders in both parts`),
        table(eh, er.map((r) => [r[0], ...r.slice(1, 5).map((v) => v.toFixed(4)), fmt("share", r[5]), r[6] == null ? "–" : `${fmt("number", r[6])}×`, fmt("number", r[7])])));
      chart(c, {
        title: titled(`NDCG@${e.k} and recall@${e.k} on the latest orders`),
        tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, valueFormatter: (v) => v.toFixed(4) },
        legend: { bottom: 0 },
        grid: { left: 70, right: 30, top: 40, bottom: 72 },
        xAxis: { type: "category", name: "model", nameLocation: "middle", nameGap: 28, data: e.models.map((m) => m.model) },
        yAxis: { type: "value", name: "score (0–1)" },
        series: [
          { name: `NDCG@${e.k}`, type: "bar", data: e.models.map((m) => m.ndcg) },
          { name: `recall@${e.k}`, type: "bar", data: e.models.map((m) => m.recall) },
        ],
      });
    };
    ev.append(el("button", { type: "button", id: "recs-measure", onclick: () => show().catch((x) => ev.append(el("p", { class: "error" }, String(x.message || x)))) }, "Measure the models"));
    if (params.measure) await show();
  }

  const DRAW = { overview: overviewPage, sales: salesPage, funnel: funnelPage, retention: retentionPage, customers: customersPage, wom: womPage, reviews: reviewsPage, recs: recsPage };

  // ---- the page --------------------------------------------------------------

  // The chart libraries (deferred scripts) have run by DOMContentLoaded;
  // this script runs before (it ends the page's body) and asks for the
  // page's data meanwhile. Not by readyState: it is already "interactive"
  // while the deferred scripts still run.
  const libs = new Promise((resolve) => {
    if (window.echarts && window.topojson) return resolve();
    document.addEventListener("DOMContentLoaded", resolve, { once: true });
    window.addEventListener("load", resolve, { once: true });
  });
  // The default range (30 days to the last order) comes with the page
  // when the server can tell it; otherwise from the default range's sales
  // cards, which the overview then shows.
  const served = document.getElementById("page").dataset;
  let defaults = !REPORT && served.since && served.until ? { since: served.since, until: served.until } : null;
  let firstOverview = null;

  async function draw() {
    while (charts.length) charts.pop().dispose();
    observers.splice(0).forEach((o) => o.disconnect());
    const { page, params } = readState();
    const nav = () => document.getElementById("pages").replaceChildren(...PAGES.map(([p, t]) =>
      el("a", { href: `#${p}?${new URLSearchParams(Object.entries(params).filter(([k]) => k !== "breakdown" && k !== "list"))}`, class: p === page ? "active" : "" }, t)));
    nav();
    const main = document.getElementById("page");
    main.replaceChildren();
    main.dataset.state = "loading";
    try {
      // One date range for every page: by default, 30 days to the last order.
      if (!defaults) {
        firstOverview = ask("overview", REPORT ? {} : { cards: "sales" }, "overview");
        defaults = (await firstOverview).range;
      }

      const range = { since: params.since || defaults.since, until: params.until || defaults.until, last: defaults.until };
      if (!params.since || !params.until) {
        // The range goes into the URL without a second draw: a hashchange
        // would wait for the chart library to run.
        Object.assign(params, { since: range.since, until: range.until });
        history.replaceState(null, "", hashOf(page, params));
        nav();
      }
      controls(page, params, range);
      await DRAW[page](main, params);
      await Promise.all(drawing.splice(0));
      // Milliseconds from navigation to the data drawn, for benchmarks.
      main.dataset.ms = Math.round(performance.now());
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
      const skipped = REPORT.sections.skipped || {};
      for (const [title, page, params, needs] of [
        ["Overview 概览", overviewPage, { since, until }, "overview"],
        ["Sales 销售", salesPage, { since, until, by: "month" }, "sales"],
        ["Sales by country 各国销售", salesPage, { since, until, by: "month", breakdown: "country" }, "sales_country"],
        ["Funnel 转化", funnelPage, { since, until }, "funnel"],
        ["Retention 留存", retentionPage, { since, until }, "retention"],
        ["RFM & CLV 客户价值", customersPage, { since, until }, "rfm"],
        ["Word of mouth 口碑", womPage, { since, until }, "wom_metrics"],
        ["Reviews 评价", reviewsPage, { since, until }, "reviews"],
        ["Recommendations 推荐", recsPage, {}, "recs_together"],
      ]) {
        const section = el("section", {}, el("h2", {}, title));
        main.append(section);
        if (needs in skipped) section.append(el("p", {}, `Not in this report: ${skipped[needs]}`));
        else await page(section, params);
      }
      await Promise.all(drawing.splice(0));
      main.dataset.state = "ready";
    } catch (e) {
      main.append(el("div", { class: "error" }, String(e.message || e)));
      main.dataset.state = "error";
    }
  }

  window.addEventListener("resize", () => charts.forEach((c) => c.resize()));
  if (REPORT) {
    libs.then(drawReport);
  } else {
    window.addEventListener("hashchange", draw);
    draw();
  }
})();
