//! Implicit-feedback matrix factorisation: alternating least squares with
//! conjugate-gradient steps.
//!
//! Each user u and item i get f factors; the loss is
//! Σ c_ui (p_ui − x_u·y_i)² + λ (Σ|x_u|² + Σ|y_i|²), over every cell, with
//! p_ui = 1 and c_ui = α·r_ui where the user has the item, and p = 0, c = 1
//! elsewhere (Hu, Koren and Volinsky 2008). Fixing the items, each user's
//! factors solve (YᵀY + Yᵀ(C_u − I)Y + λI) x_u = Yᵀ C_u p_u; YᵀY is made
//! once per sweep, so a user costs their own items only. The system is not
//! solved exactly: a few conjugate-gradient steps from the last sweep's
//! factors (Takács, Pilászy and Tikk 2011) come as close, faster.

use rayon::prelude::*;

use crate::{Error, Interactions, Recommender, top_n};

/// How to fit.
#[derive(Debug, Clone, PartialEq)]
pub struct Als {
    pub factors: usize,
    pub iterations: usize,
    /// λ.
    pub regularization: f32,
    /// α: a cell's value times α is its confidence.
    pub alpha: f32,
    /// Conjugate-gradient steps per user (or item) per sweep.
    pub cg_steps: usize,
    /// The starting factors' seed.
    pub seed: u64,
}

/// 32 factors and λ = 10: on a shop's sparse orders (most customers with
/// a few products) a small λ lets every customer's factors fit their few
/// products and little else. Measured on the demo shop and MovieLens-100K
/// against λ from 0.01 to 20 and 4 to 64 factors (docs/benchmarks.md).
impl Default for Als {
    fn default() -> Self {
        Als {
            factors: 32,
            iterations: 15,
            regularization: 10.0,
            alpha: 1.0,
            cg_steps: 3,
            seed: 42,
        }
    }
}

/// Fitted factors, row-major.
#[derive(Debug, Clone)]
pub struct AlsModel {
    pub factors: usize,
    pub users: Vec<f32>,
    pub items: Vec<f32>,
}

#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Eight lanes, so that the compiler keeps them in vector registers.
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

#[inline(always)]
fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

/// M·v for a symmetric f × f matrix `m`, into `out`: the sum of v's
/// entries times M's rows (Mᵀv, which is Mv), with no sum across lanes.
fn gemv(m: &[f32], v: &[f32], out: &mut [f32]) {
    let f = v.len();
    out.fill(0.0);
    for (a, &va) in v.iter().enumerate() {
        axpy(out, va, &m[a * f..(a + 1) * f]);
    }
}

/// YᵀY + λI. Rows are summed in fixed blocks, in parallel, and the
/// blocks' sums added in order: the same factors on any number of threads.
fn gram(y: &[f32], f: usize, lambda: f32) -> Vec<f32> {
    const BLOCK: usize = 256;
    let partial: Vec<Vec<f32>> = y
        .par_chunks(BLOCK * f)
        .map(|rows| {
            let mut g = vec![0.0f32; f * f];
            for v in rows.chunks_exact(f) {
                for a in 0..f {
                    axpy(&mut g[a * f..(a + 1) * f], v[a], v);
                }
            }
            g
        })
        .collect();
    let mut g = vec![0.0f32; f * f];
    for p in &partial {
        g.iter_mut().zip(p).for_each(|(x, y)| *x += y);
    }
    for a in 0..f {
        g[a * f + a] += lambda;
    }
    g
}

/// Rows with at most this many cells have their cells' factors copied
/// together first: the conjugate-gradient steps then read them from one
/// place, not from all over `y` (four reads each per sweep).
const GATHER: usize = 8192;

/// One sweep over the rows of `c` (confidences), updating `x` with `y`
/// fixed.
fn sweep(c: &Interactions, x: &mut [f32], y: &[f32], f: usize, lambda: f32, steps: usize) {
    let yty = gram(y, f, lambda);
    x.par_chunks_mut(f).enumerate().for_each_init(
        || {
            (
                vec![0.0f32; f],
                vec![0.0f32; f],
                vec![0.0f32; f],
                Vec::<f32>::new(),
            )
        },
        |(r, p, ap, gathered), (u, xu)| {
            let (items, conf) = c.row(u);
            let near = items.len() <= GATHER;
            if near {
                gathered.clear();
                for &i in items {
                    gathered.extend_from_slice(&y[i as usize * f..(i as usize + 1) * f]);
                }
            }
            let gathered: &[f32] = gathered;
            let factors = |k: usize| -> &[f32] {
                if near {
                    &gathered[k * f..(k + 1) * f]
                } else {
                    let i = items[k] as usize;
                    &y[i * f..(i + 1) * f]
                }
            };
            // r = Yᵀ C_u p_u − (YᵀY + Yᵀ(C_u − I)Y + λI) x_u.
            gemv(&yty, xu, r);
            r.iter_mut().for_each(|v| *v = -*v);
            for (k, &ci) in conf.iter().enumerate() {
                let yi = factors(k);
                axpy(r, ci - (ci - 1.0) * dot(yi, xu), yi);
            }
            p.copy_from_slice(r);
            let mut rs_old = dot(r, r);
            if rs_old < 1e-20 {
                return;
            }
            for _ in 0..steps {
                gemv(&yty, p, ap);
                for (k, &ci) in conf.iter().enumerate() {
                    let yi = factors(k);
                    axpy(ap, (ci - 1.0) * dot(yi, p), yi);
                }
                let alpha = rs_old / dot(p, ap);
                axpy(xu, alpha, p);
                axpy(r, -alpha, ap);
                let rs_new = dot(r, r);
                if rs_new < 1e-20 {
                    break;
                }
                let beta = rs_new / rs_old;
                p.iter_mut()
                    .zip(r.iter())
                    .for_each(|(p, r)| *p = r + beta * *p);
                rs_old = rs_new;
            }
        },
    );
}

