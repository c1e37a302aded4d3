//! Gamma–Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV"; Fader &
//! Hardie's note "The Gamma-Gamma model of monetary value", eq. 1a).

use rand::Rng;
use rand_distr::{Distribution, Gamma};
use rayon::prelude::*;

use crate::data::{Key, Spend};
use crate::error::ClvError;
use crate::fit::{Fit, Model, XCache};
use crate::special::{digamma, ln_gamma, trigamma};

/// Each transaction's value is Gamma(p, ν); across customers ν ~ Gamma(q, v).
pub struct GammaGamma;

/// Fitted Gamma–Gamma parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GammaGammaParams {
    pub p: f64,
    pub q: f64,
    pub v: f64,
}

/// A repeat buyer's [`Spend`] as the fit reads it, with ln m worked out
/// once rather than on each of the fit's passes over the rows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SpendRow {
    pub x: f64,
    pub m: f64,
    ln_m: f64,
}

impl From<Spend> for SpendRow {
    fn from(Spend { x, m }: Spend) -> Self {
        SpendRow { x, m, ln_m: m.ln() }
    }
}

impl Key for SpendRow {
    fn key(&self) -> [u64; 3] {
        [self.x.to_bits(), self.m.to_bits(), 0]
    }

    fn from_key(key: [u64; 3]) -> Self {
        SpendRow::from(Spend::from_key(key))
    }
}

impl Model for GammaGamma {
    type Row = SpendRow;
    const NAME: &'static str = "gamma-gamma";
    const PARAMS: &'static [&'static str] = &["p", "q", "v"];

    fn ll_grad(par: &[f64], row: &SpendRow, w: f64, grad: &mut [f64]) -> f64 {
        ll_grad(par, row, w, grad, x_terms(par, row.x))
    }

    fn ll_grad_chunk(par: &[f64], rows: &[SpendRow], weights: &[f64], grad: &mut [f64]) -> f64 {
        // Rows come in runs of equal x (see `usable`): a run reuses its
        // terms without a look-up, and the sums stay in registers.
        let mut cache = XCache::new();
        let mut last: Option<(f64, XTerms)> = None;
        let mut g = [0.0; 3];
        let mut ll = 0.0;
        for (row, &w) in rows.iter().zip(weights) {
            let xt = match last {
                Some((x, xt)) if x == row.x => xt,
                _ => {
                    let xt = cache.get(row.x, || x_terms(par, row.x));
                    last = Some((row.x, xt));
                    xt
                }
            };
            ll += w * ll_grad(par, row, w, &mut g, xt);
        }
        grad.iter_mut().zip(g).for_each(|(a, b)| *a += b);
        ll
    }

    const HESSIAN: bool = true;

    fn ll_grad_hess_chunk(
        par: &[f64],
        rows: &[SpendRow],
        weights: &[f64],
        grad: &mut [f64],
        hess: &mut [f64],
    ) -> f64 {
        let (p, q, v) = (par[0], par[1], par[2]);
        let t_q = trigamma(q);
        let mut cache = XCache::new();
        // The run's x, its terms, and ψ′(px+q), ψ′(px).
        let mut last: Option<(f64, XTerms, f64, f64)> = None;
        let mut g = [0.0; 3];
        // ∂² by (p,p), (p,q), (p,v), (q,q), (q,v), (v,v).
        let mut h = [0.0; 6];
        let mut ll = 0.0;
        for (row, &w) in rows.iter().zip(weights) {
            let x = row.x;
            let (xt, a, b) = match last {
                Some((lx, xt, a, b)) if lx == x => (xt, a, b),
                _ => {
                    let xt = cache.get(x, || x_terms(par, x));
                    let (a, b) = (trigamma(p * x + q), trigamma(p * x));
                    last = Some((x, xt, a, b));
                    (xt, a, b)
                }
            };
            ll += w * ll_grad(par, row, w, &mut g, xt);
            let u = 1.0 / (x * row.m + v);
            h[0] += w * x * x * (a - b);
            h[1] += w * x * a;
            h[2] -= w * x * u;
            h[3] += w * (a - t_q);
            h[4] += w * (1.0 / v - u);
            h[5] += w * ((p * x + q) * u * u - q / (v * v));
        }
        grad.iter_mut().zip(g).for_each(|(a, b)| *a += b);
        for (i, j, k) in [
            (0, 0, 0),
            (0, 1, 1),
            (0, 2, 2),
            (1, 1, 3),
            (1, 2, 4),
            (2, 2, 5),
        ] {
            hess[i * 3 + j] += h[k];
            if i != j {
                hess[j * 3 + i] += h[k];
            }
        }
        ll
    }

    fn start(rows: &[SpendRow]) -> Vec<f64> {
        let mean = rows.iter().map(|r| r.m).sum::<f64>() / rows.len().max(1) as f64;
        vec![1.0, 2.0, mean.max(1e-6)]
    }
}

