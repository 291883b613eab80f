//! Upstream behaviour: load balancing, failures and timeouts.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use http::Response;
use http_body_util::Full;
use support::{get, request, send, Gatehouse, Upstream, ADMIN};

fn balanced_config(targets: &[(&Upstream, u32)], balancing: &str) -> String {
    let mut yaml = format!("listeners:\n  - name: public\n    address: \"127.0.0.1:0\"\nadmin:\n  address: \"{ADMIN}\"\naccess_log:\n  format: off\nupstreams:\n  - name: pool\n    {balancing}\n    targets:\n");
    for (upstream, weight) in targets {
        yaml.push_str(&format!(
            "      - url: \"{}\"\n        weight: {weight}\n",
            upstream.url()
        ));
    }
    yaml.push_str("routes:\n  - name: all\n    match: { path_prefix: / }\n    upstream: pool\n");
    yaml
}

fn tally(
    gateway: &Gatehouse,
    requests: usize,
    header: Option<(&str, String)>,
) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for index in 0..requests {
        let mut builder = request("GET", "/");
        if let Some((name, value)) = &header {
            builder = builder.header(*name, value.replace("{i}", &index.to_string()));
        }
        let reply = send(
            gateway.public(),
            builder.body(Full::new(Bytes::new())).unwrap(),
        );
        assert_eq!(reply.status, 200);
        *counts.entry(reply.text()).or_default() += 1;
    }
    counts
}

#[test]
fn round_robin_follows_weights() {
    let (a, b, c) = (
        Upstream::named("a"),
        Upstream::named("b"),
        Upstream::named("c"),
    );
    let gateway = Gatehouse::start(&balanced_config(
        &[(&a, 3), (&b, 1), (&c, 1)],
        "load_balancing: round_robin",
    ));
    let counts = tally(&gateway, 100, None);
    // Two workers each run their own smooth sequence, so each share can be off by a few.
    assert!((56..=64).contains(&counts["a"]), "{counts:?}");
    assert!((16..=24).contains(&counts["b"]), "{counts:?}");
    assert!((16..=24).contains(&counts["c"]), "{counts:?}");
}

#[test]
fn random_spreads_by_weight() {
    let (a, b) = (Upstream::named("a"), Upstream::named("b"));
    let gateway = Gatehouse::start(&balanced_config(
        &[(&a, 1), (&b, 1)],
        "load_balancing: random",
    ));
    let counts = tally(&gateway, 200, None);
    assert!(counts["a"] >= 60, "{counts:?}");
    assert!(counts["b"] >= 60, "{counts:?}");
}

#[test]
fn least_requests_avoids_busy_target() {
    let slow = Upstream::start(|_| async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        Response::new(Full::new(Bytes::from("slow")))
    });
    let fast = Upstream::named("fast");
    let gateway = Gatehouse::start(&balanced_config(
        &[(&slow, 1), (&fast, 1)],
        "load_balancing: least_requests",
    ));
    let addr = gateway.public();
    let busy: Vec<_> = (0..4)
        .map(|_| std::thread::spawn(move || get(addr, "/").text()))
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let counts = tally(&gateway, 20, None);
    assert!(counts.get("fast").copied().unwrap_or(0) >= 18, "{counts:?}");
    let during: Vec<String> = busy
        .into_iter()
        .map(|handle| handle.join().unwrap())
        .collect();
    assert!(during.iter().any(|name| name == "slow"), "{during:?}");
}

#[test]
fn consistent_hash_sticks_to_key() {
    let (a, b, c) = (
        Upstream::named("a"),
        Upstream::named("b"),
        Upstream::named("c"),
    );
    let yaml = balanced_config(
        &[(&a, 1), (&b, 1), (&c, 1)],
        "load_balancing: consistent_hash\n    hash_key: \"header:x-user-id\"",
    );
    let gateway = Gatehouse::start(&yaml);
    for user in ["alice", "bob", "carol", "dave"] {
        let counts = tally(&gateway, 10, Some(("x-user-id", user.to_string())));
        assert_eq!(counts.len(), 1, "user {user} was spread over {counts:?}");
    }
    let spread = tally(&gateway, 90, Some(("x-user-id", "user-{i}".to_string())));
    assert_eq!(spread.len(), 3, "{spread:?}");
    assert!(spread.values().all(|count| *count >= 15), "{spread:?}");
}

#[test]
fn refused_connection_gives_502() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let gateway = Gatehouse::start(&support::config(
        &url,
        "  - name: all\n    match: { path_prefix: / }\n    upstream: backend\n",
    ));
    let reply = get(gateway.public(), "/");
    assert_eq!(reply.status, 502);
    let body = reply.json();
    assert_eq!(body["error"]["code"], "upstream_unavailable");
    assert!(
        !reply.text().contains("127.0.0.1"),
        "the error leaks the target address: {}",
        reply.text()
    );
    assert_eq!(
        body["error"]["request_id"].as_str(),
        reply.header("x-request-id")
    );
}

#[test]
fn slow_upstream_gives_504() {
    let slow = Upstream::start(|_| async {
        tokio::time::sleep(Duration::from_secs(3)).await;
        Response::new(Full::new(Bytes::from("late")))
    });
    let yaml = support::config(
        &slow.url(),
        "  - name: all\n    match: { path_prefix: / }\n    upstream: backend\n",
    )
    .replace(
        "    targets:",
        "    timeouts:\n      request: 300ms\n    targets:",
    );
    let gateway = Gatehouse::start(&yaml);
    let started = std::time::Instant::now();
    let reply = get(gateway.public(), "/");
    assert_eq!(reply.status, 504);
    assert_eq!(reply.json()["error"]["code"], "upstream_timeout");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn reset_by_upstream_gives_502() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(4) {
            drop(stream);
        }
    });
    let gateway = Gatehouse::start(&support::config(
        &format!("http://{addr}"),
        "  - name: all\n    match: { path_prefix: / }\n    upstream: backend\n",
    ));
    let reply = get(gateway.public(), "/");
    assert_eq!(reply.status, 502);
    assert_eq!(reply.json()["error"]["code"], "upstream_unavailable");
}

#[test]
fn passive_health_ejects_dead_target() {
    let alive = Upstream::named("alive");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let mut yaml = balanced_config(&[(&alive, 1)], "load_balancing: round_robin");
    yaml = yaml.replace(
        "    targets:\n",
        &format!("    targets:\n      - url: \"{dead_url}\"\n"),
    );
    let gateway = Gatehouse::start(&yaml);
    let statuses: Vec<u16> = (0..30)
        .map(|_| get(gateway.public(), "/").status.as_u16())
        .collect();
    let failures = statuses.iter().filter(|status| **status == 502).count();
    // Each worker ejects the dead target after three failed connections.
    assert!(failures <= 6, "{failures} failures: {statuses:?}");
    assert_eq!(statuses[24..], [200; 6]);
    let metrics = get(gateway.admin(), "/metrics").text();
    assert!(
        metrics.contains("gatehouse_upstream_target_healthy{upstream=\"pool\",target=\"127.0.0.1"),
        "{metrics}"
    );
}
