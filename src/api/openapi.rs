//! The API's OpenAPI 3.1 description, generated from the handlers'
//! `#[utoipa::path]` annotations and served at `GET /api/openapi.json`.
//!
//! Each handler documents its own answers. The answers that every operation
//! of a kind can give (a body that cannot be read, a token that does not
//! work, a database that is away) are added here, once, by [`CommonAnswers`],
//! so that no operation forgets one.

use actix_web::{web, HttpResponse};
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    link::LinkBuilder, ContentBuilder, ObjectBuilder, OpenApi as Document, Ref, RefOr, Response,
    ResponseBuilder, Type,
};
use utoipa::{Modify, OpenApi};

use super::error::{ErrorBody, ErrorCode};
use super::{account, forward_auth, introspect, login, media, probes, profile, push, sessions};

/// The security scheme of `Authorization: Bearer <token from /api/login>`.
pub const BEARER: &str = "bearer";
/// The security scheme of a backend service's `Authorization: Basic`.
pub const SERVICE: &str = "service";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "wxlogin",
        description = "Login and identity for WeChat mini-programs: exchange a `wx.login()` code for a \
                       token, read and fill in the user's profile, bind a phone number, and let other \
                       services check tokens.\n\nEvery error answers `{\"error\": {\"code\", \"message\"}}`; \
                       branch on `code`, show `message` to people.",
        license(name = "MIT OR Apache-2.0"),
    ),
    paths(
        login::login,
        login::me,
        profile::patch_me,
        profile::post_me,
        account::delete_me,
        account::export,
        profile::userinfo,
        profile::phone,
        media::upload_avatar,
        media::avatar,
        push::check_url,
        push::receive,
        sessions::list,
        sessions::revoke,
        login::logout,
        forward_auth::verify,
        introspect::introspect,
        probes::healthz,
        probes::livez,
        probes::readyz,
        openapi_json,
    ),
    components(schemas(ErrorBody, ErrorCode)),
    modifiers(&SecuritySchemes, &CommonAnswers, &UniqueOperationIds, &Links),
    tags(
        (name = "login", description = "Logging in and out"),
        (name = "profile", description = "The user's own profile"),
        (name = "sessions", description = "The user's own sessions, in every app of the account"),
        (name = "services", description = "For other backend services and reverse proxies"),
        (name = "operations", description = "Probes and this description"),
        (name = "wechat", description = "What WeChat itself sends: message pushes"),
    )
)]
pub struct ApiDoc;

/// The document, rendered once per worker.
pub struct OpenApiJson(String);

impl Default for OpenApiJson {
    fn default() -> Self {
        let mut document =
            serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document serialises");
        camel_case_links(&mut document);
        Self(document.to_string())
    }
}

/// utoipa 5 writes the fields of a Link Object in snake case
/// (`operation_id`); OpenAPI names them in camel case (`operationId`).
fn camel_case_links(document: &mut serde_json::Value) {
    let operations = document["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(|item| item.as_object_mut())
        .flat_map(|item| item.values_mut());
    for operation in operations {
        let links = operation["responses"]
            .as_object_mut()
            .into_iter()
            .flat_map(|responses| responses.values_mut())
            .filter_map(|response| response.get_mut("links")?.as_object_mut())
            .flat_map(|links| links.values_mut())
            .filter_map(|link| link.as_object_mut());
        for link in links {
            for (snake, camel) in [
                ("operation_id", "operationId"),
                ("operation_ref", "operationRef"),
                ("request_body", "requestBody"),
            ] {
                if let Some(value) = link.remove(snake) {
                    link.insert(camel.to_owned(), value);
                }
            }
        }
    }
}

/// This API's OpenAPI 3.1 description.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object)),
)]
pub async fn openapi_json(document: web::Data<OpenApiJson>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document.0.clone())
}

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The `token` of `POST /api/login`"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            SERVICE,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "A backend service's client id and secret, from `wxlogin service create`",
                    ))
                    .build(),
            ),
        );
    }
}

fn error_answer(description: &str, headers: &[(&str, &str)]) -> Response {
    let mut response = ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ErrorBody")))
            .build(),
    );
    for (name, about) in headers {
        response = response.header(
            *name,
            HeaderBuilder::new()
                .schema(ObjectBuilder::new().schema_type(Type::String))
                .description(Some(*about))
                .build(),
        );
    }
    response.build()
}

