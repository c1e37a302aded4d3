//! Every report as a [`View`]: titled sections of typed columns, which the
//! terminal table, the CSV, the HTML report and the dashboard render.
//!
//! A view only arranges the report's numbers; it computes none.

use koubei_engine::clv_report::ClvReport;
use koubei_engine::funnel_query::{FunnelReport, FunnelStep};
use koubei_engine::retention::RetentionReport;
use koubei_engine::rfm_report::RfmReport;
use koubei_engine::sales::SalesReport;
use koubei_engine::wom::{CascadeReport, MetricsReport, ReachReport};
use koubei_view::{Cell, Column, Kind, Section, View, human_seconds, number};

use crate::demo::DemoReport;
use crate::import::Imported;
use crate::overview::OverviewReport;
use crate::tables::TablesReport;
use crate::wom::{SeedsReport, SimulateReport};

/// A report that can be shown.
pub trait ToView {
    fn view(&self) -> View;
}

fn col(name: &str, kind: Kind) -> Column {
    Column::new(name, kind)
}

fn text(name: &str) -> Column {
    col(name, Kind::Text)
}

fn count(name: &str) -> Column {
    col(name, Kind::Count)
}

impl ToView for TablesReport {
    fn view(&self) -> View {
        let mut s = Section::new(
            None,
            vec![
                text("table"),
                count("rows").missing("-"),
                count("version").missing("-"),
                text("last_import").missing("-"),
                text("source").missing("-"),
            ],
        );
        for i in &self.tables {
            s.row(vec![
                i.name.as_str().into(),
                i.rows.into(),
                i.version.into(),
                i.last_import.clone().into(),
                i.last_source.clone().into(),
            ]);
        }
        View::new(vec![s])
    }
}

/// A rejected row, as the import's summary and its error show it.
pub fn describe_reject(source: &str, r: &koubei_store::Reject) -> String {
    let col = r
        .column
        .as_deref()
        .map(|c| format!(", column {c}"))
        .unwrap_or_default();
    format!("rejected: {source}, line {}{col}: {}", r.line, r.reason)
}

impl ToView for Imported {
    fn view(&self) -> View {
        let r = &self.report;
        let mut s = Section::new(
            None,
            vec![
                text("table"),
                count("read"),
                count("loaded"),
                count("already_present"),
                count("rejected"),
                count("version").missing("-"),
            ],
        );
        s.row(vec![
            r.table.to_string().into(),
            r.rows_read.into(),
            r.loaded.into(),
            r.already_present.into(),
            r.rejected.into(),
            r.version.into(),
        ]);
        for x in r.first_rejects.iter().take(5) {
            s.after.push(describe_reject(&r.source, x));
        }
        if r.rejected > 0 {
            s.after.push(format!(
                "hint: all rejects are in the rejects table: koubei sql \"SELECT line, column_name, reason FROM rejects WHERE import_id = '{}'\"",
                r.import_id
            ));
        }
        if !r.extra_columns.is_empty() {
            s.after.push(format!(
                "kept extra columns: {}",
                r.extra_columns.join(", ")
            ));
        }
        View::new(vec![s]).warn(self.warnings.clone())
    }
}

impl ToView for DemoReport {
    fn view(&self) -> View {
        let mut s = Section::new(None, vec![text("measure"), text("value")]);
        for (k, v) in &self.summary {
            s.row(vec![
                k.as_str().into(),
                v.as_str()
                    .map_or_else(|| v.to_string(), str::to_string)
                    .into(),
            ]);
        }
        s.after.push(String::new());
        if let Some(r) = &self.report {
            s.after
                .push(format!("Its report, to open in a browser: {r}"));
        }
        s.after.push(format!(
            "The demo shop is in {} (seed {}). Try next:",
            self.workspace, self.seed
        ));
        s.after
            .extend(self.try_next.iter().map(|n| format!("  {n}")));
        View::new(vec![s]).warn(self.warnings.clone())
    }
}

impl ToView for crate::ReportWritten {
    fn view(&self) -> View {
        let mut s = Section::new(None, vec![text("report"), text("range"), count("bytes")]);
        s.row(vec![
            self.path.as_str().into(),
            format!("{} to {}", self.range.since, self.range.until).into(),
            self.bytes.into(),
        ]);
        View::new(vec![s])
    }
}

impl ToView for OverviewReport {
    fn view(&self) -> View {
        let title = format!(
            "{} to {}, against {} to {} and a year before",
            self.range.since, self.range.until, self.previous.since, self.previous.until
        );
        let mut s = Section::new(
            Some(&title),
            vec![
                text("kpi"),
                col("value", Kind::Number(2)).missing("-"),
                col("previous", Kind::Number(2)).missing("-"),
                col("change", Kind::Growth).missing("-"),
                col("year_before", Kind::Number(2)).missing("-"),
                col("yoy", Kind::Growth).missing("-"),
            ],
        );
        for k in &self.kpis {
            // Each row in its own unit: counts whole, shares as percentages.
            let kind = match k.unit {
                "money" => Kind::Money,
                "count" => Kind::Count,
                "share" => Kind::Share,
                _ => Kind::Number(2),
            };
            let shown = |v: Option<f64>| v.map_or(Cell::Null, |v| Cell::Shown(v, kind));
            s.row(vec![
                k.label.into(),
                shown(k.value),
                shown(k.previous),
                k.change.into(),
                shown(k.year_before),
                k.yoy.into(),
            ]);
        }
        View::new(vec![s])
    }
}

