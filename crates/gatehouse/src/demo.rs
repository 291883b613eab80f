//! `gatehouse demo`: the gateway on its embedded configuration in front of the sample
//! upstream, with the URLs and commands to try printed at start.

use std::process::ExitCode;

use anyhow::Context;
use gatehouse_proxy::GatewayOptions;

const DEMO_CONFIG: &str = include_str!("demo.yaml");

pub fn run(port: u16, admin_port: u16, workers: usize) -> anyhow::Result<ExitCode> {
    crate::logging::init(None);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let upstream = runtime
        .block_on(crate::sample_upstream::start())
        .context("starting the sample upstream failed")?;
    let text = DEMO_CONFIG
        .replace("GATEWAY_PORT", &port.to_string())
        .replace("ADMIN_PORT", &admin_port.to_string())
        .replace("UPSTREAM_PORT", &upstream.port().to_string());
    let config = gatehouse_config::load_str("<embedded demo configuration>", &text).map_err(
        |diagnostics| anyhow::anyhow!("the embedded demo configuration is invalid\n{diagnostics}"),
    )?;
    let options = GatewayOptions {
        workers,
        config_path: None,
    };
    // A background thread drives the sample upstream's runtime; the gateway gets its own.
    std::thread::spawn(move || runtime.block_on(std::future::pending::<()>()));
    crate::cli::serve(config, options, |gateway| print_intro(gateway, upstream))
}

fn print_intro(gateway: &gatehouse_proxy::Gateway, upstream: std::net::SocketAddr) {
    let Some((_, address)) = gateway.listener_addresses().first() else {
        return;
    };
    let admin = gateway
        .admin_address()
        .map(|admin| admin.to_string())
        .unwrap_or_default();
    eprintln!(
        "\nGatehouse demo is running. The sample market-data API listens on {upstream}.\n\
         Two consumers have API keys: free-user (plan free: 5 requests a minute, 1000 a day)\n\
         and pro-user (plan pro: 100 a second, bursts of 200).\n\
         Try:\n  \
         curl -i http://{address}/v1/prices                                      # public: list of symbols\n  \
         curl -i http://{address}/v1/prices/AAPL                                 # 401: an API key is required\n  \
         curl -i -H 'x-api-key: free-demo-key' http://{address}/v1/prices/AAPL   # 200 for free-user, with RateLimit headers\n  \
         for i in 1 2 3 4 5 6; do curl -s -o /dev/null -w '%{{http_code}} ' -H 'x-api-key: free-demo-key' http://{address}/v1/prices/AAPL; done; echo   # 429 once the minute's 5 are used\n  \
         curl -i -H 'x-api-key: free-demo-key' http://{address}/status           # 403: not in the free plan\n  \
         curl -i -H 'x-api-key: pro-demo-key' http://{address}/status            # 200, rewritten to /v1/market/status\n  \
         curl -i http://{address}/nope                                           # no route: JSON 404 from the gateway\n  \
         curl -s http://{admin}/admin/routes                                     # the compiled route table\n  \
         curl -s http://{admin}/metrics                                          # Prometheus metrics\n  \
         curl -s http://{admin}/admin/consumers/free-user/usage                  # free-user's limits and use\n\
         Each request prints one JSON access log line on stdout. Press Ctrl-C to stop.\n"
    );
}