/// Uniform in [0, 0.01): small starting factors, the same for a seed.
fn start(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).max(1);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32 * 0.01
        })
        .collect()
}

impl Als {
    /// Fits users × items; `progress` is called after each sweep with the
    /// number done.
    pub fn fit(
        &self,
        m: &Interactions,
        mut progress: impl FnMut(usize),
    ) -> Result<AlsModel, Error> {
        if self.factors == 0 {
            return Err(Error::Input("factors: at least 1".into()));
        }
        if !(self.regularization >= 0.0 && self.alpha > 0.0) {
            return Err(Error::Input(format!(
                "regularization {} must be 0 or more and alpha {} above 0",
                self.regularization, self.alpha
            )));
        }
        let f = self.factors;
        let cui = m.scaled(self.alpha);
        let ciu = cui.transpose();
        let mut users = start(m.rows() * f, self.seed);
        let mut items = start(m.cols() * f, self.seed ^ 0xA5A5);
        for it in 0..self.iterations {
            sweep(
                &cui,
                &mut users,
                &items,
                f,
                self.regularization,
                self.cg_steps,
            );
            sweep(
                &ciu,
                &mut items,
                &users,
                f,
                self.regularization,
                self.cg_steps,
            );
            progress(it + 1);
        }
        Ok(AlsModel {
            factors: f,
            users,
            items,
        })
    }
}

impl AlsModel {
    pub fn user(&self, u: usize) -> &[f32] {
        &self.users[u * self.factors..(u + 1) * self.factors]
    }

    pub fn item(&self, i: usize) -> &[f32] {
        &self.items[i * self.factors..(i + 1) * self.factors]
    }

    /// Every item's score for a user's factors.
    pub fn scores(&self, x: &[f32]) -> Vec<f32> {
        self.items
            .chunks_exact(self.factors)
            .map(|y| dot(x, y))
            .collect()
    }
}

impl Recommender for AlsModel {
    fn recommend(&self, user: usize, exclude: &[u32], n: usize) -> Vec<(u32, f32)> {
        if user * self.factors >= self.users.len() {
            return Vec::new();
        }
        top_n(&self.scores(self.user(user)), exclude, n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The loss of factors on a matrix, to check that CG lowers it.
    fn loss(m: &Interactions, model: &AlsModel, lambda: f32) -> f64 {
        let mut l = 0.0f64;
        for u in 0..m.rows() {
            let (items, conf) = m.row(u);
            for i in 0..m.cols() {
                let pred = dot(model.user(u), model.item(i)) as f64;
                l += match items.binary_search(&(i as u32)) {
                    Ok(k) => conf[k] as f64 * (1.0 - pred).powi(2),
                    Err(_) => pred.powi(2),
                };
            }
        }
        let norm = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>();
        l + lambda as f64 * (norm(&model.users) + norm(&model.items))
    }

    /// Two groups of users, each buying its own group of items: the model
    /// recommends a user the rest of their group's items, and each sweep
    /// lowers the loss.
    #[test]
    fn learns_two_groups_and_lowers_the_loss() {
        let mut cells = Vec::new();
        for u in 0..20u32 {
            let group = u % 2;
            for i in 0..6u32 {
                // Each user misses one item of their group.
                if i % 2 == group && i != (u / 2) % 3 * 2 + group {
                    cells.push((u, i, 1.0));
                }
            }
        }
        let m = Interactions::from_cells(20, 6, cells).unwrap();
        let als = Als {
            factors: 4,
            iterations: 1,
            alpha: 10.0,
            regularization: 0.1,
            ..Als::default()
        };
        let mut last = f64::INFINITY;
        for iterations in [1, 3, 10] {
            let model = Als {
                iterations,
                ..als.clone()
            }
            .fit(&m.scaled(10.0), |_| {})
            .unwrap();
            let l = loss(&m.scaled(10.0), &model, 0.1);
            assert!(l < last, "{iterations} sweeps: loss {l}, before {last}");
            last = l;
        }
        let model = Als {
            iterations: 15,
            ..als
        }
        .fit(&m, |_| {})
        .unwrap();
        for u in 0..20 {
            let (own, _) = m.row(u);
            let best = model.recommend(u, own, 1)[0].0;
            assert_eq!(best % 2, u as u32 % 2, "user {u} got item {best}");
        }
        assert_eq!(
            Als {
                factors: 0,
                ..Als::default()
            }
            .fit(&m, |_| {})
            .unwrap_err(),
            Error::Input("factors: at least 1".into())
        );
    }

    /// The same seed gives the same factors, on one thread or several.
    #[test]
    fn reproducible() {
        let cells = (0..2000u32).map(|u| (u, (u * 7 + u / 3) % 50, 1.0));
        let m = Interactions::from_cells(2000, 50, cells).unwrap();
        let on = |threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| Als::default().fit(&m, |_| {}).unwrap())
        };
        let (a, b, c) = (on(1), on(1), on(3));
        assert_eq!(a.users, b.users);
        assert_eq!(a.users, c.users);
        assert_eq!(a.items, c.items);
    }
}
