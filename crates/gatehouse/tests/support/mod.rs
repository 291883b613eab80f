//! Test harness: the real `gatehouse` binary against real servers on loopback.
//!
//! `Gatehouse::start` writes a configuration to a temporary directory, runs the binary on
//! it with two workers and waits until its listeners report their bound addresses. Upstreams
//! are hyper servers on ephemeral ports that record what they receive.

#![allow(dead_code)]

pub mod redis;

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

/// A running gateway process.
pub struct Gatehouse {
    pub child: Child,
    pub addresses: HashMap<String, SocketAddr>,
    pub admin: Option<SocketAddr>,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    pub stdout: Arc<Mutex<Vec<String>>>,
    pub stderr: Arc<Mutex<Vec<String>>>,
}

impl Gatehouse {
    /// Starts the gateway on `yaml`, in which `ADMIN` is replaced by a free admin address.
    pub fn start(yaml: &str) -> Gatehouse {
        let dir = tempfile::tempdir().expect("temporary directory");
        Self::start_in(dir, yaml)
    }

    pub fn start_in(dir: tempfile::TempDir, yaml: &str) -> Gatehouse {
        Self::start_with_env(dir, yaml, &[])
    }

    /// Starts the gateway with extra environment variables (for `{ env: NAME }` secrets).
    pub fn start_with_env(dir: tempfile::TempDir, yaml: &str, env: &[(&str, &str)]) -> Gatehouse {
        let config_path = dir.path().join("gatehouse.yaml");
        std::fs::write(&config_path, yaml).expect("write configuration");
        let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .args(["run", "--workers", "2", "--config"])
            .arg(&config_path)
            .envs(env.iter().copied())
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start gatehouse");
        let stdout = collect_lines(child.stdout.take().expect("stdout"));
        let stderr_pipe = child.stderr.take().expect("stderr");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (addresses, admin) = wait_for_listeners(stderr_pipe, stderr.clone(), &mut child);
        Gatehouse {
            child,
            addresses,
            admin,
            dir,
            config_path,
            stdout,
            stderr,
        }
    }

    /// Returns the address of the listener named `name`.
    pub fn addr(&self, name: &str) -> SocketAddr {
        self.addresses[name]
    }

    /// Returns the address of the first (usually only) listener.
    pub fn public(&self) -> SocketAddr {
        self.addr("public")
    }

    pub fn admin(&self) -> SocketAddr {
        self.admin.expect("admin listener")
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.pid().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits until stderr has a line containing `needle`, up to `timeout`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self
                .stderr
                .lock()
                .unwrap()
                .iter()
                .any(|line| line.contains(needle))
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    pub fn access_log(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lock()
            .unwrap()
            .iter()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }

    /// Asks the admin API to reload the configuration file.
    pub fn reload(&self) -> Reply {
        let request = Request::post("/admin/reload")
            .header("host", "admin")
            .body(Full::new(Bytes::new()))
            .unwrap();
        send(self.admin(), request)
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn stop(mut self) -> std::process::ExitStatus {
        self.signal("TERM");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "gatehouse did not stop within 20 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Gatehouse {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn collect_lines(pipe: impl Read + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    lines
}

fn wait_for_listeners(
    pipe: std::process::ChildStderr,
    lines: Arc<Mutex<Vec<String>>>,
    child: &mut Child,
) -> (HashMap<String, SocketAddr>, Option<SocketAddr>) {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            lines.lock().unwrap().push(line.clone());
            let _ = sender.send(line);
        }
    });
    let mut addresses = HashMap::new();
    let mut admin = None;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        let Ok(line) = receiver.recv_timeout(Duration::from_millis(100)) else {
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "gatehouse exited with {status} before listening:\n{}",
                    seen.join("\n")
                );
            }
            continue;
        };
        seen.push(line.clone());
        if line.contains("gateway started") {
            return (addresses, admin);
        }
        let (Some(name), Some(address)) = (field(&line, "listener"), field(&line, "address"))
        else {
            continue;
        };
        let address: SocketAddr = address.parse().expect("listener address");
        if name == "admin" {
            admin = Some(address);
        } else {
            addresses.insert(name, address);
        }
    }
    panic!(
        "gatehouse did not report its listeners within 20 s:\n{}",
        seen.join("\n")
    );
}

/// Extracts `key=value` or `key="value"` from a tracing text line.
fn field(line: &str, key: &str) -> Option<String> {
    let start = line.find(&format!("{key}="))? + key.len() + 1;
    let rest = &line[start..];
    let value = if let Some(quoted) = rest.strip_prefix('"') {
        quoted.split('"').next()?
    } else {
        rest.split_whitespace().next()?
    };
    Some(value.to_string())
}

/// Free admin address for configurations: port 0 on loopback.
pub const ADMIN: &str = "127.0.0.1:0";

/// A request as an upstream received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub uri: String,
    pub version: http::Version,
    pub headers: HeaderMap,
    pub body: Bytes,
}