/// What depends on the parameters and x only: ln Γ(px+q) − ln Γ(px) − ln Γ(q)
/// + q ln v + px ln x, and ψ(px+q), ψ(px), ψ(q), ln x.
#[derive(Clone, Copy)]
struct XTerms {
    base: f64,
    d_pxq: f64,
    d_px: f64,
    d_q: f64,
    ln_x: f64,
    ln_v: f64,
}

fn x_terms(par: &[f64], x: f64) -> XTerms {
    let (p, q, v) = (par[0], par[1], par[2]);
    let px = p * x;
    XTerms {
        base: ln_gamma(px + q) - ln_gamma(px) - ln_gamma(q) + q * v.ln() + px * x.ln(),
        d_pxq: digamma(px + q),
        d_px: digamma(px),
        d_q: digamma(q),
        ln_x: x.ln(),
        ln_v: v.ln(),
    }
}

fn ll_grad(par: &[f64], row: &SpendRow, w: f64, grad: &mut [f64], xt: XTerms) -> f64 {
    let (p, q, v) = (par[0], par[1], par[2]);
    let SpendRow { x, m, ln_m } = *row;
    let px = p * x;
    let xmv = (x * m + v).ln();
    grad[0] += w * x * (xt.d_pxq - xt.d_px + ln_m + xt.ln_x - xmv);
    grad[1] += w * (xt.d_pxq - xt.d_q + xt.ln_v - xmv);
    grad[2] += w * (q / v - (px + q) / (x * m + v));
    xt.base + (px - 1.0) * ln_m - (px + q) * xmv
}

/// Keeps the rows Gamma–Gamma can use: at least one repeat purchase and a
/// positive mean spend. Returns them and how many were left out.
///
/// They come out ordered by x (and otherwise as given), so that the fit
/// computes the terms of each x once per run of rows.
pub fn usable(rows: &[Spend]) -> (Vec<SpendRow>, usize) {
    let kept = |r: &&Spend| r.x >= 1.0 && r.m > 0.0 && r.m.is_finite();
    // A counting sort by x, which is a small whole number of purchases; the
    // counts are taken in the same pass that checks that it is.
    const SLOTS: usize = 65_536;
    let slot = |x: f64| (x as usize) - 1;
    let mut start = vec![0usize; SLOTS + 1];
    let whole = rows.iter().filter(kept).all(|r| {
        let ok = r.x.fract() == 0.0 && r.x <= SLOTS as f64;
        if ok {
            start[slot(r.x) + 1] += 1;
        }
        ok
    });
    let mut out: Vec<SpendRow>;
    if whole {
        for i in 1..start.len() {
            start[i] += start[i - 1];
        }
        out = vec![
            SpendRow {
                x: 0.0,
                m: 0.0,
                ln_m: 0.0
            };
            start[SLOTS]
        ];
        for r in rows.iter().filter(kept) {
            let at = &mut start[slot(r.x)];
            out[*at] = SpendRow {
                x: r.x,
                m: r.m,
                ln_m: 0.0,
            };
            *at += 1;
        }
        // The logarithms on all threads, once the rows are in place.
        out.par_iter_mut().for_each(|r| r.ln_m = r.m.ln());
    } else {
        out = rows
            .iter()
            .filter(kept)
            .map(|&r| SpendRow::from(r))
            .collect();
        out.sort_by(|a, b| a.x.total_cmp(&b.x));
    }
    let dropped = rows.len() - out.len();
    (out, dropped)
}

