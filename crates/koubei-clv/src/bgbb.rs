//! BG/BB, the discrete-time model (Fader, Hardie & Shang 2010, "Customer-base
//! analysis in a discrete-time noncontractual setting").

use rand::Rng;
use rand_distr::{Beta, Distribution};

use crate::data::Discrete;
use crate::error::ClvError;
use crate::fit::{Fit, Model};
use crate::special::{digamma, ln_beta, log_add_exp};

/// At each transaction opportunity an active customer buys with probability
/// p ~ Beta(α, β), and before it leaves for good with probability θ ~ Beta(γ, δ).
pub struct BgBb;

/// Fitted BG/BB parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BgBbParams {
    pub alpha: f64,
    pub beta: f64,
    pub gamma: f64,
    pub delta: f64,
}

/// ln B(a, b) and its derivatives in a and b.
fn ln_beta_grad(a: f64, b: f64) -> (f64, f64, f64) {
    let dab = digamma(a + b);
    (ln_beta(a, b), digamma(a) - dab, digamma(b) - dab)
}

/// The "gone just before opportunity tₓ + i + 1" terms, i = 0, 1, …, of the
/// customers with one (x, tₓ), summed so far: for a row with n opportunities
/// the sum runs to i = n − tₓ − 1. Term i + 1 is term i times B/(A+B) ·
/// D/(G+D), with A = α + x, B = β + tₓ − x + i, G = γ + 1, D = δ + tₓ + i,
/// and each digamma moves by 1/B, 1/(A+B), …: no special functions inside
/// the loop. Rows sorted by (x, tₓ, n) carry the sum on from one n to the
/// next instead of starting again: the same additions in the same order,
/// so the same bits, for a fraction of the steps.
struct Dead {
    x: u32,
    t_x: u32,
    steps: u32,
    aa: f64,
    gg: f64,
    bb: f64,
    dd: f64,
    /// ln B(A, B₀) + ln B(G, D₀), the first term's scale.
    scale: f64,
    d: [f64; 4],
    rho: f64,
    sum: f64,
    sg: [f64; 4],
}

impl Dead {
    fn new(p: &[f64], x: u32, t_x: u32) -> Dead {
        let (al, be, ga, de) = (p[0], p[1], p[2], p[3]);
        let (xf, tf) = (f64::from(x), f64::from(t_x));
        let (aa, gg) = (al + xf, ga + 1.0);
        let (bb, dd) = (be + tf - xf, de + tf);
        let (v0, da, db) = ln_beta_grad(aa, bb);
        let (v1, dg, ddl) = ln_beta_grad(gg, dd);
        Dead {
            x,
            t_x,
            steps: 0,
            aa,
            gg,
            bb,
            dd,
            scale: v0 + v1,
            d: [da, db, dg, ddl],
            rho: 1.0,
            sum: 0.0,
            sg: [0.0; 4],
        }
    }

    /// Sums the terms up to i = `steps` − 1.
    fn advance(&mut self, steps: u32) {
        let (aa, gg) = (self.aa, self.gg);
        while self.steps < steps {
            let Dead { bb, dd, rho, .. } = *self;
            self.sum += rho;
            for k in 0..4 {
                self.sg[k] += rho * self.d[k];
            }
            self.rho *= bb / (aa + bb) * dd / (gg + dd);
            self.d[0] -= 1.0 / (aa + bb);
            self.d[1] += 1.0 / bb - 1.0 / (aa + bb);
            self.d[2] -= 1.0 / (gg + dd);
            self.d[3] += 1.0 / dd - 1.0 / (gg + dd);
            self.bb += 1.0;
            self.dd += 1.0;
            self.steps += 1;
        }
    }

    /// ln of the sum so far and its gradient.
    fn value(&self) -> (f64, [f64; 4]) {
        (self.scale + self.sum.ln(), self.sg.map(|v| v / self.sum))
    }
}

/// What a chunk of rows shares at given parameters: ln B(α, β) and
/// ln B(γ, δ) with their gradients, the alive terms of each n (and, for the
/// current x, of each (x, n)), and the dropout sums being carried.
struct Memo {
    ab: (f64, f64, f64),
    gd: (f64, f64, f64),
    x: u32,
    ab_of_n: Vec<Option<(f64, f64, f64)>>,
    gd_of_n: Vec<Option<(f64, f64, f64)>>,
    dead: Option<Dead>,
}

