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

/// The expected purchases over `horizon`, and the discounted expected
/// purchases over `months` months: each month's expected purchases,
/// discounted at `yearly_rate` compounded monthly. Times the expected spend
/// per purchase, the second is the customer's lifetime value. `month` is one
/// month in the summary's time unit (365.25 / 12 days), stepped month by
/// month as `lifetimes`' customer_lifetime_value does. Both come from one call
/// to [`Counting::expected_at`], so that a model can share its work across
/// all the horizons.
pub fn predict(
    model: &(impl Counting + ?Sized),
    row: &Rft,
    horizon: f64,
    months: u32,
    month: f64,
    yearly_rate: f64,
) -> (f64, f64) {
    let monthly = (1.0 + yearly_rate).powf(1.0 / 12.0) - 1.0;
    let horizons: Vec<f64> = std::iter::once(horizon)
        .chain((1..=months).map(|i| month * f64::from(i)))
        .collect();
    let expected = model.expected_at(row, &horizons);
    let mut value = 0.0;
    let mut before = 0.0;
    let mut discount = 1.0;
    for &now in &expected[1..] {
        discount /= 1.0 + monthly;
        value += (now - before) * discount;
        before = now;
    }
    (expected[0], value)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A customer who never leaves and buys at a steady 2 per month.
    struct Steady;

    impl Counting for Steady {
        fn p_alive(&self, _: &Rft) -> f64 {
            1.0
        }
        fn expected(&self, _: &Rft, horizon: f64) -> f64 {
            2.0 * horizon
        }
        fn expected_new(&self, t: f64) -> f64 {
            2.0 * t
        }
        fn pmf(&self, _: f64, _: u32) -> Option<f64> {
            None
        }
    }

    /// Worked by hand: 2 purchases a month for 12 months at 10% a year,
    /// compounded monthly, is 2 d (1 − d¹²) / (1 − d) with d¹² = 1 / 1.1.
    #[test]
    fn steady_purchases_discount_as_a_geometric_sum() {
        let row = Rft {
            x: 1.0,
            t_x: 1.0,
            t: 2.0,
        };
        let (over, value) = predict(&Steady, &row, 6.0, 12, 1.0, 0.1);
        assert_eq!(over, 12.0);
        let d = 1.1f64.powf(-1.0 / 12.0);
        let want = 2.0 * d * (1.0 - 1.0 / 1.1) / (1.0 - d);
        assert!((value - want).abs() < 1e-12, "{value} vs {want}");
        // Without discounting it is every purchase of the year.
        assert!((predict(&Steady, &row, 6.0, 12, 1.0, 0.0).1 - 24.0).abs() < 1e-12);
    }
}
