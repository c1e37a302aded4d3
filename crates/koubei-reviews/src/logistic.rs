//! Logistic regression over a few features, fitted by Newton's method: how
//! the trained model weighs its own evidence against the default model's.

/// Fits P(y) = σ(w · x + b) by Newton's method with an L2 penalty of
/// `ridge` on the weights (not on the bias), which keeps the fit finite
/// when the classes separate. Returns the weights then the bias.
pub(crate) fn fit<const K: usize>(x: &[[f64; K]], y: &[bool], ridge: f64) -> Vec<f64> {
    let d = K + 1;
    let mut beta = vec![0.0; d];
    for _ in 0..50 {
        // Gradient and Hessian of the penalised negative log-likelihood.
        let mut grad = vec![0.0; d];
        let mut hess = vec![vec![0.0; d]; d];
        for (xi, &yi) in x.iter().zip(y) {
            let row: Vec<f64> = xi.iter().copied().chain([1.0]).collect();
            let z: f64 = row.iter().zip(&beta).map(|(a, b)| a * b).sum();
            let p = crate::sigmoid(z);
            let w = (p * (1.0 - p)).max(1e-12);
            for j in 0..d {
                grad[j] += (p - f64::from(u8::from(yi))) * row[j];
                for k in 0..d {
                    hess[j][k] += w * row[j] * row[k];
                }
            }
        }
        for j in 0..K {
            grad[j] += ridge * beta[j];
            hess[j][j] += ridge;
        }
        let Some(step) = solve(hess, grad) else {
            break;
        };
        let mut moved = 0.0f64;
        for (b, s) in beta.iter_mut().zip(&step) {
            *b -= s;
            moved = moved.max(s.abs());
        }
        if moved < 1e-10 {
            break;
        }
    }
    beta
}

/// Solves A x = b by Gaussian elimination with partial pivoting; `None`
/// when A is singular.
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let n = b.len();
    for c in 0..n {
        let p = (c..n).max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))?;
        if a[p][c].abs() < 1e-300 {
            return None;
        }
        a.swap(c, p);
        b.swap(c, p);
        let pivot = a[c].clone();
        for r in c + 1..n {
            let f = a[r][c] / pivot[c];
            for (x, p) in a[r][c..].iter_mut().zip(&pivot[c..]) {
                *x -= f * p;
            }
            b[r] -= f * b[c];
        }
    }
    let mut x = vec![0.0; n];
    for r in (0..n).rev() {
        let s: f64 = (r + 1..n).map(|k| a[r][k] * x[k]).sum();
        x[r] = (b[r] - s) / a[r][r];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With one binary feature and no penalty, the fit reproduces the
    /// observed log-odds: x = 0 has 1 positive in 4 (b = ln(1/3)), x = 1
    /// has 3 in 4 (w + b = ln 3).
    #[test]
    fn recovers_the_log_odds_of_a_table() {
        let x = [[0.0], [0.0], [0.0], [0.0], [1.0], [1.0], [1.0], [1.0]];
        let y = [true, false, false, false, true, true, true, false];
        let beta = fit(&x, &y, 0.0);
        assert!((beta[1] - (1.0f64 / 3.0).ln()).abs() < 1e-8, "{beta:?}");
        assert!((beta[0] - 2.0 * 3.0f64.ln()).abs() < 1e-8, "{beta:?}");
    }

    /// Data simulated from known weights: the fit finds them.
    #[test]
    fn recovers_simulated_weights() {
        let (w, b) = ([1.5, -0.7], 0.3);
        let mut state = 88_172_645_463_325_252u64;
        let mut uniform = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for _ in 0..40_000 {
            let xi = [4.0 * uniform() - 2.0, 4.0 * uniform() - 2.0];
            let p = crate::sigmoid(w[0] * xi[0] + w[1] * xi[1] + b);
            y.push(uniform() < p);
            x.push(xi);
        }
        let beta = fit(&x, &y, 0.0);
        for (got, want) in beta.iter().zip([w[0], w[1], b]) {
            assert!((got - want).abs() < 0.05, "{beta:?}");
        }
    }

    /// Separable classes: the penalty keeps the weights finite.
    #[test]
    fn separable_classes_stay_finite() {
        let x = [[-1.0], [-2.0], [1.0], [2.0]];
        let y = [false, false, true, true];
        let beta = fit(&x, &y, 1.0);
        assert!(
            beta.iter().all(|b| b.is_finite()) && beta[0] > 0.5,
            "{beta:?}"
        );
    }
}
