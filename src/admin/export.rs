//! `GET /admin/users.csv`: every row that the table's parameters select.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use super::messages::invalid_param;
use super::params::TableParams;
use super::view::canonical_args;
use super::{AdminError, AdminIdentity};
use crate::service::export;
use crate::state::AppState;

pub async fn csv(
    state: web::Data<AppState>,
    req: HttpRequest,
    admin: web::ReqData<AdminIdentity>,
    params: web::Query<TableParams>,
) -> Result<HttpResponse, AdminError> {
    let params = params.into_inner();
    let bad = |e| AdminError::BadRequest(invalid_param(e));
    let query = params
        .list
        .to_query(state.admin_policy.timezone)
        .map_err(bad)?;
    let bom = params.bom().map_err(bad)?;
    let filters = serde_urlencoded::to_string(canonical_args(&params.list, &query))
        .expect("encoding strings");
    let actor = admin.actor(&state, &req);
    let chunks = export::stream(&state, query, bom, filters, actor).await?;
    let body = futures_util::stream::unfold(chunks, |mut chunks| async move {
        chunks.recv().await.map(|item| (item, chunks))
    });
    let filename = format!("users-{}.csv", chrono::Utc::now().format("%Y%m%d-%H%M%S"));
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ))
        .streaming(body))
}
