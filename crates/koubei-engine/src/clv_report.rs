//! `koubei clv`: fit a CLV model to the summary of `orders`, check it against
//! the data, and value each customer.

use rayon::prelude::*;
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize};
use serde_with::DeserializeFromStr;

use crate::clv::{Horizon, Summary, SummaryRequest};
use crate::customers::CustomerIds;
use crate::{Engine, Error, Result};
use koubei_clv::{
    BgBb, BgBbParams, BgNbd, BgNbdParams, ClvError, Counting, Fit, FitOptions, GammaGamma,
    GammaGammaParams, MbgNbd, ParetoNbd, ParetoParams, Rft, Spend, Weighted, check_counting,
    check_discrete, check_spend, fit, predict, usable_spend,
};

/// The models `koubei clv --model` offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, DeserializeFromStr)]
pub enum ModelKind {
    #[default]
    #[serde(rename = "bgnbd")]
    BgNbd,
    #[serde(rename = "mbgnbd")]
    MbgNbd,
    #[serde(rename = "pareto")]
    Pareto,
    #[serde(rename = "bgbb")]
    BgBb,
    #[serde(rename = "gamma-gamma")]
    GammaGamma,
}

impl std::str::FromStr for ModelKind {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "bgnbd" => Ok(ModelKind::BgNbd),
            "mbgnbd" => Ok(ModelKind::MbgNbd),
            "pareto" => Ok(ModelKind::Pareto),
            "bgbb" => Ok(ModelKind::BgBb),
            "gamma-gamma" => Ok(ModelKind::GammaGamma),
            _ => Err(format!(
                "unknown model \"{s}\": expected bgnbd, mbgnbd, pareto, bgbb or gamma-gamma"
            )),
        }
    }
}

/// What to fit and predict.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct ClvRequest {
    #[serde(flatten)]
    pub summary: SummaryRequest,
    pub model: ModelKind,
    pub penalizer: f64,
    /// How far ahead to predict.
    pub horizon: Horizon,
    /// Yearly discount rate for the lifetime value.
    pub discount_rate: f64,
    /// Also fit the other continuous-time models and compare.
    pub compare: bool,
    /// Keep each customer's values and id in the report (for an export, or
    /// to join them to other reports). Without, the report has the fit and
    /// the totals, and the stored purchases' ids are not read.
    pub per_customer: bool,
    /// Group the order lines again instead of reading the purchases stored
    /// at import (the same numbers; for checking).
    pub recompute: bool,
}

/// The command line's defaults: BG/NBD with Gamma–Gamma in weeks, a year
/// ahead at 10% a year, without each customer's values.
impl Default for ClvRequest {
    fn default() -> Self {
        let mut req = ClvRequest::standard(None);
        req.per_customer = false;
        req
    }
}

impl ClvRequest {
    /// BG/NBD with Gamma–Gamma in weeks, a year ahead at 10% a year: the
    /// lifetime value that other reports (RFM, word of mouth) show beside
    /// their own numbers.
    pub fn standard(calibration_end: Option<chrono::NaiveDate>) -> ClvRequest {
        ClvRequest {
            summary: crate::clv::SummaryRequest {
                unit: crate::clv::Unit::Week,
                calibration_end,
                holdout_end: None,
            },
            model: ModelKind::BgNbd,
            penalizer: 0.0,
            horizon: Horizon::year(),
            discount_rate: 0.1,
            compare: false,
            per_customer: true,
            recompute: false,
        }
    }
}

