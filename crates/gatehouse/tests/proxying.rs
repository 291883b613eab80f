//! Forwarding end to end: headers, bodies, streaming, upgrades and protocols.

mod support;

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper_util::rt::{TokioExecutor, TokioIo};
use support::{config, get, raw, request, send, send_h2c, Gatehouse, Upstream};

const ALL: &str = "  - name: all\n    match: { path_prefix: / }\n    upstream: backend\n";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn hop_by_hop_headers_removed() {
    let upstream = Upstream::echo();
    let gateway = Gatehouse::start(&config(&upstream.url(), ALL));
    let forwarded = request("GET", "/h")
        .header("connection", "keep-alive, x-private")
        .header("x-private", "secret")
        .header("keep-alive", "timeout=5")
        .header("proxy-connection", "keep-alive")
        .header("proxy-authorization", "Basic Zm9vOmJhcg==")
        .header("te", "gzip")
        .header("upgrade", "h2c")
        .header("x-kept", "1")
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert_eq!(send(gateway.public(), forwarded).status, 200);
    let received = upstream.last();
    for name in [
        "x-private",
        "keep-alive",
        "proxy-connection",
        "proxy-authorization",
        "te",
        "upgrade",
    ] {
        assert!(
            !received.headers.contains_key(name),
            "{name} reached the upstream"
        );
    }
    assert_ne!(
        received
            .headers
            .get("connection")
            .map(|value| value.as_bytes()),
        Some(&b"keep-alive, x-private"[..])
    );
    assert_eq!(received.headers["x-kept"], "1");
}

#[test]
fn te_trailers_forwarded_alone() {
    let upstream = Upstream::echo();
    let gateway = Gatehouse::start(&config(&upstream.url(), ALL));
    let forwarded = request("GET", "/te")
        .header("te", "trailers, deflate;q=0.5")
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert_eq!(send(gateway.public(), forwarded).status, 200);
    assert_eq!(upstream.last().headers["te"], "trailers");
}

#[test]
fn forwarded_headers_and_request_id() {
    let upstream = Upstream::echo();
    let gateway = Gatehouse::start(&config(&upstream.url(), ALL));
    let forwarded = request("GET", "/f")
        .header("x-forwarded-for", "203.0.113.7")
        .header("x-forwarded-for", "198.51.100.2")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let reply = send(gateway.public(), forwarded);
    let received = upstream.last();
    assert_eq!(
        received.headers["x-forwarded-for"],
        "203.0.113.7, 198.51.100.2, 127.0.0.1"
    );
    assert_eq!(received.headers["x-forwarded-proto"], "http");
    assert_eq!(received.headers["x-forwarded-host"], "example.com");
    let id = received.headers["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(id.len(), 32);
    assert_eq!(reply.header("x-request-id"), Some(id.as_str()));

    let with_id = request("GET", "/f")
        .header("x-request-id", "client-chosen-1")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let reply = send(gateway.public(), with_id);
    assert_eq!(upstream.last().headers["x-request-id"], "client-chosen-1");
    assert_eq!(reply.header("x-request-id"), Some("client-chosen-1"));
}

#[test]
fn underscore_identity_headers_dropped() {
    let upstream = Upstream::echo();
    let gateway = Gatehouse::start(&config(&upstream.url(), ALL));
    let spoofed = request("GET", "/u")
        .header("X_Consumer_Id", "admin")
        .header("x_forwarded_for", "10.0.0.1")
        .header("x-multi", "first")
        .header("x-multi", "second")
        .header("x-multi", "third")
        .body(Full::new(Bytes::new()))
        .unwrap();
    send(gateway.public(), spoofed);
    let received = upstream.last();
    assert!(!received.headers.contains_key("x_consumer_id"));
    assert!(!received.headers.contains_key("x_forwarded_for"));
    let multi: Vec<_> = received
        .headers
        .get_all("x-multi")
        .iter()
        .map(|value| value.to_str().unwrap())
        .collect();
    assert_eq!(multi, ["first", "second", "third"]);
}

#[test]
fn header_rules_applied() {
    let upstream = Upstream::start(|_| async {
        Response::builder()
            .header("server", "internal/1.0")
            .header("x-upstream", "yes")
            .body(Full::new(Bytes::from("ok")))
            .unwrap()
    });
    let routes = "  - name: all\n    match: { path_prefix: / }\n    upstream: backend\n    request_headers:\n      set: { x-gateway: gatehouse }\n      add: { x-added: one }\n      remove: [x-internal-debug]\n    response_headers:\n      remove: [server]\n      set: { x-served-by: gatehouse }\n";
    let gateway = Gatehouse::start(&config(&upstream.url(), routes));
    let reply = send(
        gateway.public(),
        request("GET", "/")
            .header("x-internal-debug", "1")
            .body(Full::new(Bytes::new()))
            .unwrap(),
    );
    let received = upstream.last();
    assert_eq!(received.headers["x-gateway"], "gatehouse");
    assert_eq!(received.headers["x-added"], "one");
    assert!(!received.headers.contains_key("x-internal-debug"));
    assert_eq!(reply.header("server"), None);
    assert_eq!(reply.header("x-served-by"), Some("gatehouse"));
    assert_eq!(reply.header("x-upstream"), Some("yes"));
}

/// Peak resident memory of a process in KiB (VmHWM).
fn peak_rss_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with("VmHWM:"))
        .unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

