//! Reload, shutdown, the admin API and the access log.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use support::{config, get, send, Gatehouse, Upstream};

fn routes_with_tag(tag: &str) -> String {
    format!("  - name: all\n    match: {{ path_prefix: / }}\n    upstream: backend\n    response_headers:\n      set: {{ x-config: {tag} }}\n")
}

/// Runs keep-alive clients against `addr` until `stop`, counting responses by outcome.
fn load(
    addr: std::net::SocketAddr,
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    tags: Arc<std::sync::Mutex<Vec<String>>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .unwrap();
            tokio::spawn(connection);
            let deadline = Instant::now() + Duration::from_secs(20);
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                let request = Request::get("/load")
                    .header("host", "example.com")
                    .body(Full::new(Bytes::new()))
                    .unwrap();
                match sender.send_request(request).await {
                    Ok(response) if response.status() == 200 => {
                        let tag = response
                            .headers()
                            .get("x-config")
                            .map(|value| value.to_str().unwrap().to_string())
                            .unwrap_or_default();
                        let _ = response.into_body().collect().await;
                        ok.fetch_add(1, Ordering::Relaxed);
                        let mut tags = tags.lock().unwrap();
                        if tags.last() != Some(&tag) {
                            tags.push(tag);
                        }
                    }
                    _ => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
    })
}

#[test]
fn reload_under_load_fails_nothing() {
    let upstream = Upstream::echo();
    let gateway = Gatehouse::start(&config(&upstream.url(), &routes_with_tag("one")));
    let (stop, ok, failed) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let tags = Arc::new(std::sync::Mutex::new(Vec::new()));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            load(
                gateway.public(),
                stop.clone(),
                ok.clone(),
                failed.clone(),
                tags.clone(),
            )
        })
        .collect();

    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(
        &gateway.config_path,
        config(&upstream.url(), &routes_with_tag("two")),
    )
    .unwrap();
    let reply = gateway.reload();
    assert_eq!(reply.status, 200, "{}", reply.text());
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(
        &gateway.config_path,
        config(&upstream.url(), &routes_with_tag("three")),
    )
    .unwrap();
    gateway.signal("HUP");
    assert!(gateway.wait_for_log("configuration reloaded", Duration::from_secs(5)));
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().unwrap();
    }

    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "{} requests failed during reloads",
        failed.load(Ordering::Relaxed)
    );
    assert!(
        ok.load(Ordering::Relaxed) > 100,
        "only {} requests ran",
        ok.load(Ordering::Relaxed)
    );
    let tags = tags.lock().unwrap().clone();
    assert!(
        tags.contains(&"two".to_string()) && tags.last() == Some(&"three".to_string()),
        "{tags:?}"
    );
}

#[test]
fn invalid_reload_keeps_old_config() {
    let upstream = Upstream::echo();
    let gateway = Gatehouse::start(&config(&upstream.url(), &routes_with_tag("good")));
    std::fs::write(
        &gateway.config_path,
        "listeners:\n  - name: public\n    adress: nowhere\n",
    )
    .unwrap();
    let reply = gateway.reload();
    assert_eq!(reply.status, 422);
    assert_eq!(reply.json()["error"]["code"], "invalid_configuration");
    assert!(reply.text().contains("adress"), "{}", reply.text());
    assert!(gateway.wait_for_log("configuration reload rejected", Duration::from_secs(5)));

    let after = get(gateway.public(), "/still");
    assert_eq!(after.status, 200);
    assert_eq!(after.header("x-config"), Some("good"));
    let metrics = get(gateway.admin(), "/metrics").text();
    assert!(
        metrics.contains("gatehouse_config_reloads_total{result=\"failure\"}"),
        "{metrics}"
    );
}

#[test]
fn file_change_triggers_reload() {
    let upstream = Upstream::echo();
    let gateway = Gatehouse::start(&config(&upstream.url(), &routes_with_tag("before")));
    // Editors usually write a new file and rename it over the old one.
    let staged = gateway.dir.path().join("gatehouse.yaml.tmp");
    std::fs::write(&staged, config(&upstream.url(), &routes_with_tag("after"))).unwrap();
    std::fs::rename(&staged, &gateway.config_path).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while get(gateway.public(), "/").header("x-config") != Some("after") {
        assert!(
            Instant::now() < deadline,
            "the file change was not picked up"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn shutdown_drains_requests_in_flight() {
    let slow = Upstream::start(|_| async {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        Response::new(Full::new(Bytes::from("finished")))
    });
    let gateway = Gatehouse::start(&config(&slow.url(), &routes_with_tag("x")));
    let addr = gateway.public();
    let in_flight = std::thread::spawn(move || get(addr, "/slow"));
    std::thread::sleep(Duration::from_millis(300));
    let admin = gateway.admin();
    gateway.signal("TERM");
    std::thread::sleep(Duration::from_millis(200));
    let draining = get(admin, "/readyz");
    assert_eq!(
        draining.status,
        503,
        "readiness during shutdown: {}",
        draining.text()
    );
    let status = gateway.stop();
    let reply = in_flight.join().unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text(), "finished");
    assert!(status.success(), "exit status {status}");
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "still accepting after shutdown"
    );
}

#[test]
fn admin_endpoints_answer() {
    let upstream = Upstream::echo();
    let gateway = Gatehouse::start(&config(&upstream.url(), &routes_with_tag("x")));
    assert_eq!(get(gateway.public(), "/counted").status, 200);
    assert_eq!(get(gateway.public(), "/again").status, 200);

    let admin = gateway.admin();
    assert_eq!(get(admin, "/healthz").json()["status"], "ok");
    let ready = get(admin, "/readyz").json();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["generation"], 1);

    let metrics = get(admin, "/metrics");
    assert!(metrics.header("content-type").unwrap().contains("text"));
    let text = metrics.text();
    for expected in [
        "gatehouse_requests_total{route=\"all\",method=\"GET\",status_class=\"2xx\"} 2",
        "gatehouse_request_duration_seconds_bucket{le=",
        "gatehouse_upstream_duration_seconds_count{upstream=\"backend\"} 2",
        "gatehouse_open_connections{listener=\"public\"}",
        "gatehouse_upstream_target_healthy{upstream=\"backend\"",
        "gatehouse_config_generation 1",
    ] {
        assert!(text.contains(expected), "metrics lack {expected}:\n{text}");
    }

    let routes = get(admin, "/admin/routes").json();
    assert_eq!(routes["routes"][0]["name"], "all");
    assert_eq!(routes["routes"][0]["kind"], "prefix");
    let config = get(admin, "/admin/config");
    assert_eq!(config.status, 200);
    assert!(config.text().contains("backend"));

    assert_eq!(get(admin, "/admin/unknown").status, 404);
    let wrong_method = get(admin, "/admin/reload");
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.header("allow"), Some("POST"));
}

