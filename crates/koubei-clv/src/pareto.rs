//! Pareto/NBD (Schmittlein, Morrison & Colombo 1987), with the likelihood of
//! Fader & Hardie's 2005 note "A note on deriving the Pareto/NBD model and
//! related expressions" (eqs. 18–20).

use std::collections::HashMap;

use rand::Rng;
use rand_distr::{Distribution, Gamma};

use crate::counting::Counting;
use crate::data::{Rft, repeat_rate};
use crate::fit::{Fit, Model, XCache};
use crate::special::{
    digamma, ln_gamma, ln_hyp2f1_a_b_a1, ln_hyp2f1_a_b_a1_hess, log_add_exp, trigamma,
};

/// Purchases at Poisson rate λ ~ Gamma(r, α) during an exponential lifetime of
/// rate μ ~ Gamma(s, β).
pub struct ParetoNbd;

/// Fitted Pareto/NBD parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ParetoParams {
    pub r: f64,
    pub alpha: f64,
    pub s: f64,
    pub beta: f64,
}

/// The likelihood's two parts in logs, with their gradients in (r, α, s, β):
/// `alive` = −(r+x) ln(α+T) − s ln(β+T), and `left` = ln(s/(r+s+x) · A₀).
struct Parts {
    alive: f64,
    g_alive: [f64; 4],
    left: f64,
    g_left: [f64; 4],
    /// q = e^(l₂−l₁) and 1 − q, from A₀'s two terms (0 and 1 when tₓ = T).
    q: f64,
    one_minus_q: f64,
}

/// One end point's term of A₀ in logs, ln(F(z)/(m + end)^a), with its
/// gradient in (r, α, s, β): F = ₂F₁(a, b; a+1; z), a = r+s+x, and (m, b) =
/// (α, s+1) when α ≥ β, else (β, r+x). It depends on x and the end only, so
/// customers share it. It carries ln(α + end) and ln(β + end) too, which
/// the `alive` part of the rows whose T is this end reads: two logs a row
/// fewer.
#[derive(Clone, Copy)]
struct End<H> {
    value: f64,
    grad: [f64; 4],
    ln_alpha_end: f64,
    ln_beta_end: f64,
    /// The Hessian in (r, α, s, β), or `()`.
    hess: H,
}

fn term(p: &[f64], x: f64, end: f64) -> End<()> {
    let e = term_with::<false>(p, x, end);
    End {
        value: e.value,
        grad: e.grad,
        ln_alpha_end: e.ln_alpha_end,
        ln_beta_end: e.ln_beta_end,
        hess: (),
    }
}

/// [`term`] with its Hessian when `HESS` (zeros otherwise); the rest has
/// the same bits either way.
#[inline(always)]
fn term_with<const HESS: bool>(p: &[f64], x: f64, end: f64) -> End<Hess> {
    let (r, alpha, s, beta) = (p[0], p[1], p[2], p[3]);
    let a = r + s + x;
    let alpha_is_max = alpha >= beta;
    let (max, min, b) = if alpha_is_max {
        (alpha, beta, s + 1.0)
    } else {
        (beta, alpha, r + x)
    };
    let diff = max - min;
    let z = diff / (max + end);
    let (lf, [fa, fb, fz], f2) = if HESS {
        ln_hyp2f1_a_b_a1_hess(a, b, z)
    } else {
        let (v, g) = ln_hyp2f1_a_b_a1(a, b, z);
        (v, g, [[0.0; 3]; 3])
    };
    let ln_base = (max + end).ln();
    let ln_other = (min + end).ln();
    let value = lf - a * ln_base;
    let d_max = fz * (min + end) / ((max + end) * (max + end)) - a / (max + end);
    let d_min = -fz / (max + end);
    let d_r = fa + if alpha_is_max { 0.0 } else { fb } - ln_base;
    let d_s = fa + if alpha_is_max { fb } else { 0.0 } - ln_base;
    let g = if alpha_is_max {
        [d_r, d_max, d_s, d_min]
    } else {
        [d_r, d_min, d_s, d_max]
    };
    let mut h = [[0.0; 4]; 4];
    if HESS {
        // In (r, s, max, min): the chain rule through a, b and z, then
        // −a ln(max + end)'s own terms.
        let (m, c) = (max + end, min + end);
        let jac = [
            [1.0, 1.0, 0.0, 0.0],
            if alpha_is_max {
                [0.0, 1.0, 0.0, 0.0]
            } else {
                [1.0, 0.0, 0.0, 0.0]
            },
            [0.0, 0.0, c / (m * m), -1.0 / m],
        ];
        let mut local = [[0.0; 4]; 4];
        for (u, row) in local.iter_mut().enumerate() {
            for (v, out) in row.iter_mut().enumerate() {
                for i in 0..3 {
                    for j in 0..3 {
                        *out += f2[i][j] * jac[i][u] * jac[j][v];
                    }
                }
            }
        }
        // z's own curvature in (max, min).
        local[2][2] += fz * -2.0 * c / (m * m * m);
        local[2][3] += fz / (m * m);
        local[3][2] += fz / (m * m);
        // −a ln m: a's slope times ln m's, twice, and a times ln m's curvature.
        for u in 0..2 {
            local[u][2] -= 1.0 / m;
            local[2][u] -= 1.0 / m;
        }
        local[2][2] += a / (m * m);
        let (i_max, i_min) = if alpha_is_max { (1, 3) } else { (3, 1) };
        let at = [0, 2, i_max, i_min];
        for u in 0..4 {
            for v in 0..4 {
                h[at[u]][at[v]] = local[u][v];
            }
        }
    }
    let (ln_alpha_end, ln_beta_end) = if alpha_is_max {
        (ln_base, ln_other)
    } else {
        (ln_other, ln_base)
    };
    End {
        value,
        grad: g,
        ln_alpha_end,
        ln_beta_end,
        hess: h,
    }
}

