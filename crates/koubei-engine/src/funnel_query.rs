//! `koubei funnel`: persons per step, built on the `window_funnel` aggregate.
//!
//! A person is `customer_id`, or `anonymous_id` for visitors not yet known.
//! Each person is counted once, at the furthest step reached (see
//! [`crate::funnel`]); the persons at step k are those who reached step k or
//! further.

use arrow::array::AsArray;
use arrow::compute::cast;
use arrow::datatypes::DataType;
use chrono::NaiveDate;
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_with::{DeserializeFromStr, SerializeDisplay};

use crate::{DAY_US, Engine, Error, HAS_PERSON, PERSON, Result};
use koubei_functions::matcher::FunnelOrder;

/// What `koubei funnel` computes; the same type serves every front end.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FunnelRequest {
    /// Steps in order: an event name, optionally with property filters,
    /// such as `purchase[channel=app]` or `view[country!=CN,channel=web]`.
    pub steps: Vec<Step>,
    /// Persons who did one of these between two steps are left out.
    #[serde(default)]
    pub exclusions: Vec<Exclusion>,
    /// An `events` column: each person is counted under its value on the
    /// step-1 event of their path (first touch).
    pub breakdown: Option<String>,
    /// Also give the conversion rate by the period in which persons entered.
    pub trend: Option<crate::sales::Period>,
    /// The conversion window, in seconds, measured from the step-1 event.
    #[serde(default = "default_window")]
    pub window_seconds: i64,
    #[serde(default)]
    #[schemars(with = "String", description = "ordered, strict or unordered")]
    pub order: FunnelOrder,
    pub since: Option<NaiveDate>,
    pub until: Option<NaiveDate>,
}

