//! BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way")
//! and MBG/NBD (Batislam, Denizel & Filiztekin 2007), which lets a customer
//! also drop out right after the first purchase.

use rand::Rng;
use rand_distr::{Beta, Distribution, Gamma};

use crate::counting::Counting;
use crate::data::{Rft, repeat_rate};
use crate::fit::{Fit, Model, XCache};
use crate::special::{Hyp2f1, digamma, hyp2f1, ln_beta, ln_gamma, trigamma};

/// The BG/NBD model: purchases at Poisson rate λ ~ Gamma(r, α); after each
/// repeat purchase the customer leaves with probability p ~ Beta(a, b).
pub struct BgNbd;

/// The MBG/NBD model: as BG/NBD, but the customer may also leave right after
/// the first purchase.
pub struct MbgNbd;

/// Fitted BG/NBD or MBG/NBD parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BgNbdParams {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
    /// MBG/NBD rather than BG/NBD.
    pub modified: bool,
}

impl BgNbdParams {
    pub fn from_fit(fit: &Fit) -> BgNbdParams {
        BgNbdParams {
            r: fit.param("r"),
            alpha: fit.param("alpha"),
            a: fit.param("a"),
            b: fit.param("b"),
            modified: fit.model == MbgNbd::NAME,
        }
    }

    /// b's shift: BG/NBD's dropout chances after x purchases are x; MBG/NBD's x + 1.
    fn shift(&self) -> f64 {
        if self.modified { 1.0 } else { 0.0 }
    }

    /// ln of the odds that a customer has left rather than stayed: the second term
    /// of the likelihood over the first, or −∞ when leaving is impossible.
    fn ln_dead_odds(&self, row: &Rft) -> f64 {
        let Rft { x, t_x, t } = *row;
        if x == 0.0 && !self.modified {
            return f64::NEG_INFINITY;
        }
        let b_x = self.b + x - 1.0 + self.shift();
        (self.a / b_x).ln() + (self.r + x) * ((self.alpha + t).ln() - (self.alpha + t_x).ln())
    }

    /// Simulates `n` customers, each observed for a T drawn by `age`.
    pub fn simulate(
        &self,
        n: usize,
        rng: &mut impl Rng,
        mut age: impl FnMut(&mut dyn rand::RngCore) -> f64,
    ) -> Vec<Rft> {
        let lambda = Gamma::new(self.r, 1.0 / self.alpha).expect("r, alpha > 0");
        let p = Beta::new(self.a, self.b).expect("a, b > 0");
        (0..n)
            .map(|_| {
                let t = age(rng);
                let lambda = lambda.sample(rng);
                let p = p.sample(rng);
                let (mut x, mut t_x, mut now) = (0.0, 0.0, 0.0);
                if self.modified && rng.random::<f64>() < p {
                    return Rft { x, t_x, t };
                }
                loop {
                    now += -rng.random::<f64>().ln() / lambda;
                    if now > t {
                        break;
                    }
                    x += 1.0;
                    t_x = now;
                    if rng.random::<f64>() < p {
                        break;
                    }
                }
                Rft { x, t_x, t }
            })
            .collect()
    }
}

/// The likelihood's terms that depend on the parameters and x only, with their
/// gradient: A1 + A2 of FHL (2005).
#[derive(Clone, Copy)]
struct XTerms {
    base: f64,
    g: [f64; 4],
    /// ln a − ln(b + x − 1 + shift), the odds of having left, and b + x − 1 + shift.
    ln_odds: f64,
    b_x: f64,
}

fn x_terms(p: &[f64], x: f64, shift: f64) -> XTerms {
    let (r, alpha, a, b) = (p[0], p[1], p[2], p[3]);
    let base =
        ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln() + ln_gamma(a + b) + ln_gamma(b + x + shift)
            - ln_gamma(b)
            - ln_gamma(a + b + x + shift);
    let d_ab = digamma(a + b) - digamma(a + b + x + shift);
    let b_x = b + x - 1.0 + shift;
    XTerms {
        ln_odds: a.ln() - b_x.ln(),
        b_x,
        base,
        g: [
            digamma(r + x) - digamma(r) + alpha.ln(),
            r / alpha,
            d_ab,
            d_ab + digamma(b + x + shift) - digamma(b),
        ],
    }
}

