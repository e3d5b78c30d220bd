//! The admin site's one error type and its mapping to an HTML page, the
//! only one.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use crate::db::DbError;
use crate::service::ServiceError;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    BadRequest(String),
    #[error("this page does not exist")]
    NotFound,
    #[error("the form did not arrive in time; go back and send it again")]
    BodyTimeout,
    /// A state-changing form came without a valid CSRF token.
    #[error("the form has expired or did not come from this site; go back, reload the page and try again")]
    Csrf,
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error("the page could not be rendered")]
    Template(#[from] askama::Error),
}

#[derive(Template)]
#[template(path = "admin/error.html")]
struct ErrorPage<'a> {
    status: u16,
    title: &'a str,
    message: String,
}

fn unavailable(e: &ServiceError) -> bool {
    matches!(
        e,
        ServiceError::Db(DbError::Unavailable(_) | DbError::StorageFailing(_))
    )
}

impl ResponseError for AdminError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) | Self::Service(ServiceError::Invalid(_)) => {
                StatusCode::BAD_REQUEST
            }
            Self::NotFound | Self::Service(ServiceError::NotFound) => StatusCode::NOT_FOUND,
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::Csrf | Self::Service(ServiceError::Forbidden { .. }) => StatusCode::FORBIDDEN,
            Self::Service(ServiceError::Conflict(_)) => StatusCode::CONFLICT,
            Self::Service(e) if unavailable(e) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Service(_) | Self::Template(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let message = match self {
            Self::Service(ServiceError::NotFound) => AdminError::NotFound.to_string(),
            Self::Service(ServiceError::Invalid(m) | ServiceError::Conflict(m)) => m.clone(),
            Self::Service(e @ ServiceError::Forbidden { .. }) => e.to_string(),
            Self::Service(e) if unavailable(e) => {
                "the database is unavailable; try again shortly".to_owned()
            }
            Self::Service(e) => {
                let cause = std::error::Error::source(e).map(ToString::to_string);
                tracing::error!(error = %e, ?cause, "admin site error");
                "an internal error occurred".to_owned()
            }
            Self::Template(e) => {
                tracing::error!(error = %e, "admin template error");
                "an internal error occurred".to_owned()
            }
            other => other.to_string(),
        };
        let page = ErrorPage {
            status: status.as_u16(),
            title: status.canonical_reason().unwrap_or("Error"),
            message,
        };
        let body = page.render().unwrap_or_else(|_| {
            "<!doctype html><title>Error</title><p>An error occurred.</p>".to_owned()
        });
        let mut response = HttpResponse::build(status);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header(("Retry-After", "5"));
        }
        response.content_type("text/html; charset=utf-8").body(body)
    }
}