impl ToView for SalesReport {
    fn view(&self) -> View {
        let rows = if self.breakdown.is_some() {
            &self.groups
        } else {
            &self.total
        };
        let mut columns = vec![text("period")];
        if let Some(b) = &self.breakdown {
            columns.push(text(b));
        }
        columns.extend([
            col("revenue", Kind::Money),
            count("orders"),
            count("units"),
            count("buyers"),
            col("aov", Kind::Money),
            col("units_per_order", Kind::Number(2)),
            count("new_buyers"),
            col("new_revenue", Kind::Money),
            col("returning_revenue", Kind::Money),
            col("growth", Kind::Growth),
            col("yoy", Kind::Growth),
        ]);
        let mut s = Section::new(None, columns);
        for row in rows {
            let m = &row.measures;
            let mut cells: Vec<Cell> = vec![row.period.to_string().into()];
            if self.breakdown.is_some() {
                cells.push(row.group.clone().unwrap_or_default().into());
            }
            cells.extend([
                m.revenue.into(),
                m.orders.into(),
                m.units.into(),
                m.buyers.into(),
                m.average_order_value.into(),
                m.units_per_order.into(),
                m.new_buyers.into(),
                m.new_buyer_revenue.into(),
                m.returning_buyer_revenue.into(),
                row.revenue_growth.into(),
                row.revenue_yoy.into(),
            ]);
            s.row(cells);
        }
        View::new(vec![s])
    }
}

fn funnel_columns() -> Vec<Column> {
    vec![
        count("step"),
        text("event"),
        count("persons"),
        col("from_previous", Kind::Share),
        col("from_first", Kind::Share),
        count("dropoff"),
        col("median_time", Kind::Duration),
        col("mean_time", Kind::Duration),
    ]
}

fn funnel_row(i: usize, s: &FunnelStep) -> Vec<Cell> {
    vec![
        (i + 1).into(),
        s.name.as_str().into(),
        s.persons.into(),
        s.conversion_from_previous.into(),
        s.conversion_from_first.into(),
        s.dropoff.into(),
        s.median_seconds_from_previous.into(),
        s.mean_seconds_from_previous.into(),
    ]
}

fn funnel_section(title: Option<&str>, steps: &[FunnelStep]) -> Section {
    let mut s = Section::new(title, funnel_columns());
    for (i, step) in steps.iter().enumerate() {
        s.row(funnel_row(i, step));
    }
    s
}

impl ToView for FunnelReport {
    fn view(&self) -> View {
        let mut sections = vec![funnel_section(None, &self.steps)];
        if self.excluded > 0 {
            sections[0]
                .after
                .push(format!("{} persons left out by exclusions", self.excluded));
        }
        for g in self.breakdown.iter().flatten() {
            let label = if g.value.is_empty() {
                "(empty)"
            } else {
                &g.value
            };
            sections.push(funnel_section(Some(label), &g.steps));
        }
        if self.time_to_convert.iter().any(|b| b.persons > 0) {
            let mut t = Section::new(
                Some("Time from the first step to the last"),
                vec![text("up_to"), count("persons")],
            );
            for b in &self.time_to_convert {
                t.row(vec![
                    b.up_to_seconds
                        .map_or("longer".into(), |s| human_seconds(s as f64))
                        .into(),
                    b.persons.into(),
                ]);
            }
            sections.push(t);
        }
        if let Some(trend) = &self.trend {
            let mut t = Section::new(
                Some("Conversion by the period of entry"),
                vec![
                    text("period"),
                    count("entered"),
                    count("converted"),
                    col("conversion", Kind::Share),
                ],
            );
            for p in trend {
                t.row(vec![
                    p.period.as_str().into(),
                    p.entered.into(),
                    p.converted.into(),
                    p.conversion.into(),
                ]);
            }
            sections.push(t);
        }
        // CSV: one table, the total and then each breakdown value.
        let mut columns = funnel_columns();
        columns.insert(0, text("breakdown"));
        let mut all = Section::new(None, columns);
        all.hidden = true;
        let groups = std::iter::once(("", &self.steps)).chain(
            self.breakdown
                .iter()
                .flatten()
                .map(|g| (g.value.as_str(), &g.steps)),
        );
        for (value, steps) in groups {
            for (i, s) in steps.iter().enumerate() {
                let mut row = funnel_row(i, s);
                row.insert(0, value.into());
                all.row(row);
            }
        }
        sections.push(all);
        let csv = sections.len() - 1;
        View::new(sections).csv_from(csv)
    }
}