/// The last ln(α + tₓ) computed, for the row after: merged rows are sorted
/// by (x, tₓ, T), so that runs of neighbours share tₓ and differ only in T.
#[derive(Default)]
struct LastTx {
    t_x: f64,
    ln: Option<f64>,
}

impl LastTx {
    fn ln(&mut self, alpha: f64, t_x: f64) -> f64 {
        match self.ln {
            Some(v) if self.t_x.to_bits() == t_x.to_bits() => v,
            _ => {
                let v = (alpha + t_x).ln();
                *self = LastTx { t_x, ln: Some(v) };
                v
            }
        }
    }
}

/// One row's log-likelihood and gradient, with what its Hessian needs.
struct RowParts {
    ll: f64,
    g: [f64; 4],
    /// Whether the row can have left (x > 0, or MBG/NBD): its likelihood is
    /// then a sum of two terms, alive (A3) and left (A4).
    two: bool,
    /// A3's and A4's gradients and A4's share of the likelihood.
    g3: [f64; 4],
    g4: [f64; 4],
    w4: f64,
    /// α + T and α + tₓ.
    at: f64,
    atx: f64,
}

/// The shared log-likelihood: `shift` is 0 for BG/NBD and 1 for MBG/NBD.
#[inline(always)]
fn row_parts(p: &[f64], row: &Rft, shift: f64, xt: XTerms, last: &mut LastTx) -> RowParts {
    let (r, alpha, a, _) = (p[0], p[1], p[2], p[3]);
    let Rft { x, t_x, t } = *row;
    let XTerms {
        base,
        mut g,
        ln_odds,
        b_x,
    } = xt;
    // Alive: A3 = −(r + x) ln(α + T). Left: A4 = ln a − ln(b + x − 1 + shift) − (r + x) ln(α + tₓ).
    let ln_t = (alpha + t).ln();
    let a3 = -(r + x) * ln_t;
    let g3 = [-ln_t, -(r + x) / (alpha + t), 0.0, 0.0];
    if x > 0.0 || shift > 0.0 {
        let ln_tx = last.ln(alpha, t_x);
        let a4 = ln_odds - (r + x) * ln_tx;
        let g4 = [-ln_tx, -(r + x) / (alpha + t_x), 1.0 / a, -1.0 / b_x];
        // ln(e^a3 + e^a4) and the two terms' shares, with one exp and one log.
        let (hi, lo) = if a3 >= a4 { (a3, a4) } else { (a4, a3) };
        let e = (lo - hi).exp();
        let share_lo = e / (1.0 + e);
        let (w3, w4) = if a3 >= a4 {
            (1.0 - share_lo, share_lo)
        } else {
            (share_lo, 1.0 - share_lo)
        };
        for i in 0..4 {
            g[i] += w3 * g3[i] + w4 * g4[i];
        }
        RowParts {
            ll: base + hi + e.ln_1p(),
            g,
            two: true,
            g3,
            g4,
            w4,
            at: alpha + t,
            atx: alpha + t_x,
        }
    } else {
        for i in 0..4 {
            g[i] += g3[i];
        }
        RowParts {
            ll: base + a3,
            g,
            two: false,
            g3,
            g4: [0.0; 4],
            w4: 0.0,
            at: alpha + t,
            atx: alpha + t_x,
        }
    }
}

fn ll_grad(
    p: &[f64],
    row: &Rft,
    w: f64,
    grad: &mut [f64],
    shift: f64,
    xt: XTerms,
    last: &mut LastTx,
) -> f64 {
    let parts = row_parts(p, row, shift, xt, last);
    for i in 0..4 {
        grad[i] += w * parts.g[i];
    }
    parts.ll
}

/// The second derivatives of the terms that depend on the parameters and x
/// only: by (r, r), by each of (a, a) and (a, b), and by (b, b).
fn x_hess(p: &[f64], x: f64, shift: f64) -> [f64; 3] {
    let (r, a, b) = (p[0], p[2], p[3]);
    let ab = trigamma(a + b) - trigamma(a + b + x + shift);
    [
        trigamma(r + x) - trigamma(r),
        ab,
        ab + trigamma(b + x + shift) - trigamma(b),
    ]
}

