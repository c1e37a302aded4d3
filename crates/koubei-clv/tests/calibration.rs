//! Are the standard errors honest? Fits each model to many simulated data sets
//! and checks that (estimate − truth) / standard error has mean ≈ 0 and
//! standard deviation ≈ 1. Slow, so ignored by default:
//! `cargo test -p koubei-clv --release -- --ignored`.

use koubei_clv::{
    BgBb, BgBbParams, BgNbd, BgNbdParams, FitOptions, GammaGamma, GammaGammaParams, MbgNbd,
    ParetoNbd, ParetoParams, Weighted, fit, usable_spend,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const RUNS: u64 = 40;

fn summarize(model: &str, names: &[&str], z: &[Vec<f64>]) {
    for (i, name) in names.iter().enumerate() {
        let v: Vec<f64> = z.iter().map(|run| run[i]).collect();
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt();
        eprintln!("{model} {name}: z mean {mean:+.2}, sd {sd:.2}");
        // With 40 runs the mean of z has an error of about 0.16, and sd about 0.11.
        assert!(mean.abs() < 0.6, "{model} {name}: z mean {mean}");
        assert!((0.6..1.5).contains(&sd), "{model} {name}: z sd {sd}");
    }
}

#[test]
#[ignore]
fn standard_errors_are_calibrated() {
    let age = |rng: &mut dyn rand::RngCore| 20.0 + 40.0 * rng.random::<f64>();
    for modified in [false, true] {
        let truth = BgNbdParams {
            r: 0.8,
            alpha: 6.0,
            a: 0.7,
            b: 3.0,
            modified,
        };
        let want = [truth.r, truth.alpha, truth.a, truth.b];
        let z: Vec<Vec<f64>> = (0..RUNS)
            .map(|seed| {
                let rows = truth.simulate(8000, &mut ChaCha8Rng::seed_from_u64(seed), age);
                let data = Weighted::from_rows(&rows);
                let f = if modified {
                    fit::<MbgNbd>(&data, &FitOptions::default())
                } else {
                    fit::<BgNbd>(&data, &FitOptions::default())
                }
                .unwrap();
                (0..4)
                    .map(|i| (f.params[i] - want[i]) / f.std_errors[i])
                    .collect()
            })
            .collect();
        summarize(
            if modified { "mbgnbd" } else { "bgnbd" },
            &["r", "alpha", "a", "b"],
            &z,
        );
    }
    let truth = ParetoParams {
        r: 0.9,
        alpha: 8.0,
        s: 0.7,
        beta: 12.0,
    };
    let want = [truth.r, truth.alpha, truth.s, truth.beta];
    let z: Vec<Vec<f64>> = (0..RUNS)
        .map(|seed| {
            let rows = truth.simulate(8000, &mut ChaCha8Rng::seed_from_u64(seed), age);
            let f = fit::<ParetoNbd>(&Weighted::from_rows(&rows), &FitOptions::default()).unwrap();
            (0..4)
                .map(|i| (f.params[i] - want[i]) / f.std_errors[i])
                .collect()
        })
        .collect();
    summarize("pareto", &["r", "alpha", "s", "beta"], &z);
    let truth = BgBbParams {
        alpha: 1.2,
        beta: 0.75,
        gamma: 0.66,
        delta: 2.8,
    };
    let want = [truth.alpha, truth.beta, truth.gamma, truth.delta];
    let z: Vec<Vec<f64>> = (0..RUNS)
        .map(|seed| {
            let rows = truth.simulate(10_000, &mut ChaCha8Rng::seed_from_u64(seed), |rng| {
                rng.random_range(4..10)
            });
            let f = fit::<BgBb>(&Weighted::from_rows(&rows), &FitOptions::default()).unwrap();
            (0..4)
                .map(|i| (f.params[i] - want[i]) / f.std_errors[i])
                .collect()
        })
        .collect();
    summarize("bgbb", &["alpha", "beta", "gamma", "delta"], &z);
    let truth = GammaGammaParams {
        p: 6.25,
        q: 3.74,
        v: 15.44,
    };
    let want = [truth.p, truth.q, truth.v];
    let z: Vec<Vec<f64>> = (0..RUNS)
        .map(|seed| {
            let (rows, _) = usable_spend(&truth.simulate(
                6000,
                &mut ChaCha8Rng::seed_from_u64(seed),
                |rng| rng.random_range(1..8),
            ));
            let f = fit::<GammaGamma>(&Weighted::from_rows(&rows), &FitOptions::default()).unwrap();
            (0..3)
                .map(|i| (f.params[i] - want[i]) / f.std_errors[i])
                .collect()
        })
        .collect();
    summarize("gamma-gamma", &["p", "q", "v"], &z);
}
