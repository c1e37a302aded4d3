//! Maximum likelihood over weighted rows: L-BFGS (argmin) on the log scale of
//! the parameters, polished by Newton steps on a Hessian taken from the
//! analytic gradient, which also gives the standard errors.

use argmin::core::{CostFunction, Executor, Gradient, State};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use rayon::prelude::*;

use crate::error::ClvError;
use crate::linalg::invert;

/// A model's log-likelihood, one row at a time.
pub trait Model: Sync {
    /// What one customer's history looks like to this model.
    type Row: Copy + Send + Sync;
    /// The model's name as the command line spells it.
    const NAME: &'static str;
    /// The parameters under their usual names, in the order of `ll_grad`.
    const PARAMS: &'static [&'static str];

    /// The log-likelihood of one row at the (positive) parameters `p`, adding its
    /// gradient with respect to `p`, times `weight`, into `grad`.
    fn ll_grad(p: &[f64], row: &Self::Row, weight: f64, grad: &mut [f64]) -> f64;

    /// Σ weight · ll over a chunk of rows, adding the weighted gradient into
    /// `grad`. Models override it to share the work that depends only on the
    /// parameters and on x across the rows.
    fn ll_grad_chunk(p: &[f64], rows: &[Self::Row], weights: &[f64], grad: &mut [f64]) -> f64 {
        rows.iter()
            .zip(weights)
            .map(|(row, &w)| w * Self::ll_grad(p, row, w, grad))
            .sum()
    }

    /// Whether [`Model::ll_grad_hess_chunk`] gives the Hessian. Without it,
    /// each Hessian costs one pass over the data per parameter (forward
    /// differences of the gradient); with it, one pass in all.
    const HESSIAN: bool = false;

    /// [`Model::ll_grad_chunk`], also adding the weighted Hessian of the
    /// log-likelihood (k × k, by rows) into `hess`. Called only when
    /// [`Model::HESSIAN`] is set.
    fn ll_grad_hess_chunk(
        p: &[f64],
        rows: &[Self::Row],
        weights: &[f64],
        grad: &mut [f64],
        _hess: &mut [f64],
    ) -> f64 {
        Self::ll_grad_chunk(p, rows, weights, grad)
    }

    /// Where the search starts, as parameters (not logs).
    fn start(_rows: &[Self::Row]) -> Vec<f64> {
        vec![1.0; Self::PARAMS.len()]
    }
}

/// How to fit.
#[derive(Clone, Debug)]
pub struct FitOptions {
    /// Adds `penalizer × Σ θ²` to the mean negative log-likelihood, as `lifetimes`
    /// does; 0 (the default) is plain maximum likelihood.
    pub penalizer: f64,
    pub max_iters: u64,
    /// With more distinct rows than twice this, start from a fit to a
    /// sample of about this many rows (0: never).
    pub sample_rows: usize,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            penalizer: 0.0,
            max_iters: 1000,
            sample_rows: 40_000,
        }
    }
}

/// A fitted model.
#[derive(Clone, Debug)]
pub struct Fit {
    pub model: &'static str,
    pub names: &'static [&'static str],
    pub params: Vec<f64>,
    /// Standard errors from the inverse Hessian (NaN where it is singular).
    pub std_errors: Vec<f64>,
    /// The log-likelihood of all customers at `params`, without the penalty.
    pub log_likelihood: f64,
    /// Customers (the sum of the weights).
    pub n: f64,
    pub aic: f64,
    pub bic: f64,
    pub iterations: u64,
    /// Passes over the data (likelihood and gradient evaluations).
    pub evaluations: u64,
    /// The gradient's largest entry at the end (of the mean, on the log scale).
    pub gradient_norm: f64,
}

impl Fit {
    pub fn param(&self, name: &str) -> f64 {
        let i = self
            .names
            .iter()
            .position(|n| *n == name)
            .expect("parameter name");
        self.params[i]
    }
}

/// Weighted rows: identical histories merged, each with how many customers had it.
#[derive(Clone, Debug)]
pub struct Weighted<R> {
    pub rows: Vec<R>,
    pub weights: Vec<f64>,
}

