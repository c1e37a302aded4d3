//! What every purchase-counting model predicts for a customer, and the
//! discounted lifetime value built from it.

use rayon::prelude::*;

use crate::data::Rft;

/// Predictions of a fitted model of repeat purchasing.
pub trait Counting: Sync {
    /// The probability that the customer is still active at the end of the
    /// observation, T.
    fn p_alive(&self, row: &Rft) -> f64;

    /// [`Counting::p_alive`] of each row. Models override it to share work
    /// between neighbouring rows, which come sorted by (x, tₓ, T).
    fn p_alive_all(&self, rows: &[Rft]) -> Vec<f64> {
        rows.par_iter().map(|r| self.p_alive(r)).collect()
    }

    /// Expected repeat purchases in (T, T + h] for each horizon h, of a
    /// customer still active at T after x repeat purchases. In these models
    /// the last purchase time tₓ enters the prediction only through
    /// P(alive), so that customers who share x and T share this part, its
    /// ₂F₁ terms included.
    fn expected_if_alive(&self, x: f64, t: f64, horizons: &[f64]) -> Vec<f64>;

    /// Expected repeat purchases in (T, T + horizon], given the history.
    fn expected(&self, row: &Rft, horizon: f64) -> f64 {
        self.p_alive(row) * self.expected_if_alive(row.x, row.t, &[horizon])[0]
    }

    /// Expected repeat purchases in (0, t] of a customer just acquired.
    fn expected_new(&self, t: f64) -> f64;

    /// P(X(t) = x): the chance that a new customer makes exactly x repeat
    /// purchases in (0, t]; `None` where the model has no closed form here.
    fn pmf(&self, t: f64, x: u32) -> Option<f64>;

    /// P(X(t) = x) for each x below `top`, with the same bits as
    /// [`Counting::pmf`]; models override it to share work between them.
    fn pmf_below(&self, t: f64, top: u32) -> Option<Vec<f64>> {
        (0..top).map(|x| self.pmf(t, x)).collect()
    }
}

