//! A load client for `koubei serve`'s capture: CLIENTS connections (kept
//! alive) post BATCH events per request for SECONDS, and it prints one JSON
//! line with events acknowledged per second and the latency of requests.
//!
//!     cargo run --release -p koubei-server --example capture_load -- \
//!         ADDR TOKEN CLIENTS BATCH SECONDS
//!
//! `scripts/bench_capture.py` runs it against a server it starts.

use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [addr, token, clients, batch, seconds] = &args[..] else {
        eprintln!("usage: capture_load ADDR TOKEN CLIENTS BATCH SECONDS");
        std::process::exit(2);
    };
    let clients: usize = clients.parse().expect("CLIENTS");
    let batch: usize = batch.parse().expect("BATCH");
    let seconds: f64 = seconds.parse().expect("SECONDS");
    let run = std::process::id();
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(seconds);
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let (addr, token) = (addr.clone(), token.clone());
            tokio::spawn(async move { client(&addr, &token, run, c, batch, deadline).await })
        })
        .collect();
    let mut latencies = Vec::new();
    let (mut events, mut errors) = (0usize, 0usize);
    for t in tasks {
        let (l, e, err) = t.await.expect("a client");
        latencies.extend(l);
        events += e;
        errors += err;
    }
    let elapsed = start.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let q = |p: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    println!(
        "{{\"clients\":{clients},\"batch\":{batch},\"requests\":{},\"events\":{events},\"errors\":{errors},\"seconds\":{elapsed:.3},\"events_per_s\":{:.0},\"p50_ms\":{:.2},\"p99_ms\":{:.2}}}",
        latencies.len(),
        events as f64 / elapsed,
        q(0.5),
        q(0.99)
    );
}

/// One connection's requests until the deadline: latencies (ms), events
/// acknowledged, and requests that failed.
async fn client(
    addr: &str,
    token: &str,
    run: u32,
    c: usize,
    batch: usize,
    deadline: Instant,
) -> (Vec<f64>, usize, usize) {
    let stream = TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let mut stream = BufReader::new(stream);
    let (mut latencies, mut events, mut errors) = (Vec::new(), 0, 0);
    let mut n = 0usize;
    let mut body = String::new();
    while Instant::now() < deadline {
        body.clear();
        body.push('[');
        for i in 0..batch {
            if i > 0 {
                body.push(',');
            }
            let id = n + i;
            body.push_str(&format!(
                r#"{{"event_id":"L{run}-{c}-{id}","customer_id":"c{}","event":"{}","product_id":"p{}","channel":"web","ts":"2026-11-{:02}T{:02}:{:02}:00Z"}}"#,
                id % 5000,
                ["view", "add_to_cart", "purchase"][id % 3],
                id % 300,
                1 + id % 28,
                id % 24,
                id % 60
            ));
        }
        body.push(']');
        n += batch;
        let started = Instant::now();
        let request = format!(
            "POST /v1/events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream
            .get_mut()
            .write_all(request.as_bytes())
            .await
            .expect("write");
        let status = read_response(&mut stream).await;
        latencies.push(started.elapsed().as_secs_f64() * 1e3);
        if status == 200 {
            events += batch;
        } else {
            errors += 1;
        }
    }
    (latencies, events, errors)
}

/// Reads one response; returns its status.
async fn read_response(stream: &mut BufReader<TcpStream>) -> u16 {
    let mut line = String::new();
    stream.read_line(&mut line).await.expect("status line");
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut length = 0usize;
    loop {
        line.clear();
        stream.read_line(&mut line).await.expect("header");
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await.expect("body");
    status
}