impl<R> Weighted<R> {
    /// Each row with a weight of one: for rows that seldom repeat, such as
    /// (x, mean spend), where merging would hash every row for nothing.
    pub fn unmerged(rows: Vec<R>) -> Self {
        let weights = vec![1.0; rows.len()];
        Weighted { rows, weights }
    }

    pub fn total(&self) -> f64 {
        self.weights.iter().sum()
    }
}

struct Problem<'a, M: Model> {
    data: &'a Weighted<M::Row>,
    total: f64,
    penalizer: f64,
    evaluations: &'a std::sync::atomic::AtomicU64,
    /// The last point L-BFGS asked about, with the objective and gradient
    /// there: it asks for the cost and the gradient at a point separately,
    /// and one pass over the data gives both.
    last: std::sync::Mutex<Option<Evaluated>>,
}

/// A point on the log scale, with the objective and its gradient there.
type Evaluated = (Vec<f64>, f64, Vec<f64>);

impl<M: Model> Problem<'_, M> {
    /// [`Problem::objective`], remembered for the last point.
    fn remembered(&self, phi: &[f64]) -> (f64, Vec<f64>) {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, c, g)) = last.as_ref()
            && at.as_slice() == phi
        {
            return (*c, g.clone());
        }
        let (c, g) = self.objective(phi);
        *last = Some((phi.to_vec(), c, g.clone()));
        (c, g)
    }

    /// Σ w·ll and Σ w·∇ll at parameters `p`, and with `hess` the Hessian
    /// Σ w·∇²ll (k × k, by rows; empty without).
    fn ll_sum(&self, p: &[f64], hess: bool) -> (f64, Vec<f64>, Vec<f64>) {
        self.evaluations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let k = p.len();
        let kk = if hess { k * k } else { 0 };
        let rows = &self.data.rows;
        let weights = &self.data.weights;
        // Chunks summed in order, whichever thread computed them: the same
        // data give the same sums to the last bit, hence the same fit.
        let parts: Vec<(f64, Vec<f64>, Vec<f64>)> = rows
            .par_chunks(2048)
            .zip(weights.par_chunks(2048))
            .map(|(rows, weights)| {
                let mut g = vec![0.0; k];
                let mut h = vec![0.0; kk];
                let ll = if hess {
                    M::ll_grad_hess_chunk(p, rows, weights, &mut g, &mut h)
                } else {
                    M::ll_grad_chunk(p, rows, weights, &mut g)
                };
                (ll, g, h)
            })
            .collect();
        parts.into_iter().fold(
            (0.0, vec![0.0; k], vec![0.0; kk]),
            |(a, mut ga, mut ha), (b, gb, hb)| {
                ga.iter_mut().zip(gb).for_each(|(x, y)| *x += y);
                ha.iter_mut().zip(hb).for_each(|(x, y)| *x += y);
                (a + b, ga, ha)
            },
        )
    }

    /// The objective on the log scale and its gradient there.
    fn objective(&self, phi: &[f64]) -> (f64, Vec<f64>) {
        let (c, g, _) = self.evaluate(phi, false);
        (c, g)
    }

    /// [`Problem::objective`], and with `hess` (for a model with
    /// [`Model::HESSIAN`]) its Hessian on the log scale from the same pass.
    fn evaluate(&self, phi: &[f64], hess: bool) -> (f64, Vec<f64>, Option<Vec<Vec<f64>>>) {
        let k = phi.len();
        let p: Vec<f64> = phi.iter().map(|v| v.exp()).collect();
        let hess = hess && M::HESSIAN;
        let (ll, g, h) = self.ll_sum(&p, hess);
        let penalty: f64 = p.iter().map(|v| v * v).sum::<f64>() * self.penalizer;
        let cost = -ll / self.total + penalty;
        // The gradient in p, then on the log scale (pᵢ = e^φᵢ).
        let dp: Vec<f64> = g
            .iter()
            .zip(&p)
            .map(|(gi, pi)| -gi / self.total + 2.0 * self.penalizer * pi)
            .collect();
        let grad = dp.iter().zip(&p).map(|(d, pi)| d * pi).collect();
        if !cost.is_finite() {
            return (f64::MAX, vec![0.0; k], None);
        }
        // ∂²/∂φᵢ∂φⱼ = pᵢ pⱼ ∂²/∂pᵢ∂pⱼ + δᵢⱼ pᵢ ∂/∂pᵢ.
        let hess = hess.then(|| {
            (0..k)
                .map(|i| {
                    (0..k)
                        .map(|j| {
                            let in_p = -h[i * k + j] / self.total
                                + if i == j { 2.0 * self.penalizer } else { 0.0 };
                            p[i] * p[j] * in_p + if i == j { dp[i] * p[i] } else { 0.0 }
                        })
                        .collect()
                })
                .collect()
        });
        (cost, grad, hess)
    }

    /// The Hessian of the objective on the log scale, by central differences
    /// of the analytic gradient: two passes over the data per parameter.
    /// Their error is of order step² (1e-8 here) plus the gradient's
    /// rounding over the step; forward differences, one pass a parameter,
    /// were of order step, and with a step small enough for that (1e-6)
    /// the rounding moved BG/BB's standard errors in their fourth digit.
    /// A model with [`Model::HESSIAN`] gives it in one pass instead.
    fn hessian(&self, phi: &[f64]) -> Vec<Vec<f64>> {
        if M::HESSIAN
            && let (_, _, Some(h)) = self.evaluate(phi, true)
        {
            return h;
        }
        let k = phi.len();
        let h = 1e-4;
        let mut hess = vec![vec![0.0; k]; k];
        for j in 0..k {
            let at = |d: f64| {
                let mut moved = phi.to_vec();
                moved[j] += d;
                self.objective(&moved).1
            };
            let (up, down) = (at(h), at(-h));
            for i in 0..k {
                hess[i][j] = (up[i] - down[i]) / (2.0 * h);
            }
        }
        for i in 0..k {
            for j in 0..i {
                let m = 0.5 * (hess[i][j] + hess[j][i]);
                hess[i][j] = m;
                hess[j][i] = m;
            }
        }
        hess
    }
}

