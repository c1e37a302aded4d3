//! ALS's fit on a generated matrix of a large shop's shape, timed alone:
//!
//!     cargo run --release -p koubei-recs --example als_scale -- [USERS] [ITEMS] [CELLS]
//!
//! 1M users, 100k items and 10M cells by default: each user has a group of
//! items (one in 50) and about ten cells, seven in ten in their group,
//! items by a Zipf-like popularity (exponent 1.1). Prints the fit's
//! seconds and the loss-free shape. scripts/bench_recs_scale.py times the
//! whole `koubei recommend train` on such data against `implicit`.

use std::time::Instant;

use koubei_recs::{Als, Interactions};

/// xorshift64*: enough for a shape, and the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("a number"))
        .collect();
    let users = args.first().copied().unwrap_or(1_000_000);
    let items = args.get(1).copied().unwrap_or(100_000);
    let cells = args.get(2).copied().unwrap_or(10_000_000);
    let groups = 50;
    // Cumulative Zipf weights over the items of one group (the same for
    // every group), and over all items.
    let cumulative = |n: usize| {
        let mut c = Vec::with_capacity(n);
        let mut s = 0.0;
        for i in 1..=n {
            s += 1.0 / (i as f64).powf(1.1);
            c.push(s);
        }
        c.iter_mut().for_each(|x| *x /= s);
        c
    };
    let (all, within) = (cumulative(items), cumulative(items / groups));
    let draw = |c: &[f64], u: f64| c.partition_point(|&x| x < u).min(c.len() - 1);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let started = Instant::now();
    let m = Interactions::from_cells(
        users,
        items,
        (0..cells).map(|_| {
            let u = (rng.next() % users as u64) as u32;
            let item = if rng.unit() < 0.7 {
                draw(&within, rng.unit()) * groups + (u as usize * 7 % groups)
            } else {
                draw(&all, rng.unit())
            };
            (u, item.min(items - 1) as u32, 1.0)
        }),
    )
    .expect("cells in range");
    eprintln!(
        "{} x {}, {} cells, made in {:.1} s",
        m.rows(),
        m.cols(),
        m.nnz(),
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let model = Als::default().fit(&m, |_| {}).expect("fits");
    let seconds = started.elapsed().as_secs_f64();
    let check: f32 = model.items.iter().take(1000).sum();
    println!(
        "{{\"users\": {}, \"items\": {}, \"cells\": {}, \"factors\": {}, \"fit_seconds\": {seconds:.2}, \"check\": {check}}}",
        m.rows(),
        m.cols(),
        m.nnz(),
        model.factors
    );
}