/// Terms by (x, end), numbered in order of first sight.
struct Ends<H> {
    index: HashMap<(u64, u64), u32, foldhash::fast::RandomState>,
    ends: Vec<End<H>>,
}

impl<H> Default for Ends<H> {
    fn default() -> Self {
        Ends {
            index: HashMap::default(),
            ends: Vec::new(),
        }
    }
}

impl<H> Ends<H> {
    /// The number of the term at (x, end), made by `make` if new.
    fn number(&mut self, x: f64, end: f64, make: impl FnOnce() -> End<H>) -> u32 {
        let ends = &mut self.ends;
        *self
            .index
            .entry((x.to_bits(), end.to_bits()))
            .or_insert_with(|| {
                ends.push(make());
                (ends.len() - 1) as u32
            })
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    fn clear(&mut self) {
        self.index.clear();
        self.ends.clear();
    }

    /// The numbers of a row's terms at tₓ and at T. Rows come sorted by
    /// (x, tₓ, T), so that the tₓ term is most often the last row's:
    /// `last` keeps it, and saves a look-up.
    fn of_row(
        &mut self,
        row: &Rft,
        last: &mut Option<(f64, f64, u32)>,
        make: impl Fn(f64) -> End<H>,
    ) -> (u32, u32) {
        let Rft { x, t_x, t } = *row;
        let at_tx = match *last {
            Some((lx, ltx, i)) if lx.to_bits() == x.to_bits() && ltx.to_bits() == t_x.to_bits() => {
                i
            }
            _ => {
                let i = self.number(x, t_x, || make(t_x));
                *last = Some((x, t_x, i));
                i
            }
        };
        (at_tx, self.number(x, t, || make(t)))
    }
}

/// Terms within passes over chunks of rows at the same parameters: with
/// gradients, or with gradients and Hessians.
#[derive(Default)]
struct TermMemo {
    at: Vec<u64>,
    grad: Ends<()>,
    hess: Ends<Hess>,
}

/// Runs `f` with this thread's memo of ₂F₁ terms at the parameters `p`,
/// emptied whenever they change (or past a million terms, for times that
/// are all distinct). Kept from one chunk of rows to the next: a pass over
/// the rows meets each (x, tₓ) and (x, T) in many chunks, and a memo per
/// chunk computed most of them again. A term is the same function of
/// (p, x, end) whichever thread computes it, so results keep their bits.
fn with_memo<T>(p: &[f64], f: impl FnOnce(&mut TermMemo) -> T) -> T {
    thread_local! {
        static MEMO: std::cell::RefCell<TermMemo> = Default::default();
    }
    MEMO.with_borrow_mut(|memo| {
        let full = memo.grad.len() > 1 << 20 || memo.hess.len() > 1 << 18;
        if full || !memo.at.iter().copied().eq(p.iter().map(|v| v.to_bits())) {
            memo.at.clear();
            memo.at.extend(p.iter().map(|v| v.to_bits()));
            memo.grad.clear();
            memo.hess.clear();
        }
        f(memo)
    })
}

/// A row's [`Parts`], its terms computed here.
fn parts(p: &[f64], row: &Rft) -> Parts {
    let ln_s_a = (p[2].ln(), (p[0] + p[2] + row.x).ln());
    let ends = (&term(p, row.x, row.t_x), &term(p, row.x, row.t));
    parts_of(p, row, ends, ln_s_a)
}

/// [`Parts`] from A₀'s terms at tₓ and at T, and ln s and ln(r + s + x).
fn parts_of<H>(
    p: &[f64],
    row: &Rft,
    (e1, e2): (&End<H>, &End<H>),
    (ln_s, ln_a): (f64, f64),
) -> Parts {
    let (r, alpha, s, beta) = (p[0], p[1], p[2], p[3]);
    let Rft { x, t, .. } = *row;
    let (ln_at, ln_bt) = (e2.ln_alpha_end, e2.ln_beta_end);
    let alive = -(r + x) * ln_at - s * ln_bt;
    let g_alive = [-ln_at, -(r + x) / (alpha + t), -ln_bt, -s / (beta + t)];

    // A₀ = F(z₁)/(m+tₓ)^a − F(z₂)/(m+T)^a.
    let a = r + s + x;
    let ((l1, g1), (l2, g2)) = ((e1.value, e1.grad), (e2.value, e2.grad));
    // ln A₀ = l1 + ln(1 − e^(l2−l1)); zero when tₓ = T.
    let (left, g_left, q, one_minus_q) = if l2 < l1 {
        let q = (l2 - l1).exp();
        let one_minus_q = -(l2 - l1).exp_m1();
        let mut g = [0.0; 4];
        for i in 0..4 {
            g[i] = (g1[i] - q * g2[i]) / one_minus_q;
        }
        g[0] -= 1.0 / a;
        g[2] += 1.0 / s - 1.0 / a;
        (ln_s - ln_a + l1 + one_minus_q.ln(), g, q, one_minus_q)
    } else {
        (f64::NEG_INFINITY, [0.0; 4], 0.0, 1.0)
    };
    Parts {
        alive,
        g_alive,
        left,
        g_left,
        q,
        one_minus_q,
    }
}

impl Parts {
    /// ln(e^alive + e^left), and each part's share of it: once per row, for
    /// its gradient and its Hessian.
    fn mix(&self) -> Mix {
        let (m, wa, wl) = log_add_exp(self.alive, self.left);
        Mix { m, wa, wl }
    }
}

#[derive(Clone, Copy)]
struct Mix {
    m: f64,
    wa: f64,
    wl: f64,
}

/// ln Γ(r + x), ψ(r + x) and ln(r + s + x): the parts of a row's
/// likelihood that depend on the parameters and x only.
#[derive(Clone, Copy)]
struct XTerms {
    ln_gamma_rx: f64,
    digamma_rx: f64,
    ln_a: f64,
}

fn x_terms(p: &[f64], x: f64) -> XTerms {
    XTerms {
        ln_gamma_rx: ln_gamma(p[0] + x),
        digamma_rx: digamma(p[0] + x),
        ln_a: (p[0] + p[2] + x).ln(),
    }
}

/// What depends on the parameters alone: ψ(r), ln α, ln β, ln s and
/// ln Γ(r), worked out once per chunk of rows rather than once per row.
#[derive(Clone, Copy)]
struct ParamTerms {
    digamma_r: f64,
    ln_alpha: f64,
    ln_beta: f64,
    ln_s: f64,
    ln_gamma_r: f64,
}

impl ParamTerms {
    fn new(p: &[f64]) -> ParamTerms {
        ParamTerms {
            digamma_r: digamma(p[0]),
            ln_alpha: p[1].ln(),
            ln_beta: p[3].ln(),
            ln_s: p[2].ln(),
            ln_gamma_r: ln_gamma(p[0]),
        }
    }
}

/// One row's log-likelihood, adding its weighted gradient into `grad`.
fn row_ll(
    p: &[f64],
    w: f64,
    grad: &mut [f64],
    parts: &Parts,
    Mix { m, wa, wl }: Mix,
    xt: XTerms,
    k: ParamTerms,
) -> f64 {
    let XTerms {
        ln_gamma_rx,
        digamma_rx,
        ..
    } = xt;
    let (r, alpha, s, beta) = (p[0], p[1], p[2], p[3]);
    let constant = [
        digamma_rx - k.digamma_r + k.ln_alpha,
        r / alpha,
        k.ln_beta,
        s / beta,
    ];
    for i in 0..4 {
        grad[i] += w * (constant[i] + wa * parts.g_alive[i] + wl * parts.g_left[i]);
    }
    ln_gamma_rx - k.ln_gamma_r + r * k.ln_alpha + s * k.ln_beta + m
}

/// One row's Hessian in (r, α, s, β): the constant terms' (with
/// `trigamma_rx` = ψ′(r+x) − ψ′(r)), and the log-sum-exp's,
/// wₐHₐ + wₗHₗ + wₐwₗ(∇alive − ∇left)(∇alive − ∇left)ᵀ, where
/// left = ln s − ln a + l₁ + ln(1 − e^(l₂−l₁)) from A₀'s two terms.
fn row_hess(
    p: &[f64],
    row: &Rft,
    (parts, mix): (&Parts, Mix),
    ends: [&End<Hess>; 2],
    trigamma_rx: f64,
) -> Hess {
    let (r, alpha, s, beta) = (p[0], p[1], p[2], p[3]);
    let Rft { x, t, .. } = *row;
    let mut h = [[0.0; 4]; 4];
    h[0][0] = trigamma_rx;
    (h[0][1], h[1][0], h[1][1]) = (1.0 / alpha, 1.0 / alpha, -r / (alpha * alpha));
    (h[2][3], h[3][2], h[3][3]) = (1.0 / beta, 1.0 / beta, -s / (beta * beta));
    let (at, bt) = (alpha + t, beta + t);
    let mut alive = [[0.0; 4]; 4];
    (alive[0][1], alive[1][0], alive[1][1]) = (-1.0 / at, -1.0 / at, (r + x) / (at * at));
    (alive[2][3], alive[3][2], alive[3][3]) = (-1.0 / bt, -1.0 / bt, s / (bt * bt));
    let [
        End {
            grad: g1, hess: h1, ..
        },
        End {
            grad: g2, hess: h2, ..
        },
    ] = ends;
    if !parts.left.is_finite() {
        for i in 0..4 {
            for j in 0..4 {
                h[i][j] += alive[i][j];
            }
        }
        return h;
    }
    let Mix { wa, wl, .. } = mix;
    let Parts { q, one_minus_q, .. } = *parts;
    // ln(1 − eᵘ), u = l₂ − l₁, has slope −q/(1−q) and curvature −q/(1−q)².
    let (slope, curve) = (-q / one_minus_q, -q / (one_minus_q * one_minus_q));
    let a = r + s + x;
    let mut left = [[0.0; 4]; 4];
    for i in 0..4 {
        for j in 0..4 {
            left[i][j] = h1[i][j]
                + slope * (h2[i][j] - h1[i][j])
                + curve * (g2[i] - g1[i]) * (g2[j] - g1[j]);
        }
    }
    // −ln a, a = r + s + x, and ln s.
    for (i, j) in [(0, 0), (0, 2), (2, 0), (2, 2)] {
        left[i][j] += 1.0 / (a * a);
    }
    left[2][2] -= 1.0 / (s * s);
    let d: [f64; 4] = std::array::from_fn(|i| parts.g_alive[i] - parts.g_left[i]);
    for i in 0..4 {
        for j in 0..4 {
            h[i][j] += wa * alive[i][j] + wl * left[i][j] + wa * wl * d[i] * d[j];
        }
    }
    h
}

type Hess = [[f64; 4]; 4];

impl Model for ParetoNbd {
    type Row = Rft;
    const NAME: &'static str = "pareto";
    const PARAMS: &'static [&'static str] = &["r", "alpha", "s", "beta"];