impl<M: Model> CostFunction for &Problem<'_, M> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, phi: &Self::Param) -> Result<f64, argmin::core::Error> {
        Ok(self.remembered(phi).0)
    }
}

impl<M: Model> Gradient for &Problem<'_, M> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, phi: &Self::Param) -> Result<Vec<f64>, argmin::core::Error> {
        Ok(self.remembered(phi).1)
    }
}

fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0, |m, x| m.max(x.abs()))
}

/// About `rows` customers' worth of the data (of its total weight, not of
/// its merged rows, which may weigh many customers each), spread evenly
/// over it: with f = rows / total and Cᵢ the running sum of f·wᵢ, row i
/// keeps ⌊Cᵢ + ½⌋ − ⌊Cᵢ₋₁ + ½⌋ of its weight, f·wᵢ on average. Rows come
/// sorted by their key, so that this is a sample stratified by history,
/// and it draws no random numbers.
fn sample<R: Copy>(data: &Weighted<R>, rows: usize) -> Weighted<R> {
    let f = (rows as f64 / data.total()).min(1.0);
    let mut out = Weighted {
        rows: Vec::with_capacity(rows),
        weights: Vec::with_capacity(rows),
    };
    let (mut sum, mut kept) = (0.5, 0.0);
    for (row, w) in data.rows.iter().zip(&data.weights) {
        sum += w * f;
        let now = sum.floor();
        if now > kept {
            out.rows.push(*row);
            out.weights.push(now - kept);
            kept = now;
        }
    }
    out
}

