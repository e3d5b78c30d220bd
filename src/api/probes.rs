//! The probes: `/healthz` and `/livez` (the process runs) and `/readyz`
//! (this node can serve).

use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::ApiError;
use crate::service::health;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct ProbeBody {
    /// `ok` for `/healthz` and `/livez`, `ready` for `/readyz`.
    #[schema(example = "ok")]
    status: &'static str,
}

fn answer(status: &'static str) -> HttpResponse {
    HttpResponse::Ok().json(ProbeBody { status })
}

/// The process is up, draining or not.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = ProbeBody)))]
pub async fn healthz() -> HttpResponse {
    answer("ok")
}

/// The process is up, draining or not: for a liveness probe.
#[utoipa::path(get, path = "/livez", tag = "operations", responses((status = 200, body = ProbeBody)))]
pub async fn livez() -> HttpResponse {
    answer("ok")
}

/// The database answers, and this node can serve: it is not draining.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses((status = 200, body = ProbeBody)))]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    health::ready(&state).await?;
    Ok(answer("ready"))
}