    const HESSIAN: bool = true;

    fn ll_grad(p: &[f64], row: &Rft, w: f64, grad: &mut [f64]) -> f64 {
        let parts = parts(p, row);
        let mix = parts.mix();
        row_ll(
            p,
            w,
            grad,
            &parts,
            mix,
            x_terms(p, row.x),
            ParamTerms::new(p),
        )
    }

    /// The ₂F₁ terms are shared by customers with the same x and tₓ (or T):
    /// computed once per thread and pass each.
    fn ll_grad_chunk(p: &[f64], rows: &[Rft], weights: &[f64], grad: &mut [f64]) -> f64 {
        let mut cache = XCache::new();
        let k = ParamTerms::new(p);
        with_memo(p, |memo| {
            let mut last = None;
            rows.iter()
                .zip(weights)
                .map(|(row, &w)| {
                    let xt = cache.get(row.x, || x_terms(p, row.x));
                    let (i, j) = memo.grad.of_row(row, &mut last, |end| term(p, row.x, end));
                    let ends = (&memo.grad.ends[i as usize], &memo.grad.ends[j as usize]);
                    let parts = parts_of(p, row, ends, (k.ln_s, xt.ln_a));
                    w * row_ll(p, w, grad, &parts, parts.mix(), xt, k)
                })
                .sum()
        })
    }

