//! Checks for the gateway's own sockets and limits: `listeners`, `admin`, `access_log`, `server`.

use std::net::{IpAddr, SocketAddr};

use serde_saphyr::{Location, Spanned};

use super::fields::{
    check_name, check_unique_names, choose, existing_file, positive_duration, size,
};
use super::report::{line_of, Problem, Report};
use super::FileBase;
use crate::file::{self, SpannedList};
use crate::model::{AccessLogFormat, Admin, Listener, ListenerTls, Server};

/// The admin address used when the file does not set one.
const DEFAULT_ADMIN_ADDRESS: SocketAddr =
    SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1)), 9901);

/// A valid listener and where its address was written, for conflict messages.
pub(super) struct CheckedListener {
    pub listener: Listener,
    pub address_at: Location,
    pub address_path: String,
    /// Line of the listener's entry in the list.
    pub line: u64,
}

/// Checks the `listeners` list: at least one entry, unique names, valid and distinct
/// addresses, and existing TLS files. Invalid entries are left out of the result.
pub(super) fn listeners(
    section: Option<&SpannedList<file::Listener>>,
    base: &FileBase,
    report: &mut Report,
) -> Vec<CheckedListener> {
    let help = "add a listener such as `listeners: [{ name: public, address: \"0.0.0.0:8080\" }]`";
    let items = match section {
        Some(list) if !list.value.is_empty() => &list.value,
        Some(list) => {
            report.error(list, "listeners", "the listeners list is empty", help);
            return Vec::new();
        }
        None => {
            let problem = Problem::new("no listeners are configured", help);
            report.push_at(1, 1, "listeners", problem);
            return Vec::new();
        }
    };
    let names = items.iter().enumerate();
    let names = names.map(|(index, item)| (&item.value.name, format!("listeners[{index}].name")));
    check_unique_names(report, "listener", names);

    let mut checked: Vec<CheckedListener> = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let Some(listener) = listener(item, index, base, report) else {
            continue;
        };
        let conflict = checked
            .iter()
            .find(|other| addresses_conflict(listener.listener.address, other.listener.address));
        if let Some(other) = conflict {
            let problem = conflict_problem(
                "listener address",
                listener.listener.address,
                other,
                "give each listener its own port or IP address",
            );
            report.push(&listener.address_at, &listener.address_path, problem);
        }
        checked.push(listener);
    }
    checked
}

fn listener(
    item: &Spanned<file::Listener>,
    index: usize,
    base: &FileBase,
    report: &mut Report,
) -> Option<CheckedListener> {
    let path = format!("listeners[{index}]");
    let listener = &item.value;
    check_name(report, &listener.name, &format!("{path}.name"), "listener");
    let tls = listener.tls.as_ref().map(|tls| ListenerTls {
        certificate: existing_file(
            report,
            base,
            &tls.value.certificate,
            &format!("{path}.tls.certificate"),
        ),
        key: existing_file(report, base, &tls.value.key, &format!("{path}.tls.key")),
    });
    let address_path = format!("{path}.address");
    let address = match socket_address(&listener.address.value) {
        Ok(address) => address,
        Err(problem) => {
            report.push(&listener.address.referenced, &address_path, problem);
            return None;
        }
    };
    Some(CheckedListener {
        listener: Listener {
            name: listener.name.value.clone(),
            address,
            tls,
        },
        address_at: listener.address.referenced,
        address_path,
        line: line_of(item),
    })
}

/// Checks the `admin` section. The default is 127.0.0.1:9901; `enabled: false` disables it.
pub(super) fn admin(
    section: Option<&Spanned<file::Admin>>,
    listeners: &[CheckedListener],
    report: &mut Report,
) -> Admin {
    let section = section.map(|section| &section.value);
    let enabled = section.and_then(|admin| admin.enabled.as_ref());
    if enabled.is_some_and(|enabled| !enabled.value) {
        return Admin { address: None };
    }
    let Some(value) = section.and_then(|admin| admin.address.as_ref()) else {
        for listener in listeners {
            if addresses_conflict(DEFAULT_ADMIN_ADDRESS, listener.listener.address) {
                let message = format!(
                    "listener address {} conflicts with the default admin address {DEFAULT_ADMIN_ADDRESS}",
                    listener.listener.address
                );
                let help =
                    "use another port for the listener, or set `admin.address` to a free address";
                report.push(
                    &listener.address_at,
                    &listener.address_path,
                    Problem::new(message, help),
                );
            }
        }
        return Admin {
            address: Some(DEFAULT_ADMIN_ADDRESS),
        };
    };
    let address = match socket_address(&value.value) {
        Ok(address) => address,
        Err(problem) => {
            report.push(&value.referenced, "admin.address", problem);
            return Admin { address: None };
        }
    };
    let help = "use another port for the admin listener, or disable it with `enabled: false`";
    for listener in listeners {
        if addresses_conflict(address, listener.listener.address) {
            let problem = conflict_problem("admin address", address, listener, help);
            report.push(&value.referenced, "admin.address", problem);
        }
    }
    Admin {
        address: Some(address),
    }
}

/// Checks `access_log.format`: `json` (the default), `text` or `off`.
pub(super) fn access_log(
    section: Option<&Spanned<file::AccessLog>>,
    report: &mut Report,
) -> AccessLogFormat {
    let options = [
        ("json", AccessLogFormat::Json),
        ("text", AccessLogFormat::Text),
        ("off", AccessLogFormat::Off),
    ];
    section
        .and_then(|section| section.value.format.as_ref())
        .and_then(|format| {
            choose(
                report,
                format,
                "access_log.format",
                "access log format",
                &options,
            )
        })
        .unwrap_or(AccessLogFormat::Json)
}