const HUNDRED_MIB: usize = 100 * 1024 * 1024;

#[test]
fn large_upload_streams() {
    let upstream = Upstream::start(|received| async move {
        Response::new(Full::new(Bytes::from(received.body.len().to_string())))
    });
    let routes = "  - name: all\n    match: { path_prefix: / }\n    upstream: backend\n    max_body_size: 200MiB\n";
    let gateway = Gatehouse::start(&config(&upstream.url(), routes));
    let addr = gateway.public();
    let (status, body) = runtime().block_on(async move {
        let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
        let chunks = futures_util::stream::iter(
            (0..HUNDRED_MIB / chunk.len())
                .map(move |_| Ok::<_, std::io::Error>(Frame::data(chunk.clone()))),
        );
        let request = Request::post("/upload")
            .header("host", "example.com")
            .body(StreamBody::new(chunks))
            .unwrap();
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(connection);
        let response = sender.send_request(request).await.unwrap();
        let status = response.status();
        (
            status,
            response.into_body().collect().await.unwrap().to_bytes(),
        )
    });
    assert_eq!(status, 200);
    assert_eq!(body, HUNDRED_MIB.to_string());
    let peak = peak_rss_kib(gateway.pid());
    assert!(
        peak < 64 * 1024,
        "gateway peak RSS {peak} KiB during a 100 MiB upload"
    );
}

#[test]
fn large_download_streams() {
    let payload = Bytes::from(vec![b'y'; HUNDRED_MIB]);
    let upstream = Upstream::start(move |_| {
        let payload = payload.clone();
        async move { Response::new(Full::new(payload)) }
    });
    let gateway = Gatehouse::start(&config(&upstream.url(), ALL));
    let addr = gateway.public();
    let received = runtime().block_on(async move {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(connection);
        let request = Request::get("/download")
            .header("host", "example.com")
            .body(Full::new(Bytes::new()))
            .unwrap();
        let mut body = sender.send_request(request).await.unwrap().into_body();
        let mut total = 0usize;
        while let Some(frame) = body.frame().await {
            if let Some(data) = frame.unwrap().data_ref() {
                total += data.len();
            }
        }
        total
    });
    assert_eq!(received, HUNDRED_MIB);
    let peak = peak_rss_kib(gateway.pid());
    assert!(
        peak < 64 * 1024,
        "gateway peak RSS {peak} KiB during a 100 MiB download"
    );
}

