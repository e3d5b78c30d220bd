//! Prometheus metrics, served on a listener of their own (`--metrics-bind`),
//! never on the public one: they are business data.
//!
//! The code counts through the `metrics` facade; this installs the
//! Prometheus recorder behind it, once per process, and renders it.

use std::sync::OnceLock;

use actix_web::{web, App, HttpResponse, HttpServer};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's recorder, installed on first use.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let handle = PrometheusBuilder::new()
            .install_recorder()
            .expect("no other metrics recorder is installed");
        metrics::gauge!("wxlogin_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
        handle
    })
}

async fn render() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(handle().render())
}

/// Serves `/metrics` on `listener`, until the returned server is stopped.
pub fn serve(listener: std::net::TcpListener) -> std::io::Result<actix_web::dev::Server> {
    handle();
    let server = HttpServer::new(|| {
        App::new()
            .route("/metrics", web::get().to(render))
            .default_service(web::to(HttpResponse::NotFound))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run();
    Ok(server)
}
