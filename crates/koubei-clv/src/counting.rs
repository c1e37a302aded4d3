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

    /// Expected repeat purchases in (0, t] of a customer just acquired.
    fn expected_new(&self, t: f64) -> f64;

    /// P(X(t) = x): the chance that a new customer makes exactly x repeat
    /// purchases in (0, t]; `None` where the model has no closed form here.
    fn pmf(&self, t: f64, x: u32) -> Option<f64>;
}

/// Discounted lifetime value over `months` months: each month's expected
/// purchases times `spend`, discounted at `yearly_rate` compounded monthly.
/// `month` is one month in the summary's time unit (365.25 / 12 days), stepped
/// month by month as `lifetimes`' customer_lifetime_value does.
pub fn discounted_value(
    model: &(impl Counting + ?Sized),
    row: &Rft,
    spend: f64,
    months: u32,
    month: f64,
    yearly_rate: f64,
) -> f64 {
    let monthly = (1.0 + yearly_rate).powf(1.0 / 12.0) - 1.0;
    let mut value = 0.0;
    let mut before = 0.0;
    for i in 1..=months {
        let now = model.expected(row, month * f64::from(i));
        value += (now - before) * spend / (1.0 + monthly).powi(i as i32);
        before = now;
    }
    value
}