impl Memo {
    fn new(p: &[f64]) -> Memo {
        Memo {
            ab: ln_beta_grad(p[0], p[1]),
            gd: ln_beta_grad(p[2], p[3]),
            x: 0,
            ab_of_n: Vec::new(),
            gd_of_n: Vec::new(),
            dead: None,
        }
    }

    /// ln B(α + x, β + n − x) and its gradient.
    fn alive_ab(&mut self, p: &[f64], x: u32, n: u32) -> (f64, f64, f64) {
        if x != self.x {
            self.x = x;
            self.ab_of_n.clear();
        }
        let (xf, nf) = (f64::from(x), f64::from(n));
        *slot(&mut self.ab_of_n, n).get_or_insert_with(|| ln_beta_grad(p[0] + xf, p[1] + nf - xf))
    }

    /// ln B(γ, δ + n) and its gradient.
    fn alive_gd(&mut self, p: &[f64], n: u32) -> (f64, f64, f64) {
        let nf = f64::from(n);
        *slot(&mut self.gd_of_n, n).get_or_insert_with(|| ln_beta_grad(p[2], p[3] + nf))
    }
}

/// The n-th slot of a memo, made room for (n is a count of opportunities:
/// a few hundred at most for weeks or days of a few years).
fn slot<T>(memo: &mut Vec<Option<T>>, n: u32) -> &mut Option<T> {
    let n = n as usize;
    if n >= memo.len() {
        memo.resize_with(n + 1, || None);
    }
    &mut memo[n]
}

/// One row's log-likelihood, adding its weighted gradient into `grad`;
/// `memo.dead` carries the running sum of the rows before with the same
/// (x, tₓ).
fn ll_grad(p: &[f64], row: &Discrete, w: f64, grad: &mut [f64], memo: &mut Memo) -> f64 {
    let (b_ab, b_ab_a, b_ab_b) = memo.ab;
    let (b_gd, b_gd_g, b_gd_d) = memo.gd;
    // Alive through all n opportunities.
    let (l1, l1_a, l1_b) = memo.alive_ab(p, row.x, row.n);
    let (l2, l2_g, l2_d) = memo.alive_gd(p, row.n);
    let dead = &mut memo.dead;
    let alive = (l1 + l2, [l1_a, l1_b, l2_g, l2_d]);
    // Or gone just before opportunity tₓ + i + 1, for i = 0 … n − tₓ − 1.
    let gone = if row.n > row.t_x {
        let steps = row.n - row.t_x;
        let d = match dead.take() {
            Some(d) if d.x == row.x && d.t_x == row.t_x && d.steps <= steps => d,
            _ => Dead::new(p, row.x, row.t_x),
        };
        let d = dead.insert(d);
        d.advance(steps);
        Some(d.value())
    } else {
        None
    };
    let mut g = [-b_ab_a, -b_ab_b, -b_gd_g, -b_gd_d];
    let m = match gone {
        None => {
            for k in 0..4 {
                g[k] += alive.1[k];
            }
            alive.0
        }
        Some((value, dg)) => {
            let (m, wa, wd) = log_add_exp(alive.0, value);
            for k in 0..4 {
                g[k] += wa * alive.1[k] + wd * dg[k];
            }
            m
        }
    };
    for k in 0..4 {
        grad[k] += w * g[k];
    }
    m - b_ab - b_gd
}

impl Model for BgBb {
    type Row = Discrete;
    const NAME: &'static str = "bgbb";
    const PARAMS: &'static [&'static str] = &["alpha", "beta", "gamma", "delta"];

    fn ll_grad(p: &[f64], row: &Discrete, w: f64, grad: &mut [f64]) -> f64 {
        ll_grad(p, row, w, grad, &mut Memo::new(p))
    }

    fn ll_grad_chunk(p: &[f64], rows: &[Discrete], weights: &[f64], grad: &mut [f64]) -> f64 {
        let mut memo = Memo::new(p);
        rows.iter()
            .zip(weights)
            .map(|(row, &w)| w * ll_grad(p, row, w, grad, &mut memo))
            .sum()
    }
}