/// Checks that Gamma–Gamma has something to fit.
pub fn check(rows: &[SpendRow]) -> Result<(), ClvError> {
    if rows.is_empty() {
        return Err(ClvError::NoRepeatBuyers {
            model: GammaGamma::NAME,
        });
    }
    if rows.len() < 2 {
        return Err(ClvError::TooFew {
            model: GammaGamma::NAME,
            needed: 2,
            got: rows.len(),
        });
    }
    // The same mean spend for everyone (to rounding): the likelihood rises
    // without bound as p and q grow, and a fit would only run out of steps.
    let (lo, hi) = rows
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), r| {
            (lo.min(r.m), hi.max(r.m))
        });
    if hi - lo <= 1e-9 * hi.abs() {
        return Err(ClvError::NoSpread {
            model: GammaGamma::NAME,
            spend: hi,
        });
    }
    Ok(())
}

impl GammaGammaParams {
    pub fn from_fit(fit: &Fit) -> GammaGammaParams {
        GammaGammaParams {
            p: fit.param("p"),
            q: fit.param("q"),
            v: fit.param("v"),
        }
    }

    /// E[mean spend | x repeat purchases averaging m]: a weighted mean of the
    /// population's mean spend and the customer's own (zero history: the
    /// population's).
    pub fn expected_spend(&self, x: f64, m: f64) -> f64 {
        let GammaGammaParams { p, q, v } = *self;
        (p * (v + x * m)) / (p * x + q - 1.0)
    }