impl ToView for RetentionReport {
    fn view(&self) -> View {
        let periods = self.periods + 1;
        let initial = &self.period.to_string()[..1];
        let mut columns = Vec::new();
        if self.breakdown.is_some() {
            columns.push(text("breakdown"));
        }
        columns.extend([text("cohort"), count("size")]);
        columns.extend((0..periods).map(|k| col(&format!("{initial}{k}"), Kind::Part)));
        let mut s = Section::new(None, columns);
        let groups = std::iter::once(("", &self.cohorts)).chain(
            self.breakdown
                .iter()
                .flatten()
                .map(|g| (g.value.as_str(), &g.cohorts)),
        );
        for (i, (value, cohorts)) in groups.enumerate() {
            for c in cohorts {
                let mut row: Vec<Cell> = Vec::new();
                if self.breakdown.is_some() {
                    let label = match (i, value) {
                        (0, _) => "(all)",
                        (_, "") => "(empty)",
                        (_, v) => v,
                    };
                    row.push(label.into());
                }
                row.extend([c.cohort.to_string().into(), c.size.into()]);
                row.extend(
                    c.retained
                        .iter()
                        .map(|n| n.map_or(Cell::Null, |n| Cell::Part(n, c.size))),
                );
                row.resize(s.columns.len(), Cell::Null);
                s.row(row);
            }
        }
        for r in &self.repeat_purchase {
            let rate = r.rate.map_or("-".into(), |x| number(x, Kind::Share));
            s.after.push(format!(
                "repeat purchase within {} days: {rate} ({} of {} first-time buyers)",
                r.days, r.repeated, r.buyers
            ));
        }
        View::new(vec![s])
    }
}

impl ToView for RfmReport {
    fn view(&self) -> View {
        let mut s = Section::new(
            None,
            vec![
                text("segment"),
                count("customers"),
                col("share", Kind::Share),
                col("revenue", Kind::Money),
                col("revenue_share", Kind::Share),
                col("avg_clv", Kind::Money),
            ],
        );
        s.before.push(format!(
            "RFM as of {}: {} customers",
            self.as_of, self.customers
        ));
        for r in &self.segments {
            s.row(vec![
                r.segment.into(),
                r.customers.into(),
                r.share.into(),
                r.revenue.into(),
                r.revenue_share.into(),
                r.avg_clv.into(),
            ]);
        }
        let mut sections = vec![s];
        if let Some(m) = &self.migration {
            let mut t = Section::new(
                Some(&format!("moved since {}:", m.from)),
                vec![text("from"), text("to"), count("customers")],
            );
            for (a, b, n) in &m.moves {
                t.row(vec![a.as_str().into(), b.as_str().into(), (*n).into()]);
            }
            sections.push(t);
        }
        View::new(sections)
    }
}

impl ToView for ClvReport {
    fn view(&self) -> View {
        let mut p = Section::new(
            None,
            vec![
                text("model"),
                text("param"),
                col("value", Kind::Number(6)),
                col("std_error", Kind::Number(6)),
            ],
        );
        let models = std::iter::once(&self.fit)
            .chain(self.spend.as_ref().filter(|s| s.model != self.fit.model));
        for m in models {
            for ((name, v), (_, se)) in m.params.0.iter().zip(&m.std_errors.0) {
                p.row(vec![
                    m.model.into(),
                    (*name).into(),
                    (*v).into(),
                    (*se).into(),
                ]);
            }
        }
        let end = self
            .calibration_end
            .map_or(String::new(), |d| format!(", calibration to {d}"));
        p.before.push(format!(
            "{} fitted to {} customers ({} repeat buyers), unit {}{end}",
            self.fit.model, self.customers, self.repeat_buyers, self.unit
        ));
        p.after.push(format!(
            "log-likelihood {:.3}  AIC {:.1}  BIC {:.1}  ({} iterations)",
            self.fit.log_likelihood, self.fit.aic, self.fit.bic, self.fit.iterations
        ));
        let mut sections = vec![p];
        if self.histogram.iter().any(|h| h.predicted.is_finite()) {
            let mut h = Section::new(
                Some("repeat purchases in calibration, customers:"),
                vec![
                    text("purchases"),
                    col("actual", Kind::Number(0)),
                    col("predicted", Kind::Number(1)),
                ],
            );
            let last = self.histogram.len().saturating_sub(1);
            for (i, row) in self.histogram.iter().enumerate() {
                let label = if i == last {
                    format!("{}+", row.purchases)
                } else {
                    row.purchases.to_string()
                };
                h.row(vec![label.into(), row.actual.into(), row.predicted.into()]);
            }
            sections.push(h);
        }
        if !self.holdout.is_empty() {
            let mut h = Section::new(
                Some("holdout purchases per customer, by calibration frequency:"),
                vec![
                    text("frequency"),
                    count("customers"),
                    col("actual", Kind::Number(3)),
                    col("predicted", Kind::Number(3)),
                ],
            );
            let last = self.holdout.len().saturating_sub(1);
            for (i, row) in self.holdout.iter().enumerate() {
                let label = if i == last && row.frequency as usize + 1 == self.histogram.len() {
                    format!("{}+", row.frequency)
                } else {
                    row.frequency.to_string()
                };
                h.row(vec![
                    label.into(),
                    row.customers.into(),
                    row.actual.into(),
                    row.predicted.into(),
                ]);
            }
            sections.push(h);
        }
        if !self.comparison.is_empty() {
            let mut h = Section::new(
                Some("models on the same data:"),
                vec![
                    text("model"),
                    col("log_likelihood", Kind::Number(3)),
                    col("AIC", Kind::Number(1)),
                    col("BIC", Kind::Number(1)),
                ],
            );
            for m in &self.comparison {
                h.row(vec![
                    m.model.into(),
                    m.log_likelihood.into(),
                    m.aic.into(),
                    m.bic.into(),
                ]);
            }
            sections.push(h);
        }
        if self.spend.is_some() {
            sections.push(Section::note(format!(
                "next {}: {:.1} expected purchases, {:.2} expected revenue, CLV {:.2} (discounted at {:.1}% a year)",
                self.horizon,
                self.expected_purchases,
                self.expected_revenue,
                self.total_clv,
                self.discount_rate * 100.0
            )));
        }
        View::new(sections).warn(self.warnings.clone())
    }
}

