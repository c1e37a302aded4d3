//! Live capture through the real server: every acknowledged event is
//! stored exactly once, however often the server is killed.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::serve::start;
use crate::util::Ws;

/// One POST with the token: the status, or None when the server is gone.
fn post(addr: &str, path: &str, body: &str) -> Option<u16> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer k\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut response = String::new();
    s.read_to_string(&mut response).ok()?;
    response.split(' ').nth(1)?.parse().ok()
}

/// A small deterministic generator, so that a failure can be replayed
/// with the same `KOUBEI_KILL_SEED`.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// Clients send batches of events with their own ids, some sent twice as
/// a client retries; the server is killed (SIGKILL) at random moments,
/// several times, and started again. Every id that was acknowledged is in
/// the table exactly once, and nothing is stored twice.
#[test]
fn every_acknowledged_event_is_stored_once_across_kills() {
    let seed = std::env::var("KOUBEI_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261205u64);
    eprintln!("KOUBEI_KILL_SEED={seed}");
    let mut rng = Lcg(seed);
    let ws = Ws::new();
    ws.ok(&["demo", "--customers", "100", "--seed", "3"]);
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let rounds = 4;
    for round in 0..rounds {
        let (mut server, addr) = start(&ws, &["--token", "k", "--flush-seconds", "0.2"]);
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..4)
            .map(|client| {
                let (addr, stop, acked) = (addr.clone(), Arc::clone(&stop), Arc::clone(&acked));
                let mut rng = Lcg(seed ^ (round * 16 + client));
                std::thread::spawn(move || {
                    let mut n = 0;
                    while !stop.load(Ordering::SeqCst) {
                        let size = 1 + rng.below(40);
                        let ids: Vec<String> = (0..size)
                            .map(|i| format!("k{round}-{client}-{}", n + i))
                            .collect();
                        let body: Vec<String> = ids
                            .iter()
                            .map(|id| {
                                format!(
                                    r#"{{"event_id":"{id}","customer_id":"c{client}","event":"view","ts":"2026-11-0{}T12:00:00Z"}}"#,
                                    1 + rng.below(9)
                                )
                            })
                            .collect();
                        let body = body.join("\n");
                        // Every fifth batch is sent twice, as a client
                        // does when its answer was lost.
                        let times = if rng.below(5) == 0 { 2 } else { 1 };
                        for _ in 0..times {
                            match post(&addr, "/v1/events", &body) {
                                Some(200) => acked.lock().unwrap().extend(ids.iter().cloned()),
                                Some(status) => panic!("status {status} for {body}"),
                                None => std::thread::sleep(Duration::from_millis(20)),
                            }
                        }
                        n += size;
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(300 + rng.below(900)));
        server.0.kill().unwrap();
        server.0.wait().unwrap();
        stop.store(true, Ordering::SeqCst);
        for c in clients {
            c.join().unwrap();
        }
    }
    // A last start stores what the log holds before it answers.
    let (_server, _addr) = start(&ws, &["--token", "k"]);
    let acked: std::collections::HashSet<String> = acked.lock().unwrap().iter().cloned().collect();
    assert!(
        acked.len() > 200,
        "only {} events acknowledged",
        acked.len()
    );
    let stored: HashMap<String, i64> = ws
        .sql(
            "SELECT event_id, count(*) AS n FROM events WHERE event_id LIKE 'k%' GROUP BY event_id",
        )
        .into_iter()
        .map(|r| {
            (
                r["event_id"].as_str().unwrap().to_string(),
                r["n"].as_i64().unwrap(),
            )
        })
        .collect();
    let twice: Vec<_> = stored.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "stored more than once: {twice:?}");
    let lost: Vec<_> = acked
        .iter()
        .filter(|id| !stored.contains_key(*id))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged events lost, such as {:?}",
        lost.len(),
        acked.len(),
        &lost[..lost.len().min(5)]
    );
    eprintln!(
        "{} acknowledged, {} stored (the rest were under way when a kill came)",
        acked.len(),
        stored.len()
    );
}

/// A request that is half sent when its client goes away, a body that
/// never finishes, and bad records do not stop the server from taking
/// the next request; the referrals endpoint stores shares that `wom`
/// then counts.
#[test]
fn capture_survives_bad_clients_and_feeds_referrals() {
    let ws = Ws::new();
    ws.ok(&["demo", "--customers", "100", "--seed", "4"]);
    let before = ws.count("referrals");
    let (server, addr) = start(&ws, &["--token", "k", "--flush-seconds", "0.1"]);
    // Half a request, then gone.
    let mut s = TcpStream::connect(&addr).unwrap();
    write!(
        s,
        "POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\nContent-Length: 1000\r\n\r\n[{{\"event\":"
    )
    .unwrap();
    drop(s);
    // Bad records, one after another.
    for body in [
        "[",
        "{\"event\":\"view\"}",
        "[{\"customer_id\":\"c\",\"event\":\"view\",\"ts\":\"soon\"}]",
    ] {
        assert_eq!(post(&addr, "/v1/events", body), Some(400), "{body}");
    }
    let shares = r#"[{"referral_id":"s1","sharer_id":"c1","recipient_id":"new-1","channel":"wechat","clicked":true,"ordered":false,"ts":"2026-11-30T10:00:00Z"},
                     {"referral_id":"s2","sharer_id":"c1","channel":"weibo","ts":"2026-11-30T10:05:00Z"}]"#;
    assert_eq!(post(&addr, "/v1/referrals", shares), Some(200));
    // Stored within seconds.
    let mut waited = 0;
    while ws.count("referrals") < before + 2 && waited < 100 {
        std::thread::sleep(Duration::from_millis(100));
        waited += 1;
    }
    assert_eq!(ws.count("referrals"), before + 2);
    assert_eq!(post(&addr, "/v1/referrals", shares), Some(200), "a retry");
    drop(server);
    let (_server, _) = start(&ws, &["--token", "k"]);
    assert_eq!(ws.count("referrals"), before + 2, "the retry added nothing");
}

/// A log whose last record was torn by a kill is cut when the server
/// starts, with a warning before its address, and capture goes on.
#[test]
fn a_torn_log_is_cut_at_start() {
    let ws = Ws::new();
    ws.ok(&["demo", "--customers", "50", "--seed", "2"]);
    let dir = ws.path().join("capture/events");
    std::fs::create_dir_all(&dir).unwrap();
    // Half of a record header: what a kill in the middle of a write leaves.
    std::fs::write(dir.join("00000000000000000000.log"), [7u8, 0, 0, 0, 1, 2]).unwrap();
    let before = ws.count("events");
    let (_server, addr) = start(&ws, &["--token", "k", "--flush-seconds", "0.1"]);
    let body = r#"{"event_id":"t1","customer_id":"c1","event":"view","ts":"2026-11-30T10:00:00Z"}"#;
    assert_eq!(post(&addr, "/v1/events", body), Some(200));
    let mut waited = 0;
    while ws.count("events") < before + 1 && waited < 100 {
        std::thread::sleep(Duration::from_millis(100));
        waited += 1;
    }
    assert_eq!(ws.count("events"), before + 1);
}