    /// Simulates `n` repeat buyers, each with a number of repeat purchases drawn
    /// by `count`.
    pub fn simulate(
        &self,
        n: usize,
        rng: &mut impl Rng,
        mut count: impl FnMut(&mut dyn rand::RngCore) -> u32,
    ) -> Vec<Spend> {
        let nu = Gamma::new(self.q, 1.0 / self.v).expect("q, v > 0");
        (0..n)
            .map(|_| {
                let x = count(rng).max(1);
                let scale = 1.0 / nu.sample(rng);
                let z = Gamma::new(self.p, scale).expect("p > 0");
                let total: f64 = (0..x).map(|_| z.sample(rng)).sum();
                Spend {
                    x: f64::from(x),
                    m: total / f64::from(x),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::{
        FitOptions, Weighted, assert_recovered, check_gradient, check_hessian, fit,
        fit_with_and_without_sample,
    };
    use rand::SeedableRng;

    #[test]
    fn gradients_match_finite_differences() {
        let rows = [
            Spend { x: 1.0, m: 12.0 },
            Spend { x: 6.0, m: 40.5 },
            Spend { x: 2.0, m: 0.5 },
        ]
        .map(SpendRow::from);
        check_gradient::<GammaGamma>(&[6.25, 3.74, 15.44], &rows);
        check_gradient::<GammaGamma>(&[0.8, 12.0, 3.0], &rows);
        check_hessian::<GammaGamma>(&[6.25, 3.74, 15.44], &rows);
        check_hessian::<GammaGamma>(&[0.8, 12.0, 3.0], &rows);
    }

    /// From a sample's fit, Newton's steps with the analytic Hessian reach
    /// L-BFGS's optimum, with the same standard errors, in a few passes.
    #[test]
    fn a_sample_start_reaches_the_same_optimum() {
        let truth = GammaGammaParams {
            p: 2.5,
            q: 4.0,
            v: 30.0,
        };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let (rows, _) = usable(&truth.simulate(40_000, &mut rng, |rng| rng.random_range(1..6)));
        let data = Weighted::unmerged(rows);
        let (_, b) = fit_with_and_without_sample::<GammaGamma>(&data, 1e-8, 1e-6);
        assert!(
            b.evaluations <= 5,
            "{} passes from the sample",
            b.evaluations
        );
    }

    #[test]
    fn parameters_are_recovered_from_simulated_customers() {
        let truth = GammaGammaParams {
            p: 6.25,
            q: 3.74,
            v: 15.44,
        };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let (rows, _) = usable(&truth.simulate(6000, &mut rng, |rng| rng.random_range(1..8)));
        let f = fit::<GammaGamma>(&Weighted::from_rows(&rows), &FitOptions::default()).unwrap();
        assert_recovered(&f, &[truth.p, truth.q, truth.v]);
        let spend = GammaGammaParams::from_fit(&f);
        // No history: the population mean p·v/(q−1).
        assert!(
            (spend.expected_spend(0.0, 0.0) - f.params[0] * f.params[2] / (f.params[1] - 1.0))
                .abs()
                < 1e-9
        );
    }

    /// Usable rows come out by x, and in their given order within an x.
    #[test]
    fn usable_rows_are_ordered_by_x() {
        let spend = |x, m| Spend { x, m };
        let rows = [
            spend(3.0, 1.0),
            spend(1.0, 2.0),
            spend(3.0, 3.0),
            spend(0.0, 9.0),
            spend(1.0, 4.0),
        ];
        let ms = |rows: &[SpendRow]| rows.iter().map(|r| (r.x, r.m)).collect::<Vec<_>>();
        let (kept, dropped) = usable(&rows);
        assert_eq!(dropped, 1);
        assert_eq!(ms(&kept), [(1.0, 2.0), (1.0, 4.0), (3.0, 1.0), (3.0, 3.0)]);
        assert!(kept.iter().all(|r| r.ln_m == r.m.ln()));
        // x not a whole number: sorted all the same.
        let (kept, _) = usable(&[spend(2.5, 1.0), spend(1.0, 2.0), spend(2.5, 3.0)]);
        assert_eq!(ms(&kept), [(1.0, 2.0), (2.5, 1.0), (2.5, 3.0)]);
        assert!(kept.iter().all(|r| r.ln_m == r.m.ln()));
    }

    #[test]
    fn unusable_rows_are_counted() {
        let (kept, dropped) = usable(&[
            Spend { x: 2.0, m: 10.0 },
            Spend { x: 1.0, m: 0.0 },
            Spend { x: 0.0, m: 5.0 },
            Spend { x: 3.0, m: -2.0 },
        ]);
        assert_eq!((kept.len(), dropped), (1, 3));
        assert!(matches!(check(&kept), Err(ClvError::TooFew { .. })));
    }

    /// A constant spend (to rounding: three orders of 0.1 average to
    /// 0.10000000000000002) is refused before any fitting; the least spread
    /// is fitted.
    #[test]
    fn a_spend_without_spread_is_refused_at_once() {
        let mean = (0.1 + 0.1 + 0.1) / 3.0;
        assert_ne!(mean, 0.1);
        let (kept, _) = usable(&[
            Spend { x: 3.0, m: mean },
            Spend { x: 1.0, m: 0.1 },
            Spend { x: 2.0, m: 0.1 },
        ]);
        let err = check(&kept).unwrap_err();
        assert!(matches!(err, ClvError::NoSpread { .. }), "{err}");
        assert!(err.to_string().contains("0.1"), "{err}");
        let (kept, _) = usable(&[Spend { x: 1.0, m: 19.99 }, Spend { x: 2.0, m: 19.98 }]);
        assert!(check(&kept).is_ok());
    }
}
