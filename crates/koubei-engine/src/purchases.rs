//! Each customer's purchases, stored beside `orders` after an import: the
//! results of `purchase_days` and RFM's `customer_orders` over their paid
//! order lines, one row per customer.
//!
//! `koubei clv` and `koubei rfm` without dates group every order line by
//! customer, which is most of their time (at a million customers, 4.28M
//! lines). With the stored rows they read one row per customer instead, and
//! give the same numbers: the rows are the same aggregates' results, and
//! they are used only while `orders` is at the version they were made from
//! (see `koubei_store::Source`). `--recompute` leaves them unused.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int32Array, RecordBatch, StructArray};
use arrow::datatypes::{DataType, Field, Int32Type, Schema};
use chrono::NaiveDate;
use koubei_store::Workspace;
use rayon::prelude::*;

use crate::clv::epoch_day;
use crate::customers::{CustomerIds, PLACE, RFM_AGGREGATE};
use crate::{Engine, Result};

/// The derived table's name, in the workspace and in the session.
pub const CUSTOMER_PURCHASES: &str = "customer_purchases";

/// The stored column of each customer's days with a paid line and their
/// spend, packed (see [`koubei_functions::pack_days`]): a summary to any
/// calibration end, or by unit, is made from it rather than from the order
/// lines.
const PAID: &str = "paid";

/// The fields of `purchase_days` that `p` stores: those before `paid`.
const SUMMARY_FIELDS: usize = 5;

impl Engine {
    /// Registers the stored purchases if they were made from the `orders`
    /// this session reads, with the aggregates' results as this koubei
    /// makes them (a table stored by another version may differ).
    pub(crate) async fn register_stored_purchases(&mut self, ws: &Workspace) -> Result<()> {
        let Some(orders) = &self.orders else {
            return Ok(());
        };
        let Some(t) = ws.load_derived(CUSTOMER_PURCHASES, orders).await? else {
            return Ok(());
        };
        let provider = self.runner.provider(&t).await?;
        let query = self.ctx.sql(&stored_sql()).await?;
        let made = query.schema().fields();
        let DataType::Struct(p) = made[1].data_type() else {
            return Ok(());
        };
        let want = [
            (
                "p",
                &DataType::Struct(p.iter().take(SUMMARY_FIELDS).cloned().collect()),
            ),
            ("o", made[2].data_type()),
            ("first_ts", made[3].data_type()),
            ("last_ts", made[4].data_type()),
            (PLACE, &DataType::Int32),
        ];
        let stored = provider.schema();
        // Delta's binary type, which a scan may give as a view.
        let paid = stored.field_with_name(PAID).is_ok_and(|f| {
            matches!(
                f.data_type(),
                DataType::Binary | DataType::BinaryView | DataType::LargeBinary
            )
        });
        let same = paid
            && want.iter().all(|(name, w)| {
                stored
                    .field_with_name(name)
                    .is_ok_and(|f| f.data_type().equals_datatype(w))
            });
        if same {
            self.ctx.register_table(CUSTOMER_PURCHASES, provider)?;
            self.stored_purchases = true;
        }
        Ok(())
    }

    /// Leaves the stored purchases unused: every summary groups the order
    /// lines again.
    pub fn recompute(mut self) -> Result<Self> {
        if self.stored_purchases {
            self.ctx.deregister_table(CUSTOMER_PURCHASES)?;
            self.stored_purchases = false;
            self.people = Default::default();
        }
        self.forget_stored_activity()?;
        // Made from the stored tables.
        self.latest = Default::default();
        Ok(self)
    }

    /// Whether reports read the stored purchases.
    pub fn reads_stored_purchases(&self) -> bool {
        self.stored_purchases
    }