/// For large data: the optimum of a sample, then steps on all rows with the
/// sample's Hessian (its mean objective has nearly the same curvature), each
/// costing one pass instead of an L-BFGS line search's several. `None` when
/// the data are small or the sample does not fit.
fn warm_start<M: Model>(problem: &Problem<'_, M>, options: &FitOptions) -> Option<(Vec<f64>, u64)> {
    if options.sample_rows == 0 || problem.data.rows.len() < 2 * options.sample_rows {
        return None;
    }
    // A tenth of the rows, up to 200,000: with more rows the full optimum is
    // sharper, and a larger sample's curvature takes fewer steps to reach it.
    let n = (problem.data.rows.len() / 10).clamp(options.sample_rows, 200_000);
    let sample = sample(problem.data, n);
    let rough = fit::<M>(&sample, options).ok()?;
    let mut phi: Vec<f64> = rough.params.iter().map(|p| p.ln()).collect();
    if M::HESSIAN {
        // Newton's steps with the model's own Hessian of all rows, one pass
        // each, do better than these.
        return Some((phi, rough.iterations));
    }
    let uncounted = std::sync::atomic::AtomicU64::new(0);
    let sub = Problem::<M> {
        data: &sample,
        total: sample.total(),
        penalizer: problem.penalizer,
        evaluations: &uncounted,
        last: Default::default(),
    };
    let inv = invert(&sub.hessian(&phi))?;
    let (mut cost, mut grad) = problem.remembered(&phi);
    let mut iterations = rough.iterations;
    for _ in 0..50 {
        if max_abs(&grad) < 1e-12 {
            break;
        }
        iterations += 1;
        let step: Vec<f64> = (0..phi.len())
            .map(|i| -(0..phi.len()).map(|j| inv[i][j] * grad[j]).sum::<f64>())
            .collect();
        let trial: Vec<f64> = phi.iter().zip(&step).map(|(p, s)| p + s).collect();
        let (c, g) = problem.remembered(&trial);
        // Linear convergence, by the Hessians' mismatch: stop when a step no
        // longer halves the gradient, and let Newton's method finish.
        let halved = max_abs(&g) < 0.5 * max_abs(&grad);
        if c > cost || !max_abs(&g).is_finite() {
            break;
        }
        (phi, cost, grad) = (trial, c, g);
        if !halved {
            break;
        }
    }
    Some((phi, iterations))
}

/// L-BFGS from `start` (parameters, not logs).
fn lbfgs<M: Model>(
    problem: &Problem<'_, M>,
    start: Vec<f64>,
    options: &FitOptions,
) -> Result<(Vec<f64>, u64), ClvError> {
    let start: Vec<f64> = start.iter().map(|v| v.ln()).collect();
    let linesearch = MoreThuenteLineSearch::new();
    let solver = LBFGS::new(linesearch, 10)
        .with_tolerance_grad(1e-6)
        .and_then(|s| s.with_tolerance_cost(1e-14))
        .map_err(|e| ClvError::Optimizer(e.to_string()))?;
    let result = Executor::new(problem, solver)
        .configure(|state| state.param(start.clone()).max_iters(options.max_iters))
        .run();
    Ok(match result {
        Ok(mut res) => {
            let iters = res.state().get_iter();
            (res.state.take_best_param().unwrap_or(start), iters)
        }
        // A failed line search near the optimum still leaves a usable point for
        // the Newton steps that follow; a failure anywhere else shows in the gradient.
        Err(_) => (start, 0),
    })
}

/// A Hessian in use, where it was taken, and its inverse.
type Curvature = (Vec<f64>, Vec<Vec<f64>>, Vec<Vec<f64>>);

/// Newton polish: L-BFGS stops on small steps; a few Newton steps take the
/// gradient down to rounding, which makes fits reproducible to many digits.
/// Returns where they ended, the objective and gradient there, and the last
/// Hessian taken, where it was taken.
/// The relative change in every parameter below which Newton's polish has
/// nothing left to do.
const STEP_DONE: f64 = 1e-8;