/// Word of mouth's referral funnel, step by step.
fn referral_funnel(f: &koubei_engine::wom::ReferralFunnel) -> Section {
    let mut ft = Section::new(
        Some("Referral funnel"),
        vec![text("step"), count("count"), col("rate", Kind::Share)],
    );
    ft.row(vec!["shares".into(), f.shares.into(), Cell::Null]);
    ft.row(vec![
        "clicked".into(),
        f.clicked.into(),
        f.click_rate.into(),
    ]);
    ft.row(vec![
        "ordered".into(),
        f.ordered.into(),
        f.order_rate_after_click.into(),
    ]);
    ft.row(vec![
        "new customers".into(),
        f.new_customers.into(),
        Cell::Null,
    ]);
    ft.after.push(format!(
        "referral conversion {} of shares; share to first order: mean {} days, median {} days",
        number(f.conversion_rate, Kind::Share),
        f.days_to_order_mean
            .map_or(String::new(), |d| number(d, Kind::Number(1))),
        f.days_to_order_median
            .map_or(String::new(), |d| number(d, Kind::Number(1))),
    ));
    ft
}

impl ToView for MetricsReport {
    fn view(&self) -> View {
        // The referral funnel, when the request asked for it.
        let ft = self.funnel.as_ref().map(referral_funnel);
        let mut t = Section::new(
            Some(&format!(
                "By {} (an order counts as shared when its buyer shares within {} days)",
                self.by, self.share_window_days
            )),
            vec![
                text("period"),
                count("buyers"),
                col("customer_share_rate", Kind::Share),
                col("order_share_rate", Kind::Share),
                count("shares"),
                col("invites_per_buyer", Kind::Number(3)),
                col("invite_conversion", Kind::Share),
                col("k_factor", Kind::Number(3)),
                count("new_customers"),
                col("referred_share_of_new", Kind::Share),
            ],
        );
        for p in &self.periods {
            t.row(vec![
                p.period.as_str().into(),
                p.buyers.into(),
                p.customer_share_rate.into(),
                p.order_share_rate.into(),
                p.shares.into(),
                p.invites_per_buyer.into(),
                p.invite_conversion.into(),
                p.k_factor.into(),
                p.new_customers.into(),
                p.referred_share_of_new.into(),
            ]);
        }
        let mut ct = Section::new(
            Some("By channel"),
            vec![
                text("channel"),
                count("shares"),
                col("of_all", Kind::Share),
                count("sharers"),
                col("click_rate", Kind::Share),
                col("conversion_rate", Kind::Share),
                count("new_customers"),
            ],
        );
        for c in &self.channels {
            ct.row(vec![
                c.channel.as_str().into(),
                c.shares.into(),
                c.share_of_shares.into(),
                c.sharers.into(),
                c.click_rate.into(),
                c.conversion_rate.into(),
                c.new_customers.into(),
            ]);
        }
        let mut oc = Section::new(
            Some("By order channel"),
            vec![
                text("channel"),
                count("orders"),
                col("order_share_rate", Kind::Share),
                count("buyers"),
                col("customer_share_rate", Kind::Share),
            ],
        );
        for c in &self.order_channels {
            oc.row(vec![
                c.channel.as_str().into(),
                c.orders.into(),
                c.order_share_rate.into(),
                c.buyers.into(),
                c.customer_share_rate.into(),
            ]);
        }
        let mut rt = Section::new(
            Some("Referred customers beside the others"),
            vec![
                text("group"),
                count("customers"),
                col("revenue", Kind::Money),
                col("revenue_per_customer", Kind::Money),
                col("orders_per_customer", Kind::Number(2)),
                col("repeat_rate", Kind::Share),
                col("retained_90d", Kind::Share),
                col("mean_clv", Kind::Money),
            ],
        );
        for c in &self.referred {
            rt.row(vec![
                c.group.into(),
                c.customers.into(),
                c.revenue.into(),
                c.revenue_per_customer.into(),
                c.orders_per_customer.into(),
                c.repeat_rate.into(),
                c.retained_90d.into(),
                c.mean_clv.into(),
            ]);
        }
        View::new(ft.into_iter().chain([t, ct, oc, rt]).collect())
            .csv_from(1)
            .warn(self.warnings.clone())
    }
}