#[test]
fn access_log_has_one_line_per_request() {
    let upstream = Upstream::echo();
    let gateway = Gatehouse::start(&config(&upstream.url(), &routes_with_tag("x")));
    let reply = send(
        gateway.public(),
        support::request("POST", "/logged?q=1")
            .header("x-request-id", "log-test-1")
            .body(Full::new(Bytes::from("12345")))
            .unwrap(),
    );
    assert_eq!(reply.status, 200);
    get(gateway.public(), "/second");
    let deadline = Instant::now() + Duration::from_secs(5);
    while gateway.access_log().len() < 2 {
        assert!(Instant::now() < deadline, "no access log lines");
        std::thread::sleep(Duration::from_millis(20));
    }
    let lines = gateway.access_log();
    let line = lines
        .iter()
        .find(|line| line["request_id"] == "log-test-1")
        .expect("the POST is logged");
    assert_eq!(line["method"], "POST");
    assert_eq!(line["path"], "/logged");
    assert_eq!(line["host"], "example.com");
    assert_eq!(line["client"], "127.0.0.1");
    assert_eq!(line["route"], "all");
    assert_eq!(line["upstream"], "backend");
    assert_eq!(line["target"], upstream.addr.to_string());
    assert_eq!(line["status"], 200);
    assert_eq!(line["bytes_in"], 5);
    assert_eq!(line["bytes_out"].as_u64(), Some(reply.body.len() as u64));
    assert!(line["duration_ms"].as_f64().unwrap() > 0.0);
    assert!(line["upstream_duration_ms"].as_f64().unwrap() > 0.0);
    assert!(line["time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        lines
            .iter()
            .filter(|line| line["request_id"] == "log-test-1")
            .count(),
        1
    );
}

#[test]
fn idle_connections_close_but_busy_ones_stay() {
    let slow = Upstream::start(|received| async move {
        if received.uri == "/slow" {
            tokio::time::sleep(Duration::from_millis(1200)).await;
        }
        Response::new(Full::new(Bytes::from("done")))
    });
    let yaml = config(&slow.url(), &routes_with_tag("x")).replace(
        "upstreams:",
        "server:\n  idle_timeout: 400ms\n  header_read_timeout: 5s\nupstreams:",
    );
    let gateway = Gatehouse::start(&yaml);
    use std::io::{Read, Write};

    let mut idle = std::net::TcpStream::connect(gateway.public()).unwrap();
    idle.write_all(b"GET /fast HTTP/1.1\r\nHost: example.com\r\n\r\n")
        .unwrap();
    let mut buffer = [0u8; 4096];
    let read = idle.read(&mut buffer).unwrap();
    assert!(String::from_utf8_lossy(&buffer[..read]).starts_with("HTTP/1.1 200"));
    let started = Instant::now();
    assert!(
        support::closed_after(&mut idle, Duration::from_secs(5)),
        "the idle connection stayed open"
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(2),
        "closed after {waited:?}"
    );

    let mut busy = std::net::TcpStream::connect(gateway.public()).unwrap();
    busy.write_all(b"GET /slow HTTP/1.1\r\nHost: example.com\r\n\r\n")
        .unwrap();
    busy.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let read = busy.read(&mut buffer).unwrap();
    let reply = String::from_utf8_lossy(&buffer[..read]).into_owned();
    assert!(
        reply.starts_with("HTTP/1.1 200") && reply.ends_with("done"),
        "{reply}"
    );
}

#[test]
fn second_gateway_on_same_port_fails() {
    let upstream = Upstream::echo();
    let first = Gatehouse::start(&config(&upstream.url(), &routes_with_tag("x")));
    let taken = first.public();
    let yaml = config(&upstream.url(), &routes_with_tag("y"))
        .replace("127.0.0.1:0\"\nadmin", &format!("{taken}\"\nadmin"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("second.yaml");
    std::fs::write(&path, yaml).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["run", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on {taken}")),
        "{stderr}"
    );
    assert_eq!(get(taken, "/").header("x-config"), Some("x"));
}