fn newton<M: Model>(
    problem: &Problem<'_, M>,
    mut phi: Vec<f64>,
) -> (Vec<f64>, f64, Vec<f64>, Option<Curvature>) {
    // A Hessian serves for as many steps as each shrinks the gradient tenfold
    // (near the optimum it hardly changes, and each new one costs a pass per
    // parameter); when a step with an older one does not, a new one is taken
    // and the step tried again. A step that does not shrink the gradient
    // tenfold with a new Hessian means rounding has been reached: stop there.
    // Where the search ended was most often its last evaluation: remembered.
    // A model with its own Hessian (`Model::HESSIAN`) has one with every
    // step, from the same pass: each Newton step then costs one pass.
    let (mut cost, mut grad, mut last) = if M::HESSIAN {
        let (c, g, h) = problem.evaluate(&phi, true);
        let last: Option<Curvature> = h.and_then(|h| {
            let inv = invert(&h)?;
            Some((phi.clone(), h, inv))
        });
        (c, g, last)
    } else {
        let (c, g) = problem.remembered(&phi);
        (c, g, None)
    };
    for _ in 0..8 {
        if max_abs(&grad) < 1e-12 {
            break;
        }
        if last.is_none() {
            let hess = problem.hessian(&phi);
            let Some(inv) = invert(&hess) else { break };
            last = Some((phi.clone(), hess, inv));
        }
        let Some((at, _, inv)) = last.as_ref() else {
            break;
        };
        let new = at == &phi;
        let step: Vec<f64> = (0..phi.len())
            .map(|i| -(0..phi.len()).map(|j| inv[i][j] * grad[j]).sum::<f64>())
            .collect();
        // With the Hessian at this very point, a step that would move every
        // parameter by less than 1e-8 of itself (φ is its log) changes
        // nothing a report shows: a pass over the data saved.
        if new && max_abs(&step) < STEP_DONE {
            break;
        }
        let mut scale = 1.0;
        let mut improved = false;
        let mut next = None;
        for _ in 0..30 {
            let trial: Vec<f64> = phi.iter().zip(&step).map(|(p, s)| p + scale * s).collect();
            // A model's own Hessian comes with the step's pass, ready for
            // the next step (and the standard errors) at no further pass.
            let (c, g, h) = problem.evaluate(&trial, true);
            // Near the optimum the cost is flat to within its rounding (a
            // mean of many logs): there a step that shrinks the gradient is
            // taken even if the cost came out a hair higher, rather than
            // halved until the rounding happens to fall the other way.
            let flat = c - cost <= 1e-12 * cost.abs() && max_abs(&g) < max_abs(&grad);
            if (c <= cost || flat) && max_abs(&g).is_finite() {
                improved = max_abs(&g) < 0.1 * max_abs(&grad);
                if let Some(h) = h
                    && let Some(inv) = invert(&h)
                {
                    next = Some((trial.clone(), h, inv));
                }
                phi = trial;
                cost = c;
                grad = g;
                break;
            }
            scale *= 0.5;
        }
        // With the model's own Hessian, a step that fell short of tenfold
        // but moved to a better point has the next Hessian ready: go on
        // unless the gradient is down to rounding already.
        let go_on = next.is_some() && max_abs(&grad) > 1e-9;
        if !improved && new && !go_on {
            break;
        }
        if next.is_some() {
            last = next;
        } else if !improved {
            last = None;
        }
    }

    (phi, cost, grad, last)
}