impl ToView for CascadeReport {
    fn view(&self) -> View {
        let mut head = Section::default();
        head.before.push(format!(
            "{} people, {} referred; {} cascades of two or more, {} roots nobody followed",
            self.people, self.referred, self.cascades, self.singletons
        ));
        let mut dt = Section::new(
            Some("Over the cascades"),
            vec![
                text("measure"),
                col("mean", Kind::Number(2)),
                col("median", Kind::Number(2)),
                col("p90", Kind::Number(2)),
                col("p99", Kind::Number(2)),
                col("max", Kind::Number(2)),
            ],
        );
        for d in &self.distribution {
            dt.row(vec![
                d.measure.into(),
                d.mean.into(),
                d.median.into(),
                d.p90.into(),
                d.p99.into(),
                d.max.into(),
            ]);
        }
        let mut st = Section::new(
            Some("Sizes"),
            vec![text("size"), count("cascades"), count("customers")],
        );
        for b in &self.sizes {
            st.row(vec![b.size.into(), b.cascades.into(), b.customers.into()]);
        }
        let mut lt = Section::new(
            Some("Largest cascades"),
            vec![
                text("root"),
                count("size"),
                count("depth"),
                count("max_breadth"),
                col("structural_virality", Kind::Number(3)),
                text("started"),
                col("duration_days", Kind::Number(1)),
            ],
        );
        for c in &self.largest {
            lt.row(vec![
                c.root.as_str().into(),
                c.size.into(),
                c.depth.into(),
                c.max_breadth.into(),
                c.structural_virality.into(),
                c.started.clone().unwrap_or_default().into(),
                c.duration_days.into(),
            ]);
        }
        let mut ot = Section::new(
            Some("Reach over time"),
            vec![
                text("period"),
                count("referred"),
                count("referred_total"),
                count("cascades_total"),
            ],
        );
        for p in &self.over_time {
            ot.row(vec![
                p.period.as_str().into(),
                p.referred.into(),
                p.referred_total.into(),
                p.cascades_total.into(),
            ]);
        }
        let cycles = (self.cycles_cut > 0).then(|| {
            format!(
                "the referrals held {} cycle(s); each was cut at one customer",
                self.cycles_cut
            )
        });
        View::new(vec![head, dt, st, lt, ot])
            .csv_from(3)
            .warn(cycles)
    }
}