    /// [`Model::ll_grad_chunk`] with each row's [`row_hess`], from terms
    /// memoised with their Hessians.
    fn ll_grad_hess_chunk(
        p: &[f64],
        rows: &[Rft],
        weights: &[f64],
        grad: &mut [f64],
        hess: &mut [f64],
    ) -> f64 {
        let mut cache = XCache::new();
        let k = ParamTerms::new(p);
        let trigamma_r = trigamma(p[0]);
        let mut h = [[0.0; 4]; 4];
        let ll = with_memo(p, |memo| {
            let mut last = None;
            rows.iter()
                .zip(weights)
                .map(|(row, &w)| {
                    let (xt, trigamma_rx) =
                        cache.get(row.x, || (x_terms(p, row.x), trigamma(p[0] + row.x)));
                    let (i, j) = memo
                        .hess
                        .of_row(row, &mut last, |end| term_with::<true>(p, row.x, end));
                    let ends = [&memo.hess.ends[i as usize], &memo.hess.ends[j as usize]];
                    let parts = parts_of(p, row, (ends[0], ends[1]), (k.ln_s, xt.ln_a));
                    let mix = parts.mix();
                    let rh = row_hess(p, row, (&parts, mix), ends, trigamma_rx - trigamma_r);
                    for i in 0..4 {
                        for j in 0..4 {
                            h[i][j] += w * rh[i][j];
                        }
                    }
                    w * row_ll(p, w, grad, &parts, mix, xt, k)
                })
                .sum()
        });
        for i in 0..4 {
            for j in 0..4 {
                hess[i * 4 + j] += h[i][j];
            }
        }
        ll
    }