/// Checks discrete rows: x ≤ tₓ ≤ n, tₓ = 0 exactly when x = 0, n ≥ 1.
pub fn check(rows: &[Discrete]) -> Result<(), ClvError> {
    if rows.is_empty() {
        return Err(ClvError::Empty);
    }
    for (index, r) in rows.iter().enumerate() {
        if r.n == 0 || r.t_x > r.n || r.x > r.t_x || (r.x == 0) != (r.t_x == 0) {
            return Err(ClvError::InvalidRow {
                index,
                reason: format!(
                    "x = {}, t_x = {}, n = {} is not a history of x purchases in n opportunities, the last at t_x",
                    r.x, r.t_x, r.n
                ),
            });
        }
    }
    if rows.len() < 2 {
        return Err(ClvError::TooFew {
            model: BgBb::NAME,
            needed: 2,
            got: rows.len(),
        });
    }
    if rows.iter().all(|r| r.x == 0) {
        return Err(ClvError::NoRepeatBuyers { model: BgBb::NAME });
    }
    Ok(())
}

impl BgBbParams {
    pub fn from_fit(fit: &Fit) -> BgBbParams {
        BgBbParams {
            alpha: fit.param("alpha"),
            beta: fit.param("beta"),
            gamma: fit.param("gamma"),
            delta: fit.param("delta"),
        }
    }

    fn ll(&self, row: &Discrete) -> f64 {
        let mut g = [0.0; 4];
        BgBb::ll_grad(
            &[self.alpha, self.beta, self.gamma, self.delta],
            row,
            0.0,
            &mut g,
        )
    }

    /// P(active at opportunity n + 1 | history), FHS (2010) eq. 11.
    pub fn p_alive(&self, row: &Discrete) -> f64 {
        let BgBbParams {
            alpha,
            beta,
            gamma,
            delta,
        } = *self;
        let (x, n) = (f64::from(row.x), f64::from(row.n));
        (ln_beta(alpha + x, beta + n - x) - ln_beta(alpha, beta) + ln_beta(gamma, delta + n + 1.0)
            - ln_beta(gamma, delta)
            - self.ll(row))
        .exp()
    }

    /// Expected purchases in the next `future` opportunities, FHS (2010) eq. 13.
    pub fn expected(&self, row: &Discrete, future: u32) -> f64 {
        use crate::special::ln_gamma;
        let BgBbParams {
            alpha,
            beta,
            gamma,
            delta,
        } = *self;
        let (x, n, m) = (f64::from(row.x), f64::from(row.n), f64::from(future));
        let lead = ln_beta(alpha + x + 1.0, beta + n - x) - ln_beta(alpha, beta) - self.ll(row)
            + ln_gamma(gamma + delta)
            - ln_gamma(1.0 + delta);
        let bracket = (ln_gamma(1.0 + delta + n) - ln_gamma(gamma + delta + n)).exp()
            - (ln_gamma(1.0 + delta + n + m) - ln_gamma(gamma + delta + n + m)).exp();
        lead.exp() * delta / (gamma - 1.0) * bracket
    }