    /// Stores the purchases of the workspace's orders as they are now, unless
    /// they are stored already; returns how many customers it stored.
    pub async fn store_purchases(ws: &Workspace) -> Result<Option<usize>> {
        let engine = Engine::open(ws).await?;
        let Some(orders) = engine.orders.clone() else {
            return Ok(None);
        };
        if engine.stored_purchases {
            return Ok(None);
        }
        let started = std::time::Instant::now();
        let batches = engine.sql_gathering(&stored_sql()).await?.1;
        tracing::debug!(elapsed = ?started.elapsed(), "purchases grouped");
        let n = batches.iter().map(RecordBatch::num_rows).sum();
        let mut place = vec![0u32; n];
        for (k, i) in CustomerIds::from_batches(&batches)?
            .sorted()
            .into_iter()
            .enumerate()
        {
            place[i as usize] = k as u32;
        }
        let mut rows_before = 0;
        let stored = batches
            .iter()
            .map(|b| {
                let places = &place[rows_before..rows_before + b.num_rows()];
                rows_before += b.num_rows();
                stored_columns(b, places)
            })
            .collect::<Result<Vec<_>>>()?;
        drop(batches);
        ws.replace_derived(CUSTOMER_PURCHASES, &orders, stored)
            .await?;
        tracing::debug!(elapsed = ?started.elapsed(), "purchases stored");
        Ok(Some(n))
    }

    /// The stored purchases as [`Engine::purchase_days`] gives them without
    /// dates: id, `purchase_days` and, when `extra` is RFM's aggregate, its
    /// result; then each row's place in id order (see [`id_order`]). Without
    /// `ids`, the ids are null and not read. None when they are not stored,
    /// or `extra` is another aggregate.
    pub(crate) async fn stored_purchase_days(
        &self,
        extra: Option<&str>,
        ids: bool,
    ) -> Result<Option<Vec<RecordBatch>>> {
        if !self.stored_purchases || extra.is_some_and(|e| e != RFM_AGGREGATE) {
            return Ok(None);
        }
        let id = if ids {
            "customer_id"
        } else {
            "CAST(NULL AS VARCHAR) AS customer_id"
        };
        let o = if extra.is_some() { ", o" } else { "" };
        let sql = format!("SELECT {id}, p{o}, {PLACE} FROM {CUSTOMER_PURCHASES}");
        Ok(Some(self.sql(&sql).await?.1))
    }
}

impl Engine {
    /// [`Engine::purchase_days`] without `extra`, to the day `end` (every
    /// day without), with the holdout to `holdout_end` and by `unit` as
    /// asked, made from the stored days and their spend rather than by
    /// grouping the order lines again. The rows are the customers who
    /// bought by `end`, each with its place in id order among them. None
    /// when the purchases are not stored, or a customer's days are not (see
    /// [`koubei_functions::purchase_days_of_daily`]).
    pub(crate) async fn stored_purchase_days_to(
        &self,
        end: Option<NaiveDate>,
        holdout_end: Option<NaiveDate>,
        unit: Option<f64>,
        ids: bool,
    ) -> Result<Option<Vec<RecordBatch>>> {
        if !self.stored_purchases {
            return Ok(None);
        }
        let id = if ids {
            "customer_id"
        } else {
            "CAST(NULL AS VARCHAR) AS customer_id"
        };
        let sql = format!("SELECT {id}, {PAID}, {PLACE} FROM {CUSTOMER_PURCHASES}");
        let started = std::time::Instant::now();
        let batches = self.sql(&sql).await?.1;
        let (end, holdout_end) = (end.map(epoch_day), holdout_end.map(epoch_day));
        let made = batches
            .par_iter()
            .map(|b| koubei_functions::purchase_days_of_daily(b.column(1), unit, end, holdout_end))
            .collect::<datafusion::common::Result<Vec<_>>>()?;
        let Some(made) = made.into_iter().collect::<Option<Vec<_>>>() else {
            return Ok(None);
        };
        tracing::debug!(elapsed = ?started.elapsed(), "purchases made from the days");
        // Each kept row's place among the kept: the count of kept places
        // before its own.
        let n: usize = batches.iter().map(RecordBatch::num_rows).sum();
        let mut kept = vec![false; n];
        let places = |b: &RecordBatch| b.column(2).as_primitive::<Int32Type>().clone();
        for (b, (_, bought)) in batches.iter().zip(&made) {
            for (&p, k) in places(b).values().iter().zip(bought.values().iter()) {
                match kept.get_mut(p as usize) {
                    Some(slot) if p >= 0 => *slot |= k,
                    _ => return Ok(None),
                }
            }
        }
        let mut rank = Vec::with_capacity(n);
        let mut before = 0;
        for k in kept {
            rank.push(before);
            before += i32::from(k);
        }
        let out = batches
            .par_iter()
            .zip(made)
            .map(|(b, (p, bought))| {
                let kept = arrow::compute::filter(b.column(2), &bought)?;
                let place: Int32Array = kept
                    .as_primitive::<Int32Type>()
                    .values()
                    .iter()
                    .map(|&p| rank[p as usize])
                    .collect();
                let schema = Schema::new(vec![
                    b.schema().field(0).clone(),
                    Field::new("p", p.data_type().clone(), false),
                    Field::new(PLACE, DataType::Int32, false),
                ]);
                let columns: Vec<ArrayRef> = vec![
                    arrow::compute::filter(b.column(0), &bought)?,
                    Arc::new(p),
                    Arc::new(place),
                ];
                Ok(RecordBatch::try_new(Arc::new(schema), columns)?)
            })
            .collect::<Result<Vec<_>>>()?;
        tracing::debug!(elapsed = ?started.elapsed(), "purchases of the buyers by the end");
        Ok(Some(out))
    }