#[test]
fn client_that_stops_reading_is_dropped() {
    let payload = Bytes::from(vec![b'z'; 64 * 1024 * 1024]);
    let upstream = Upstream::start(move |_| {
        let payload = payload.clone();
        async move { Response::new(Full::new(payload)) }
    });
    let yaml = config(&upstream.url(), ALL)
        .replace("upstreams:", "server:\n  idle_timeout: 1s\nupstreams:");
    let gateway = Gatehouse::start(&yaml);
    let mut stream = std::net::TcpStream::connect(gateway.public()).unwrap();
    stream
        .write_all(b"GET /download HTTP/1.1\r\nHost: example.com\r\n\r\n")
        .unwrap();
    // Read nothing while the socket buffers fill up and the send timeout passes.
    std::thread::sleep(Duration::from_secs(3));
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut received = 0usize;
    let mut buffer = vec![0u8; 1 << 16];
    let closed = loop {
        match std::io::Read::read(&mut stream, &mut buffer) {
            Ok(0) => break true,
            Ok(read) => received += read,
            Err(_) => break false,
        }
    };
    assert!(closed, "the connection stayed open");
    assert!(
        received < 64 * 1024 * 1024,
        "the whole body arrived although the client read nothing for 3 s"
    );
}

#[test]
fn chunked_upload_with_trailers() {
    let upstream = Upstream::echo();
    let gateway = Gatehouse::start(&config(&upstream.url(), ALL));
    let body = b"POST /chunked HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\nTrailer: x-checksum\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\nx-checksum: abc\r\n\r\n";
    let reply = raw(gateway.public(), body, Duration::from_secs(5));
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert_eq!(upstream.last().body, Bytes::from("hello world"));
}

#[test]
fn response_trailers_forwarded() {
    let addr = trailer_upstream();
    let gateway = Gatehouse::start(&config(&format!("http://{addr}"), ALL));
    let reply = raw(
        gateway.public(),
        b"GET /t HTTP/1.1\r\nHost: example.com\r\nTE: trailers\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    );
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(
        reply
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "{reply}"
    );
    assert!(reply.contains("grpc-status: 0"), "trailer missing: {reply}");
}

/// Starts an upstream that responds with a body and a `grpc-status` trailer.
fn trailer_upstream() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            listener.set_nonblocking(true).unwrap();
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(|_request| async {
                        let mut trailers = http::HeaderMap::new();
                        trailers.insert("grpc-status", "0".parse().unwrap());
                        let frames = vec![
                            Ok::<_, std::convert::Infallible>(Frame::data(Bytes::from("payload"))),
                            Ok(Frame::trailers(trailers)),
                        ];
                        let body = StreamBody::new(futures_util::stream::iter(frames));
                        Ok::<_, std::convert::Infallible>(
                            Response::builder()
                                .header("trailer", "grpc-status")
                                .body(body)
                                .unwrap(),
                        )
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
    });
    addr
}

#[test]
fn websocket_echo_through_gateway() {
    let runtime = runtime();
    let upstream_addr = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut socket = tokio_tungstenite::accept_async(stream).await.unwrap();
                    while let Some(Ok(message)) = socket.next().await {
                        if message.is_text() || message.is_binary() {
                            socket.send(message).await.unwrap();
                        }
                    }
                });
            }
        });
        addr
    });
    let gateway = Gatehouse::start(&config(&format!("http://{upstream_addr}"), ALL));
    let addr = gateway.public();
    let echoed = runtime.block_on(async move {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut socket, response) =
            tokio_tungstenite::client_async(format!("ws://{addr}/ws"), stream)
                .await
                .unwrap();
        assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
        let mut echoed = Vec::new();
        for text in ["first", "second"] {
            socket
                .send(tokio_tungstenite::tungstenite::Message::text(text))
                .await
                .unwrap();
            echoed.push(
                socket
                    .next()
                    .await
                    .unwrap()
                    .unwrap()
                    .into_text()
                    .unwrap()
                    .to_string(),
            );
        }
        echoed
    });
    assert_eq!(echoed, ["first", "second"]);
}

#[test]
fn refused_upgrade_stays_http() {
    let upstream = Upstream::start(|received| async move {
        let status = if received.uri == "/ws" { 400 } else { 200 };
        Response::builder()
            .status(status)
            .body(Full::new(Bytes::from("no upgrade")))
            .unwrap()
    });
    let gateway = Gatehouse::start(&config(&upstream.url(), ALL));
    let pipelined = b"GET /ws HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nGET /second HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n";
    let reply = raw(gateway.public(), pipelined, Duration::from_secs(5));
    assert_eq!(reply.matches("HTTP/1.1 400").count(), 1, "{reply}");
    assert_eq!(reply.matches("HTTP/1.1 200").count(), 1, "{reply}");
    let uris: Vec<String> = upstream
        .requests()
        .iter()
        .map(|received| received.uri.clone())
        .collect();
    assert_eq!(uris, ["/ws", "/second"]);
}