    fn start(rows: &[Rft]) -> Vec<f64> {
        let rate = repeat_rate(rows);
        vec![1.0, 1.0 / rate, 1.0, 1.0 / rate]
    }
}

impl ParetoParams {
    pub fn from_fit(fit: &Fit) -> ParetoParams {
        ParetoParams {
            r: fit.param("r"),
            alpha: fit.param("alpha"),
            s: fit.param("s"),
            beta: fit.param("beta"),
        }
    }

    fn as_slice(&self) -> [f64; 4] {
        [self.r, self.alpha, self.s, self.beta]
    }

    /// Simulates `n` customers, each observed for a T drawn by `age`.
    pub fn simulate(
        &self,
        n: usize,
        rng: &mut impl Rng,
        mut age: impl FnMut(&mut dyn rand::RngCore) -> f64,
    ) -> Vec<Rft> {
        let lambda = Gamma::new(self.r, 1.0 / self.alpha).expect("r, alpha > 0");
        let mu = Gamma::new(self.s, 1.0 / self.beta).expect("s, beta > 0");
        (0..n)
            .map(|_| {
                let t = age(rng);
                let lambda = lambda.sample(rng);
                let lifetime = -rng.random::<f64>().ln() / mu.sample(rng);
                let end = lifetime.min(t);
                let (mut x, mut t_x, mut now) = (0.0, 0.0, 0.0);
                loop {
                    now += -rng.random::<f64>().ln() / lambda;
                    if now > end {
                        break;
                    }
                    x += 1.0;
                    t_x = now;
                }
                Rft { x, t_x, t }
            })
            .collect()
    }
}