    /// Simulates `n` customers, each with a number of opportunities drawn by `opportunities`.
    pub fn simulate(
        &self,
        n: usize,
        rng: &mut impl Rng,
        mut opportunities: impl FnMut(&mut dyn rand::RngCore) -> u32,
    ) -> Vec<Discrete> {
        let p = Beta::new(self.alpha, self.beta).expect("alpha, beta > 0");
        let theta = Beta::new(self.gamma, self.delta).expect("gamma, delta > 0");
        (0..n)
            .map(|_| {
                let n = opportunities(rng).max(1);
                let (p, theta) = (p.sample(rng), theta.sample(rng));
                let (mut x, mut t_x) = (0, 0);
                for i in 1..=n {
                    if rng.random::<f64>() < theta {
                        break;
                    }
                    if rng.random::<f64>() < p {
                        x += 1;
                        t_x = i;
                    }
                }
                Discrete { x, t_x, n }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::{FitOptions, Weighted, assert_recovered, check_gradient, fit};
    use rand::SeedableRng;

    /// FHS (2010)'s donation data: 11,104 first-time donors of 1995 and their
    /// repeat donations in 1996–2001, as shipped with `lifetimes`.
    fn donations() -> Weighted<Discrete> {
        let text = include_str!("../tests/data/donations.csv");
        let mut out = Weighted {
            rows: Vec::new(),
            weights: Vec::new(),
        };
        for line in text.lines().skip(1) {
            let f: Vec<u32> = line.split(',').map(|v| v.trim().parse().unwrap()).collect();
            out.rows.push(Discrete {
                x: f[0],
                t_x: f[1],
                n: f[2],
            });
            out.weights.push(f64::from(f[3]));
        }
        out
    }

    /// A chunk of rows sorted by (x, tₓ, n), whose sums carry on from row to
    /// row, gives every row the same bits as the row alone.
    #[test]
    fn carried_sums_equal_each_row_alone() {
        let p = [1.2, 0.75, 0.66, 2.78];
        let mut rows = Vec::new();
        for x in 0..4u32 {
            for t_x in [0u32, 3, 5] {
                for n in [5u32, 6, 9, 14] {
                    if (x == 0) == (t_x == 0) && x <= t_x && t_x <= n {
                        rows.push(Discrete { x, t_x, n });
                    }
                }
            }
        }
        rows.sort();
        let weights: Vec<f64> = (0..rows.len()).map(|i| 1.0 + i as f64).collect();
        let mut g_chunk = [0.0; 4];
        let chunk = BgBb::ll_grad_chunk(&p, &rows, &weights, &mut g_chunk);
        let mut g_rows = [0.0; 4];
        let mut alone = 0.0;
        for (row, &w) in rows.iter().zip(&weights) {
            alone += w * <BgBb as Model>::ll_grad(&p, row, w, &mut g_rows);
        }
        assert_eq!(chunk.to_bits(), alone.to_bits());
        assert_eq!(g_chunk.map(f64::to_bits), g_rows.map(f64::to_bits));
    }

    #[test]
    fn gradients_match_finite_differences() {
        let rows = donations().rows;
        check_gradient::<BgBb>(&[1.2, 0.75, 0.66, 2.78], &rows);
        check_gradient::<BgBb>(&[0.3, 4.0, 2.5, 0.4], &rows);
    }

    #[test]
    fn donation_data_gives_the_published_parameters() {
        // FHS (2010), Table 2 / section 4: α = 1.204, β = 0.750, γ = 0.657, δ = 2.783,
        // LL = −33,225.6.
        let data = donations();
        assert_eq!(data.total(), 11_104.0);
        let f = fit::<BgBb>(&data, &FitOptions::default()).unwrap();
        for (name, want) in [
            ("alpha", 1.204),
            ("beta", 0.750),
            ("gamma", 0.657),
            ("delta", 2.783),
        ] {
            assert!(
                (f.param(name) - want).abs() < 0.0005,
                "{name}: {} vs {want}",
                f.param(name)
            );
        }
        assert!(
            (f.log_likelihood - -33_225.6).abs() < 0.05,
            "{}",
            f.log_likelihood
        );
        // And lifetimes' predictions at these parameters.
        let p = BgBbParams {
            alpha: 1.2035223936080575,
            beta: 0.7497163581757686,
            gamma: 0.6567181695499168,
            delta: 2.783441982887393,
        };
        let row = Discrete { x: 3, t_x: 4, n: 6 };
        assert!((p.expected(&row, 5) - 1.034_571_598_127_011_6).abs() < 1e-8);
        assert!((p.p_alive(&row) - 0.439_593_892_509_303_4).abs() < 1e-8);
    }

    #[test]
    fn parameters_are_recovered_from_simulated_customers() {
        let truth = BgBbParams {
            alpha: 1.2,
            beta: 0.75,
            gamma: 0.66,
            delta: 2.8,
        };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let rows = truth.simulate(10_000, &mut rng, |rng| rng.random_range(4..10));
        let f = fit::<BgBb>(&Weighted::from_rows(&rows), &FitOptions::default()).unwrap();
        assert_recovered(&f, &[truth.alpha, truth.beta, truth.gamma, truth.delta]);
    }
}