#[test]
fn expect_continue_waits_for_upstream() {
    let upstream_addr = slow_continue_upstream();
    let gateway = Gatehouse::start(&config(&format!("http://{upstream_addr}"), ALL));
    let mut stream = std::net::TcpStream::connect(gateway.public()).unwrap();
    use std::io::{Read, Write};
    stream.write_all(b"POST /e HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n").unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(250)))
        .unwrap();
    let mut buffer = [0u8; 1024];
    let early = stream.read(&mut buffer);
    assert!(
        early.is_err(),
        "the gateway answered before the upstream: {:?}",
        early.map(|n| String::from_utf8_lossy(&buffer[..n]).into_owned())
    );
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let read = stream.read(&mut buffer).unwrap();
    assert!(String::from_utf8_lossy(&buffer[..read]).starts_with("HTTP/1.1 100 Continue"));
    stream.write_all(b"hello").unwrap();
    let read = stream.read(&mut buffer).unwrap();
    let reply = String::from_utf8_lossy(&buffer[..read]).into_owned();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.ends_with("expect=100-continue body=hello"), "{reply}");
}

/// Starts an upstream that reads the body (and so sends 100 Continue) only after 600 ms.
fn slow_continue_upstream() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            listener.set_nonblocking(true).unwrap();
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        |request: Request<hyper::body::Incoming>| async move {
                            tokio::time::sleep(Duration::from_millis(600)).await;
                            let expect = request
                                .headers()
                                .get("expect")
                                .map(|value| value.to_str().unwrap().to_string())
                                .unwrap_or_default();
                            let body = request.into_body().collect().await.unwrap().to_bytes();
                            let text =
                                format!("expect={expect} body={}", String::from_utf8_lossy(&body));
                            Ok::<_, std::convert::Infallible>(Response::new(Full::new(
                                Bytes::from(text),
                            )))
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
    });
    addr
}

#[test]
fn head_and_no_content_have_no_body() {
    let upstream = Upstream::start(|received| async move {
        let status = match received.uri.as_str() {
            "/204" => 204,
            "/304" => 304,
            _ => 200,
        };
        Response::builder()
            .status(status)
            .body(Full::new(Bytes::new()))
            .unwrap()
    });
    let routes = "  - name: all\n    match: { path_prefix: /, methods: [GET, HEAD] }\n    upstream: backend\n";
    let gateway = Gatehouse::start(&config(&upstream.url(), routes));
    let pipelined = b"HEAD /missing-route-x HTTP/1.1\r\nHost: nothing.invalid\r\n\r\nGET /204 HTTP/1.1\r\nHost: example.com\r\n\r\nGET /304 HTTP/1.1\r\nHost: example.com\r\n\r\nPOST /405 HTTP/1.1\r\nHost: example.com\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    let reply = raw(gateway.public(), pipelined, Duration::from_secs(5));
    let statuses: Vec<&str> = reply
        .lines()
        .filter(|line| line.starts_with("HTTP/1.1 "))
        .collect();
    assert_eq!(
        statuses,
        [
            "HTTP/1.1 200 OK",
            "HTTP/1.1 204 No Content",
            "HTTP/1.1 304 Not Modified",
            "HTTP/1.1 404 Not Found"
        ],
        "{reply}"
    );
    assert_eq!(
        reply.matches("route_not_found").count(),
        1,
        "only the POST carries a body: {reply}"
    );
}

#[test]
fn head_error_has_no_body() {
    let upstream = Upstream::echo();
    let gateway = Gatehouse::start(&config(&upstream.url(), ALL));
    let reply = raw(gateway.public(), b"HEAD /x%00 HTTP/1.1\r\nHost: example.com\r\n\r\nGET /x%00 HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n", Duration::from_secs(5));
    assert_eq!(reply.matches("HTTP/1.1 400").count(), 2, "{reply}");
    assert_eq!(
        reply.matches("invalid_request_target").count(),
        1,
        "{reply}"
    );
}

