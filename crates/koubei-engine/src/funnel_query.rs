//! `koubei funnel`: persons per step, built on the `window_funnel` aggregate.
//!
//! A person is `customer_id`, or `anonymous_id` for visitors not yet known.
//! Each person is counted once, at the furthest step reached (see
//! [`crate::funnel`]); the persons at step k are those who reached step k or
//! further.

use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type};
use chrono::NaiveDate;
use serde::Serialize;

use crate::funnel::FunnelOrder;
use crate::{Engine, Error, Result};

#[derive(Debug, Clone, Serialize)]
pub struct FunnelRequest {
    /// Event names, in order.
    pub steps: Vec<String>,
    /// The conversion window, in seconds, measured from the step-1 event.
    pub window_seconds: i64,
    pub order: FunnelOrder,
    pub since: Option<NaiveDate>,
    pub until: Option<NaiveDate>,
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
}

#[derive(Debug, Clone, Serialize)]
pub struct FunnelReport {
    pub window_seconds: i64,
    pub order: FunnelOrder,
    pub steps: Vec<FunnelStep>,
}

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
    pub async fn funnel(&self, req: &FunnelRequest) -> Result<FunnelReport> {
        if req.steps.is_empty() || req.steps.len() > 32 {
            return Err(Error::Request("a funnel has 1 to 32 steps".into()));
        }
        if req.window_seconds < 0 {
            return Err(Error::Request("the window cannot be negative".into()));
        }
        let conds: Vec<String> = req
            .steps
            .iter()
            .map(|s| format!("event = {}", quote(s)))
            .collect();
        let mut filters = vec!["COALESCE(customer_id, anonymous_id) IS NOT NULL".to_string()];
        // Strict order needs the events between the steps too.
        if req.order != FunnelOrder::Strict {
            let names: Vec<String> = req.steps.iter().map(|s| quote(s)).collect();
            filters.push(format!("event IN ({})", names.join(", ")));
        }
        filters.push(crate::ts_in_days("ts", req.since, req.until));
        let sql = format!(
            "SELECT level, count(*) AS persons FROM (
               SELECT COALESCE(customer_id, anonymous_id) AS person,
                      window_funnel(CAST({window} AS BIGINT), '{order}', ts, {conds}) AS level
               FROM events WHERE {filters}
               GROUP BY 1
             ) WHERE level > 0 GROUP BY level",
            window = req.window_seconds.saturating_mul(1_000_000),
            order = req.order,
            conds = conds.join(", "),
            filters = filters.join(" AND "),
        );
        let (_, batches) = self.sql(&sql).await?;
        let mut at_level = vec![0i64; req.steps.len() + 1];
        for b in &batches {
            let level = cast(b.column(0), &DataType::Int64)?;
            let level = level.as_primitive::<Int64Type>();
            let persons = cast(b.column(1), &DataType::Int64)?;
            let persons = persons.as_primitive::<Int64Type>();
            for r in 0..b.num_rows() {
                if level.is_valid(r) {
                    at_level[level.value(r) as usize] += persons.value(r);
                }
            }
        }
        // Persons at step k reached k or further.
        let mut reached = vec![0i64; req.steps.len()];
        let mut acc = 0;
        for k in (0..req.steps.len()).rev() {
            acc += at_level[k + 1];
            reached[k] = acc;
        }
        let ratio = |a: i64, b: i64| (b > 0).then(|| a as f64 / b as f64);
        let steps = req
            .steps
            .iter()
            .enumerate()
            .map(|(k, name)| FunnelStep {
                name: name.clone(),
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
            })
            .collect();
        Ok(FunnelReport {
            window_seconds: req.window_seconds,
            order: req.order,
            steps,
        })
    }
}

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
            steps: vec!["view".into(), "add_to_cart".into(), "purchase".into()],
            window_seconds: parse_duration("1d").unwrap(),
            order,
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
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("7d").unwrap(), 604_800);
        assert_eq!(parse_duration("90s").unwrap(), 90);
        assert_eq!(parse_duration("2w").unwrap(), 1_209_600);
        assert!(parse_duration("7 days").is_err());
        assert!(parse_duration("d").is_err());
    }
}