const RETRY_AFTER: (&str, &str) = ("Retry-After", "Seconds to wait before trying again");

/// The operations of a path, each with its method.
fn operations_by_method(item: &mut PathItem) -> [(&'static str, &mut Option<Operation>); 8] {
    [
        ("get", &mut item.get),
        ("put", &mut item.put),
        ("post", &mut item.post),
        ("delete", &mut item.delete),
        ("options", &mut item.options),
        ("head", &mut item.head),
        ("patch", &mut item.patch),
        ("trace", &mut item.trace),
    ]
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    operations_by_method(item)
        .into_iter()
        .filter_map(|(_, operation)| operation.as_mut())
}

fn uses_scheme(operation: &Operation, scheme: &str) -> bool {
    operation.security.as_ref().is_some_and(|requirements| {
        serde_json::to_value(requirements).is_ok_and(|v| {
            v.as_array()
                .into_iter()
                .flatten()
                .any(|r| r.get(scheme).is_some())
        })
    })
}

/// Adds the answers that any operation of a kind can give.
struct CommonAnswers;

impl Modify for CommonAnswers {
    fn modify(&self, openapi: &mut Document) {
        for item in openapi.paths.paths.values_mut() {
            for operation in operations(item) {
                let mut common: Vec<(&str, Response)> = Vec::new();
                if operation.request_body.is_some() {
                    common.push(("400", error_answer("`invalid_request`: the body cannot be read, or is of the wrong shape; the message says how", &[])));
                    common.push((
                        "408",
                        error_answer("`request_timeout`: the body did not arrive in time", &[]),
                    ));
                    common.push((
                        "413",
                        error_answer("`payload_too_large`: the body is too large", &[]),
                    ));
                }
                if operation.parameters.as_ref().is_some_and(|p| !p.is_empty()) {
                    common.push(("404", error_answer("`not_found`", &[])));
                }
                if uses_scheme(operation, BEARER) {
                    common.push(("401", error_answer(
                        "`unauthorized`: no token, or one that has expired, was revoked or never existed; log in again",
                        &[("WWW-Authenticate", "`Bearer`")],
                    )));
                }
                common.push((
                    "500",
                    error_answer(
                        "`internal_error`: the cause is in the server's log, never here",
                        &[],
                    ),
                ));
                common.push(("503", error_answer(
                    "`unavailable`: the database is away, or `draining`: this node is shutting down; try again (another node, behind a load balancer)",
                    &[RETRY_AFTER],
                )));
                for (status, response) in common {
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert(RefOr::T(response));
                }
            }
        }
    }
}

/// One handler documented for several methods (`/auth/verify`) gives each
/// the same operation id; OpenAPI wants them unique: `verify_get`, ….
struct UniqueOperationIds;

impl Modify for UniqueOperationIds {
    fn modify(&self, openapi: &mut Document) {
        for item in openapi.paths.paths.values_mut() {
            let methods = operations_by_method(item);
            let ids: Vec<Option<String>> = methods
                .iter()
                .map(|(_, op)| op.as_ref().and_then(|op| op.operation_id.clone()))
                .collect();
            for (method, operation) in methods {
                let Some(operation) = operation else { continue };
                let Some(id) = &operation.operation_id else {
                    continue;
                };
                if ids.iter().flatten().filter(|other| *other == id).count() > 1 {
                    operation.operation_id = Some(format!("{id}_{method}"));
                }
            }
        }
    }
}

/// The links between operations, for clients and for stateful testing: a
/// listed session can be ended.
struct Links;

impl Modify for Links {
    fn modify(&self, openapi: &mut Document) {
        let Some(item) = openapi.paths.paths.get_mut("/api/me/sessions") else {
            return;
        };
        let Some(RefOr::T(listed)) = item
            .get
            .as_mut()
            .and_then(|op| op.responses.responses.get_mut("200"))
        else {
            return;
        };
        listed.links.insert(
            "RevokeSession".into(),
            RefOr::T(
                LinkBuilder::new()
                    .operation_id("revoke_session")
                    .parameter("id", "$response.body#/sessions/0/id")
                    .description("End the first listed session")
                    .build(),
            ),
        );
    }
}
