//! Hostile request framing: smuggling attempts, header floods and malformed targets.

mod support;

use std::io::Write;
use std::time::{Duration, Instant};

use support::{config, raw, Gatehouse, Upstream};

const ALL: &str = "  - name: all\n    match: { path_prefix: / }\n    upstream: backend\n";

fn start() -> (Gatehouse, Upstream) {
    let upstream = Upstream::echo();
    let gateway = Gatehouse::start(&config(&upstream.url(), ALL));
    (gateway, upstream)
}

/// Sends `bytes`, expects a 400 and a closed connection, and that nothing was forwarded.
fn assert_rejected_and_closed(gateway: &Gatehouse, upstream: &Upstream, bytes: &[u8]) {
    assert_status_and_closed(gateway, upstream, bytes, 400);
}

/// Sends `bytes`, expects `status` and a closed connection, and that nothing was forwarded.
fn assert_status_and_closed(gateway: &Gatehouse, upstream: &Upstream, bytes: &[u8], status: u16) {
    let before = upstream.requests().len();
    let mut stream = std::net::TcpStream::connect(gateway.public()).unwrap();
    stream.write_all(bytes).unwrap();
    let started = Instant::now();
    let mut reply = Vec::new();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let closed = std::io::Read::read_to_end(&mut stream, &mut reply).is_ok();
    let reply = String::from_utf8_lossy(&reply);
    assert!(
        reply.starts_with(&format!("HTTP/1.1 {status}")),
        "expected {status} for {:?}, got {reply}",
        String::from_utf8_lossy(bytes)
    );
    assert!(
        closed && started.elapsed() < Duration::from_secs(4),
        "connection stayed open after {reply}"
    );
    assert_eq!(
        reply.matches("HTTP/1.1").count(),
        1,
        "a smuggled request was answered: {reply}"
    );
    assert_eq!(
        upstream.requests().len(),
        before,
        "the request reached the upstream"
    );
}

#[test]
fn content_length_with_chunked_rejected() {
    let (gateway, upstream) = start();
    let attacks: [&[u8]; 2] = [
        b"POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: example.com\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\nContent-Length: 6\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: example.com\r\n\r\n",
    ];
    for attack in attacks {
        assert_rejected_and_closed(&gateway, &upstream, attack);
    }
}

#[test]
fn conflicting_lengths_rejected() {
    let (gateway, upstream) = start();
    let attacks: [&[u8]; 3] = [
        b"POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcde",
        b"POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: \r\nContent-Length: 3\r\n\r\nabc",
        b"POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3, 5\r\n\r\nabcde",
    ];
    for attack in attacks {
        assert_rejected_and_closed(&gateway, &upstream, attack);
    }
}

#[test]
fn malformed_framing_rejected() {
    let (gateway, upstream) = start();
    let attacks: [&[u8]; 5] = [
        b"POST / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST / HTTP/1.0\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: +3\r\n\r\nabc",
        b"GET / HTTP/1.1\r\nHost: example.com\r\nX-Folded: a\r\n b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: example.com\r\nContent-Length : 0\r\n\r\n",
    ];
    for attack in attacks {
        assert_rejected_and_closed(&gateway, &upstream, attack);
    }
    // A transfer coding the gateway does not implement (RFC 9112 section 6.1).
    for coding in ["gzip, chunked", "identity"] {
        let request = format!(
            "POST / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: {coding}\r\n\r\n0\r\n\r\n"
        );
        assert_status_and_closed(&gateway, &upstream, request.as_bytes(), 501);
    }
}