type Handler = Arc<
    dyn Fn(Received) -> Pin<Box<dyn Future<Output = Response<Full<Bytes>>> + Send>> + Send + Sync,
>;

/// An upstream HTTP server (HTTP/1.1 and h2c) on an ephemeral loopback port.
pub struct Upstream {
    pub addr: SocketAddr,
    pub received: Arc<Mutex<Vec<Received>>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Upstream {
    /// Starts an upstream that responds 200 with a JSON echo of each request.
    pub fn echo() -> Upstream {
        Upstream::start(|received| async move { echo_response(&received) })
    }

    /// Starts an upstream that responds with `name` as the body, to tell targets apart.
    pub fn named(name: &'static str) -> Upstream {
        Upstream::start(move |_| async move { Response::new(Full::new(Bytes::from(name))) })
    }

    pub fn start<F, Fut>(handler: F) -> Upstream
    where
        F: Fn(Received) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |received| Box::pin(handler(received)));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (handler, log) = (handler.clone(), log.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<Incoming>| {
                        let (handler, log) = (handler.clone(), log.clone());
                        async move {
                            let received = read_request(request).await;
                            log.lock().unwrap().push(received.clone());
                            Ok::<_, Infallible>(handler(received).await)
                        }
                    });
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Upstream {
            addr,
            received,
            runtime: Some(runtime),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    pub fn last(&self) -> Received {
        self.requests()
            .pop()
            .expect("the upstream received no request")
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

async fn read_request(request: Request<Incoming>) -> Received {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .unwrap_or_default();
    Received {
        method: parts.method.to_string(),
        uri: parts.uri.to_string(),
        version: parts.version,
        headers: parts.headers,
        body,
    }
}

/// Builds a 200 response whose JSON body echoes the request line and headers.
pub fn echo_response(received: &Received) -> Response<Full<Bytes>> {
    let headers: serde_json::Map<String, serde_json::Value> = received
        .headers
        .iter()
        .map(|(name, value)| {
            (
                name.to_string(),
                serde_json::Value::from(value.to_str().unwrap_or("")),
            )
        })
        .collect();
    let body = serde_json::json!({"method": received.method, "uri": received.uri, "headers": headers, "body_len": received.body.len()});
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    response
}

/// A plain HTTP/1.1 response from `send` and friends.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("body is not JSON: {:?}", self.body))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
}

/// Sends one request over a new HTTP/1.1 connection.
pub fn send(addr: SocketAddr, request: Request<Full<Bytes>>) -> Reply {
    exchange(addr, request, false)
}

/// Sends one request over a new cleartext HTTP/2 connection (prior knowledge).
pub fn send_h2c(addr: SocketAddr, request: Request<Full<Bytes>>) -> Reply {
    exchange(addr, request, true)
}

fn exchange(addr: SocketAddr, request: Request<Full<Bytes>>, http2: bool) -> Reply {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connect to gatehouse");
        let response = if http2 {
            let (mut sender, connection) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                    .await
                    .unwrap();
            tokio::spawn(connection);
            sender.send_request(request).await
        } else {
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .unwrap();
            tokio::spawn(connection);
            sender.send_request(request).await
        };
        let (parts, body) = response.expect("response").into_parts();
        let body = body.collect().await.expect("response body").to_bytes();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    })
}

/// Sends `GET path` with a `Host: example.com` header.
pub fn get(addr: SocketAddr, path: &str) -> Reply {
    send(
        addr,
        request("GET", path).body(Full::new(Bytes::new())).unwrap(),
    )
}

/// Starts a request builder with a `Host: example.com` header.
pub fn request(method: &str, path: &str) -> http::request::Builder {
    Request::builder()
        .method(method)
        .uri(path)
        .header("host", "example.com")
}

/// Writes raw bytes and reads until the server closes or `timeout` passes.
pub fn raw(addr: SocketAddr, bytes: &[u8], timeout: Duration) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(timeout)).unwrap();
    stream.write_all(bytes).expect("write");
    let mut out = Vec::new();
    let mut buffer = [0u8; 8192];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => out.extend_from_slice(&buffer[..read]),
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Returns true when the server closed the connection (read returns 0) within `timeout`.
pub fn closed_after(stream: &mut TcpStream, timeout: Duration) -> bool {
    stream.set_read_timeout(Some(timeout)).unwrap();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(_) => return false,
        }
    }
}

/// Builds a configuration with one listener, one upstream and the given routes section.
pub fn config(upstream_url: &str, routes: &str) -> String {
    format!(
        "listeners:\n  - name: public\n    address: \"127.0.0.1:0\"\nadmin:\n  address: \"{ADMIN}\"\naccess_log:\n  format: json\nupstreams:\n  - name: backend\n    targets:\n      - url: \"{upstream_url}\"\nroutes:\n{routes}"
    )
}

/// Returns the `sha256:` form of an API key, as `consumers[].api_keys` takes it.
pub fn key_hash(key: &str) -> String {
    gatehouse_config::keys::format_key_hash(&gatehouse_config::keys::hash_api_key(key))
}