impl ToView for ReachReport {
    fn view(&self) -> View {
        let x = &self.places;
        let mut head = Section::default();
        head.before.push(format!(
            "{} referred customers reached {} cities, {} regions and {} countries",
            self.reached, x.cities, x.regions, x.countries
        ));
        head.before.push(format!(
            "home {}: {} of {} subdivisions ({})",
            self.home,
            x.home_regions,
            self.home_regions_total,
            number(x.home_coverage, Kind::Share)
        ));
        if !self.home_regions_missing.is_empty() {
            head.before.push(format!(
                "  not reached: {}",
                self.home_regions_missing.join(", ")
            ));
        }
        head.before.push(format!(
            "overseas: {} countries ({}); continents: {} ({})",
            x.overseas_countries,
            self.overseas.join(", "),
            x.continents,
            self.continent_list.join(", ")
        ));
        head.before.push(format!(
            "worldwide: {} of {} ISO 3166-1 countries ({})",
            x.countries,
            self.countries_total,
            number(x.global_coverage, Kind::Share)
        ));
        let mut ot = Section::new(
            Some("Over time"),
            vec![
                text("period"),
                count("reached"),
                count("cities"),
                count("regions"),
                count("countries"),
                count("home_regions"),
                col("home_coverage", Kind::Share),
                count("overseas_countries"),
                count("continents"),
                col("global_coverage", Kind::Share),
            ],
        );
        for p in &self.over_time {
            let x = &p.places;
            ot.row(vec![
                p.period.as_str().into(),
                p.reached.into(),
                x.cities.into(),
                x.regions.into(),
                x.countries.into(),
                x.home_regions.into(),
                x.home_coverage.into(),
                x.overseas_countries.into(),
                x.continents.into(),
                x.global_coverage.into(),
            ]);
        }
        let mut ct = Section::new(
            Some("Widest-reaching cascades"),
            vec![
                text("root"),
                count("size"),
                count("cities"),
                count("regions"),
                count("countries"),
                col("home_coverage", Kind::Share),
            ],
        );
        for c in &self.cascades {
            ct.row(vec![
                c.root.as_str().into(),
                c.size.into(),
                c.places.cities.into(),
                c.places.regions.into(),
                c.places.countries.into(),
                c.places.home_coverage.into(),
            ]);
        }
        let unresolved = (!self.unresolved.is_empty()).then(|| {
            format!(
                "{} place name(s) match no ISO 3166 entry and count only as written: {}",
                self.unresolved.len(),
                self.unresolved
                    .iter()
                    .take(5)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        });
        View::new(vec![head, ot, ct]).csv_from(1).warn(unresolved)
    }
}

impl ToView for SeedsReport {
    fn view(&self) -> View {
        let unit = match self.objective {
            crate::wom::Objective::People => "spread",
            o => o.as_str(),
        };
        let mut t = Section::new(
            None,
            vec![
                count("rank"),
                text("node"),
                col(unit, Kind::Number(1)),
                col("marginal", Kind::Number(1)),
            ],
        );
        let mut prev = 0.0;
        for (i, (label, &c)) in self.labels.iter().zip(&self.cumulative_spread).enumerate() {
            t.row(vec![
                (i + 1).into(),
                label.as_str().into(),
                c.into(),
                (c - prev).into(),
            ]);
            prev = c;
        }
        let reached = match self.objective {
            crate::wom::Objective::People => "people reached",
            o => o.as_str(),
        };
        t.after.extend([
            String::new(),
            format!(
                "{} seeds on {} nodes and {} arcs ({} probabilities)",
                self.labels.len(),
                self.nodes,
                self.arcs,
                self.model
            ),
            format!(
                "expected {reached} {:.1}; at least {:.1}, and the best {} seeds at most {:.1}, each with probability {:.4}",
                self.spread,
                self.spread_lower,
                self.labels.len(),
                self.optimum_upper,
                1.0 - self.delta / 3.0
            ),
            format!(
                "certified approximation {:.3} of the optimum (guaranteed: 1 - 1/e - {} = {:.3})",
                self.approximation, self.epsilon, self.target
            ),
            format!(
                "{} RR sets in each of 2 collections, {} rounds ({}), {:.2} s",
                self.rr_sets,
                self.rounds.len(),
                match self.stop {
                    koubei_wom::StopReason::Met => "stopped when met",
                    koubei_wom::StopReason::MemoryBudget => "stopped by the memory budget",
                    koubei_wom::StopReason::Cap => "stopped at the sample cap",
                },
                self.seconds
            ),
        ]);
        View::new(vec![t])
    }
}

impl ToView for SimulateReport {
    fn view(&self) -> View {
        let mut columns = vec![
            count("seeds"),
            count("runs"),
            col("spread", Kind::Number(2)),
            col("std_error", Kind::Number(2)),
        ];
        let mut row: Vec<Cell> = vec![
            self.seeds.into(),
            self.runs.into(),
            self.spread.into(),
            self.std_error.into(),
        ];
        if let Some(g) = &self.groups {
            columns.extend([
                col(g.objective.as_str(), Kind::Number(2)),
                col("std_error", Kind::Number(2)),
            ]);
            row.extend([g.mean.into(), g.std_error.into()]);
        }
        let mut t = Section::new(None, columns);
        t.row(row);
        View::new(vec![t])
    }
}

impl ToView for crate::reviews::ScoreReport {
    fn view(&self) -> View {
        let mut s = Section::new(
            None,
            vec![
                text("id"),
                text("language"),
                col("p_positive", Kind::Number(3)),
                text("label"),
                text("terms"),
            ],
        );
        for r in &self.rows {
            let terms = r
                .terms
                .iter()
                .map(|t| format!("{} {:+.2}", t.text, t.weight))
                .collect::<Vec<_>>()
                .join("; ");
            s.row(vec![
                r.id.as_str().into(),
                r.language.into(),
                r.p_positive.into(),
                r.label.into(),
                terms.into(),
            ]);
        }
        View::new(vec![s])
    }
}

impl ToView for crate::reviews::SatisfactionReport {
    fn view(&self) -> View {
        let group = self
            .by
            .as_ref()
            .map_or("group".to_string(), |b| b.to_string());
        let mut columns = vec![
            text(&group),
            count("reviews"),
            count("rated"),
            text("stars_1_to_5"),
            col("mean", Kind::Number(2)),
            col("bayesian_mean", Kind::Number(2)),
            col("csat", Kind::Share),
            col("nps", Kind::Number(2)),
            col("positive", Kind::Part),
            col("review_rate", Kind::Share),
            col("refund_rate", Kind::Share),
        ];
        columns.extend(
            ["description", "service", "logistics", "price"]
                .iter()
                .map(|d| col(&format!("dsr_{d}"), Kind::Number(2))),
        );
        columns.extend([
            col("mean_change", Kind::Number(2)),
            col("csat_change", Kind::Number(3)),
            col("reviews_change", Kind::Growth),
        ]);
        let title = format!(
            "sentiment by the {} model; Bayesian mean: a prior of {} ratings at {}",
            self.model,
            number(self.prior_reviews, Kind::Number(1)),
            self.prior_mean
                .map_or("-".into(), |m| number(m, Kind::Number(2))),
        );
        let mut s = Section::new(Some(&title), columns);
        for row in std::iter::once(&self.total).chain(&self.rows) {
            let n = &row.now;
            let change = row.change.clone().unwrap_or_default();
            s.row(vec![
                row.key.as_str().into(),
                n.reviews.into(),
                n.rated.into(),
                n.stars
                    .iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join("/")
                    .into(),
                n.mean_rating.into(),
                n.bayesian_mean.into(),
                n.csat.into(),
                n.nps.into(),
                Cell::Part(n.positive, n.positive + n.negative + n.neutral),
                n.review_rate.into(),
                n.refund_rate.into(),
                n.description.score.into(),
                n.service.score.into(),
                n.logistics.score.into(),
                n.price.score.into(),
                change.mean_rating.into(),
                change.csat.into(),
                change.reviews.into(),
            ]);
        }
        let mut tags = Section::new(
            Some("what customers say (tags)"),
            vec![text("aspect"), text("tag"), text("label"), count("reviews")],
        );
        for t in &self.tags {
            tags.row(vec![
                t.aspect.as_str().into(),
                t.tag.as_str().into(),
                t.label.into(),
                t.reviews.into(),
            ]);
        }
        let mut after = Section::new(
            Some("customers by their first rating in the range"),
            vec![
                count("rating"),
                count("customers"),
                col("repeat_rate", Kind::Share),
                col("orders_after", Kind::Number(2)),
                col("revenue_after", Kind::Money),
                col("revenue_per_customer", Kind::Money),
                col("refund_rate", Kind::Share),
                col("avg_clv", Kind::Money),
            ],
        );
        for o in &self.by_rating {
            after.row(vec![
                o.rating.into(),
                o.customers.into(),
                o.repeat_rate.into(),
                o.orders_after.into(),
                o.revenue_after.into(),
                o.revenue_per_customer.into(),
                o.refund_rate.into(),
                o.avg_clv.into(),
            ]);
        }
        View::new(vec![s, tags, after])
    }
}

impl ToView for crate::reviews::TrainReport {
    fn view(&self) -> View {
        let mut s = Section::new(
            Some(&format!(
                "{} reviews ({} positive, {} negative) from {}; {}-fold cross-validation",
                self.reviews, self.positive, self.negative, self.trained_on, self.folds
            )),
            vec![
                text("model"),
                col("accuracy", Kind::Share),
                col("balanced_accuracy", Kind::Share),
                text("scores_the_shop"),
            ],
        );
        s.row(vec![
            "shop (trained, held out)".into(),
            self.cv_accuracy.into(),
            self.cv_balanced_accuracy.into(),
            if self.in_use { "yes" } else { "no" }.into(),
        ]);
        s.row(vec![
            "default (no training)".into(),
            self.default_accuracy.into(),
            self.default_balanced_accuracy.into(),
            if self.in_use { "no" } else { "yes" }.into(),
        ]);
        View::new(vec![s])
    }
}

impl ToView for crate::recs::TogetherReport {
    fn view(&self) -> View {
        let mut s = Section::new(
            Some(&format!(
                "bought together, over {} paid orders",
                self.orders
            )),
            vec![
                text("product"),
                text("with"),
                count("orders"),
                col("support", Kind::Number(5)),
                col("confidence", Kind::Share),
                col("lift", Kind::Number(2)),
            ],
        );
        for r in &self.rules {
            s.row(vec![
                r.product.as_str().into(),
                r.with.as_str().into(),
                r.orders.into(),
                r.support.into(),
                r.confidence.into(),
                r.lift.into(),
            ]);
        }
        View::new(vec![s])
    }
}

impl ToView for crate::recs::SimilarReport {
    fn view(&self) -> View {
        let mut s = Section::new(
            Some(&format!("products like {}", self.product)),
            vec![text("product"), col("similarity", Kind::Number(3))],
        );
        for r in &self.similar {
            s.row(vec![r.product.as_str().into(), r.similarity.into()]);
        }
        View::new(vec![s])
    }
}

/// Which model answered, in a title: stored (and when) or fitted now.
fn model_used(m: &crate::recs::ModelUsed) -> String {
    let mut t = match &m.trained_at {
        Some(at) => format!("{} trained {at}", m.model),
        None => format!("{} fitted now", m.model),
    };
    if !m.event_weights.is_empty() {
        let w: Vec<String> = m
            .event_weights
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        t.push_str(&format!(", events {}", w.join(" ")));
    }
    if m.stale {
        t.push_str(" (the data changed since: train again)");
    }
    t
}

impl ToView for crate::recs::ForReport {
    fn view(&self) -> View {
        let mut s = Section::new(
            Some(&format!(
                "for {} ({} products bought), by {}",
                self.customer,
                self.bought,
                model_used(&self.model)
            )),
            vec![text("product"), col("score", Kind::Number(3))],
        );
        for r in &self.products {
            s.row(vec![r.product.as_str().into(), r.score.into()]);
        }
        View::new(vec![s])
    }
}

impl ToView for crate::recs::TrainReport {
    fn view(&self) -> View {
        let mut s = Section::new(
            Some("stored in the workspace"),
            vec![
                text("model"),
                text("trained_at"),
                text("data_version"),
                col("customers", Kind::Count),
                col("products", Kind::Count),
                col("interactions", Kind::Count),
                col("fit_seconds", Kind::Number(2)),
            ],
        );
        for m in &self.models {
            let v: Vec<String> = m
                .data_version
                .iter()
                .map(|(t, v)| format!("{t} v{v}"))
                .collect();
            s.row(vec![
                m.model.into(),
                m.trained_at.as_str().into(),
                v.join(", ").as_str().into(),
                m.customers.into(),
                m.products.into(),
                m.interactions.into(),
                m.fit_seconds.into(),
            ]);
        }
        View::new(vec![s])
    }
}

/// One row per customer and rank: what a CRM imports.
impl ToView for crate::recs::ExportReport {
    fn view(&self) -> View {
        let mut title = format!(
            "top {} of {} customers, by {}",
            self.n,
            self.customers.len(),
            model_used(&self.model)
        );
        if self.unknown > 0 {
            title.push_str(&format!(
                "; {} customers of the segments are not in the model",
                self.unknown
            ));
        }
        let segments = self.customers.iter().any(|c| c.segment.is_some());
        let mut columns = vec![text("customer_id")];
        if segments {
            columns.push(text("segment"));
        }
        columns.extend([
            col("rank", Kind::Count),
            text("product_id"),
            col("score", Kind::Number(4)),
        ]);
        let mut s = Section::new(Some(&title), columns);
        for c in &self.customers {
            for (rank, r) in c.products.iter().enumerate() {
                let mut cells = vec![c.customer_id.as_str().into()];
                if segments {
                    cells.push(c.segment.unwrap_or("").into());
                }
                cells.extend([(rank + 1).into(), r.product.as_str().into(), r.score.into()]);
                s.row(cells);
            }
        }
        View::new(vec![s])
    }
}

impl ToView for crate::recs::EvaluateReport {
    fn view(&self) -> View {
        let mut s = Section::new(
            Some(&format!(
                "at k = {}: the earliest {:.0}% of {} order lines train, the rest test; {} customers in both",
                self.k,
                self.split * 100.0,
                self.train_lines + self.test_lines,
                self.customers
            )),
            vec![
                text("model"),
                col("precision", Kind::Number(4)),
                col("recall", Kind::Number(4)),
                col("ndcg", Kind::Number(4)),
                col("map", Kind::Number(4)),
                col("coverage", Kind::Share),
                col("ndcg_vs_pop", Kind::Number(2)),
                col("fit_seconds", Kind::Number(3)),
            ],
        );
        for m in &self.models {
            s.row(vec![
                m.model.into(),
                m.precision.into(),
                m.recall.into(),
                m.ndcg.into(),
                m.map.into(),
                m.coverage.into(),
                m.vs_pop[2].into(),
                m.fit_seconds.into(),
            ]);
        }
        View::new(vec![s])
    }
}

impl ToView for crate::reviews::ReviewListReport {
    fn view(&self) -> View {
        let mut s = Section::new(
            Some(&format!(
                "{} of {} reviews, newest first (read by {})",
                self.rows.len(),
                self.matched,
                self.model
            )),
            vec![
                text("review_id"),
                text("ts"),
                text("customer_id"),
                text("product_id"),
                count("rating"),
                col("p_positive", Kind::Number(3)),
                text("label"),
                text("text"),
            ],
        );
        for r in &self.rows {
            s.row(vec![
                r.review_id.as_str().into(),
                r.ts.as_str().into(),
                r.customer_id.as_deref().unwrap_or("").into(),
                r.product_id.as_deref().unwrap_or("").into(),
                r.rating.into(),
                r.p_positive.into(),
                r.label.as_deref().unwrap_or("").into(),
                r.text.as_deref().unwrap_or("").into(),
            ]);
        }
        View::new(vec![s])
    }
}

impl ToView for crate::reviews::TermsReport {
    fn view(&self) -> View {
        let section = |title: &str, rows: &[crate::reviews::TermRow]| {
            let mut s = Section::new(
                Some(title),
                vec![
                    text("term"),
                    col("z", Kind::Number(2)),
                    count("bad_reviews"),
                    count("good_reviews"),
                    col("share", Kind::Share),
                    col("mean_with", Kind::Number(2)),
                    col("mean_without", Kind::Number(2)),
                    col("drag", Kind::Number(3)),
                    text("example"),
                ],
            );
            for t in rows {
                s.row(vec![
                    t.term.as_str().into(),
                    t.z.into(),
                    t.bad_reviews.into(),
                    t.good_reviews.into(),
                    t.share.into(),
                    t.mean_with.into(),
                    t.mean_without.into(),
                    t.drag.into(),
                    t.examples.first().map_or("", String::as_str).into(),
                ]);
            }
            s
        };
        View::new(vec![
            section(
                &format!(
                    "complaints: terms of {} bad (1–2★) against {} good (4–5★) reviews",
                    self.bad, self.good
                ),
                &self.complaints,
            ),
            section("praise", &self.praise),
        ])
    }
}