#[test]
fn framing_rejection_is_logged_with_request_id() {
    let (gateway, _upstream) = start();
    let reply = raw(
        gateway.public(),
        b"POST /framing HTTP/1.1\r\nHost: example.com\r\nx-request-id: framing-1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        Duration::from_secs(5),
    );
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    assert!(reply.contains("x-request-id: framing-1"), "{reply}");
    let started = Instant::now();
    let logged = loop {
        let found = gateway
            .access_log()
            .into_iter()
            .find(|line| line["request_id"] == "framing-1");
        match found {
            Some(line) => break line,
            None if started.elapsed() > Duration::from_secs(5) => {
                panic!("no access log line for the rejected request")
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    assert_eq!(logged["status"], 400);
    assert_eq!(logged["path"], "/framing");
}

#[test]
fn oversized_head_gets_431() {
    let (gateway, upstream) = start();
    let request = format!(
        "GET / HTTP/1.1\r\nHost: example.com\r\nX-Big: {}\r\n\r\n",
        "a".repeat(70 * 1024)
    );
    let reply = raw(gateway.public(), request.as_bytes(), Duration::from_secs(5));
    assert!(
        reply.starts_with("HTTP/1.1 431"),
        "{}",
        &reply[..reply.len().min(200)]
    );
    assert!(reply.contains("x-request-id:"), "{reply}");
    assert!(upstream.requests().is_empty());
}

#[test]
fn bare_lf_line_endings_accepted() {
    let (gateway, upstream) = start();
    let reply = raw(
        gateway.public(),
        b"GET /lf HTTP/1.1\nHost: example.com\nConnection: close\n\n",
        Duration::from_secs(5),
    );
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert_eq!(upstream.last().uri, "/lf");
}

#[test]
fn repeated_content_length_forwarded_once() {
    let (gateway, upstream) = start();
    let reply = raw(
        gateway.public(),
        b"POST /twice HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
        Duration::from_secs(5),
    );
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    let received = upstream.last();
    assert_eq!(received.headers.get_all("content-length").iter().count(), 1);
    assert_eq!(received.body, "hello");
}

#[test]
fn malformed_chunked_body_gets_400_and_close() {
    let (gateway, _upstream) = start();
    let bodies: [&[u8]; 3] = [
        b"zz\r\nabc\r\n0\r\n\r\n",
        b"10000000000000000\r\nabc\r\n0\r\n\r\n",
        b"3\nabc\r\n0\r\n\r\n",
    ];
    for body in bodies {
        let mut request =
            b"POST / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        request.extend_from_slice(body);
        request.extend_from_slice(b"GET /smuggled HTTP/1.1\r\nHost: example.com\r\n\r\n");
        let reply = raw(gateway.public(), &request, Duration::from_secs(5));
        assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
        assert_eq!(reply.matches("HTTP/1.1").count(), 1, "{reply}");
    }
}

#[test]
fn pipelined_requests_answered_in_order() {
    let (gateway, upstream) = start();
    let pipelined = b"GET /one HTTP/1.1\r\nHost: example.com\r\n\r\nPOST /two HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3\r\n\r\nabcGET /three HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n";
    let reply = raw(gateway.public(), pipelined, Duration::from_secs(5));
    assert_eq!(reply.matches("HTTP/1.1 200").count(), 3, "{reply}");
    let uris: Vec<String> = upstream
        .requests()
        .iter()
        .map(|received| received.uri.clone())
        .collect();
    assert_eq!(uris, ["/one", "/two", "/three"]);
    assert_eq!(upstream.requests()[1].body, "abc");
}

#[test]
fn http10_connection_closes_unless_kept_alive() {
    let (gateway, _upstream) = start();
    let reply = raw(
        gateway.public(),
        b"GET / HTTP/1.0\r\nHost: example.com\r\n\r\n",
        Duration::from_secs(5),
    );
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(
        reply.to_ascii_lowercase().contains("connection: close"),
        "{reply}"
    );

    let mut stream = std::net::TcpStream::connect(gateway.public()).unwrap();
    stream
        .write_all(b"GET / HTTP/1.0\r\nHost: example.com\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut reply = vec![0u8; 8192];
    let read = std::io::Read::read(&mut stream, &mut reply).unwrap();
    let reply = String::from_utf8_lossy(&reply[..read]).to_ascii_lowercase();
    assert!(reply.contains("connection: keep-alive"), "{reply}");
    assert!(reply.contains("content-length:"), "{reply}");
    assert!(
        !support::closed_after(&mut stream, Duration::from_millis(300)),
        "a kept-alive HTTP/1.0 connection was closed"
    );
}

#[test]
fn smuggling_after_a_good_request_caught() {
    let (gateway, upstream) = start();
    let pipelined = b"POST /first HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\nhelloPOST /second HTTP/1.1\r\nHost: example.com\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    let reply = raw(gateway.public(), pipelined, Duration::from_secs(5));
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert_eq!(reply.matches("HTTP/1.1 400").count(), 1, "{reply}");
    let uris: Vec<String> = upstream
        .requests()
        .iter()
        .map(|received| received.uri.clone())
        .collect();
    assert_eq!(uris, ["/first"]);
}

#[test]
fn header_flood_gets_431_quickly() {
    let (gateway, upstream) = start();
    let mut request = b"GET / HTTP/1.1\r\nHost: example.com\r\n".to_vec();
    for index in 0..10_000 {
        request.extend_from_slice(format!("x{index}: y\r\n").as_bytes());
    }
    request.extend_from_slice(b"\r\n");
    let started = Instant::now();
    let reply = raw(gateway.public(), &request, Duration::from_secs(5));
    assert!(reply.starts_with("HTTP/1.1 431"), "{reply}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    assert!(upstream.requests().is_empty());
}

#[test]
fn oversized_body_gets_413() {
    let upstream = Upstream::echo();
    let routes = "  - name: all\n    match: { path_prefix: / }\n    upstream: backend\n    max_body_size: 1KiB\n";
    let gateway = Gatehouse::start(&config(&upstream.url(), routes));
    let declared = format!(
        "POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 2048\r\n\r\n{}",
        "a".repeat(2048)
    );
    let reply = raw(
        gateway.public(),
        declared.as_bytes(),
        Duration::from_secs(5),
    );
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    assert!(reply.contains("payload_too_large"), "{reply}");

    let mut chunked =
        b"POST / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..4 {
        chunked.extend_from_slice(format!("200\r\n{}\r\n", "b".repeat(512)).as_bytes());
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let reply = raw(gateway.public(), &chunked, Duration::from_secs(5));
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    assert!(upstream
        .requests()
        .iter()
        .all(|received| received.body.len() <= 1024));
}

#[test]
fn invalid_targets_get_400() {
    let (gateway, upstream) = start();
    let requests: [&[u8]; 4] = [
        b"GET /a%zz HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
        b"GET /no-host HTTP/1.1\r\nConnection: close\r\n\r\n",
        b"OPTIONS * HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nConnection: close\r\n\r\n",
    ];
    for request in requests {
        let reply = raw(gateway.public(), request, Duration::from_secs(5));
        assert!(
            reply.starts_with("HTTP/1.1 400"),
            "{} got {reply}",
            String::from_utf8_lossy(request)
        );
    }
    assert!(upstream.requests().is_empty());
}

#[test]
fn slow_header_times_out() {
    let upstream = Upstream::echo();
    let yaml = config(&upstream.url(), ALL).replace(
        "upstreams:",
        "server:\n  header_read_timeout: 500ms\nupstreams:",
    );
    let gateway = Gatehouse::start(&yaml);
    let mut stream = std::net::TcpStream::connect(gateway.public()).unwrap();
    stream.write_all(b"GET / HTTP/1.1\r\nHost: exa").unwrap();
    let started = Instant::now();
    assert!(
        support::closed_after(&mut stream, Duration::from_secs(5)),
        "the connection stayed open"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "closed only after {:?}",
        started.elapsed()
    );
}