/// Fourteen days, as PostHog's default conversion window.
fn default_window() -> i64 {
    14 * 86_400
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FunnelStep {
    pub name: String,
    pub persons: i64,
    /// Persons here over persons at the previous step.
    pub conversion_from_previous: Option<f64>,
    /// Persons here over persons at step 1.
    pub conversion_from_first: Option<f64>,
    /// Persons at the previous step who did not reach this one.
    pub dropoff: i64,
    /// Seconds from the previous step to this one, over the persons who
    /// reached it: mean and median.
    pub mean_seconds_from_previous: Option<f64>,
    pub median_seconds_from_previous: Option<f64>,
}

/// Persons by the time from step 1 to the last step.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TimeBucket {
    /// The bucket holds times up to this many seconds (None: longer).
    pub up_to_seconds: Option<i64>,
    pub persons: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TrendPoint {
    /// The first day of the period in which persons entered the funnel.
    pub period: String,
    pub entered: i64,
    pub converted: i64,
    pub conversion: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BreakdownGroup {
    /// The breakdown column's value on the step-1 event ("" when empty).
    pub value: String,
    pub steps: Vec<FunnelStep>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FunnelReport {
    pub window_seconds: i64,
    pub order: FunnelOrder,
    /// All persons (the total row under a breakdown).
    pub steps: Vec<FunnelStep>,
    /// Persons left out by an exclusion.
    pub excluded: i64,
    /// Time from step 1 to the last step, for persons who completed.
    pub time_to_convert: Vec<TimeBucket>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breakdown: Option<Vec<BreakdownGroup>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trend: Option<Vec<TrendPoint>>,
}

/// One funnel step as written: an event name, optionally with filters on
/// `events` columns, such as `purchase[channel=app,country!=CN]`. The one
/// grammar of steps: requests carry these, whatever front end made them.
#[derive(Debug, Clone, PartialEq, SerializeDisplay, DeserializeFromStr)]
pub struct Step {
    text: String,
    event: String,
    /// (column, equal, value).
    filters: Vec<(String, bool, String)>,
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit())
}

impl FromStr for Step {
    type Err = String;

    /// `purchase[channel=app,country!=CN]`.
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let s = s.trim();
        let bad = |why: String| format!("step \"{s}\": {why}");
        let (event, filters) = match s.find('[') {
            None => (s, ""),
            Some(i) => {
                let rest = s[i + 1..]
                    .strip_suffix(']')
                    .ok_or_else(|| bad("a filter list must end with ]".into()))?;
                (s[..i].trim(), rest)
            }
        };
        if event.is_empty() {
            return Err(bad("no event name".into()));
        }
        let mut out = Vec::new();
        for f in filters.split(',').map(str::trim).filter(|f| !f.is_empty()) {
            let (col, eq, val) = if let Some((c, v)) = f.split_once("!=") {
                (c, false, v)
            } else if let Some((c, v)) = f.split_once('=') {
                (c, true, v)
            } else {
                return Err(bad(format!(
                    "filter \"{f}\" is not COLUMN=VALUE or COLUMN!=VALUE"
                )));
            };
            let col = col.trim().to_ascii_lowercase();
            if !is_identifier(&col) {
                return Err(bad(format!("\"{col}\" is not a column name")));
            }
            out.push((col, eq, val.trim().to_string()));
        }
        Ok(Step {
            text: s.to_string(),
            event: event.to_string(),
            filters: out,
        })
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Steps written in one line, `view,add_to_cart,purchase[channel=app,os=ios]`:
/// split at the commas outside brackets.
pub fn parse_steps(s: &str) -> std::result::Result<Vec<Step>, String> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    parts.push(cur);
    parts
        .iter()
        .filter(|p| !p.trim().is_empty())
        .map(|p| p.parse())
        .collect()
}

impl Step {
    /// The step's filters name columns that `events` has.
    fn check_columns(&self, columns: &[String]) -> Result<()> {
        match self.filters.iter().find(|(c, _, _)| !columns.contains(c)) {
            None => Ok(()),
            Some((col, _, _)) => Err(Error::invalid(
                "steps",
                format!(
                    "step \"{}\": events has no column \"{col}\" (it has {})",
                    self.text,
                    columns.join(", ")
                ),
            )),
        }
    }

    fn sql(&self) -> String {
        let mut parts = vec![format!("event = {}", quote(&self.event))];
        for (c, eq, v) in &self.filters {
            if *eq {
                parts.push(format!("CAST({c} AS VARCHAR) = {}", quote(v)));
            } else {
                parts.push(format!(
                    "CAST({c} AS VARCHAR) IS DISTINCT FROM {}",
                    quote(v)
                ));
            }
        }
        format!("({})", parts.join(" AND "))
    }
}

/// Persons who did an event between two steps are left out: `EVENT` (a
/// step's grammar) anywhere in the funnel, or `EVENT:FROM-TO` (1-based steps)
/// between those two.
#[derive(Debug, Clone, PartialEq, SerializeDisplay, DeserializeFromStr)]
pub struct Exclusion {
    text: String,
    step: Step,
    /// FROM-TO, or the whole funnel.
    range: Option<(usize, usize)>,
}

impl FromStr for Exclusion {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let s = s.trim();
        let (event, range) = match s.rsplit_once(':') {
            Some((e, r)) if r.contains('-') => {
                let parsed =
                    koubei_functions::parse_exclusions(r).map_err(|e| format!("{s}: {e}"))?;
                match parsed.as_slice() {
                    [x] => (e, Some((x.from, x.to))),
                    _ => return Err(format!("{s}: expected one range FROM-TO")),
                }
            }
            _ => (s, None),
        };
        Ok(Exclusion {
            text: s.to_string(),
            step: event.parse().map_err(|e| format!("{s}: {e}"))?,
            range,
        })
    }
}

impl fmt::Display for Exclusion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Time-to-convert buckets, in seconds.
const TIME_BUCKETS: [i64; 9] = [
    60,
    600,
    3600,
    6 * 3600,
    86_400,
    3 * 86_400,
    7 * 86_400,
    14 * 86_400,
    30 * 86_400,
];

/// Parses a duration such as `7d`, `12h`, `30m`, `90s` or `2w` into seconds.
pub fn parse_duration(s: &str) -> std::result::Result<i64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: i64 = n.parse().map_err(|_| {
        format!("invalid duration \"{s}\": expected a number and a unit, such as 7d or 12h")
    })?;
    let unit = match unit {
        "s" | "sec" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => {
            return Err(format!(
                "invalid duration \"{s}\": the unit must be s, m, h, d or w"
            ));
        }
    };
    n.checked_mul(unit)
        .ok_or_else(|| format!("duration \"{s}\" is too long"))
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

impl Engine {
    /// The query of each person's path through the funnel (`person`,
    /// `path`: the level reached, negative when excluded, then the steps'
    /// times), after checking the request; and the steps' conditions.
    async fn paths_sql(&self, req: &FunnelRequest) -> Result<(String, Vec<String>)> {
        let n = req.steps.len();
        if n == 0 || n > 32 {
            return Err(Error::Request("a funnel has 1 to 32 steps".into()));
        }
        if req.window_seconds < 0 {
            return Err(Error::Request("the window cannot be negative".into()));
        }
        let columns = self.columns("events").await?;
        for step in &req.steps {
            step.check_columns(&columns)?;
        }
        let mut ex_specs = Vec::new();
        let mut ranges = Vec::new();
        for x in &req.exclusions {
            let (from, to) = x.range.unwrap_or((1, n));
            if to > n {
                return Err(Error::invalid(
                    "exclusions",
                    format!("{x}: the funnel has only {n} steps"),
                ));
            }
            if n < 2 {
                return Err(Error::Request(
                    "exclusions need a funnel of two steps or more".into(),
                ));
            }
            x.step.check_columns(&columns)?;
            ex_specs.push(&x.step);
            ranges.push(format!("{from}-{to}"));
        }
        if !ex_specs.is_empty() && req.order == FunnelOrder::Unordered {
            return Err(Error::Request(
                "exclusions apply to ordered and strict funnels, not unordered".into(),
            ));
        }
        if let Some(b) = &req.breakdown
            && (!is_identifier(b) || !columns.contains(b))
        {
            return Err(Error::invalid(
                "breakdown",
                format!(
                    "{b}: events has no such column (it has {})",
                    columns.join(", ")
                ),
            ));
        }
        let conds: Vec<String> = req.steps.iter().chain(ex_specs).map(Step::sql).collect();
        let mut filters = vec![HAS_PERSON.to_string()];
        // Strict order needs the events between the steps too.
        if req.order != FunnelOrder::Strict {
            filters.push(format!("({})", conds.join(" OR ")));
        }
        filters.push(crate::ts_in_days("ts", req.since, req.until));
        let per = format!(
            "SELECT {PERSON} AS person,
                    window_funnel_path(CAST({window} AS BIGINT), '{order}', '{ranges}', ts, {conds}) AS path
             FROM events WHERE {filters}
             GROUP BY 1",
            window = req.window_seconds.saturating_mul(1_000_000),
            order = req.order,
            ranges = ranges.join(","),
            conds = conds.join(", "),
            filters = filters.join(" AND "),
        );
        Ok((per, conds))
    }

    pub async fn funnel(&self, req: &FunnelRequest) -> Result<FunnelReport> {
        let n = req.steps.len();
        let (per, conds) = self.paths_sql(req).await?;
        let sql = match &req.breakdown {
            None => {
                format!("WITH per AS ({per}) SELECT path, '' AS value FROM per WHERE path[1] <> 0")
            }
            Some(b) => format!(
                "WITH per AS ({per}),
                 ent AS (SELECT person, path[2] AS entry FROM per WHERE path[1] > 0),
                 bd AS (SELECT ent.person, MIN(CAST(e.{b} AS VARCHAR)) AS value
                        FROM ent JOIN events e
                          ON COALESCE(e.customer_id, e.anonymous_id) = ent.person
                         AND CAST(e.ts AS BIGINT) = ent.entry
                        WHERE {first}
                        GROUP BY ent.person)
                 SELECT per.path, COALESCE(bd.value, '') AS value
                 FROM per LEFT JOIN bd ON bd.person = per.person WHERE per.path[1] <> 0",
                first = conds[0],
            ),
        };
        let (_, batches) = self.sql_gathering(&sql).await?;
        // Each person's path and breakdown value, borrowed from the rows:
        // a vector and a string per person cost more than the counting.
        let values = batches
            .iter()
            .map(|b| cast(b.column(1), &DataType::Utf8))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let mut paths: Vec<(&[i64], &str)> = Vec::new();
        for (b, value) in batches.iter().zip(&values) {
            let value = value.as_string::<i32>();
            for r in 0..b.num_rows() {
                if let Some(p) = koubei_functions::path_slice(b.column(0).as_ref(), r) {
                    paths.push((p, value.value(r)));
                }
            }
        }
        let excluded = paths.iter().filter(|(p, _)| p[0] < 0).count() as i64;
        paths.retain(|(p, _)| p[0] > 0);
        let all: Vec<&[i64]> = paths.iter().map(|(p, _)| *p).collect();
        let steps_out = step_rows(&req.steps, &all);
        // Time from step 1 to the last step, for persons who completed.
        let mut buckets: Vec<TimeBucket> = TIME_BUCKETS
            .iter()
            .map(|&s| TimeBucket {
                up_to_seconds: Some(s),
                persons: 0,
            })
            .chain(std::iter::once(TimeBucket {
                up_to_seconds: None,
                persons: 0,
            }))
            .collect();
        for p in &all {
            if p[0] as usize == n && p.len() == n + 1 && n > 1 {
                let secs = (p[n] - p[1]) / 1_000_000;
                let i = TIME_BUCKETS.partition_point(|&b| b < secs);
                buckets[i].persons += 1;
            }
        }
        let breakdown = req.breakdown.as_ref().map(|_| {
            let mut groups: std::collections::BTreeMap<&str, Vec<&[i64]>> = Default::default();
            for &(p, v) in &paths {
                groups.entry(v).or_default().push(p);
            }
            let mut out: Vec<BreakdownGroup> = groups
                .into_iter()
                .map(|(v, ps)| BreakdownGroup {
                    value: v.to_string(),
                    steps: step_rows(&req.steps, &ps),
                })
                .collect();
            out.sort_by(|a, b| {
                b.steps[0]
                    .persons
                    .cmp(&a.steps[0].persons)
                    .then(a.value.cmp(&b.value))
            });
            out
        });
        let trend = req.trend.map(|period| {
            // Counted by the day of entry, then the days by period: one
            // date made per day rather than per person.
            let mut by_day: HashMap<i64, (i64, i64), foldhash::fast::RandomState> =
                HashMap::default();
            for p in &all {
                if let Some(&entry) = p.get(1) {
                    let e = by_day.entry(entry.div_euclid(DAY_US)).or_default();
                    e.0 += 1;
                    e.1 += i64::from(p[0] as usize == n);
                }
            }
            let mut per: std::collections::BTreeMap<NaiveDate, (i64, i64)> = Default::default();
            for (day, (entered, converted)) in by_day {
                let e = per.entry(period.of_micros(day * DAY_US)).or_default();
                e.0 += entered;
                e.1 += converted;
            }
            let (Some(&first), Some(&last)) = (per.keys().next(), per.keys().next_back()) else {
                return Vec::new();
            };
            period
                .range(first, last)
                .into_iter()
                .map(|d| {
                    let (entered, converted) = per.get(&d).copied().unwrap_or_default();
                    TrendPoint {
                        period: d.to_string(),
                        entered,
                        converted,
                        conversion: (entered > 0).then(|| converted as f64 / entered as f64),
                    }
                })
                .collect()
        });
        Ok(FunnelReport {
            window_seconds: req.window_seconds,
            order: req.order,
            steps: steps_out,
            excluded,
            time_to_convert: buckets,
            breakdown,
            trend,
        })
    }
}

impl Engine {
    /// The persons of a funnel's `step` (from 1): those who reached it; or,
    /// with `dropped_off`, those who reached the step before and not this
    /// one, the step's drop-off in [`Engine::funnel`]. In id order.
    pub async fn funnel_persons(
        &self,
        req: &FunnelRequest,
        step: usize,
        dropped_off: bool,
    ) -> Result<Vec<String>> {
        let n = req.steps.len();
        let first = if dropped_off { 2 } else { 1 };
        if step < first || step > n {
            let which = if dropped_off { "a drop-off" } else { "persons" };
            return Err(Error::invalid(
                "step",
                format!("{step}: the funnel has {which} at steps {first} to {n}"),
            ));
        }
        let (per, _) = self.paths_sql(req).await?;
        let at = if dropped_off {
            format!("path[1] = {}", step - 1)
        } else {
            format!("path[1] >= {step}")
        };
        let (_, batches) = self
            .sql_gathering(&format!(
                "WITH per AS ({per}) SELECT person FROM per WHERE {at} ORDER BY person"
            ))
            .await?;
        let mut out = Vec::new();
        for b in &batches {
            out.extend(crate::cols::strings(b.column(0))?);
        }
        Ok(out)
    }
}

/// Persons per step (those who reached it or further), conversions and
/// times between steps, from `[level, t_1, ..., t_level]` paths.
fn step_rows(names: &[Step], paths: &[&[i64]]) -> Vec<FunnelStep> {
    let n = names.len();
    let mut reached = vec![0i64; n];
    let mut gaps: Vec<Vec<f64>> = vec![Vec::new(); n];
    for p in paths {
        let level = (p[0].max(0) as usize).min(n);
        for r in reached.iter_mut().take(level) {
            *r += 1;
        }
        // Unordered paths carry no times.
        if p.len() == level + 1 {
            for k in 1..level {
                gaps[k].push((p[k + 1] - p[k]) as f64 / 1e6);
            }
        }
    }
    let ratio = |a: i64, b: i64| (b > 0).then(|| a as f64 / b as f64);
    names
        .iter()
        .enumerate()
        .map(|(k, name)| {
            let g = &mut gaps[k];
            g.sort_by(f64::total_cmp);
            let median = (!g.is_empty()).then(|| {
                let m = g.len() / 2;
                if g.len() % 2 == 1 {
                    g[m]
                } else {
                    (g[m - 1] + g[m]) / 2.0
                }
            });
            FunnelStep {
                name: name.to_string(),
                persons: reached[k],
                conversion_from_previous: if k == 0 {
                    None
                } else {
                    ratio(reached[k], reached[k - 1])
                },
                conversion_from_first: ratio(reached[k], reached[0]),
                dropoff: if k == 0 {
                    0
                } else {
                    reached[k - 1] - reached[k]
                },
                mean_seconds_from_previous: (!g.is_empty())
                    .then(|| g.iter().sum::<f64>() / g.len() as f64),
                median_seconds_from_previous: median,
            }
        })
        .collect()
}

koubei_schema::text_schema!(
    Step,
    "an event name with optional filters: purchase[channel=app], view[country!=CN]"
);
koubei_schema::text_schema!(Exclusion, "an event between two steps: support_call:1-2");

#[cfg(test)]
mod tests {
    use super::*;
    use koubei_schema::TableKind;

    /// Hand-built persons, each with the level it must reach (window 1 day):
    /// - p1: view, cart, buy within an hour: 3
    /// - p2: view, cart, then buy one second past the day: 2 (strict: 2)
    /// - p3: view, cart, buy at exactly one day: 3 (strict: 2, a search comes between)
    /// - p4: cart, buy with no view: 0
    /// - v1 (anonymous): view only: 1
    /// - p5: view, then cart and buy at one instant with the view: 3
    const EVENTS: &str = "ts,customer_id,anonymous_id,event
2024-03-01T10:00:00Z,p1,,view
2024-03-01T10:10:00Z,p1,,add_to_cart
2024-03-01T10:50:00Z,p1,,purchase
2024-03-01T10:00:00Z,p2,,view
2024-03-01T12:00:00Z,p2,,add_to_cart
2024-03-02T10:00:01Z,p2,,purchase
2024-03-01T10:00:00Z,p3,,view
2024-03-01T11:00:00Z,p3,,add_to_cart
2024-03-01T12:00:00Z,p3,,search
2024-03-02T10:00:00Z,p3,,purchase
2024-03-01T10:00:00Z,p4,,add_to_cart
2024-03-01T10:05:00Z,p4,,purchase
2024-03-01T10:00:00Z,,v1,view
2024-03-01T10:00:00Z,p5,,purchase
2024-03-01T10:00:00Z,p5,,add_to_cart
2024-03-01T10:00:00Z,p5,,view
";

    async fn engine() -> (tempfile::TempDir, Engine) {
        crate::test_engine(TableKind::Events, EVENTS).await
    }

    fn req(order: FunnelOrder) -> FunnelRequest {
        FunnelRequest {
            steps: parse_steps("view,add_to_cart,purchase").unwrap(),
            window_seconds: parse_duration("1d").unwrap(),
            order,
            exclusions: vec![],
            breakdown: None,
            trend: None,
            since: None,
            until: None,
        }
    }

    fn persons(r: &FunnelReport) -> Vec<i64> {
        r.steps.iter().map(|s| s.persons).collect()
    }

    #[tokio::test]
    async fn persons_per_step_by_hand() {
        let (_d, e) = engine().await;
        let r = e.funnel(&req(FunnelOrder::Ordered)).await.unwrap();
        // view: p1 p2 p3 v1 p5; cart: p1 p2 p3 p5; buy: p1 p3 p5
        assert_eq!(persons(&r), vec![5, 4, 3]);
        assert_eq!(r.steps[1].conversion_from_previous, Some(0.8));
        assert_eq!(r.steps[2].conversion_from_first, Some(0.6));
        assert_eq!(r.steps[2].dropoff, 1);
        let strict = e.funnel(&req(FunnelOrder::Strict)).await.unwrap();
        assert_eq!(persons(&strict), vec![5, 4, 2]);
        let unordered = e.funnel(&req(FunnelOrder::Unordered)).await.unwrap();
        // p4 did two of the three steps in any order.
        assert_eq!(persons(&unordered), vec![6, 5, 3]);

        // The lists behind the counts: who reached the cart, who dropped
        // off before buying, who dropped off before the cart (the visitor).
        let ordered = req(FunnelOrder::Ordered);
        let list = |step, dropped| {
            let (e, ordered) = (&e, &ordered);
            async move { e.funnel_persons(ordered, step, dropped).await.unwrap() }
        };
        assert_eq!(list(2, false).await, ["p1", "p2", "p3", "p5"]);
        assert_eq!(list(3, true).await, ["p2"]);
        assert_eq!(list(2, true).await, ["v1"]);
        assert_eq!(list(1, false).await.len(), 5);
        for (step, dropped) in [(0, false), (4, false), (1, true)] {
            let err = e.funnel_persons(&ordered, step, dropped).await.unwrap_err();
            assert!(err.to_string().contains("step"), "{err}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("7d").unwrap(), 604_800);
        assert_eq!(parse_duration("90s").unwrap(), 90);
        assert_eq!(parse_duration("2w").unwrap(), 1_209_600);
        assert!(parse_duration("7 days").is_err());
        assert!(parse_duration("d").is_err());
    }

    /// Persons for exclusions, filters, breakdowns, times and the trend:
    /// - q1: view (web), cart 10 min later, purchase (app) 40 min after that
    /// - q2: view (app), support_call, cart after 1 h, purchase (web) after 1 h
    /// - q3: view (web) a week later, cart after 30 min
    /// - q4: view (app), purchase with no cart
    const EVENTS2: &str = "ts,customer_id,event,channel
2024-03-01T10:00:00Z,q1,view,web
2024-03-01T10:10:00Z,q1,add_to_cart,web
2024-03-01T10:50:00Z,q1,purchase,app
2024-03-01T10:00:00Z,q2,view,app
2024-03-01T10:30:00Z,q2,support_call,app
2024-03-01T11:00:00Z,q2,add_to_cart,app
2024-03-01T12:00:00Z,q2,purchase,web
2024-03-08T09:00:00Z,q3,view,web
2024-03-08T09:30:00Z,q3,add_to_cart,web
2024-03-01T10:00:00Z,q4,view,app
2024-03-01T10:05:00Z,q4,purchase,app
";

    fn req2(steps: &[&str]) -> FunnelRequest {
        FunnelRequest {
            steps: steps.iter().map(|s| s.parse().unwrap()).collect(),
            ..req(FunnelOrder::Ordered)
        }
    }

    #[tokio::test]
    async fn times_exclusions_filters_breakdown_and_trend_by_hand() {
        let (_d, e) = crate::test_engine(TableKind::Events, EVENTS2).await;
        let three = ["view", "add_to_cart", "purchase"];
        let r = e.funnel(&req2(&three)).await.unwrap();
        assert_eq!(persons(&r), vec![4, 3, 2]);
        // Cart after view: 600, 3600, 1800 s; purchase after cart: 2400, 3600 s.
        assert_eq!(r.steps[1].mean_seconds_from_previous, Some(2000.0));
        assert_eq!(r.steps[1].median_seconds_from_previous, Some(1800.0));
        assert_eq!(r.steps[2].mean_seconds_from_previous, Some(3000.0));
        assert_eq!(r.steps[2].median_seconds_from_previous, Some(3000.0));
        // View to purchase: q1 3000 s (up to 1 h), q2 7200 s (up to 6 h).
        let t: Vec<i64> = r.time_to_convert.iter().map(|b| b.persons).collect();
        assert_eq!(t, vec![0, 0, 1, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(r.excluded, 0);

        // A support call between view and cart drops q2.
        let mut x = req2(&three);
        x.exclusions = vec!["support_call:1-2".parse().unwrap()];
        let r = e.funnel(&x).await.unwrap();
        assert_eq!(persons(&r), vec![3, 2, 1]);
        assert_eq!(r.excluded, 1);
        // Between cart and purchase it happened before the cart: no effect.
        x.exclusions = vec!["support_call:2-3".parse().unwrap()];
        assert_eq!(persons(&e.funnel(&x).await.unwrap()), vec![4, 3, 2]);
        // Without a range, it covers the whole funnel.
        x.exclusions = vec!["support_call".parse().unwrap()];
        assert_eq!(e.funnel(&x).await.unwrap().excluded, 1);

        // Only app purchases count: q2 bought on the web.
        let r = e
            .funnel(&req2(&["view", "add_to_cart", "purchase[channel=app]"]))
            .await
            .unwrap();
        assert_eq!(persons(&r), vec![4, 3, 1]);
        let r = e
            .funnel(&req2(&["view[channel!=app]", "add_to_cart"]))
            .await
            .unwrap();
        assert_eq!(persons(&r), vec![2, 2]);

        // First touch: the channel of each person's view.
        let mut b = req2(&three);
        b.breakdown = Some("channel".into());
        let r = e.funnel(&b).await.unwrap();
        assert_eq!(persons(&r), vec![4, 3, 2], "the total row");
        let groups = r.breakdown.unwrap();
        let by: Vec<(&str, Vec<i64>)> = groups
            .iter()
            .map(|g| {
                (
                    g.value.as_str(),
                    g.steps.iter().map(|s| s.persons).collect(),
                )
            })
            .collect();
        assert_eq!(by, vec![("app", vec![2, 1, 1]), ("web", vec![2, 2, 1])]);

        // Entered in the week of 2024-02-26 (q1, q2, q4; two completed) and
        // of 2024-03-04 (q3).
        let mut tr = req2(&three);
        tr.trend = Some(crate::sales::Period::Week);
        let r = e.funnel(&tr).await.unwrap();
        let trend: Vec<(String, i64, i64)> = r
            .trend
            .unwrap()
            .into_iter()
            .map(|t| (t.period, t.entered, t.converted))
            .collect();
        assert_eq!(
            trend,
            vec![("2024-02-26".into(), 3, 2), ("2024-03-04".into(), 1, 0)]
        );
    }

    #[tokio::test]
    async fn bad_funnel_requests_are_clear() {
        let (_d, e) = crate::test_engine(TableKind::Events, EVENTS2).await;
        let m = e
            .funnel(&req2(&["view[colour=red]", "purchase"]))
            .await
            .unwrap_err()
            .to_string();
        assert!(m.contains("events has no column \"colour\""), "{m}");
        let mut x = req2(&["view", "purchase"]);
        x.exclusions = vec!["support_call:1-3".parse().unwrap()];
        let m = e.funnel(&x).await.unwrap_err().to_string();
        assert!(m.contains("only 2 steps"), "{m}");
        let mut b = req2(&["view", "purchase"]);
        b.breakdown = Some("nope".into());
        let m = e.funnel(&b).await.unwrap_err().to_string();
        assert!(
            m.contains("breakdown: nope: events has no such column"),
            "{m}"
        );
    }
}