    /// A query of each buyer's `first_day` (with any paid line) and
    /// `second_day` (of their second paid order), as epoch days: read from
    /// the stored purchases when there are some, grouped from `orders`
    /// otherwise. Both are over every paid line, so a range's KPIs need no
    /// pass of their own over each buyer's lines: a buyer with a line in a
    /// range up to `until` was new in it when `first_day` is in it, and had
    /// ordered twice by `until` when `second_day` is not after it.
    pub(crate) fn buyer_days_sql(&self) -> String {
        if self.stored_purchases {
            format!(
                "SELECT customer_id, o['first'] AS first_day, o['second'] AS second_day
                 FROM {CUSTOMER_PURCHASES}"
            )
        } else {
            format!(
                "SELECT customer_id, o['first'] AS first_day, o['second'] AS second_day
                 FROM (SELECT customer_id, {RFM_AGGREGATE} AS o FROM orders
                       WHERE status = 'paid' AND customer_id IS NOT NULL GROUP BY customer_id)"
            )
        }
    }

    /// A query of each buyer's first paid time (`first_ts`) and the first
    /// paid time after it (`next_ts`, null for a buyer who never came
    /// back), for repeat purchase within N days.
    pub(crate) fn first_and_next_sql(&self) -> String {
        // One pass over the paid lines; joining each line with its buyer's
        // first time and grouping again took three times as long.
        "SELECT customer_id, MIN(ts) AS first_ts, koubei_next_after_min(ts) AS next_ts
         FROM orders WHERE status = 'paid' AND customer_id IS NOT NULL
         GROUP BY customer_id"
            .to_string()
    }

    /// A query of each buyer's first paid line's time `t`: stored, or
    /// grouped from `orders`.
    pub(crate) fn first_orders_sql(&self) -> String {
        if self.stored_purchases {
            format!("SELECT customer_id, first_ts AS t FROM {CUSTOMER_PURCHASES}")
        } else {
            "SELECT customer_id, MIN(ts) AS t FROM orders
             WHERE status = 'paid' AND customer_id IS NOT NULL GROUP BY customer_id"
                .to_string()
        }
    }
}

/// The query whose rows are stored: the summary's, without dates, with
/// each day's spend, RFM's aggregate and the first and last paid lines'
/// times (apart from the structs, whose every field a scan of one reads:
/// the first and last paid days of all buyers take 33 ms from `o` at a
/// million customers, a few from the two).
fn stored_sql() -> String {
    format!(
        "SELECT customer_id, purchase_days_daily(ts, amount) AS p, {RFM_AGGREGATE}, MIN(ts), MAX(ts)
         FROM orders WHERE status = 'paid' AND customer_id IS NOT NULL
         GROUP BY customer_id"
    )
}

