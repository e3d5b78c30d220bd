//! The admin site's one error type and its mapping to an HTML page, the
//! only one, in the language of whoever asked.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::InternalError;
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use super::i18n::{Lang, Msg, Tr};
use super::messages;
use crate::db::DbError;
use crate::domain::display_time::DEFAULT_ZONE;
use crate::service::ServiceError;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Input that cannot be used; the message says why.
    #[error("{0}")]
    BadRequest(Msg),
    #[error("this page does not exist")]
    NotFound,
    #[error("the form did not arrive in time")]
    BodyTimeout,
    /// A state-changing form came without a valid CSRF token.
    #[error("the form has expired or did not come from this site")]
    Csrf,
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error("the page could not be rendered")]
    Template(#[from] askama::Error),
}

#[derive(Template)]
#[template(path = "admin/error.html")]
struct ErrorPage<'a> {
    t: &'a Tr,
    status: u16,
    title: String,
    message: String,
}

fn unavailable(e: &ServiceError) -> bool {
    matches!(
        e,
        ServiceError::Db(DbError::Unavailable(_) | DbError::StorageFailing(_))
    )
}

/// The title of a status, by its number.
fn status_key(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "status-400",
        403 => "status-403",
        404 => "status-404",
        408 => "status-408",
        409 => "status-409",
        500 => "status-500",
        503 => "status-503",
        _ => "status-other",
    }
}

impl AdminError {
    /// What the page says.
    pub fn message(&self) -> Msg {
        match self {
            Self::BadRequest(msg) => msg.clone(),
            Self::NotFound | Self::Service(ServiceError::NotFound) => Msg::new("err-not-found"),
            Self::BodyTimeout => Msg::new("err-body-timeout"),
            Self::Csrf => Msg::new("err-csrf"),
            Self::Service(e) if unavailable(e) => Msg::new("err-db-unavailable"),
            Self::Service(e) => messages::service(e).unwrap_or_else(|| Msg::new("err-internal")),
            Self::Template(_) => Msg::new("err-internal"),
        }
    }

    /// Logs what the admin is not shown: the causes of internal errors.
    fn log(&self) {
        match self {
            Self::Service(e) if !unavailable(e) && messages::service(e).is_none() => {
                let cause = std::error::Error::source(e).map(ToString::to_string);
                tracing::error!(error = %e, ?cause, "admin site error");
            }
            Self::Template(e) => tracing::error!(error = %e, "admin template error"),
            _ => {}
        }
    }

    /// The error's page, in `t`'s language.
    pub fn page(&self, t: &Tr) -> HttpResponse {
        let status = self.status_code();
        let page = ErrorPage {
            t,
            status: status.as_u16(),
            title: t.get(status_key(status)),
            message: t.msg(&self.message()),
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

    /// Logged, and answered with its page in `t`'s language.
    pub fn respond(&self, t: &Tr) -> HttpResponse {
        self.log();
        self.page(t)
    }
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
            Self::Service(ServiceError::SecondFactor(_)) => StatusCode::BAD_REQUEST,
            Self::Service(ServiceError::Refused(refusal)) if refusal.is_conflict() => {
                StatusCode::CONFLICT
            }
            Self::Service(ServiceError::Refused(_)) => StatusCode::BAD_REQUEST,
            Self::Service(e) if unavailable(e) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Service(_) | Self::Template(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Where no request is at hand: in the default language. Every error of
    /// the admin scope is then said again in the request's by
    /// [`in_the_admins_language`].
    fn error_response(&self) -> HttpResponse {
        self.respond(&Tr::new(Lang::DEFAULT, DEFAULT_ZONE))
    }
}

/// Middleware: the page of an [`AdminError`], which actix made without the
/// request, made again in the request's language (the admin's choice, or
/// the browser's).
pub async fn in_the_admins_language(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    // Read before the call: the request cannot be held (cloned) while the
    // router still needs it to itself.
    let t = Tr::of(req.request());
    match next.call(req).await {
        Ok(response) => {
            let Some(e) = response
                .response()
                .error()
                .and_then(|e| e.as_error::<AdminError>())
            else {
                return Ok(response.map_into_left_body());
            };
            let page = e.page(&t);
            Ok(response.into_response(page).map_into_right_body())
        }
        Err(err) => match err.as_error::<AdminError>() {
            // Never turned into a response yet, so never logged either.
            Some(e) => Err(InternalError::from_response(e.to_string(), e.respond(&t)).into()),
            None => Err(err),
        },
    }
}
