//! Times the phases of seed selection on a large edge list:
//! `cargo run --release -p koubei-wom --example rr_scale -- GRAPH [SETS]`.
use std::time::Instant;

use koubei_wom::{EdgeModel, GraphBuilder, RrSets, Targets, greedy, read_edge_list};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let sets: usize = args.get(2).map_or(463_872, |s| s.parse().unwrap());
    let t = Instant::now();
    let text = std::fs::read(&args[1]).unwrap();
    let mut b = GraphBuilder::new();
    read_edge_list(&text, &mut b).unwrap();
    let g = b.build(EdgeModel::WeightedCascade, false).unwrap();
    println!("read and built: {:.2} s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let mut r = RrSets::default();
    r.extend(&g, &Targets::Nodes, sets, 7);
    println!(
        "sampled {} sets, {} entries: {:.2} s",
        r.len(),
        r.total(),
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let c = greedy(&r, g.node_count(), 50);
    println!(
        "greedy: {:.2} s, covered {}",
        t.elapsed().as_secs_f64(),
        c.covered
    );
    let t = Instant::now();
    let n = r.covered_by(&c.seeds, g.node_count());
    println!("covered_by: {:.2} s ({n})", t.elapsed().as_secs_f64());
}