/// For each row: P(alive), the expected purchases over `horizon`, and the
/// discounted expected purchases over `months` months: each month's expected
/// purchases, discounted at `yearly_rate` compounded monthly. Times the
/// expected spend per purchase, the last is the customer's lifetime value.
/// `month` is one month in the summary's time unit (365.25 / 12 days),
/// stepped month by month as `lifetimes`' customer_lifetime_value does.
///
/// Both predictions are P(alive) times a part that depends on (x, T) only
/// ([`Counting::expected_if_alive`]): that part is computed once for each
/// distinct (x, T), of which there are far fewer than rows, and all of its
/// horizons in one call.
pub fn predict(
    model: &(impl Counting + ?Sized),
    rows: &[Rft],
    horizon: f64,
    months: u32,
    month: f64,
    yearly_rate: f64,
) -> Vec<[f64; 3]> {
    let monthly = (1.0 + yearly_rate).powf(1.0 / 12.0) - 1.0;
    let horizons: Vec<f64> = std::iter::once(horizon)
        .chain((1..=months).map(|i| month * f64::from(i)))
        .collect();
    // x and T are never negative, so their bits sort as their values.
    let key = |r: &Rft| (r.x.to_bits(), r.t.to_bits());
    let mut order: Vec<u32> = (0..rows.len() as u32).collect();
    order.par_sort_unstable_by_key(|&i| key(&rows[i as usize]));
    let mut part_of = vec![0u32; rows.len()];
    let mut firsts: Vec<u32> = Vec::new();
    for (k, &i) in order.iter().enumerate() {
        if k == 0 || key(&rows[i as usize]) != key(&rows[order[k - 1] as usize]) {
            firsts.push(i);
        }
        part_of[i as usize] = firsts.len() as u32 - 1;
    }
    let parts: Vec<[f64; 2]> = firsts
        .par_iter()
        .map(|&i| {
            let Rft { x, t, .. } = rows[i as usize];
            let expected = model.expected_if_alive(x, t, &horizons);
            let mut value = 0.0;
            let mut before = 0.0;
            let mut discount = 1.0;
            for &now in &expected[1..] {
                discount /= 1.0 + monthly;
                value += (now - before) * discount;
                before = now;
            }
            [expected[0], value]
        })
        .collect();
    model
        .p_alive_all(rows)
        .into_par_iter()
        .zip(&part_of)
        .map(|(alive, &j)| {
            let [purchases, value] = parts[j as usize];
            [alive, alive * purchases, alive * value]
        })
        .collect()
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
        fn expected_if_alive(&self, _: f64, _: f64, horizons: &[f64]) -> Vec<f64> {
            horizons.iter().map(|h| 2.0 * h).collect()
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
        let [alive, over, value] = predict(&Steady, &[row], 6.0, 12, 1.0, 0.1)[0];
        assert_eq!((alive, over), (1.0, 12.0));
        let d = 1.1f64.powf(-1.0 / 12.0);
        let want = 2.0 * d * (1.0 - 1.0 / 1.1) / (1.0 - d);
        assert!((value - want).abs() < 1e-12, "{value} vs {want}");
        // Without discounting it is every purchase of the year.
        assert!((predict(&Steady, &[row], 6.0, 12, 1.0, 0.0)[0][2] - 24.0).abs() < 1e-12);
    }

    /// The shared (x, T) parts give each row what the model gives it alone,
    /// month by month, in the rows' own order; rows that differ only in tₓ
    /// differ in P(alive).
    #[test]
    fn shared_parts_give_each_row_its_own_prediction() {
        use crate::bgnbd::BgNbdParams;
        use crate::pareto::ParetoParams;
        let row = |x: f64, t_x: f64, t: f64| Rft { x, t_x, t };
        let rows = [
            row(2.0, 30.43, 38.86),
            row(0.0, 0.0, 38.86),
            row(2.0, 5.0, 38.86),
            row(7.0, 36.0, 38.86),
            row(2.0, 30.43, 38.86),
            row(2.0, 12.0, 20.0),
            row(0.0, 0.0, 20.0),
        ];
        // The CDNOW fits of Fader, Hardie & Lee (2005).
        let bgnbd = BgNbdParams {
            r: 0.243,
            alpha: 4.414,
            a: 0.793,
            b: 2.426,
            modified: false,
        };
        let mbgnbd = BgNbdParams {
            modified: true,
            ..bgnbd
        };
        let pareto = ParetoParams {
            r: 0.553,
            alpha: 10.578,
            s: 0.606,
            beta: 11.669,
        };
        let models: [&dyn Counting; 3] = [&bgnbd, &mbgnbd, &pareto];
        let (months, month, rate) = (6, 4.35, 0.1);
        let monthly = 1.1f64.powf(1.0 / 12.0) - 1.0;
        for model in models {
            let got = predict(model, &rows, 39.0, months, month, rate);
            assert_eq!(got.len(), rows.len());
            for (r, [alive, purchases, value]) in rows.iter().zip(&got) {
                assert_eq!(*alive, model.p_alive(r));
                let want = model.expected(r, 39.0);
                assert!(
                    (purchases - want).abs() <= 1e-12 * want,
                    "{purchases} vs {want}"
                );
                let mut want = 0.0;
                for i in 1..=months {
                    let step = model.expected(r, month * f64::from(i))
                        - model.expected(r, month * f64::from(i - 1));
                    want += step / (1.0 + monthly).powi(i as i32);
                }
                assert!((value - want).abs() <= 1e-12 * want, "{value} vs {want}");
            }
            assert!(got[0][1] > got[2][1], "a later last purchase, more alive");
        }
        // FHL (2005): 1.226 purchases in the next 39 weeks for this history.
        let got = predict(&bgnbd, &rows, 39.0, 1, 4.35, 0.0);
        assert!((got[0][1] - 1.226).abs() < 5e-4, "{}", got[0][1]);
    }
}