/// Fits model `M` to weighted rows by penalised maximum likelihood.
pub fn fit<M: Model>(data: &Weighted<M::Row>, options: &FitOptions) -> Result<Fit, ClvError> {
    let total = data.total();
    if data.rows.is_empty() || total <= 0.0 {
        return Err(ClvError::Empty);
    }
    let evaluations = std::sync::atomic::AtomicU64::new(0);
    let problem = Problem::<M> {
        data,
        total,
        penalizer: options.penalizer,
        evaluations: &evaluations,
        last: Default::default(),
    };
    let (phi, iterations) = match warm_start::<M>(&problem, options) {
        Some(w) => w,
        None => lbfgs(&problem, M::start(&data.rows), options)?,
    };

    let (phi, cost, grad, last) = newton(&problem, phi);

    if !cost.is_finite() || cost == f64::MAX {
        return Err(ClvError::NotConverged {
            model: M::NAME,
            reason: "the likelihood is not finite".into(),
        });
    }
    let gradient_norm = max_abs(&grad);
    if gradient_norm > 1e-4 {
        return Err(ClvError::NotConverged {
            model: M::NAME,
            reason: format!(
                "the gradient is still {gradient_norm:.2e} after {iterations} iterations"
            ),
        });
    }

    let params: Vec<f64> = phi.iter().map(|v| v.exp()).collect();
    let penalty: f64 = params.iter().map(|v| v * v).sum::<f64>() * options.penalizer;
    let ll = -(cost - penalty) * total;
    // The Hessian of the total negative log-likelihood is `total` times that of
    // the mean; the delta method carries log-scale errors to the parameters.
    // The last Newton Hessian serves when it was taken within 1e-6 of the
    // optimum (on the log scale): the errors then differ in the sixth digit.
    let hess = match last {
        Some((at, h, _)) if at.iter().zip(&phi).all(|(a, b)| (a - b).abs() < 1e-6) => h,
        _ => problem.hessian(&phi),
    };
    let hess: Vec<Vec<f64>> = hess
        .into_iter()
        .map(|row| row.into_iter().map(|v| v * total).collect())
        .collect();
    let std_errors = match invert(&hess) {
        Some(cov) => params
            .iter()
            .enumerate()
            .map(|(i, p)| p * cov[i][i].max(0.0).sqrt())
            .collect(),
        None => vec![f64::NAN; params.len()],
    };
    let k = params.len() as f64;
    Ok(Fit {
        model: M::NAME,
        names: M::PARAMS,
        params,
        std_errors,
        log_likelihood: ll,
        n: total,
        aic: 2.0 * k - 2.0 * ll,
        bic: k * total.ln() - 2.0 * ll,
        iterations,
        evaluations: evaluations.load(std::sync::atomic::Ordering::Relaxed),
        gradient_norm,
    })
}

/// Asserts that each fitted parameter lies within 2.5 standard errors of the
/// value the data were simulated with.
#[cfg(test)]
pub(crate) fn assert_recovered(f: &Fit, truth: &[f64]) {
    for (i, want) in truth.iter().enumerate() {
        let z = (f.params[i] - want) / f.std_errors[i];
        assert!(
            z.abs() < 2.5,
            "{} {}: fitted {} ± {}, truth {want}",
            f.model,
            f.names[i],
            f.params[i],
            f.std_errors[i]
        );
    }
}

/// Fits `data` from the default start and from a sample of 10,000 rows'
/// worth, asserts that both reach the same parameters (to `tol`) and
/// standard errors (to `se_tol`, relative), and returns both fits.
#[cfg(test)]
pub(crate) fn fit_with_and_without_sample<M: Model>(
    data: &Weighted<M::Row>,
    tol: f64,
    se_tol: f64,
) -> (Fit, Fit) {
    let plain = FitOptions {
        sample_rows: 0,
        ..FitOptions::default()
    };
    let warm = FitOptions {
        sample_rows: 10_000,
        ..FitOptions::default()
    };
    let (a, b) = (
        fit::<M>(data, &plain).unwrap(),
        fit::<M>(data, &warm).unwrap(),
    );
    for i in 0..a.params.len() {
        let rel = (a.params[i] - b.params[i]).abs() / a.params[i];
        assert!(
            rel < tol,
            "{}: {} vs {}",
            a.names[i],
            a.params[i],
            b.params[i]
        );
        let rel = (a.std_errors[i] - b.std_errors[i]).abs() / a.std_errors[i];
        let (sa, sb) = (a.std_errors[i], b.std_errors[i]);
        assert!(rel < se_tol, "{} SE: {sa} vs {sb}", a.names[i]);
    }
    (a, b)
}