/// [`ll_grad_chunk`] with the Hessian: the base terms' own, and the
/// log-sum-exp's, w₃H₃ + w₄H₄ + w₃w₄(∇A₃ − ∇A₄)(∇A₃ − ∇A₄)ᵀ.
fn ll_grad_hess_chunk(
    p: &[f64],
    rows: &[Rft],
    weights: &[f64],
    grad: &mut [f64],
    hess: &mut [f64],
    shift: f64,
) -> f64 {
    let (r, alpha, a) = (p[0], p[1], p[2]);
    let mut cache = XCache::new();
    let mut last = LastTx::default();
    let mut h = [[0.0; 4]; 4];
    let mut ll = 0.0;
    for (row, &w) in rows.iter().zip(weights) {
        let (xt, hx) = cache.get(row.x, || {
            (x_terms(p, row.x, shift), x_hess(p, row.x, shift))
        });
        let rp = row_parts(p, row, shift, xt, &mut last);
        ll += w * rp.ll;
        for i in 0..4 {
            grad[i] += w * rp.g[i];
        }
        let rx = r + row.x;
        // The base terms, then A3's.
        let mut rr = hx[0];
        let mut r_alpha = 1.0 / alpha - 1.0 / rp.at;
        let mut alpha_alpha = -r / (alpha * alpha) + rx / (rp.at * rp.at);
        let (mut aa, ab, mut bb) = (hx[1], hx[1], hx[2]);
        let mut outer = [[0.0; 4]; 4];
        if rp.two {
            let (w3, w4) = (1.0 - rp.w4, rp.w4);
            // A3's part scaled to w₃, A4's added at w₄.
            r_alpha += w4 * (1.0 / rp.at - 1.0 / rp.atx);
            alpha_alpha += w4 * (rx / (rp.atx * rp.atx) - rx / (rp.at * rp.at));
            let b_x = xt.b_x;
            aa -= w4 / (a * a);
            bb += w4 / (b_x * b_x);
            let d: [f64; 4] = std::array::from_fn(|i| rp.g3[i] - rp.g4[i]);
            for i in 0..4 {
                for j in i..4 {
                    outer[i][j] = w3 * w4 * d[i] * d[j];
                }
            }
        }
        rr += outer[0][0];
        let row_h = [
            [rr, r_alpha + outer[0][1], outer[0][2], outer[0][3]],
            [0.0, alpha_alpha + outer[1][1], outer[1][2], outer[1][3]],
            [0.0, 0.0, aa + outer[2][2], ab + outer[2][3]],
            [0.0, 0.0, 0.0, bb + outer[3][3]],
        ];
        for i in 0..4 {
            for j in i..4 {
                h[i][j] += w * row_h[i][j];
            }
        }
    }
    for i in 0..4 {
        for j in i..4 {
            hess[i * 4 + j] += h[i][j];
            if i != j {
                hess[j * 4 + i] += h[i][j];
            }
        }
    }
    ll
}

/// [`ll_grad`] of one row, with nothing shared with other rows.
fn ll_grad_alone(p: &[f64], row: &Rft, w: f64, grad: &mut [f64], shift: f64) -> f64 {
    let xt = x_terms(p, row.x, shift);
    ll_grad(p, row, w, grad, shift, xt, &mut LastTx::default())
}

fn ll_grad_chunk(p: &[f64], rows: &[Rft], weights: &[f64], grad: &mut [f64], shift: f64) -> f64 {
    let mut cache = XCache::new();
    let mut last = LastTx::default();
    rows.iter()
        .zip(weights)
        .map(|(row, &w)| {
            let xt = cache.get(row.x, || x_terms(p, row.x, shift));
            w * ll_grad(p, row, w, grad, shift, xt, &mut last)
        })
        .sum()
}

fn start(rows: &[Rft]) -> Vec<f64> {
    // Purchase rate r/α at the observed repeat rate.
    vec![1.0, 1.0 / repeat_rate(rows), 1.0, 1.0]
}