/// Checks the `server` limits; keys that are absent or invalid keep `Server::default()`.
pub(super) fn server(section: Option<&Spanned<file::Server>>, report: &mut Report) -> Server {
    let mut server = Server::default();
    let Some(section) = section else {
        return server;
    };
    let file = &section.value;
    server_timeouts(file, &mut server, report);
    server_sizes(file, &mut server, report);
    if let Some(level) = &file.log_level {
        if level.value.trim().is_empty() {
            let help =
                "write a filter such as `info` or `gatehouse_proxy=debug`, or remove the key";
            report.error(level, "server.log_level", "log_level is empty", help);
        } else {
            server.log_level = Some(level.value.clone());
        }
    }
    server
}

fn server_timeouts(file: &file::Server, server: &mut Server, report: &mut Report) {
    let mut timeout = |value: &Option<Spanned<String>>, key: &str| {
        positive_duration(report, value.as_ref(), &format!("server.{key}"))
    };
    if let Some(duration) = timeout(&file.header_read_timeout, "header_read_timeout") {
        server.header_read_timeout = duration;
    }
    if let Some(duration) = timeout(&file.idle_timeout, "idle_timeout") {
        server.idle_timeout = duration;
    }
    if let Some(duration) = timeout(&file.shutdown_timeout, "shutdown_timeout") {
        server.shutdown_timeout = duration;
    }
}

fn server_sizes(file: &file::Server, server: &mut Server, report: &mut Report) {
    let header_size = file.max_header_size.as_ref();
    if let Some(bytes) = size(report, header_size, "server.max_header_size") {
        match usize::try_from(bytes) {
            Ok(bytes) if bytes > 0 => server.max_header_size = bytes,
            _ => report_out_of_range(report, header_size, "server.max_header_size"),
        }
    }
    if let Some(count) = &file.max_headers {
        match usize::try_from(count.value) {
            Ok(count) if count > 0 => server.max_headers = count,
            _ => report_out_of_range(report, Some(count), "server.max_headers"),
        }
    }
    if let Some(bytes) = size(report, file.max_body_size.as_ref(), "server.max_body_size") {
        server.max_body_size = bytes;
    }
}

fn report_out_of_range<T: std::fmt::Debug>(
    report: &mut Report,
    value: Option<&Spanned<T>>,
    path: &str,
) {
    if let Some(value) = value {
        let message = format!(
            "{} must be greater than zero, found {:?}",
            super::fields::last_key(path),
            value.value
        );
        report.error(
            value,
            path,
            message,
            "set a positive value, or remove the key to use the default",
        );
    }
}

/// Parses `IP:port`. Host names are rejected because a listener binds an address, and
/// resolving a name at startup could bind a different one than intended.
pub(super) fn socket_address(text: &str) -> Result<SocketAddr, Problem> {
    if let Ok(address) = text.parse::<SocketAddr>() {
        return Ok(address);
    }
    let invalid = |reason: String, help: String| {
        Problem::new(format!("invalid address {text:?}: {reason}"), help)
    };
    if let Ok(ip) = text.parse::<IpAddr>() {
        let example = SocketAddr::new(ip, 8080);
        return Err(invalid(
            "missing port".into(),
            format!("add a port, such as {example}"),
        ));
    }
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(invalid(
            "expected an IP address and a port".into(),
            "write an IP address and port, such as 0.0.0.0:8080".into(),
        ));
    };
    if port.parse::<u16>().is_err() {
        return Err(invalid(
            format!("invalid port {port:?}"),
            "write a port from 0 to 65535".into(),
        ));
    }
    if host.contains(':') {
        return Err(invalid(
            "IPv6 addresses need brackets".into(),
            format!("write [{host}]:{port}"),
        ));
    }
    let example = if host.eq_ignore_ascii_case("localhost") {
        "127.0.0.1"
    } else {
        "0.0.0.0"
    };
    Err(invalid(
        format!("{host:?} is not an IP address, and host names are not resolved"),
        format!("write an IP address and port, such as {example}:{port}"),
    ))
}

/// Returns true when binding both addresses would fail: the same address, or the same port
/// with one side listening on every address of the same IP family. Port 0 never conflicts
/// because the system picks a free port.
fn addresses_conflict(a: SocketAddr, b: SocketAddr) -> bool {
    if a.port() == 0 || a.port() != b.port() {
        return false;
    }
    let same_family = a.is_ipv4() == b.is_ipv4();
    a.ip() == b.ip() || (same_family && (a.ip().is_unspecified() || b.ip().is_unspecified()))
}

fn conflict_problem(
    subject: &str,
    address: SocketAddr,
    other: &CheckedListener,
    help: &str,
) -> Problem {
    let other_address = other.listener.address;
    let owner = format!("listener {:?} (line {})", other.listener.name, other.line);
    let message = if address == other_address {
        format!("{subject} {address} is already used by {owner}")
    } else {
        let wildcard = if address.ip().is_unspecified() {
            address
        } else {
            other_address
        };
        format!(
            "{subject} {address} conflicts with {other_address} of {owner}: {} listens on every address at port {}",
            wildcard.ip(),
            address.port()
        )
    };
    Problem::new(message, help)
}
