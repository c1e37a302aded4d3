//! Models on a ratings file (MovieLens-100K's `ml-100k.inter`: user, item,
//! rating, timestamp, tab-separated with a header), every rating an
//! interaction, split by global time:
//!
//!     cargo run --release -p koubei-recs --example movielens -- FILE [--split 0.8] [-k 10]
//!         [--seed 42] [--write-split DIR] [--score FILE]
//!
//! Prints one JSON object per model with its metrics and fit time: ALS
//! with koubei's defaults (32 factors, λ = 10) and with 64 factors and λ =
//! 0.01, the settings the peer is compared at.
//! `--write-split DIR` also writes DIR/train.csv (user,item of the training
//! interactions) for a peer; `--score FILE` reads a peer's recommendations
//! (user,item,rank) and prints their metrics, computed by the same
//! function. scripts/bench_recs.py runs both.

use std::collections::HashMap;
use std::time::Instant;

use koubei_recs::{
    Als, Event, Interactions, ItemKnn, Metrics, Popularity, Recommender, evaluate, temporal_split,
};

fn json(name: &str, m: &Metrics, fit_seconds: f64) -> String {
    format!(
        "{{\"model\": \"{name}\", \"k\": {}, \"users\": {}, \"precision\": {:.6}, \"recall\": {:.6}, \"ndcg\": {:.6}, \"map\": {:.6}, \"coverage\": {:.6}, \"fit_seconds\": {:.4}}}",
        m.k, m.users, m.precision, m.recall, m.ndcg, m.map, m.coverage, fit_seconds
    )
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = args
        .first()
        .ok_or("usage: movielens FILE [--split 0.8] [-k 10] [--write-split DIR] [--score FILE]")?;
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
    };
    let share: f64 = flag("--split").map_or(Ok(0.8), |s| s.parse())?;
    let k: usize = flag("-k").map_or(Ok(10), |s| s.parse())?;
    let seed: u64 = flag("--seed").map_or(Ok(42), |s| s.parse())?;
    let text = std::fs::read_to_string(path)?;
    let (mut users, mut items): (HashMap<String, u32>, HashMap<String, u32>) = Default::default();
    let mut names = (Vec::new(), Vec::new());
    let mut events = Vec::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        let cells: Vec<&str> = line.split('\t').collect();
        let [u, i, _, ts] = cells[..] else {
            return Err(format!("{path}: line {}: expected 4 tab-separated cells", n + 1).into());
        };
        let id = |map: &mut HashMap<String, u32>, names: &mut Vec<String>, s: &str| {
            let next = map.len() as u32;
            *map.entry(s.to_string()).or_insert_with(|| {
                names.push(s.to_string());
                next
            })
        };
        let user = id(&mut users, &mut names.0, u);
        let item = id(&mut items, &mut names.1, i);
        let ts: f64 = ts
            .parse()
            .map_err(|e| format!("{path}: line {}: {e}", n + 1))?;
        events.push(Event {
            user,
            item,
            ts: ts as i64,
        });
    }
    let train_of = temporal_split(&events, share);
    let cells = |want: bool| {
        events
            .iter()
            .zip(&train_of)
            .filter(move |(_, t)| **t == want)
            .map(|(e, _)| (e.user, e.item, 1.0f32))
    };
    let (nu, ni) = (users.len(), items.len());
    // Ratings are interactions: a user's repeated item counts once.
    let train = Interactions::from_cells(nu, ni, cells(true))?.binary();
    let test = Interactions::from_cells(nu, ni, cells(false))?.binary();
    if let Some(dir) = flag("--write-split") {
        std::fs::create_dir_all(dir)?;
        let mut out = String::from("user,item\n");
        for u in 0..nu {
            for &i in train.row(u).0 {
                out.push_str(&format!("{},{}\n", names.0[u], names.1[i as usize]));
            }
        }
        std::fs::write(format!("{dir}/train.csv"), out)?;
    }
    let recs_of = |model: &dyn Recommender| -> Vec<Vec<u32>> {
        (0..nu)
            .map(|u| {
                model
                    .recommend(u, train.row(u).0, k)
                    .into_iter()
                    .map(|(i, _)| i)
                    .collect()
            })
            .collect()
    };
    if let Some(file) = flag("--score") {
        let mut recs = vec![Vec::new(); nu];
        let mut ranked: Vec<(u32, usize, u32)> = Vec::new();
        for (n, line) in std::fs::read_to_string(file)?.lines().enumerate().skip(1) {
            let c: Vec<&str> = line.split(',').collect();
            let (Some(&u), Some(&i), Some(rank)) = (
                c.first().and_then(|u| users.get(*u)),
                c.get(1).and_then(|i| items.get(*i)),
                c.get(2).and_then(|r| r.parse::<usize>().ok()),
            ) else {
                return Err(format!(
                    "{file}: line {}: expected a known user, item and a rank",
                    n + 1
                )
                .into());
            };
            ranked.push((u, rank, i));
        }
        ranked.sort_unstable();
        for (u, _, i) in ranked {
            recs[u as usize].push(i);
        }
        let name = flag("--name").map_or("peer", String::as_str);
        let seconds: f64 = flag("--fit-seconds").map_or(Ok(0.0), |s| s.parse())?;
        println!(
            "{}",
            json(name, &evaluate(&recs, &train, &test, k), seconds)
        );
        return Ok(());
    }
    let started = Instant::now();
    let pop = Popularity::fit(&train);
    let t = started.elapsed().as_secs_f64();
    println!(
        "{}",
        json("pop", &evaluate(&recs_of(&pop), &train, &test, k), t)
    );
    let started = Instant::now();
    let knn = ItemKnn::default().fit(&train);
    let t = started.elapsed().as_secs_f64();
    println!(
        "{}",
        json("itemknn", &evaluate(&recs_of(&knn), &train, &test, k), t)
    );
    // koubei's defaults, and the settings the peer is run with.
    for (name, als) in [
        (
            "als",
            Als {
                seed,
                ..Als::default()
            },
        ),
        (
            "als-64-0.01",
            Als {
                factors: 64,
                regularization: 0.01,
                seed,
                ..Als::default()
            },
        ),
    ] {
        let started = Instant::now();
        let model = als.fit(&train, |_| {})?;
        let t = started.elapsed().as_secs_f64();
        println!(
            "{}",
            json(name, &evaluate(&recs_of(&model), &train, &test, k), t)
        );
    }
    Ok(())
}
