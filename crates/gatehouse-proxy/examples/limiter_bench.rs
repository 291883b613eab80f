//! Measures the local rate limiter alone, without the network: building a request's checks
//! from its `x-client` header, checking them in the local store, making the verdict and
//! writing the draft response fields as the HTTP/1.1 writer does, for 100, 10,000 and
//! 100,000 distinct keys taken in random order.
//!
//! Run with `cargo run --release -p gatehouse-proxy --example limiter_bench`. Each request
//! reads its arrival time and sets the `x-client` value in a reused header map, as the
//! gateway does before the limiter runs. The time of that set-up alone is measured too and
//! subtracted, so the figure is the limiter's: nanoseconds per request, the median of five runs. With many keys the counters
//! no longer fit in the CPU caches, which the difference between the rows shows.

use std::hint::black_box;
use std::time::Instant;

use bytes::BytesMut;
use gatehouse_config::model::Config;
use gatehouse_proxy::policy::limit::checks::{self, LimitTable, Subject};
use gatehouse_proxy::policy::limit::LimitRuntime;
use http::{HeaderMap, HeaderName, HeaderValue};

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
    println!(
        "{:>8} {:>12} {:>12} {:>12}",
        "keys", "set-up ns", "total ns", "limiter ns"
    );
    for keys in [100, 10_000, 100_000] {
        let order: Vec<usize> = (0..REQUESTS).map(|_| fastrand::usize(..keys)).collect();
        let setup = median(|| run(&config, &table, &order, false));
        let total = median(|| run(&config, &table, &order, true));
        println!(
            "{keys:>8} {setup:>12.1} {total:>12.1} {:>12.1}",
            total - setup
        );
    }
}

/// Returns the median of five calls of `measure`.
fn median(measure: impl FnMut() -> f64) -> f64 {
    let mut runs: Vec<f64> = std::iter::repeat_with(measure).take(5).collect();
    runs.sort_by(f64::total_cmp);
    runs[2]
}

/// Returns nanoseconds per request over `order`: the header set-up, and with `limit` the
/// limiter's work too.
fn run(config: &Config, table: &LimitTable, order: &[usize], limit: bool) -> f64 {
    let runtime = LimitRuntime::new(&config.rate_limiting, 1);
    let name = HeaderName::from_static("x-client");
    let mut headers = HeaderMap::new();
    let mut out = BytesMut::with_capacity(256);
    let started = Instant::now();
    for &key in order {
        // The gateway takes a request's arrival time before the limiter runs.
        let arrived = Instant::now();
        headers.insert(&name, HeaderValue::from(key));
        if !limit {
            black_box((arrived, &headers));
            continue;
        }
        let subject = Subject {
            consumer: None,
            identity: None,
            client_ip: [127, 0, 0, 1].into(),
            headers: &headers,
        };
        let now = runtime.clock().unix_us(arrived);
        let checks = checks::for_request(table, config, 0, &subject, now);
        let verdict = runtime.check_local(checks, now);
        out.clear();
        if let Some(fields) = &verdict.fields {
            fields.write_to(&mut out);
        }
        black_box(&out);
    }
    started.elapsed().as_nanos() as f64 / order.len() as f64
}