/// Parameters (or their errors) by name, serialised as an object in model order.
#[derive(Clone, Debug)]
pub struct Named(pub Vec<(&'static str, f64)>);

impl Serialize for Named {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// One fitted model.
#[derive(Clone, Debug, Serialize)]
pub struct FittedModel {
    pub model: &'static str,
    pub params: Named,
    pub std_errors: Named,
    pub log_likelihood: f64,
    pub aic: f64,
    pub bic: f64,
    pub customers: f64,
    pub iterations: u64,
}

impl From<&Fit> for FittedModel {
    fn from(f: &Fit) -> Self {
        FittedModel {
            model: f.model,
            params: Named(
                f.names
                    .iter()
                    .copied()
                    .zip(f.params.iter().copied())
                    .collect(),
            ),
            std_errors: Named(
                f.names
                    .iter()
                    .copied()
                    .zip(f.std_errors.iter().copied())
                    .collect(),
            ),
            log_likelihood: f.log_likelihood,
            aic: f.aic,
            bic: f.bic,
            customers: f.n,
            iterations: f.iterations,
        }
    }
}

/// Customers by number of repeat purchases in the calibration period: how
/// many there are, and how many the model expects.
#[derive(Clone, Debug, Serialize)]
pub struct HistogramRow {
    /// Repeat purchases; the last row counts this many or more.
    pub purchases: u32,
    pub actual: f64,
    pub predicted: f64,
}

/// Mean holdout purchases of the customers with one calibration frequency.
#[derive(Clone, Debug, Serialize)]
pub struct HoldoutRow {
    /// Repeat purchases in calibration; the last row counts this many or more.
    pub frequency: u32,
    pub customers: usize,
    pub actual: f64,
    pub predicted: f64,
}

/// One customer's prediction, read with its id from [`ClvReport::customers`].
#[derive(Clone, Debug, Serialize)]
pub struct CustomerValue {
    pub frequency: f64,
    pub recency: f64,
    #[serde(rename = "T")]
    pub t: f64,
    pub monetary_value: f64,
    pub p_alive: f64,
    pub expected_purchases: f64,
    pub expected_spend: f64,
    pub clv: f64,
}

/// The report of `koubei clv`.
#[derive(Clone, Debug, Serialize)]
pub struct ClvReport {
    pub model: ModelKind,
    pub unit: crate::clv::Unit,
    pub calibration_end: Option<chrono::NaiveDate>,
    pub holdout_end: Option<chrono::NaiveDate>,
    pub customers: usize,
    pub repeat_buyers: usize,
    pub horizon_days: f64,
    /// The horizon as asked for (`1y`), for the report's text.
    #[serde(skip)]
    pub horizon: Horizon,
    pub discount_rate: f64,
    pub params: Named,
    pub std_errors: Named,
    pub fit: FittedModel,
    /// The spend model behind expected spend and CLV (absent when it could not
    /// be fitted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spend: Option<FittedModel>,
    /// Repeat buyers left out of the spend model for a non-positive mean spend.
    pub spend_left_out: usize,
    pub histogram: Vec<HistogramRow>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub holdout: Vec<HoldoutRow>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub comparison: Vec<FittedModel>,
    pub expected_purchases: f64,
    pub expected_revenue: f64,
    pub total_clv: f64,
    /// Shared, not copied, by the reports that keep or pass it on.
    #[serde(skip)]
    pub per_customer: std::sync::Arc<CustomerValues>,
    /// What the user should know (for example, customers left out).
    pub warnings: Vec<String>,
}

/// Every customer's prediction, kept in columns and assembled when read: at
/// ten million customers a vector of [`CustomerValue`]s took 720 MB and a
/// second to build, and most reports need only the totals.
#[derive(Clone, Debug, Default)]
pub struct CustomerValues {
    ids: CustomerIds,
    /// Frequency, recency and T as the model counts them.
    rows: Vec<Rft>,
    /// The summary's repeat purchases and mean spend, for expected spend.
    spend_in: Vec<Spend>,
    /// Each customer's entry in `preds`.
    pred_of: Vec<u32>,
    /// P(alive), expected purchases and discounted purchases per distinct
    /// history (NaN without a purchase model).
    preds: Vec<[f64; 3]>,
    spend: Option<GammaGammaParams>,
}

impl CustomerValues {
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The i-th customer's id and prediction.
    pub fn get(&self, i: usize) -> (&str, CustomerValue) {
        let row = self.rows[i];
        let m = self.spend_in[i].m;
        let [p_alive, purchases, discounted] = self.preds[self.pred_of[i] as usize];
        let expected_spend = self.expected_spend(self.spend_in[i]);
        let value = CustomerValue {
            frequency: row.x,
            recency: row.t_x,
            t: row.t,
            monetary_value: m,
            p_alive,
            expected_purchases: purchases,
            expected_spend,
            clv: discounted * expected_spend,
        };
        (self.ids.get(i), value)
    }

    /// In id order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, CustomerValue)> {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Expected spend per purchase from a customer's repeat purchases and
    /// their mean (the population's mean without a positive one).
    fn expected_spend(&self, Spend { x, m }: Spend) -> f64 {
        self.spend
            .map_or(0.0, |p| p.expected_spend(if m > 0.0 { x } else { 0.0 }, m))
    }

    /// Expected purchases, expected revenue and CLV, summed over customers.
    fn totals(&self) -> (f64, f64, f64) {
        // Only what the sums need from each distinct row's predictions, 16
        // bytes rather than 24: the customers look them up at random, and a
        // smaller table stays in cache more (10M customers, 1.4M rows).
        let preds: Vec<[f64; 2]> = self.preds.iter().map(|p| [p[1], p[2]]).collect();
        const CHUNK: usize = 1 << 16;
        let parts: Vec<(f64, f64, f64)> = self
            .spend_in
            .par_chunks(CHUNK)
            .zip(self.pred_of.par_chunks(CHUNK))
            .map(|(spend, pred_of)| {
                spend
                    .iter()
                    .zip(pred_of)
                    .fold((0.0, 0.0, 0.0), |(p, r, c), (&s, &d)| {
                        let [purchases, discounted] = preds[d as usize];
                        let spend = self.expected_spend(s);
                        (p + purchases, r + purchases * spend, c + discounted * spend)
                    })
            })
            .collect();
        // Chunks are summed in order, so the totals do not depend on threads.
        parts
            .into_iter()
            .fold((0.0, 0.0, 0.0), |(p, r, c), (a, b, d)| {
                (p + a, r + b, c + d)
            })
    }
}

impl ClvReport {
    /// Each customer's id and prediction, in id order.
    pub fn customers(&self) -> impl Iterator<Item = (&str, CustomerValue)> {
        self.per_customer.iter()
    }
}

/// The histogram's last bucket: this many repeat purchases or more.
const TOP_BUCKET: u32 = 7;

fn clv_error(e: ClvError) -> Error {
    Error::Request(e.to_string())
}

fn fit_counting(
    kind: ModelKind,
    data: &Weighted<Rft>,
    opts: &FitOptions,
) -> Result<(Fit, Box<dyn Counting + Send + Sync>)> {
    Ok(match kind {
        ModelKind::BgNbd => {
            let f = fit::<BgNbd>(data, opts).map_err(clv_error)?;
            let p = BgNbdParams::from_fit(&f);
            (f, Box::new(p))
        }
        ModelKind::MbgNbd => {
            let f = fit::<MbgNbd>(data, opts).map_err(clv_error)?;
            let p = BgNbdParams::from_fit(&f);
            (f, Box::new(p))
        }
        ModelKind::Pareto => {
            let f = fit::<ParetoNbd>(data, opts).map_err(clv_error)?;
            let p = ParetoParams::from_fit(&f);
            (f, Box::new(p))
        }
        ModelKind::BgBb | ModelKind::GammaGamma => {
            unreachable!("not a continuous-time counting model")
        }
    })
}

/// Expected customers at each repeat-purchase count, summed over customers
/// grouped by T; `None` when the model has no P(X(t) = x).
fn predicted_histogram(model: &dyn Counting, rows: &[Rft]) -> Option<Vec<f64>> {
    // Customers per T, counted on all threads (customers share few values
    // of T), then ordered, so that the sums below run in the same order
    // every time.
    type Counts = std::collections::HashMap<u64, u64, foldhash::fast::FixedState>;
    let by_t = rows
        .par_chunks(1 << 16)
        .map(|chunk| {
            let mut n = Counts::default();
            for r in chunk {
                *n.entry(r.t.to_bits()).or_default() += 1;
            }
            n
        })
        .reduce(Counts::default, |mut a, b| {
            for (t, n) in b {
                *a.entry(t).or_default() += n;
            }
            a
        });
    let mut by_t: Vec<(u64, u64)> = by_t.into_iter().collect();
    by_t.sort_unstable();
    // Each T's probabilities on all threads (Pareto/NBD's are integrals),
    // summed in T order.
    let pmfs: Vec<Option<Vec<f64>>> = by_t
        .par_iter()
        .map(|&(t, _)| model.pmf_below(f64::from_bits(t), TOP_BUCKET))
        .collect();
    let mut out = vec![0.0; TOP_BUCKET as usize + 1];
    for ((_, n), pmf) in by_t.into_iter().zip(pmfs) {
        let n = n as f64;
        let mut below = 0.0;
        for (x, p) in pmf?.into_iter().enumerate() {
            out[x] += n * p;
            below += p;
        }
        out[TOP_BUCKET as usize] += n * (1.0 - below).max(0.0);
    }
    Some(out)
}

impl Engine {
    pub async fn clv(&self, req: &ClvRequest) -> Result<ClvReport> {
        if req.horizon.days().is_nan() || req.horizon.days() <= 0.0 {
            return Err(Error::invalid("horizon", "must be positive"));
        }
        // A yearly rate: 0 (no discount) to 1 (100% a year); beyond, the
        // CLV printed was inf or NaN.
        if !(0.0..=1.0).contains(&req.discount_rate) {
            return Err(Error::invalid(
                "discount_rate",
                format!(
                    "must be a yearly rate from 0 to 1 (0.1 is 10%), not {}",
                    req.discount_rate
                ),
            ));
        }
        if !(req.penalizer >= 0.0 && req.penalizer.is_finite()) {
            return Err(Error::invalid(
                "penalizer",
                format!("must be 0 or more, not {}", req.penalizer),
            ));
        }
        if self.is_standard(req).await? {
            let standard = self.standard_clv().await?;
            // A calibration end given is the day the standard one found.
            if req
                .summary
                .calibration_end
                .is_none_or(|d| standard.calibration_end == Some(d))
            {
                let mut report = (*standard).clone();
                if !req.per_customer {
                    report.per_customer = Default::default();
                }
                return Ok(report);
            }
        }
        self.clv_fitted(req).await
    }

    /// The report of `req`, fitted now.
    pub(crate) async fn clv_fitted(&self, req: &ClvRequest) -> Result<ClvReport> {
        let started = std::time::Instant::now();
        // BG/BB's discrete summary is made from the same pass's day lists.
        let by_unit = req.model == ModelKind::BgBb;
        let (summary, _, _) = self
            .summary_of(&req.summary, by_unit, None, req.per_customer)
            .await?;
        tracing::debug!(elapsed = ?started.elapsed(), customers = summary.rows.len(), "clv summary");
        clv_of_summary(req, summary, started)
    }

    /// Whether `req` asks what the standard model (see
    /// [`ClvRequest::standard`]) answers as of the last paid day, with or
    /// without every customer's values.
    async fn is_standard(&self, req: &ClvRequest) -> Result<bool> {
        let standard = ClvRequest::standard(req.summary.calibration_end);
        let same = req.summary.unit == standard.summary.unit
            && req.summary.holdout_end.is_none()
            && req.model == standard.model
            && req.penalizer == standard.penalizer
            && req.horizon == standard.horizon
            && req.discount_rate == standard.discount_rate
            && !req.compare;
        Ok(same && self.is_latest(req.summary.calibration_end).await?)
    }

    /// The standard model's report as of the last paid day, with every
    /// customer's values: fitted once per engine, for the CLV page and the
    /// reports that show each customer's CLV beside their own numbers (RFM,
    /// satisfaction, word of mouth).
    pub(crate) async fn standard_clv(&self) -> Result<std::sync::Arc<ClvReport>> {
        self.latest
            .clv
            .get_or_try_init(|| async {
                let report = self.clv_fitted(&ClvRequest::standard(None)).await?;
                Ok::<_, Error>(std::sync::Arc::new(report))
            })
            .await
            .cloned()
    }

    /// Each customer's lifetime value by the standard model, by id; empty
    /// when spend cannot be modelled.
    pub(crate) async fn standard_clv_by_customer(&self) -> Result<std::sync::Arc<ClvByCustomer>> {
        self.latest
            .clv_by_customer
            .get_or_try_init(|| async {
                let r = self.standard_clv().await?;
                Ok::<_, Error>(std::sync::Arc::new(if r.spend.is_some() {
                    r.customers()
                        .map(|(id, c)| (id.to_string(), c.clv))
                        .collect()
                } else {
                    Default::default()
                }))
            })
            .await
            .cloned()
    }
}

/// Each customer's CLV by id, hashed with foldhash: the reports that read
/// it look up every customer of a large shop.
pub(crate) type ClvByCustomer = std::collections::HashMap<String, f64, foldhash::fast::RandomState>;

/// The CLV report of a summary already made for `req`.
pub(crate) fn clv_of_summary(
    req: &ClvRequest,
    summary: Summary,
    started: std::time::Instant,
) -> Result<ClvReport> {
    let mut report = report_of_summary(req, summary, started)?;
    if !req.per_customer {
        report.per_customer = Default::default();
    }
    Ok(report)
}

fn report_of_summary(
    req: &ClvRequest,
    mut summary: Summary,
    started: std::time::Instant,
) -> Result<ClvReport> {
    let opts = FitOptions {
        penalizer: req.penalizer,
        ..FitOptions::default()
    };
    let unit_days = req.summary.unit.days();
    let horizon = req.horizon.days() / unit_days;
    let mut warnings = Vec::new();

    // The spend model, for expected spend and CLV.
    let spend_model = || {
        let spend_rows: Vec<Spend> = summary
            .rows
            .par_iter()
            .zip(&summary.spend)
            .map(|(r, &m)| Spend { x: r.x, m })
            .collect();
        tracing::debug!(elapsed = ?started.elapsed(), "clv spend rows");
        let (usable, spend_left_out) = usable_spend(&spend_rows);
        tracing::debug!(elapsed = ?started.elapsed(), "clv spend usable");
        let repeat_buyers = summary.rows.par_iter().filter(|r| r.x > 0.0).count();
        let left_out = spend_left_out.saturating_sub(summary.rows.len() - repeat_buyers);
        let fitted = check_spend(&usable)
            .and_then(|()| fit::<GammaGamma>(&Weighted::unmerged(usable), &opts));
        tracing::debug!(elapsed = ?started.elapsed(), "clv spend fitted");
        (spend_rows, repeat_buyers, left_out, fitted)
    };
    // A counting model's summary merged and fitted beside the spend model:
    // the two are independent, and each leaves a core idle between the
    // evaluations of its likelihood.
    let counting = || -> Option<Result<_>> {
        let kind = req.model;
        if matches!(kind, ModelKind::BgBb | ModelKind::GammaGamma) {
            return None;
        }
        Some((|| {
            check_counting(kind_name(kind), &summary.rows).map_err(clv_error)?;
            let (data, row_of) = Weighted::merge(&summary.rows);
            tracing::debug!(elapsed = ?started.elapsed(), distinct = data.rows.len(), "clv rows merged");
            let (f, model) = fit_counting(kind, &data, &opts)?;
            tracing::debug!(elapsed = ?started.elapsed(), iterations = f.iterations, evaluations = f.evaluations, "clv fitted");
            Ok((data, row_of, f, model))
        })())
    };
    let ((spend_rows, repeat_buyers, left_out, fitted), counted) =
        rayon::join(spend_model, counting);
    if left_out > 0 {
        warnings.push(format!("{left_out} repeat buyers with a mean spend of zero or less were left out of the Gamma-Gamma spend model"));
    }
    let spend_fit = match fitted {
        Ok(f) => Some(f),
        Err(e) if req.model == ModelKind::GammaGamma => return Err(clv_error(e)),
        Err(e) => {
            warnings.push(format!("no spend model, so no expected spend or CLV: {e}"));
            None
        }
    };
    let spend_params = spend_fit.as_ref().map(GammaGammaParams::from_fit);

    let base = |fit: FittedModel, histogram: Vec<HistogramRow>| ClvReport {
        model: req.model,
        unit: req.summary.unit,
        calibration_end: summary.calibration_end,
        holdout_end: summary.holdout_end,
        customers: summary.rows.len(),
        repeat_buyers,
        horizon_days: req.horizon.days(),
        horizon: req.horizon.clone(),
        discount_rate: req.discount_rate,
        params: fit.params.clone(),
        std_errors: fit.std_errors.clone(),
        fit,
        spend: spend_fit.as_ref().map(FittedModel::from),
        spend_left_out: left_out,
        histogram,
        holdout: Vec::new(),
        comparison: Vec::new(),
        expected_purchases: 0.0,
        expected_revenue: 0.0,
        total_clv: 0.0,
        per_customer: Default::default(),
        warnings: warnings.clone(),
    };

    match req.model {
        ModelKind::GammaGamma => {
            let f = spend_fit.as_ref().expect("returned above when missing");
            let mut report = base(FittedModel::from(f), Vec::new());
            report.per_customer = std::sync::Arc::new(CustomerValues {
                ids: summary.customer_id,
                pred_of: vec![0; summary.rows.len()],
                preds: vec![[f64::NAN; 3]],
                spend_in: spend_rows,
                rows: summary.rows,
                spend: spend_params,
            });
            Ok(report)
        }
        ModelKind::BgBb => {
            let (kept, rows) = summary.discrete().ok_or_else(|| {
                Error::Request("the summary has no transaction opportunities".into())
            })?;
            tracing::debug!(elapsed = ?started.elapsed(), "clv discrete summary");
            check_discrete(&rows).map_err(clv_error)?;
            let (distinct, row_of) = Weighted::merge(&rows);
            let f = fit::<BgBb>(&distinct, &opts).map_err(clv_error)?;
            tracing::debug!(elapsed = ?started.elapsed(), evaluations = f.evaluations, "clv fitted");
            let p = BgBbParams::from_fit(&f);
            let mut report = base(FittedModel::from(&f), Vec::new());
            let future = horizon.round().max(1.0) as u32;
            // Predictions depend on (x, tₓ, n) only. Opportunities are the
            // unit; each is discounted by its midpoint.
            let discount = (1.0 + req.discount_rate).powf(future as f64 * unit_days / 365.25 / 2.0);
            let preds: Vec<[f64; 3]> = distinct
                .rows
                .par_iter()
                .map(|row| {
                    let purchases = p.expected(row, future);
                    [p.p_alive(row), purchases, purchases / discount]
                })
                .collect();
            tracing::debug!(elapsed = ?started.elapsed(), "clv predicted");
            let ids = if req.per_customer {
                summary.customer_id.take(kept.iter().map(|&i| i as u32))
            } else {
                CustomerIds::default()
            };
            let spend_in = kept.iter().map(|&i| spend_rows[i]).collect();
            report.per_customer = std::sync::Arc::new(CustomerValues {
                rows: rows
                    .iter()
                    .map(|r| Rft {
                        x: f64::from(r.x),
                        t_x: f64::from(r.t_x),
                        t: f64::from(r.n),
                    })
                    .collect(),
                ids,
                spend_in,
                pred_of: row_of,
                preds,
                spend: spend_params,
            });
            totals(&mut report);
            tracing::debug!(elapsed = ?started.elapsed(), "clv valued");
            Ok(report)
        }
        kind => {
            let (data, row_of, f, model) =
                counted.expect("fitted beside the spend model for every counting model")?;
            let histogram = histogram(&summary.rows, model.as_ref());
            let mut report = base(FittedModel::from(&f), histogram);
            if let (Some(h), Some(duration)) = (&summary.holdout, summary.holdout_duration()) {
                // Over the holdout, per distinct row: the same numbers as
                // one customer at a time, from one ₂F₁ per (x, T).
                let held = predict(model.as_ref(), &data.rows, duration, 0, 1.0, 0.0);
                report.holdout = holdout_rows(&summary.rows, h, |i| held[row_of[i] as usize][1]);
            }
            if req.compare {
                for other in [ModelKind::BgNbd, ModelKind::MbgNbd, ModelKind::Pareto] {
                    if other == kind {
                        report.comparison.push(FittedModel::from(&f));
                    } else {
                        match fit_counting(other, &data, &opts) {
                            Ok((g, _)) => report.comparison.push(FittedModel::from(&g)),
                            Err(e) => report.warnings.push(format!("{}: {e}", kind_name(other))),
                        }
                    }
                }
            }
            let month = 365.25 / 12.0 / unit_days;
            let months = (horizon / month).round().max(1.0) as u32;
            // Predictions depend on (x, tₓ, T) only: one per distinct row.
            let preds = predict(
                model.as_ref(),
                &data.rows,
                horizon,
                months,
                month,
                req.discount_rate,
            );
            tracing::debug!(elapsed = ?started.elapsed(), "clv predicted");
            report.per_customer = std::sync::Arc::new(CustomerValues {
                ids: std::mem::take(&mut summary.customer_id),
                pred_of: row_of,
                preds,
                spend_in: spend_rows,
                rows: summary.rows,
                spend: spend_params,
            });
            totals(&mut report);
            tracing::debug!(elapsed = ?started.elapsed(), "clv valued");
            Ok(report)
        }
    }
}

fn kind_name(kind: ModelKind) -> &'static str {
    match kind {
        ModelKind::BgNbd => "bgnbd",
        ModelKind::MbgNbd => "mbgnbd",
        ModelKind::Pareto => "pareto",
        ModelKind::BgBb => "bgbb",
        ModelKind::GammaGamma => "gamma-gamma",
    }
}

fn totals(report: &mut ClvReport) {
    (
        report.expected_purchases,
        report.expected_revenue,
        report.total_clv,
    ) = report.per_customer.totals();
}

fn bucket(x: f64) -> usize {
    (x as usize).min(TOP_BUCKET as usize)
}

fn histogram(rows: &[Rft], model: &(dyn Counting + Send + Sync)) -> Vec<HistogramRow> {
    let mut actual = vec![0.0; TOP_BUCKET as usize + 1];
    for r in rows {
        actual[bucket(r.x)] += 1.0;
    }
    let predicted = predicted_histogram(model, rows);
    actual
        .into_iter()
        .enumerate()
        .map(|(x, a)| HistogramRow {
            purchases: x as u32,
            actual: a,
            predicted: predicted.as_ref().map_or(f64::NAN, |p| p[x]),
        })
        .collect()
}

/// Mean actual and predicted holdout purchases by calibration frequency;
/// `expected(i)` is customer i's prediction over the holdout.
fn holdout_rows(
    rows: &[Rft],
    holdout: &[(f64, f64)],
    expected: impl Fn(usize) -> f64,
) -> Vec<HoldoutRow> {
    let k = TOP_BUCKET as usize + 1;
    let (mut n, mut actual, mut predicted) = (vec![0usize; k], vec![0.0; k], vec![0.0; k]);
    for (i, (r, h)) in rows.iter().zip(holdout).enumerate() {
        let b = bucket(r.x);
        n[b] += 1;
        actual[b] += h.0;
        predicted[b] += expected(i);
    }
    (0..k)
        .filter(|&b| n[b] > 0)
        .map(|b| HoldoutRow {
            frequency: b as u32,
            customers: n[b],
            actual: actual[b] / n[b] as f64,
            predicted: predicted[b] / n[b] as f64,
        })
        .collect()
}

koubei_schema::text_schema!(ModelKind, "bgnbd, mbgnbd, pareto, bgbb or gamma-gamma");