/// BG/NBD and MBG/NBD share their likelihood, but for the shift of b.
macro_rules! bg_nbd_model {
    ($model:ty, $name:literal, $shift:literal) => {
        impl Model for $model {
            type Row = Rft;
            const NAME: &'static str = $name;
            const PARAMS: &'static [&'static str] = &["r", "alpha", "a", "b"];
            const HESSIAN: bool = true;

            fn ll_grad(p: &[f64], row: &Rft, w: f64, grad: &mut [f64]) -> f64 {
                ll_grad_alone(p, row, w, grad, $shift)
            }

            fn ll_grad_chunk(p: &[f64], rows: &[Rft], weights: &[f64], grad: &mut [f64]) -> f64 {
                ll_grad_chunk(p, rows, weights, grad, $shift)
            }

            fn ll_grad_hess_chunk(
                p: &[f64],
                rows: &[Rft],
                weights: &[f64],
                grad: &mut [f64],
                hess: &mut [f64],
            ) -> f64 {
                ll_grad_hess_chunk(p, rows, weights, grad, hess, $shift)
            }

            fn start(rows: &[Rft]) -> Vec<f64> {
                start(rows)
            }
        }
    };
}

bg_nbd_model!(BgNbd, "bgnbd", 0.0);
bg_nbd_model!(MbgNbd, "mbgnbd", 1.0);

impl Counting for BgNbdParams {
    fn p_alive(&self, row: &Rft) -> f64 {
        1.0 / (1.0 + self.ln_dead_odds(row).exp())
    }

    /// FHL (2005) eq. 10 without its P(alive) factor, with Euler's
    /// transformation so that the ₂F₁'s parameters do not grow with x:
    /// (1−z)^(r+x) ₂F₁(r+x, b+x+s; c; z) = (1−z)^(a−1) ₂F₁(c−r−x, a−1; c; z),
    /// c = a+b+x−1+s (s = 1 for MBG/NBD, 0 for BG/NBD).
    fn expected_if_alive(&self, x: f64, t: f64, horizons: &[f64]) -> Vec<f64> {
        let BgNbdParams { r, alpha, a, b, .. } = *self;
        let s = self.shift();
        let c = a + b + x - 1.0 + s;
        // The transformed series' terms first grow like those of
        // (1 − z)^−(a−1), the plain one's like (1 − z)^−(r+x): a fit at its
        // boundary (a in the millions) takes the plain one.
        let plain = a > 100.0 && a - 1.0 > r + x;
        let f = if plain {
            Hyp2f1::new(r + x, b + x + s, c)
        } else {
            Hyp2f1::new(c - r - x, a - 1.0, c)
        };
        let zs: Vec<f64> = horizons.iter().map(|&h| h / (alpha + t + h)).collect();
        let mut out = vec![0.0; zs.len()];
        f.at_many(&zs, &mut out);
        for (v, z) in out.iter_mut().zip(&zs) {
            let f = if plain {
                (1.0 - z).powf(r + x) * *v
            } else {
                (1.0 - z).powf(a - 1.0) * *v
            };
            *v = c / (a - 1.0) * (1.0 - f);
        }
        out
    }

    fn expected_new(&self, t: f64) -> f64 {
        let BgNbdParams { r, alpha, a, b, .. } = *self;
        let z = t / (alpha + t);
        let (lead, hb, hc) = if self.modified {
            (b / (a - 1.0), b + 1.0, a + b)
        } else {
            ((a + b - 1.0) / (a - 1.0), b, a + b - 1.0)
        };
        lead * (1.0 - (1.0 - z).powf(r) * hyp2f1(r, hb, hc, z))
    }

