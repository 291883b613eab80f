//! The access log: one line per request on stdout, JSON by default.
//!
//! Lines are built in memory and written with one `write_all` under the stdout lock, so
//! lines from different worker threads never interleave.

use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use gatehouse_config::model::AccessLogFormat;

use super::time::rfc3339_millis;

/// The fields of one access log line, borrowed from the request's state
/// so that nothing is copied when the access log is off.
#[derive(Debug, Clone)]
pub struct AccessRecord<'a> {
    pub time: SystemTime,
    pub request_id: &'a str,
    pub client: SocketAddr,
    pub method: &'a str,
    pub host: &'a str,
    pub path: &'a str,
    pub protocol: &'static str,
    pub route: Option<&'a str>,
    pub upstream: Option<&'a str>,
    pub target: Option<&'a str>,
    /// The consumer id, when authentication found one.
    pub consumer: Option<&'a str>,
    /// The authentication method that accepted the request (`api_key`, `jwt`, `introspection`).
    pub auth: Option<&'static str>,
    pub status: u16,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub duration: Duration,
    pub upstream_duration: Option<Duration>,
    /// The gateway's error code when the gateway responded itself.
    pub error: Option<&'static str>,
}

/// Writes the record in the configured format; `Off` writes nothing.
pub fn write(format: AccessLogFormat, record: &AccessRecord<'_>) {
    let line = match format {
        AccessLogFormat::Off => return,
        AccessLogFormat::Json => json_line(record),
        AccessLogFormat::Text => text_line(record),
    };
    let mut stdout = std::io::stdout().lock();
    if let Err(err) = stdout.write_all(line.as_bytes()) {
        tracing::debug!(error = %err, "writing the access log failed");
    }
}

fn millis(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

fn json_line(record: &AccessRecord<'_>) -> String {
    let value = serde_json::json!({
        "time": rfc3339_millis(record.time),
        "request_id": record.request_id,
        "client": record.client.ip().to_string(),
        "method": record.method,
        "host": record.host,
        "path": record.path,
        "protocol": record.protocol,
        "route": record.route,
        "upstream": record.upstream,
        "target": record.target,
        "consumer": record.consumer,
        "auth": record.auth,
        "status": record.status,
        "bytes_in": record.bytes_in,
        "bytes_out": record.bytes_out,
        "duration_ms": millis(record.duration),
        "upstream_duration_ms": record.upstream_duration.map(millis),
        "error": record.error,
    });
    let mut line = value.to_string();
    line.push('\n');
    line
}

fn text_line(record: &AccessRecord<'_>) -> String {
    let dash = |value: Option<&str>| value.unwrap_or("-").to_string();
    let upstream_ms = record
        .upstream_duration
        .map(millis)
        .map_or_else(|| "-".to_string(), |ms| ms.to_string());
    format!(
        "{} {} {} \"{} {} {}\" {} {} {} host={} route={} upstream={} target={} consumer={} auth={} error={} duration_ms={} upstream_ms={}\n",
        rfc3339_millis(record.time),
        record.client.ip(),
        record.request_id,
        record.method,
        record.path,
        record.protocol,
        record.status,
        record.bytes_in,
        record.bytes_out,
        if record.host.is_empty() { "-" } else { record.host },
        dash(record.route),
        dash(record.upstream),
        dash(record.target),
        dash(record.consumer),
        dash(record.auth),
        dash(record.error),
        millis(record.duration),
        upstream_ms,
    )
}
