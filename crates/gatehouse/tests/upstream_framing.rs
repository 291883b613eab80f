//! Upstream responses framed in unusual or broken ways, from a raw TCP server that writes
//! scripted bytes on each connection.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use support::{config, get, raw, Gatehouse};

const ALL: &str = "  - name: all\n    match: { path_prefix: / }\n    upstream: backend\n";

/// A loopback server that reads each request head and writes `response`. With
/// `close_after`, it closes the connection after that many responses on it.
struct ScriptedUpstream {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ScriptedUpstream {
    fn start(response: &'static [u8], close_after: usize) -> ScriptedUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, stopped) = (connections.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(30);
            while !stopped.load(Ordering::Relaxed) && Instant::now() < deadline {
                match listener.accept() {
                    Ok((stream, _)) => {
                        count.fetch_add(1, Ordering::Relaxed);
                        std::thread::spawn(move || answer(stream, response, close_after));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        ScriptedUpstream {
            addr,
            connections,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for ScriptedUpstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn answer(mut stream: TcpStream, response: &[u8], close_after: usize) {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut pending = Vec::new();
    let mut buffer = [0u8; 4096];
    for _ in 0..close_after {
        while !pending.windows(4).any(|window| window == b"\r\n\r\n") {
            match stream.read(&mut buffer) {
                Ok(0) | Err(_) => return,
                Ok(read) => pending.extend_from_slice(&buffer[..read]),
            }
        }
        let end = pending
            .windows(4)
            .position(|window| window == b"\r\n\r\n")
            .unwrap()
            + 4;
        pending.drain(..end);
        if stream.write_all(response).is_err() {
            return;
        }
    }
}

fn gateway_for(upstream: &ScriptedUpstream) -> Gatehouse {
    Gatehouse::start(&config(&upstream.url(), ALL))
}

#[test]
fn garbage_response_gets_502() {
    let upstream = ScriptedUpstream::start(b"this is not http\r\n\r\n", 1);
    let gateway = gateway_for(&upstream);
    let reply = get(gateway.public(), "/");
    assert_eq!(reply.status, 502);
    assert_eq!(reply.json()["error"]["code"], "upstream_protocol_error");
}

#[test]
fn response_cut_before_its_head_ends_gets_502() {
    let upstream = ScriptedUpstream::start(b"HTTP/1.1 200 OK\r\nContent-Le", 1);
    let gateway = gateway_for(&upstream);
    let reply = get(gateway.public(), "/");
    assert_eq!(reply.status, 502);
    assert_eq!(reply.json()["error"]["code"], "upstream_unavailable");
}

#[test]
fn conflicting_response_lengths_get_502() {
    let upstream = ScriptedUpstream::start(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
        1,
    );
    let gateway = gateway_for(&upstream);
    let reply = get(gateway.public(), "/");
    assert_eq!(reply.status, 502);
    assert_eq!(reply.json()["error"]["code"], "upstream_protocol_error");
}

#[test]
fn chunked_wins_over_length_in_a_response() {
    let upstream = ScriptedUpstream::start(
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        1,
    );
    let gateway = gateway_for(&upstream);
    let reply = get(gateway.public(), "/");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text(), "abc");
}

#[test]
fn close_delimited_response_reaches_the_client_whole() {
    let upstream = ScriptedUpstream::start(
        b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end",
        1,
    );
    let gateway = gateway_for(&upstream);
    let reply = get(gateway.public(), "/");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text(), "until the end");
}

#[test]
fn response_shorter_than_its_length_is_not_completed() {
    let upstream = ScriptedUpstream::start(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 1);
    let gateway = gateway_for(&upstream);
    let reply = raw(
        gateway.public(),
        b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
        Duration::from_secs(5),
    );
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(
        reply.ends_with("abc"),
        "the client got more than was sent: {reply}"
    );
}

#[test]
fn pooled_connection_closed_by_the_upstream_is_replaced() {
    // Each upstream connection serves one request and then closes.
    let upstream = ScriptedUpstream::start(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 1);
    let gateway = gateway_for(&upstream);
    for round in 0..5 {
        let reply = get(gateway.public(), "/");
        assert_eq!(reply.status, 200, "round {round}: {}", reply.text());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(upstream.connections.load(Ordering::Relaxed) >= 5);
}

#[test]
fn keep_alive_upstream_connection_is_reused() {
    let upstream = ScriptedUpstream::start(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 100);
    let gateway = gateway_for(&upstream);
    for _ in 0..10 {
        assert_eq!(get(gateway.public(), "/").status, 200);
    }
    // The test harness runs two workers, each with its own pool.
    assert!(
        upstream.connections.load(Ordering::Relaxed) <= 2,
        "opened {} connections for 10 sequential requests",
        upstream.connections.load(Ordering::Relaxed)
    );
}
