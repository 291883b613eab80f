//! Sends HTTP/1.1 requests at a fixed rate and prints latency percentiles, for latency
//! comparisons below saturation.
//!
//! wrk sends each request as soon as the previous one on its connection gets its response, so it
//! always saturates the server and its percentiles include queueing behind the other
//! requests. Here every request has a time in a fixed schedule, spread over keep-alive
//! connections in turn, and its latency runs from that time to the end of its response.
//! When a response comes late, the next request on that connection leaves late too and its
//! latency includes the wait, so slow responses are not hidden. Tokio's timer has a
//! resolution of one millisecond, so requests leave in small bursts at each tick.
//!
//! Usage: `fixed_rate PORT PATH RATE SECONDS CONNECTIONS`. Every request carries an
//! `x-client` header with a random value from 1 to 100,000. Prints one line: the rate
//! reached, then p50, p90, p99, p99.9 and the maximum in milliseconds.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Plan {
    port: u16,
    path: String,
    rate: f64,
    seconds: f64,
    connections: usize,
}

fn main() {
    let plan = match parse(std::env::args().skip(1).collect()) {
        Ok(plan) => plan,
        Err(message) => {
            eprintln!("{message}\nusage: fixed_rate PORT PATH RATE SECONDS CONNECTIONS");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("building a Tokio runtime failed");
    let started = Instant::now();
    let mut latencies = match runtime.block_on(run(&plan)) {
        Ok(latencies) => latencies,
        Err(err) => {
            eprintln!("load failed: {err}");
            std::process::exit(1);
        }
    };
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let percentile = |fraction: f64| {
        let index = ((latencies.len() as f64 * fraction) as usize).min(latencies.len() - 1);
        latencies[index] as f64 / 1000.0
    };
    println!(
        "{:.0} {:.3} {:.3} {:.3} {:.3} {:.3}",
        latencies.len() as f64 / elapsed,
        percentile(0.50),
        percentile(0.90),
        percentile(0.99),
        percentile(0.999),
        percentile(1.0),
    );
}

fn parse(args: Vec<String>) -> Result<Plan, String> {
    let [port, path, rate, seconds, connections] = args.as_slice() else {
        return Err(format!("expected 5 arguments, got {}", args.len()));
    };
    let number = |name: &str, text: &str| {
        text.parse::<f64>()
            .ok()
            .filter(|value| *value > 0.0)
            .ok_or_else(|| format!("invalid {name} {text:?}: expected a positive number"))
    };
    Ok(Plan {
        port: port.parse().map_err(|_| format!("invalid port {port:?}"))?,
        path: path.clone(),
        rate: number("rate", rate)?,
        seconds: number("seconds", seconds)?,
        connections: number("connections", connections)? as usize,
    })
}

/// Runs the schedule on every connection and returns all latencies in microseconds.
async fn run(plan: &Plan) -> std::io::Result<Vec<u32>> {
    let total = (plan.rate * plan.seconds) as usize;
    let interval = Duration::from_secs_f64(1.0 / plan.rate);
    let start = Instant::now() + Duration::from_millis(100);
    let mut tasks = Vec::new();
    for connection in 0..plan.connections {
        let stream = TcpStream::connect(("127.0.0.1", plan.port)).await?;
        stream.set_nodelay(true)?;
        let times: Vec<Instant> = (connection..total)
            .step_by(plan.connections)
            .map(|index| start + interval * index as u32)
            .collect();
        tasks.push(tokio::spawn(drive(stream, plan.path.clone(), times)));
    }
    let mut latencies = Vec::with_capacity(total);
    for task in tasks {
        latencies.extend(task.await.map_err(std::io::Error::other)??);
    }
    Ok(latencies)
}

/// Sends one request at each of `times` on `stream`, or as soon as the previous response
/// ends when that is later.
async fn drive(
    mut stream: TcpStream,
    path: String,
    times: Vec<Instant>,
) -> std::io::Result<Vec<u32>> {
    let mut latencies = Vec::with_capacity(times.len());
    let mut buffer = Vec::with_capacity(4096);
    let mut previous_end = Instant::now();
    for scheduled in times {
        tokio::time::sleep_until(scheduled.into()).await;
        // Tokio's timer fires up to a millisecond late. A request held back by the previous
        // response counts from its scheduled time, any other from when it leaves.
        let origin = match previous_end > scheduled {
            true => scheduled,
            false => Instant::now(),
        };
        let client = fastrand::u32(1..=100_000);
        let request = format!("GET {path} HTTP/1.1\r\nHost: bench\r\nx-client: {client}\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        read_response(&mut stream, &mut buffer).await?;
        previous_end = Instant::now();
        let latency = previous_end.duration_since(origin).as_micros();
        latencies.push(latency.min(u128::from(u32::MAX)) as u32);
    }
    Ok(latencies)
}

/// Reads one response with a `content-length` body. Returns an error for any status other
/// than 200.
async fn read_response(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> std::io::Result<()> {
    buffer.clear();
    let head_end = loop {
        if let Some(end) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
            break end + 4;
        }
        read_more(stream, buffer).await?;
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_ascii_lowercase();
    if !head.starts_with("http/1.1 200") {
        let status = head.lines().next().unwrap_or_default().to_string();
        return Err(std::io::Error::other(format!(
            "unexpected status: {status}"
        )));
    }
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse().ok())
        .ok_or_else(|| std::io::Error::other("response without content-length"))?;
    while buffer.len() < head_end + length {
        read_more(stream, buffer).await?;
    }
    Ok(())
}

async fn read_more(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> std::io::Result<()> {
    let mut chunk = [0u8; 16384];
    let read = stream.read(&mut chunk).await?;
    if read == 0 {
        return Err(std::io::Error::other("connection closed mid-response"));
    }
    buffer.extend_from_slice(&chunk[..read]);
    Ok(())
}