/// Checks an analytic gradient against central differences of the
/// log-likelihood; for the models' tests.
#[cfg(test)]
pub(crate) fn check_gradient<M: Model>(p: &[f64], rows: &[M::Row]) {
    for row in rows {
        let mut g = vec![0.0; p.len()];
        M::ll_grad(p, row, 1.0, &mut g);
        for i in 0..p.len() {
            let h = 1e-6 * p[i];
            let mut up = p.to_vec();
            up[i] += h;
            let mut down = p.to_vec();
            down[i] -= h;
            let mut scratch = vec![0.0; p.len()];
            let num = (M::ll_grad(&up, row, 1.0, &mut scratch)
                - M::ll_grad(&down, row, 1.0, &mut scratch))
                / (2.0 * h);
            assert!(
                (g[i] - num).abs() <= 1e-5 * (1.0 + num.abs()),
                "{} d/d{}: analytic {} vs numeric {} at {p:?}",
                M::NAME,
                M::PARAMS[i],
                g[i],
                num
            );
        }
    }
}

/// Checks a model's Hessian against central differences of its gradient,
/// over rows of several x and in one chunk; for the models' tests.
#[cfg(test)]
pub(crate) fn check_hessian<M: Model>(p: &[f64], rows: &[M::Row]) {
    let k = p.len();
    let w = vec![1.0; rows.len()];
    let mut g = vec![0.0; k];
    let mut h = vec![0.0; k * k];
    let ll = M::ll_grad_hess_chunk(p, rows, &w, &mut g, &mut h);
    let mut g_alone = vec![0.0; k];
    let ll_alone = M::ll_grad_chunk(p, rows, &w, &mut g_alone);
    assert_eq!(
        (ll, &g),
        (ll_alone, &g_alone),
        "{}: ll and gradient",
        M::NAME
    );
    for j in 0..k {
        let step = 1e-6 * p[j];
        let grad_at = |d: f64| {
            let mut at = p.to_vec();
            at[j] += d;
            let mut g = vec![0.0; k];
            M::ll_grad_chunk(&at, rows, &w, &mut g);
            g
        };
        let (up, down) = (grad_at(step), grad_at(-step));
        for i in 0..k {
            let num = (up[i] - down[i]) / (2.0 * step);
            assert!(
                (h[i * k + j] - num).abs() <= 1e-5 * (1.0 + num.abs()),
                "{} d²/d{}d{}: analytic {} vs numeric {num} at {p:?}",
                M::NAME,
                M::PARAMS[i],
                M::PARAMS[j],
                h[i * k + j],
            );
        }
    }
}

/// Per-chunk memo of the terms that depend on the parameters and a whole
/// number x only (log-gammas and digammas): customers share few values of x.
pub(crate) struct XCache<T> {
    slots: Vec<Option<T>>,
}

impl<T: Copy> XCache<T> {
    pub(crate) fn new() -> Self {
        XCache { slots: Vec::new() }
    }

    pub(crate) fn get(&mut self, x: f64, make: impl FnOnce() -> T) -> T {
        // A cast and a compare: `fract` is a call into libm.
        let i = x as usize;
        if i as f64 != x || i >= 4096 {
            return make();
        }
        if i >= self.slots.len() {
            self.slots.resize(i + 1, None);
        }
        *self.slots[i].get_or_insert_with(make)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where [`Noisy`]'s polish starts: near its optimum, p = 2.
    /// Its cost is 1e-14 above the optimum's, under the noise, and a step
    /// from it moves p by more than [`STEP_DONE`].
    const START: f64 = 2.0 + 1e-7;

    /// A smooth objective in one parameter, optimum at p = 2, whose value
    /// carries rounding-sized noise (as a real fit's mean of many logs
    /// does) that its gradient and Hessian do not. The noise is lowest at
    /// the start, so that no step from there lowers the value.
    struct Noisy;

    impl Model for Noisy {
        type Row = ();
        const NAME: &'static str = "noisy";
        const PARAMS: &'static [&'static str] = &["p"];
        const HESSIAN: bool = true;

        fn ll_grad(p: &[f64], _row: &(), w: f64, grad: &mut [f64]) -> f64 {
            let d = p[0] - 2.0;
            grad[0] += w * -2.0 * d;
            let noise = if p[0] == START { 0.0 } else { 4e-14 };
            -5.0 - d * d - noise
        }

        fn ll_grad_hess_chunk(
            p: &[f64],
            rows: &[()],
            weights: &[f64],
            grad: &mut [f64],
            hess: &mut [f64],
        ) -> f64 {
            hess[0] += weights.iter().sum::<f64>() * -2.0;
            Self::ll_grad_chunk(p, rows, weights, grad)
        }
    }