impl Counting for ParetoParams {
    fn p_alive(&self, row: &Rft) -> f64 {
        let parts = parts(&self.as_slice(), row);
        1.0 / (1.0 + (parts.left - parts.alive).exp())
    }

    /// Rows share their ₂F₁ terms, as in the fit.
    fn p_alive_all(&self, rows: &[Rft]) -> Vec<f64> {
        use rayon::prelude::*;
        let p = self.as_slice();
        let ln_s = p[2].ln();
        rows.par_chunks(2048)
            .flat_map_iter(|chunk| {
                with_memo(&p, |memo| {
                    let mut last = None;
                    chunk
                        .iter()
                        .map(|row| {
                            let (i, j) =
                                memo.grad.of_row(row, &mut last, |end| term(&p, row.x, end));
                            let ends = (&memo.grad.ends[i as usize], &memo.grad.ends[j as usize]);
                            let ln_a = (p[0] + p[2] + row.x).ln();
                            let parts = parts_of(&p, row, ends, (ln_s, ln_a));
                            1.0 / (1.0 + (parts.left - parts.alive).exp())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect()
    }

    /// FH (2005) eq. 22 without its P(alive) factor:
    /// (r+x)(β+T) / ((α+T)(s−1)) × [1 − ((β+T)/(β+T+t))^(s−1)].
    fn expected_if_alive(&self, x: f64, t: f64, horizons: &[f64]) -> Vec<f64> {
        let ParetoParams { r, alpha, s, beta } = *self;
        let rate = (r + x) * (beta + t) / ((alpha + t) * (s - 1.0));
        horizons
            .iter()
            .map(|&h| rate * (1.0 - ((beta + t) / (beta + t + h)).powf(s - 1.0)))
            .collect()
    }

    fn expected_new(&self, t: f64) -> f64 {
        let ParetoParams { r, alpha, s, beta } = *self;
        r * beta / (alpha * (s - 1.0)) * (1.0 - (beta / (beta + t)).powf(s - 1.0))
    }

    /// P(X(t) = x) as a mixture over the lifetime τ, whose Pareto/NBD law is
    /// Lomax: P(τ > u) = (β/(β+u))^s. While alive, purchases up to exposure
    /// e are NBD: Γ(r+x)/(Γ(r) x!) (α/(α+e))^r (e/(α+e))^x. So
    /// P(X(t) = x) = P(τ > t)·NBD(x; t) + ∫₀ᵗ NBD(x; u) f_τ(u) du, integrated
    /// by composite Gauss–Legendre: a smooth integrand, with no differences of
    /// large ₂F₁ terms to lose digits in.
    fn pmf(&self, t: f64, x: u32) -> Option<f64> {
        Some(self.pmf_range(t, x..x + 1)[0])
    }

    /// The nodes' logarithms and densities are shared by every x.
    fn pmf_below(&self, t: f64, top: u32) -> Option<Vec<f64>> {
        Some(self.pmf_range(t, 0..top))
    }
}

impl ParetoParams {
    /// [`Counting::pmf`] at each x of `xs`, from one pass over the nodes.
    fn pmf_range(&self, t: f64, xs: std::ops::Range<u32>) -> Vec<f64> {
        let ParetoParams { r, alpha, s, beta } = *self;
        if t <= 0.0 {
            return xs.map(|x| if x == 0 { 1.0 } else { 0.0 }).collect();
        }
        let ln_c: Vec<f64> = xs
            .clone()
            .map(|x| {
                let xf = f64::from(x);
                ln_gamma(r + xf) - ln_gamma(r) - ln_gamma(xf + 1.0)
            })
            .collect();
        // NBD(x; e) for each x, into `out`.
        let nbd = |e: f64, out: &mut Vec<f64>| {
            out.clear();
            if e <= 0.0 {
                out.extend(xs.clone().map(|x| if x == 0 { 1.0 } else { 0.0 }));
                return;
            }
            let (ln_stay, ln_buy) = ((alpha / (alpha + e)).ln(), (e / (alpha + e)).ln());
            out.extend(
                xs.clone()
                    .zip(&ln_c)
                    .map(|(x, c)| (c + r * ln_stay + f64::from(x) * ln_buy).exp()),
            );
        };
        let survive = |u: f64| (s * (beta / (beta + u)).ln()).exp();
        let density = |u: f64| s / (beta + u) * survive(u);
        static NODES: std::sync::OnceLock<Vec<(f64, f64)>> = std::sync::OnceLock::new();
        let nodes = NODES.get_or_init(|| crate::special::gauss_legendre(24));
        const PANELS: usize = 16;
        let h = t / PANELS as f64;
        let mut integral = vec![0.0; xs.len()];
        let (mut at, mut panel) = (Vec::new(), vec![0.0; xs.len()]);
        for k in 0..PANELS {
            let mid = (k as f64 + 0.5) * h;
            panel.iter_mut().for_each(|p| *p = 0.0);
            for &(z, w) in nodes {
                let u = mid + 0.5 * h * z;
                let d = density(u);
                nbd(u, &mut at);
                for (p, n) in panel.iter_mut().zip(&at) {
                    *p += w * n * d;
                }
            }
            for (i, p) in integral.iter_mut().zip(&panel) {
                *i += p * 0.5 * h;
            }
        }
        nbd(t, &mut at);
        let alive = survive(t);
        at.iter()
            .zip(integral)
            .map(|(n, i)| alive * n + i)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::{FitOptions, Weighted, assert_recovered, check_gradient, check_hessian, fit};
    use rand::SeedableRng;

    /// P(alive) over many chunks of sorted rows, sharing ₂F₁ terms, has the
    /// same bits as each row alone.
    #[test]
    fn p_alive_of_all_rows_equals_each_alone() {
        let params = ParetoParams {
            r: 0.55,
            alpha: 10.58,
            s: 0.61,
            beta: 11.67,
        };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let rows = params.simulate(6000, &mut rng, |rng| rng.random_range(20.0..40.0));
        let merged = Weighted::from_rows(&rows).rows;
        let all = params.p_alive_all(&merged);
        assert_eq!(all.len(), merged.len());
        for (row, got) in merged.iter().zip(all) {
            assert_eq!(got.to_bits(), params.p_alive(row).to_bits());
        }
    }

    fn rows() -> Vec<Rft> {
        crate::data::sample_rows()
    }

    /// The pmf adds up to 1, its mean is E[X(t)], and it matches the
    /// frequencies of customers simulated with the same parameters, in both
    /// of the likelihood's branches (α below and above β).
    #[test]
    fn pmf_sums_to_one_matches_the_mean_and_simulation() {
        for (p, t) in [
            ([0.553, 10.578, 0.606, 11.669], 39.0),
            ([0.8, 15.0, 0.7, 10.0], 78.0),
        ] {
            let m = ParetoParams {
                r: p[0],
                alpha: p[1],
                s: p[2],
                beta: p[3],
            };
            let probs: Vec<f64> = (0..3000).map(|x| m.pmf(t, x).unwrap()).collect();
            let total: f64 = probs.iter().sum();
            let mean: f64 = probs.iter().enumerate().map(|(x, q)| x as f64 * q).sum();
            assert!((total - 1.0).abs() < 1e-9, "{p:?}: total {total}");
            let want = m.expected_new(t);
            assert!(
                (mean - want).abs() < 1e-6 * want,
                "{p:?}: mean {mean} vs {want}"
            );
            let n = 200_000;
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
            let rows = m.simulate(n, &mut rng, |_| t);
            for x in 0..6 {
                let seen = rows.iter().filter(|r| r.x == f64::from(x)).count() as f64 / n as f64;
                let q = probs[x as usize];
                let se = (q * (1.0 - q) / n as f64).sqrt();
                assert!(
                    (seen - q).abs() < 4.0 * se,
                    "{p:?} x={x}: {seen} vs {q} ± {se}"
                );
            }
        }
    }

    /// All x at once give each x's bits, and the same at t = 0.
    #[test]
    fn pmf_below_is_each_pmf() {
        let m = ParetoParams {
            r: 0.553,
            alpha: 10.578,
            s: 0.606,
            beta: 11.669,
        };
        for t in [0.0, 3.5, 39.0, 700.0] {
            let each: Vec<f64> = (0..9).map(|x| m.pmf(t, x).unwrap()).collect();
            assert_eq!(m.pmf_below(t, 9).unwrap(), each);
        }
        // At t = 0 no repeat purchase has been made, with certainty.
        let at_zero = m.pmf_below(0.0, 3).unwrap();
        assert!(
            (at_zero[0] - 1.0).abs() < 1e-12 && at_zero[1..].iter().all(|&p| p.abs() < 1e-12),
            "{at_zero:?}"
        );
    }

    /// The chunk's shared terms give exactly the rows' own sums.
    #[test]
    fn shared_terms_change_nothing() {
        let mut rows = rows();
        rows.extend(rows.clone());
        let w: Vec<f64> = (0..rows.len()).map(|i| 1.0 + i as f64).collect();
        for p in [[0.55, 10.5, 0.6, 11.7], [0.55, 12.5, 0.6, 11.7]] {
            let (mut g1, mut g2) = (vec![0.0; 4], vec![0.0; 4]);
            let a = ParetoNbd::ll_grad_chunk(&p, &rows, &w, &mut g1);
            let b: f64 = rows
                .iter()
                .zip(&w)
                .map(|(r, &w)| w * ParetoNbd::ll_grad(&p, r, w, &mut g2))
                .sum();
            assert_eq!(a, b);
            assert_eq!(g1, g2);
        }
    }

    #[test]
    fn gradients_match_finite_differences_in_both_branches() {
        check_gradient::<ParetoNbd>(&[0.55, 10.58, 0.61, 11.67], &rows());
        check_gradient::<ParetoNbd>(&[0.55, 15.0, 0.61, 3.0], &rows());
        check_gradient::<ParetoNbd>(&[2.0, 1.0, 3.0, 40.0], &rows());
    }

    /// In both branches, and where α = β (z = 0, where ₂F₁'s derivatives in z
    /// are limits).
    #[test]
    fn hessians_match_differences_of_the_gradient() {
        check_hessian::<ParetoNbd>(&[0.55, 10.58, 0.61, 11.67], &rows());
        check_hessian::<ParetoNbd>(&[0.55, 15.0, 0.61, 3.0], &rows());
        check_hessian::<ParetoNbd>(&[2.0, 1.0, 3.0, 40.0], &rows());
        check_hessian::<ParetoNbd>(&[0.7, 9.0, 1.3, 9.0], &rows());
    }

    #[test]
    fn the_likelihood_is_continuous_where_alpha_meets_beta() {
        let mut g = [0.0; 4];
        for row in rows() {
            let below = ParetoNbd::ll_grad(&[0.5, 10.0 - 1e-9, 0.6, 10.0], &row, 1.0, &mut g);
            let above = ParetoNbd::ll_grad(&[0.5, 10.0 + 1e-9, 0.6, 10.0], &row, 1.0, &mut g);
            assert!((below - above).abs() < 1e-7, "{row:?}: {below} vs {above}");
        }
    }

    #[test]
    fn predictions_match_lifetimes() {
        // lifetimes 0.11.3 ParetoNBDFitter with these parameters.
        let p = ParetoParams {
            r: 0.5532745992646512,
            alpha: 10.57771938242198,
            s: 0.606283653012925,
            beta: 11.67047751488875,
        };
        let row = Rft {
            x: 2.0,
            t_x: 30.43,
            t: 38.86,
        };
        assert!((p.expected(&row, 39.0) - 1.455_078_181_546_434_4).abs() < 1e-9);
        assert!((p.p_alive(&row) - 0.869_111_617_763_695_4).abs() < 1e-10);
        assert!((p.expected_new(39.0) - 1.213_408_019_534_825_4).abs() < 1e-10);
    }

    #[test]
    fn parameters_are_recovered_from_simulated_customers() {
        let truth = ParetoParams {
            r: 0.9,
            alpha: 8.0,
            s: 0.7,
            beta: 12.0,
        };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let rows = truth.simulate(8000, &mut rng, |rng| 20.0 + 40.0 * rng.random::<f64>());
        let f = fit::<ParetoNbd>(&Weighted::from_rows(&rows), &FitOptions::default()).unwrap();
        assert_recovered(&f, &truth.as_slice());
    }
}
