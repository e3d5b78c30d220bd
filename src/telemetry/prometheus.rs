//! Prometheus metrics, served on a listener of their own (`--metrics-bind`),
//! never on the public one: they are business data.
//!
//! The code counts through the `metrics` facade; this installs the
//! Prometheus recorder behind it, once per process, and renders it.

use std::sync::OnceLock;

use actix_web::{web, App, HttpResponse, HttpServer};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// The buckets of every duration histogram: from a cache hit to a WeChat
/// call that times out.
const SECONDS_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The buckets of the login batch sizes, up to the writer's limit of 256.
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's recorder, installed on first use.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let handle = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
            .expect("the buckets are not empty")
            .set_buckets_for_metric(
                Matcher::Full("wxlogin_login_batch_size".into()),
                BATCH_BUCKETS,
            )
            .expect("the buckets are not empty")
            .install_recorder()
            .expect("no other metrics recorder is installed");
        metrics::gauge!("wxlogin_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
        handle
    })
}

/// Whether metrics are collected: only once `--metrics-bind` has installed
/// the recorder, so that a node without it spends nothing on labels.
pub fn is_installed() -> bool {
    HANDLE.get().is_some()
}

/// What `/metrics` runs before each scrape, to read gauges that are cheaper
/// to sample than to keep up to date (the pool's connections).
pub type BeforeScrape = std::sync::Arc<dyn Fn() + Send + Sync>;

async fn render(before: web::Data<BeforeScrape>) -> HttpResponse {
    (before.get_ref())();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(handle().render())
}

/// Serves `/metrics` on `listener`, until the returned server is stopped.
pub fn serve(
    listener: std::net::TcpListener,
    before: BeforeScrape,
) -> std::io::Result<actix_web::dev::Server> {
    handle();
    let before = web::Data::new(before);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(before.clone())
            .route("/metrics", web::get().to(render))
            .default_service(web::to(HttpResponse::NotFound))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run();
    Ok(server)
}
