//! What every purchase-counting model predicts for a customer, and the
//! discounted lifetime value built from it.

use crate::data::Rft;

/// Predictions of a fitted model of repeat purchasing.
pub trait Counting {
    /// The probability that the customer is still active at the end of the
    /// observation, T.
    fn p_alive(&self, row: &Rft) -> f64;

    /// Expected repeat purchases in (T, T + horizon], given the history.
    fn expected(&self, row: &Rft, horizon: f64) -> f64;

    /// [`Counting::expected`] at several horizons; models override it to
    /// share the work that does not depend on the horizon.
    fn expected_at(&self, row: &Rft, horizons: &[f64]) -> Vec<f64> {
        horizons.iter().map(|&h| self.expected(row, h)).collect()
    }

    /// Expected repeat purchases in (0, t] of a customer just acquired.
    fn expected_new(&self, t: f64) -> f64;

    /// P(X(t) = x): the chance that a new customer makes exactly x repeat
    /// purchases in (0, t]; `None` where the model has no closed form here.
    fn pmf(&self, t: f64, x: u32) -> Option<f64>;
}

/// Discounted expected purchases over `months` months: each month's expected
/// purchases, discounted at `yearly_rate` compounded monthly. Times the
/// expected spend per purchase, this is the customer's lifetime value.
/// `month` is one month in the summary's time unit (365.25 / 12 days), stepped
/// month by month as `lifetimes`' customer_lifetime_value does.
pub fn discounted_purchases(
    model: &(impl Counting + ?Sized),
    row: &Rft,
    months: u32,
    month: f64,
    yearly_rate: f64,
) -> f64 {
    predict(model, row, None, months, month, yearly_rate).1
}

/// The expected purchases over `horizon` (when given) and the
/// [`discounted_purchases`], from one call to [`Counting::expected_at`], so
/// that a model can share its work across all the horizons.
pub fn predict(
    model: &(impl Counting + ?Sized),
    row: &Rft,
    horizon: Option<f64>,
    months: u32,
    month: f64,
    yearly_rate: f64,
) -> (f64, f64) {
    let monthly = (1.0 + yearly_rate).powf(1.0 / 12.0) - 1.0;
    let horizons: Vec<f64> = horizon
        .into_iter()
        .chain((1..=months).map(|i| month * f64::from(i)))
        .collect();
    let expected = model.expected_at(row, &horizons);
    let (over_horizon, by_month) = match horizon {
        Some(_) => (expected[0], &expected[1..]),
        None => (f64::NAN, &expected[..]),
    };
    let mut value = 0.0;
    let mut before = 0.0;
    let mut discount = 1.0;
    for &now in by_month {
        discount /= 1.0 + monthly;
        value += (now - before) * discount;
        before = now;
    }
    (over_horizon, value)
}