    /// Plain maximum likelihood over `data`, counting passes into `evaluations`.
    fn unpenalised<'a, M: Model>(
        data: &'a Weighted<M::Row>,
        evaluations: &'a std::sync::atomic::AtomicU64,
    ) -> Problem<'a, M> {
        Problem {
            data,
            total: data.total(),
            penalizer: 0.0,
            evaluations,
            last: Default::default(),
        }
    }

    /// Two parameters, without a Hessian of its own.
    struct Plain;

    impl Model for Plain {
        type Row = ();
        const NAME: &'static str = "plain";
        const PARAMS: &'static [&'static str] = &["p", "q"];

        fn ll_grad(p: &[f64], _row: &(), w: f64, grad: &mut [f64]) -> f64 {
            let (d, e) = (p[0] - 2.0, p[1] - 3.0);
            grad[0] += w * -2.0 * d;
            grad[1] += w * -4.0 * e;
            -d * d - 2.0 * e * e
        }
    }

    /// Closer than a step of [`STEP_DONE`], the polish takes no step: one pass.
    #[test]
    fn newton_takes_no_step_that_would_change_nothing() {
        let data = Weighted::unmerged(vec![(); 3]);
        let evaluations = std::sync::atomic::AtomicU64::new(0);
        let problem = unpenalised::<Noisy>(&data, &evaluations);
        let start = (2.0 + 1e-9f64).ln();
        let (phi, _, _, _) = newton(&problem, vec![start]);
        assert_eq!(phi, [start]);
        assert_eq!(evaluations.load(std::sync::atomic::Ordering::Relaxed), 1);
    }

    #[test]
    fn a_hessian_by_differences_costs_two_passes_per_parameter() {
        let data = Weighted::unmerged(vec![(); 2]);
        let evaluations = std::sync::atomic::AtomicU64::new(0);
        let problem = unpenalised::<Plain>(&data, &evaluations);
        let phi = [2f64.ln(), 3f64.ln()];
        let h = problem.hessian(&phi);
        assert_eq!(evaluations.load(std::sync::atomic::Ordering::Relaxed), 4);
        // At the optimum, ∂²/∂φ² = p² · ∂²/∂p² of the mean cost: 2·4 and
        // 4·9, less the differences' error, step²/6 times the fourth
        // derivative (56 and 252): 9.3e-8 and 4.2e-7.
        assert!((h[0][0] - 8.0 - 56e-8 / 6.0).abs() < 1e-9);
        assert!((h[1][1] - 36.0 - 252e-8 / 6.0).abs() < 1e-9);
        assert!(h[0][1].abs() < 1e-9);
    }

    #[test]
    fn newton_steps_end_at_rounding_in_few_passes() {
        let data = Weighted::unmerged(vec![(); 3]);
        let evaluations = std::sync::atomic::AtomicU64::new(0);
        let problem = unpenalised::<Noisy>(&data, &evaluations);
        let (phi, _, grad, last) = newton(&problem, vec![START.ln()]);
        let p = phi[0].exp();
        assert!((p - 2.0).abs() < 1e-12, "p = {p}");
        assert!(max_abs(&grad) < 1e-12, "gradient {grad:?}");
        // The Hessian at the end came with the last step.
        assert!(last.is_some_and(|(at, _, _)| at == phi));
        let n = evaluations.load(std::sync::atomic::Ordering::Relaxed);
        assert!(n <= 3, "{n} passes");
    }
}