    fn pmf(&self, t: f64, x: u32) -> Option<f64> {
        let BgNbdParams { r, alpha, a, b, .. } = *self;
        let s = self.shift();
        let xf = f64::from(x);
        // The NBD's ln P(j purchases while alive). Its last term is j ln z,
        // taken as 0 for j = 0: at t = 0 (a customer whose first purchase
        // is the calibration end) ln z is −∞, and 0 · −∞ would make
        // P(X(0) = 0) NaN instead of 1.
        let ln_nb = |j: f64| {
            let ln_z = if j > 0.0 {
                j * (t / (alpha + t)).ln()
            } else {
                0.0
            };
            ln_gamma(r + j) - ln_gamma(r) - ln_gamma(j + 1.0)
                + r * (alpha / (alpha + t)).ln()
                + ln_z
        };
        let stay = (ln_beta(a, b + xf + s) - ln_beta(a, b) + ln_nb(xf)).exp();
        if x == 0 && s == 0.0 {
            return Some(stay);
        }
        let tail = 1.0 - (0..x).map(|j| ln_nb(f64::from(j)).exp()).sum::<f64>();
        let left = (ln_beta(a + 1.0, b + xf - 1.0 + s) - ln_beta(a, b)).exp() * tail.max(0.0);
        Some(stay + left)
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

    fn rows() -> Vec<Rft> {
        crate::data::sample_rows()
    }

    /// A chunk of merged rows, whose neighbours share ln(α + tₓ), gives
    /// the same bits as each row alone.
    #[test]
    fn chunks_equal_rows_alone() {
        let p = [0.243, 4.414, 0.793, 2.426];
        let mut rows = Vec::new();
        for x in 0..4 {
            for t_x in [0.0, 3.5, 10.0] {
                for t in [12.0, 20.5, 38.86] {
                    if (x == 0) == (t_x == 0.0) {
                        let x = f64::from(x);
                        rows.push(Rft { x, t_x, t });
                    }
                }
            }
        }
        let data = Weighted::from_rows(&rows);
        for shift in [0.0, 1.0] {
            let mut g_chunk = [0.0; 4];
            let chunk = ll_grad_chunk(&p, &data.rows, &data.weights, &mut g_chunk, shift);
            let (mut g_rows, mut alone) = ([0.0; 4], 0.0);
            for (row, &w) in data.rows.iter().zip(&data.weights) {
                alone += w * ll_grad_alone(&p, row, w, &mut g_rows, shift);
            }
            assert_eq!(chunk.to_bits(), alone.to_bits());
            assert_eq!(g_chunk.map(f64::to_bits), g_rows.map(f64::to_bits));
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        check_gradient::<BgNbd>(&[0.24, 4.4, 0.79, 2.4], &rows());
        check_gradient::<MbgNbd>(&[0.5, 6.2, 0.9, 1.6], &rows());
        check_gradient::<BgNbd>(&[3.0, 0.5, 4.0, 0.3], &rows());
        check_hessian::<BgNbd>(&[0.24, 4.4, 0.79, 2.4], &rows());
        check_hessian::<MbgNbd>(&[0.5, 6.2, 0.9, 1.6], &rows());
        check_hessian::<BgNbd>(&[3.0, 0.5, 4.0, 0.3], &rows());
    }

    /// A fit with a large a (a and b in the hundreds here, in the millions
    /// at a fit's boundary) takes the plain ₂F₁ and gives what the
    /// transformed one gives; in the millions it is finite and quick.
    #[test]
    fn a_large_a_predicts_as_the_transformed_form_does() {
        let p = BgNbdParams {
            r: 0.75,
            alpha: 8.5,
            a: 150.0,
            b: 1500.0,
            modified: false,
        };
        let horizons = [52.0, 104.0];
        for (x, t) in [(0.0, 30.0), (3.0, 50.0), (20.0, 100.0)] {
            let got = p.expected_if_alive(x, t, &horizons);
            let c = p.a + p.b + x - 1.0;
            let f = Hyp2f1::new(c - p.r - x, p.a - 1.0, c);
            for (k, h) in horizons.iter().enumerate() {
                let z = h / (p.alpha + t + h);
                let want = c / (p.a - 1.0) * (1.0 - (1.0 - z).powf(p.a - 1.0) * f.at(z));
                assert!(
                    (got[k] / want - 1.0).abs() < 1e-9,
                    "x={x}: {} vs {want}",
                    got[k]
                );
            }
        }
        let boundary = BgNbdParams {
            a: 3471739.3215389126,
            b: 35338384.432108335,
            ..p
        };
        let v = boundary.expected_if_alive(20.0, 100.0, &horizons);
        assert!(v.iter().all(|v| v.is_finite() && *v > 0.0), "{v:?}");
        assert!(v[1] > v[0]);
    }

    /// CDNOW's BG/NBD parameters (FHL 2005), plain or modified.
    fn cdnow_params(modified: bool) -> BgNbdParams {
        BgNbdParams {
            r: 0.243,
            alpha: 4.414,
            a: 0.793,
            b: 2.426,
            modified,
        }
    }

    #[test]
    fn pmf_sums_to_one_and_its_mean_is_the_expectation() {
        for modified in [false, true] {
            let p = cdnow_params(modified);
            let t = 39.0;
            let probs: Vec<f64> = (0..400).map(|x| p.pmf(t, x).unwrap()).collect();
            let total: f64 = probs.iter().sum();
            let mean: f64 = probs.iter().enumerate().map(|(x, q)| x as f64 * q).sum();
            assert!((total - 1.0).abs() < 1e-9, "modified={modified}: {total}");
            assert!(
                (mean - p.expected_new(t)).abs() < 1e-6,
                "modified={modified}: {mean} vs {}",
                p.expected_new(t)
            );
        }
    }

    /// A customer acquired at the calibration end (t = 0) has made no
    /// repeat purchase yet, with certainty.
    #[test]
    fn pmf_at_time_zero_is_all_at_zero() {
        for modified in [false, true] {
            let p = cdnow_params(modified);
            let probs: Vec<f64> = (0..4).map(|x| p.pmf(0.0, x).unwrap()).collect();
            let want = [1.0, 0.0, 0.0, 0.0];
            assert!(
                probs.iter().zip(want).all(|(p, w)| (p - w).abs() < 1e-12),
                "modified={modified}: {probs:?}"
            );
        }
    }

    #[test]
    fn conditional_expectation_matches_lifetimes() {
        // lifetimes 0.11.3, BetaGeoFitter with these parameters:
        // conditional_expected_number_of_purchases_up_to_time(39, 2, 30.43, 38.86)
        // and conditional_probability_alive(2, 30.43, 38.86).
        let p = BgNbdParams {
            r: 0.2425945434210672,
            alpha: 4.413602716077373,
            a: 0.7929218333478439,
            b: 2.425905728721631,
            modified: false,
        };
        let row = Rft {
            x: 2.0,
            t_x: 30.43,
            t: 38.86,
        };
        assert!((p.expected(&row, 39.0) - 1.225_906_809_814_852_7).abs() < 1e-9);
        let p_alive = p.p_alive(&row);
        assert!(
            (p_alive - 0.726_609_148_765_248_8).abs() < 1e-12,
            "{p_alive}"
        );

        // ModifiedBetaGeoFitter, same calls, and P(alive) of a one-time buyer.
        let m = BgNbdParams {
            r: 0.524842903149598,
            alpha: 6.183081764399279,
            a: 0.8913595172711999,
            b: 1.6140029311982655,
            modified: true,
        };
        assert!((m.expected(&row, 39.0) - 1.262_669_220_250_071_8).abs() < 1e-9);
        assert!((m.p_alive(&row) - 0.706_125_699_315_964).abs() < 1e-12);
        let once = Rft {
            x: 0.0,
            t_x: 0.0,
            t: 38.86,
        };
        assert!((m.p_alive(&once) - 0.389_715_186_072_688_4).abs() < 1e-12);
    }

    /// One data set per model; tests/calibration.rs checks over 40 that the
    /// standard errors are honest.
    #[test]
    fn parameters_are_recovered_from_simulated_customers() {
        for modified in [false, true] {
            let truth = BgNbdParams {
                r: 0.8,
                alpha: 6.0,
                a: 0.7,
                b: 3.0,
                modified,
            };
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
            let rows = truth.simulate(8000, &mut rng, |rng| 20.0 + 40.0 * rng.random::<f64>());
            let data = Weighted::from_rows(&rows);
            let f = if modified {
                fit::<MbgNbd>(&data, &FitOptions::default())
            } else {
                fit::<BgNbd>(&data, &FitOptions::default())
            }
            .unwrap();
            assert_recovered(&f, &[truth.r, truth.alpha, truth.a, truth.b]);
        }
    }

    /// Starting from a sample's fit reaches the same optimum as L-BFGS from
    /// the default start, in fewer passes over the data.
    #[test]
    fn a_sample_start_reaches_the_same_optimum() {
        let truth = BgNbdParams {
            r: 0.8,
            alpha: 6.0,
            a: 0.7,
            b: 3.0,
            modified: false,
        };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
        let rows = truth.simulate(40_000, &mut rng, |rng| 20.0 + 40.0 * rng.random::<f64>());
        let data = Weighted::from_rows(&rows);
        let (a, b) = fit_with_and_without_sample::<BgNbd>(&data, 1e-7, 1e-3);
        // Newton's steps end at rounding in a few passes, rather than
        // halving steps while the cost's rounding decides.
        assert!(
            a.evaluations <= 25,
            "{} passes without a sample",
            a.evaluations
        );
        assert!(
            b.evaluations <= 6,
            "{} passes from the sample",
            b.evaluations
        );
        assert!(
            b.evaluations < a.evaluations,
            "{} passes from the sample, {} without",
            b.evaluations,
            a.evaluations
        );
    }
}
