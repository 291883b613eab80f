//! Measures the local rate limiter alone, without the network: building a request's checks
//! from its `x-client` header, checking them in the local store, and writing the draft
//! response fields, for 100, 10,000 and 100,000 distinct keys taken in random order.
//!
//! Run with `cargo run --release -p gatehouse-proxy --example limiter_bench`. Prints
//! nanoseconds per request, the median of five runs. With many keys the counters no longer
//! fit in the CPU caches, which the difference between the rows shows.

use std::hint::black_box;
use std::time::Instant;

use bytes::BytesMut;
use gatehouse_proxy::policy::limit::checks::{self, LimitTable, Subject};
use gatehouse_proxy::policy::limit::local::LocalStore;
use http::{HeaderMap, HeaderValue};

const CONFIG: &str = r#"
listeners:
  - name: public
    address: "127.0.0.1:0"
upstreams:
  - name: origin
    targets:
      - url: "http://127.0.0.1:9"
routes:
  - name: limited
    match: { path_prefix: / }
    upstream: origin
    rate_limits:
      - { key: "header:x-client", limit: 1000000, per: 1s }
"#;

const REQUESTS: usize = 1_000_000;

fn main() {
    let config = gatehouse_config::validate::load_str("limiter_bench.yaml", CONFIG)
        .unwrap_or_else(|diagnostics| panic!("{diagnostics}"));
    let table = LimitTable::build(&config);
    println!("{:>8} {:>12}", "keys", "ns/request");
    for keys in [100, 10_000, 100_000] {
        let requests: Vec<HeaderMap> = (0..keys)
            .map(|key| {
                let mut headers = HeaderMap::new();
                headers.insert("x-client", HeaderValue::from(key));
                headers
            })
            .collect();
        let order: Vec<usize> = (0..REQUESTS).map(|_| fastrand::usize(..keys)).collect();
        let mut runs: Vec<f64> = (0..5)
            .map(|_| run(&config, &table, &requests, &order))
            .collect();
        runs.sort_by(f64::total_cmp);
        println!("{keys:>8} {:>12.1}", runs[2]);
    }
}

/// Returns nanoseconds per request over `order`.
fn run(
    config: &gatehouse_config::model::Config,
    table: &LimitTable,
    requests: &[HeaderMap],
    order: &[usize],
) -> f64 {
    let store = LocalStore::default();
    let mut out = BytesMut::with_capacity(256);
    let started = Instant::now();
    for &index in order {
        let subject = Subject {
            consumer: None,
            identity: None,
            client_ip: [127, 0, 0, 1].into(),
            headers: &requests[index],
        };
        let checks = checks::for_request(table, config, 0, &subject);
        let decision = store.check_one(&checks.list[0], checks::unix_now());
        out.clear();
        out.extend_from_slice(black_box(&decision.remaining.to_le_bytes()));
        black_box(&out);
    }
    started.elapsed().as_nanos() as f64 / order.len() as f64
}