#[test]
fn http2_client_to_http1_upstream() {
    let upstream = Upstream::echo();
    let gateway = Gatehouse::start(&config(&upstream.url(), ALL));
    let request = Request::get("http://example.com/h2?q=1")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let reply = send_h2c(gateway.public(), request);
    assert_eq!(reply.status, 200);
    let received = upstream.last();
    assert_eq!(received.version, http::Version::HTTP_11);
    assert_eq!(received.uri, "/h2?q=1");
    assert_eq!(received.headers["host"], upstream.addr.to_string());
    assert_eq!(received.headers["x-forwarded-host"], "example.com");
}

#[test]
fn h2c_upstream_receives_http2() {
    let upstream = Upstream::echo();
    let yaml =
        config(&upstream.url(), ALL).replace("    targets:", "    protocol: h2c\n    targets:");
    let gateway = Gatehouse::start(&yaml);
    for _ in 0..3 {
        assert_eq!(get(gateway.public(), "/two?x=%20").status, 200);
    }
    let received = upstream.last();
    assert_eq!(received.version, http::Version::HTTP_2);
    assert_eq!(received.uri, format!("http://{}/two?x=%20", upstream.addr));
}

fn tls_client(alpn: &[&[u8]]) -> tokio_rustls::TlsConnector {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    let ca = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/ca.pem"
    ))
    .unwrap();
    use rustls_pki_types::pem::PemObject;
    for certificate in rustls_pki_types::CertificateDer::pem_slice_iter(&ca) {
        roots.add(certificate.unwrap()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

#[test]
fn tls_listener_speaks_both_protocols() {
    let upstream = Upstream::echo();
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let yaml = config(&upstream.url(), ALL).replace(
        "    address: \"127.0.0.1:0\"\n",
        &format!("    address: \"127.0.0.1:0\"\n    tls:\n      certificate: {fixtures}/server.pem\n      key: {fixtures}/server.key\n"),
    );
    let gateway = Gatehouse::start(&yaml);
    let addr = gateway.public();
    let (h2_status, h1_status) = runtime().block_on(async move {
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let tls = tls_client(&[b"h2"])
            .connect(name.clone(), stream)
            .await
            .unwrap();
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        let (mut sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
                .await
                .unwrap();
        tokio::spawn(connection);
        let request = Request::get("https://localhost/secure")
            .body(Full::new(Bytes::new()))
            .unwrap();
        let h2_status = sender.send_request(request).await.unwrap().status();

        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let tls = tls_client(&[b"http/1.1"])
            .connect(name, stream)
            .await
            .unwrap();
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .unwrap();
        tokio::spawn(connection);
        let request = Request::get("/secure")
            .header("host", "localhost")
            .body(Full::new(Bytes::new()))
            .unwrap();
        (
            h2_status,
            sender.send_request(request).await.unwrap().status(),
        )
    });
    assert_eq!(h2_status, 200);
    assert_eq!(h1_status, 200);
    assert_eq!(upstream.last().headers["x-forwarded-proto"], "https");
}

#[test]
fn https_upstream_with_custom_ca() {
    let upstream = Upstream::echo();
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    // A first gateway terminates TLS in front of the echo upstream; the second reaches it over HTTPS.
    let front = config(&upstream.url(), ALL).replace(
        "    address: \"127.0.0.1:0\"\n",
        &format!("    address: \"127.0.0.1:0\"\n    tls:\n      certificate: {fixtures}/server.pem\n      key: {fixtures}/server.key\n"),
    );
    let tls_gateway = Gatehouse::start(&front);
    let https_url = format!("https://localhost:{}", tls_gateway.public().port());
    let yaml = config(&https_url, ALL).replace(
        "    targets:",
        &format!("    tls:\n      ca: {fixtures}/ca.pem\n    targets:"),
    );
    let gateway = Gatehouse::start(&yaml);
    assert_eq!(get(gateway.public(), "/through-tls").status, 200);
    assert_eq!(upstream.last().uri, "/through-tls");
}