/// A batch of the query (id, `purchase_days_daily`, `customer_orders`,
/// first and last times) and its rows' places in id order, as the stored table's
/// columns: the ids as plain strings, which Delta stores, and the lists of
/// days apart from the summary, which reads without them.
fn stored_columns(b: &RecordBatch, places: &[u32]) -> Result<RecordBatch> {
    let ids = arrow::compute::cast(b.column(0), &DataType::Utf8)?;
    let daily = b.column(1).as_struct();
    let (fields, all, nulls) = daily.clone().into_parts();
    let summary = StructArray::try_new(
        fields.iter().take(SUMMARY_FIELDS).cloned().collect(),
        all[..SUMMARY_FIELDS].to_vec(),
        nulls,
    )?;
    let paid = daily
        .column_by_name(PAID)
        .cloned()
        .ok_or_else(|| crate::Error::Request(format!("purchase_days_daily gave no {PAID}")))?;
    let columns = [
        ids,
        Arc::new(summary),
        paid,
        Arc::clone(b.column(2)),
        Arc::clone(b.column(3)),
        Arc::clone(b.column(4)),
        Arc::new(places.iter().map(|&p| p as i32).collect::<Int32Array>()),
    ];
    let schema = Schema::new(
        ["customer_id", "p", PAID, "o", "first_ts", "last_ts", PLACE]
            .iter()
            .zip(&columns)
            .map(|(name, c)| Field::new(*name, c.data_type().clone(), true))
            .collect::<Vec<_>>(),
    );
    Ok(RecordBatch::try_new(Arc::new(schema), columns.to_vec())?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clv::{Summary, SummaryRequest, Unit};
    use crate::customers::id_order;
    use crate::sales::{Period, SalesRequest};
    use chrono::NaiveDate;
    use koubei_clv::Rft;
    use koubei_schema::TableKind;
    use koubei_store::{ImportOptions, Quiet};

    async fn import(ws: &Workspace, name: &str, csv: &str) {
        let path = ws.root().join(name);
        std::fs::write(&path, csv).unwrap();
        ws.import_file(TableKind::Orders, &path, &ImportOptions::default(), &Quiet)
            .await
            .unwrap();
    }

    async fn summary(engine: &Engine) -> Summary {
        let req = SummaryRequest {
            unit: Unit::Week,
            calibration_end: None,
            holdout_end: None,
        };
        engine.clv_summary(&req).await.unwrap()
    }

    #[test]
    fn id_order_inverts_the_places_or_refuses_them() {
        let batch = |places: &[i32]| {
            RecordBatch::try_from_iter([(PLACE, Arc::new(Int32Array::from(places.to_vec())) as _)])
                .unwrap()
        };
        // Rows 0..5 over two batches; row 3 comes first in id order.
        let both = [batch(&[2, 4, 1]), batch(&[0, 3])];
        assert_eq!(id_order(&both), Some(vec![3, 2, 0, 4, 1]));
        assert_eq!(id_order(&[batch(&[0, 0, 2])]), None);
        assert_eq!(id_order(&[batch(&[0, 1, 3])]), None);
        assert_eq!(id_order(&[batch(&[-1, 0, 1])]), None);
        let without =
            RecordBatch::try_from_iter([("n", Arc::new(Int32Array::from(vec![0])) as _)]).unwrap();
        assert_eq!(id_order(&[without]), None);
    }

    #[tokio::test]
    async fn stored_purchases_give_the_same_numbers_and_go_stale_with_the_orders() {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::create(dir.path().join("ws")).unwrap();
        import(
            &ws,
            "a.csv",
            "order_id,customer_id,ts,amount,status
o1,c2,2024-01-01T10:00:00Z,10.5,paid
o2,c2,2024-01-01T18:00:00Z,4.5,paid
o3,c2,2024-02-01T10:00:00Z,20,paid
o4,c1,2024-01-15T10:00:00Z,7,paid
o5,c1,2024-01-20T10:00:00Z,3,refunded
o6,c3,2024-03-01T10:00:00Z,12,paid
o7,c1,2024-03-10T10:00:00Z,9,paid
",
        )
        .await;
        assert!(!Engine::open(&ws).await.unwrap().reads_stored_purchases());
        assert_eq!(Engine::store_purchases(&ws).await.unwrap(), Some(3));
        // Already stored for this version of the orders.
        assert_eq!(Engine::store_purchases(&ws).await.unwrap(), None);

        let stored = Engine::open(&ws).await.unwrap();
        assert!(stored.reads_stored_purchases());
        let recomputed = Engine::open(&ws).await.unwrap().recompute().unwrap();
        assert!(!recomputed.reads_stored_purchases());
        let (s, r) = (summary(&stored).await, summary(&recomputed).await);
        // By hand, weeks to the last paid order's day, 2024-03-10: c1 bought on
        // 01-15 and 03-10 (the refund does not count), c2 on 01-01 (two orders,
        // one occasion) and 02-01, c3 once, on 03-01.
        let ids: Vec<&str> = s.customer_id.iter().collect();
        assert_eq!(ids, ["c1", "c2", "c3"]);
        let rft = |x: f64, t_x: f64, t: f64| Rft {
            x,
            t_x: t_x / 7.0,
            t: t / 7.0,
        };
        assert_eq!(
            s.rows,
            [
                rft(1.0, 55.0, 55.0),
                rft(1.0, 31.0, 69.0),
                rft(0.0, 0.0, 9.0)
            ]
        );
        assert_eq!(s.spend, [9.0, 20.0, 0.0]);
        assert_eq!(format!("{s:?}"), format!("{r:?}"));
        // To a calibration end, with a holdout, and by unit: made from the
        // stored days, the same as from the lines. c3, who first bought on
        // 03-01, is left out of a calibration that ends before it, with a
        // holdout or without.
        let day = |s: &str| Some(s.parse::<NaiveDate>().unwrap());
        for (end, holdout_end, kept) in [
            ("2024-01-31", None, 2),
            ("2024-01-15", day("2024-03-05"), 2),
            ("2024-01-01", day("2024-03-10"), 1),
            ("2024-03-01", None, 3),
            ("2024-03-10", day("2024-04-01"), 3),
        ] {
            for unit in [Unit::Day, Unit::Week, Unit::Month] {
                let req = SummaryRequest {
                    unit,
                    calibration_end: day(end),
                    holdout_end,
                };
                let from_days = stored
                    .stored_purchase_days_to(day(end), holdout_end, Some(unit.days()), true)
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!(
                    from_days.iter().map(RecordBatch::num_rows).sum::<usize>(),
                    kept
                );
                let (a, b) = (
                    stored.clv_summary_with_opportunities(&req).await.unwrap(),
                    recomputed
                        .clv_summary_with_opportunities(&req)
                        .await
                        .unwrap(),
                );
                assert_eq!(a.rows.len(), kept, "{end} {holdout_end:?}");
                assert_eq!(
                    format!("{a:?}"),
                    format!("{b:?}"),
                    "{end} {holdout_end:?} {unit}"
                );
                let (a, b) = (
                    stored.clv_summary(&req).await.unwrap(),
                    recomputed.clv_summary(&req).await.unwrap(),
                );
                assert_eq!(
                    format!("{a:?}"),
                    format!("{b:?}"),
                    "{end} {holdout_end:?} {unit}"
                );
            }
        }
        // The stored rows give their id order without a sort.
        let read = stored
            .stored_purchase_days(None, true)
            .await
            .unwrap()
            .unwrap();
        let order = id_order(&read).unwrap();
        assert_eq!(order, CustomerIds::from_batches(&read).unwrap().sorted());
        // RFM and the CLV beside it, both ways.
        assert_eq!(
            format!("{:?}", stored.rfm_report(None, None).await.unwrap()),
            format!("{:?}", recomputed.rfm_report(None, None).await.unwrap())
        );
        // A range's KPIs, by hand: from 02-01 to 03-05, c2's o3 and c3's o6;
        // only c3 is new, only c2 had two orders by the range's end. In the
        // first half of January, c2's o1 and o2 and c1's o4: both new, c2
        // with two orders (c1's second is refunded).
        let day = |s: &str| Some(s.parse::<NaiveDate>().unwrap());
        for engine in [&stored, &recomputed] {
            assert_eq!(engine.last_paid_day().await.unwrap(), day("2024-03-10"));
            // Three ranges in one pass: each as it is alone.
            let ranges = [
                (day("2024-02-01"), day("2024-03-05")),
                (None, None),
                (day("2024-01-01"), day("2024-01-15")),
            ];
            let many = engine.sales_totals_of(&ranges).await.unwrap();
            for (r, t) in ranges.iter().zip(&many) {
                assert_eq!(&engine.sales_totals(r.0, r.1).await.unwrap(), t);
            }
            assert_eq!(many[1].measures.orders, 6);
            let t = engine
                .sales_totals(day("2024-02-01"), day("2024-03-05"))
                .await
                .unwrap();
            let m = &t.measures;
            assert_eq!((m.revenue, m.orders, m.buyers), (32.0, 2, 2));
            assert_eq!(
                (m.new_buyers, m.new_buyer_revenue, t.repeat_buyers),
                (1, 12.0, 1)
            );
            let t = engine
                .sales_totals(day("2024-01-01"), day("2024-01-15"))
                .await
                .unwrap();
            let m = &t.measures;
            assert_eq!((m.revenue, m.orders, m.buyers), (22.0, 3, 2));
            assert_eq!((m.new_buyers, t.repeat_buyers), (2, 1));
        }
        for by in [Period::Day, Period::Month] {
            let req = SalesRequest {
                by,
                breakdown: None,
                top: None,
                since: day("2024-01-10"),
                until: day("2024-03-10"),
            };
            let (a, b) = (
                stored.sales(&req).await.unwrap(),
                recomputed.sales(&req).await.unwrap(),
            );
            assert!(a.total.iter().any(|r| r.measures.new_buyers > 0));
            assert_eq!(format!("{a:?}"), format!("{b:?}"));
        }

        // Stored rows of another shape (as another version of koubei might
        // have made them) for the same orders are not read, and are replaced.
        let orders = stored.orders.clone().unwrap();
        let other = RecordBatch::try_from_iter([(
            "customer_id",
            Arc::new(arrow::array::StringArray::from(vec!["c1"])) as _,
        )])
        .unwrap();
        ws.replace_derived(CUSTOMER_PURCHASES, &orders, vec![other])
            .await
            .unwrap();
        assert!(!Engine::open(&ws).await.unwrap().reads_stored_purchases());
        assert_eq!(Engine::store_purchases(&ws).await.unwrap(), Some(3));
        assert!(Engine::open(&ws).await.unwrap().reads_stored_purchases());

        // Orders committed without storing the purchases again: the stored
        // rows are stale, and the summary comes from the orders.
        import(
            &ws,
            "b.csv",
            "order_id,customer_id,ts,amount\no8,c4,2024-03-12T09:00:00Z,5\n",
        )
        .await;
        let after = Engine::open(&ws).await.unwrap();
        assert!(!after.reads_stored_purchases());
        let s = summary(&after).await;
        assert_eq!(s.customer_id.len(), 4);
        assert_eq!(s.rows[0], rft(1.0, 55.0, 57.0));
        assert_eq!(Engine::store_purchases(&ws).await.unwrap(), Some(4));
        assert_eq!(
            format!("{:?}", summary(&Engine::open(&ws).await.unwrap()).await),
            format!("{s:?}")
        );
    }
}
