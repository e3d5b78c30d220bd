//! The OpenAPI document of `GET /api/openapi.json`: it covers every JSON
//! endpoint, and the real binary answers as it says, under schemathesis'
//! generated, negative and stateful requests.
//!
//! The schemathesis run needs the `schemathesis` command (PyPI), found in
//! `WXLOGIN_SCHEMATHESIS` or on the `PATH`. Without it that test says it is
//! skipped and passes, unless `WXLOGIN_REQUIRE_SCHEMATHESIS=1` (as in CI),
//! when it fails. `.ci/run` installs it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::backend_tests;
use crate::binary::{start_dev_server_on, wxlogin};
use crate::common::*;

const REQUIRE_ENV: &str = "WXLOGIN_REQUIRE_SCHEMATHESIS";
const COMMAND_ENV: &str = "WXLOGIN_SCHEMATHESIS";
/// Generated requests per operation and phase.
const MAX_EXAMPLES: &str = "100";
/// Fixed, so that a failure in CI can be replayed; `WXLOGIN_SCHEMATHESIS_SEED`
/// tries others.
const DEFAULT_SEED: &str = "20261203";

/// Every JSON endpoint of the public listener, with its methods.
const ENDPOINTS: &[(&str, &[&str])] = &[
    ("/api/login", &["post"]),
    ("/api/me", &["get", "patch", "post", "delete"]),
    ("/api/me/userinfo", &["post"]),
    ("/api/me/export", &["get"]),
    ("/api/me/sessions", &["get"]),
    ("/api/me/sessions/{id}", &["delete"]),
    ("/api/me/phone", &["post"]),
    ("/api/me/avatar", &["post"]),
    ("/media/avatars/{name}", &["get"]),
    ("/wechat/push/{appid}", &["get", "post"]),
    ("/api/logout", &["post"]),
    (
        "/auth/verify",
        &[
            "get", "put", "post", "delete", "options", "head", "patch", "trace",
        ],
    ),
    ("/oauth/introspect", &["post"]),
    ("/healthz", &["get"]),
    ("/livez", &["get"]),
    ("/readyz", &["get"]),
    ("/api/openapi.json", &["get"]),
];

async fn document(base: &str) -> Value {
    let response = reqwest::get(format!("{base}/api/openapi.json"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    response.json().await.unwrap()
}

#[tokio::test]
async fn the_document_covers_every_endpoint_with_its_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, base, _, _) = start_dev_server_on(dir.path(), None, &[]);
    let doc = document(&base).await;
    assert_eq!(doc["openapi"], "3.1.0");

    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |method| (path.clone(), method.clone()))
        })
        .collect();
    let expected: BTreeSet<(String, String)> = ENDPOINTS
        .iter()
        .flat_map(|(path, methods)| methods.iter().map(|m| (path.to_string(), m.to_string())))
        .collect();
    assert_eq!(documented, expected);

    let mut operation_ids = BTreeSet::new();
    for (path, method) in &documented {
        let operation = &doc["paths"][path][method];
        let id = operation["operationId"].as_str().unwrap();
        assert!(
            operation_ids.insert(id.to_owned()),
            "operationId {id} twice"
        );
        let responses = operation["responses"].as_object().unwrap();
        let needs_token = operation["security"]
            .as_array()
            .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
        if needs_token {
            assert!(responses.contains_key("401"), "{method} {path}: no 401");
        }
        if operation.get("requestBody").is_some() {
            for status in ["400", "413"] {
                assert!(
                    responses.contains_key(status),
                    "{method} {path}: no {status}"
                );
            }
        }
        assert!(responses.contains_key("503"), "{method} {path}: no 503");
        for (status, response) in responses {
            if status.starts_with(['4', '5']) {
                let schema = &response["content"]["application/json"]["schema"]["$ref"];
                assert_eq!(
                    schema, "#/components/schemas/ErrorBody",
                    "{method} {path} {status}"
                );
            }
        }
    }

    // The error codes the document lists are those the server sends.
    let codes = doc["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .unwrap();
    for code in [
        "invalid_request",
        "unauthorized",
        "invalid_code",
        "unavailable",
    ] {
        assert!(codes.iter().any(|c| c == code), "{code} not listed");
    }
    let r = reqwest::Client::new()
        .post(format!("{base}/api/login"))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert!(codes.contains(&body["error"]["code"]));

    // The sessions list links to ending a session, for clients and for
    // stateful testing.
    let link =
        &doc["paths"]["/api/me/sessions"]["get"]["responses"]["200"]["links"]["RevokeSession"];
    assert_eq!(link["operationId"], "revoke_session");
    assert_eq!(link["parameters"]["id"], "$response.body#/sessions/0/id");

    // The limits the document gives are the server's.
    // The login body is its own fields, then the user data's (`allOf`).
    let login = &doc["components"]["schemas"]["LoginRequest"]["allOf"][1]["properties"]["code"];
    assert_eq!(
        login["maxLength"],
        wxlogin::domain::login::MAX_CODE_CHARS as u64
    );
    let patch = &doc["components"]["schemas"]["ProfilePatch"]["properties"];
    assert_eq!(
        patch["nickname"]["maxLength"],
        wxlogin::domain::profile::MAX_PROFILE_CHARS as u64
    );
    assert_eq!(
        patch["avatar_url"]["maxLength"],
        wxlogin::domain::profile::MAX_AVATAR_URL_CHARS as u64
    );
}

/// An answer the document does not list is refused with `Allow`.
#[tokio::test]
async fn an_undocumented_method_is_405_with_allow() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, base, _, _) = start_dev_server_on(dir.path(), None, &[]);
    let client = reqwest::Client::new();
    for (method, path, allow) in [
        ("PUT", "/api/login", "POST"),
        ("PUT", "/api/me", "GET, PATCH, POST, DELETE"),
        ("DELETE", "/api/me/export", "GET"),
        ("POST", "/api/me/sessions", "GET"),
        ("GET", "/api/me/sessions/1", "DELETE"),
        ("POST", "/api/openapi.json", "GET"),
    ] {
        let r = client
            .request(method.parse().unwrap(), format!("{base}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 405, "{method} {path}");
        assert_eq!(r.headers()["allow"], allow, "{method} {path}");
        assert_error(r, 405, "method_not_allowed").await;
    }
}

/// The `schemathesis` command, or `None` when it is not installed (which
/// fails the test when CI asks for it).
fn schemathesis() -> Option<PathBuf> {
    let command = std::env::var_os(COMMAND_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("schemathesis"));
    let found = Command::new(&command)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return Some(command);
    }
    assert!(
        std::env::var(REQUIRE_ENV).as_deref() != Ok("1"),
        "{REQUIRE_ENV}=1 but `{}` cannot be run (pip install schemathesis, or set {COMMAND_ENV})",
        command.display()
    );
    println!("SKIPPED: schemathesis test, `schemathesis` is not installed");
    None
}

/// The client id and secret printed by `wxlogin service create`.
fn create_service(database: &str) -> (String, String) {
    let out = wxlogin()
        .args(["service", "create", "schemathesis"])
        .env("DATABASE_URL", database)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "service create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let field = |name: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in {stdout}"))
            .trim()
            .to_owned()
    };
    (field("client_id:"), field("client_secret:"))
}

fn hooks_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis")
}

async fn schemathesis_finds_nothing(backend: Backend) {
    let Some(command) = schemathesis() else {
        return;
    };
    let (_db, url) = TestDb::create(backend);
    let database = database_url(&url);
    let dir = tempfile::tempdir().unwrap();
    // The server creates the schema; the service is made on it after.
    let (mut server, base, _, _) = start_dev_server_on(dir.path(), Some(&database), &[]);
    let (client_id, secret) = create_service(&database);
    let seed = std::env::var("WXLOGIN_SCHEMATHESIS_SEED").unwrap_or(DEFAULT_SEED.into());
    let hooks = hooks_dir();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(command)
            .current_dir(dir.path())
            .arg("--config-file")
            .arg(hooks.join("schemathesis.toml"))
            .args(["--no-color", "run"])
            .arg(format!("{base}/api/openapi.json"))
            .args(["--max-examples", MAX_EXAMPLES, "--workers", "2"])
            .args(["--seed", &seed, "--generation-database", "none"])
            .env("PYTHONPATH", &hooks)
            .env("SCHEMATHESIS_HOOKS", "wxlogin_hooks")
            .env("WXLOGIN_URL", &base)
            .env("WXLOGIN_SERVICE_ID", client_id)
            .env("WXLOGIN_SERVICE_SECRET", secret)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "schemathesis found disagreements:\n{report}"
    );
    // The hooks worked: the operations behind a token were reached.
    assert!(report.contains("Re-authenticated"), "{report}");
    // Every operation behind credentials was reached, but WeChat's push:
    // its credentials are signatures with the app's push Token, which no
    // generated request can make (tests/api/content.rs signs real ones).
    let unauthenticated: Vec<&str> = report
        .split("Authentication failed")
        .nth(1)
        .map(|warning| {
            warning
                .lines()
                .take_while(|l| !l.contains('💡'))
                .filter(|l| l.trim_start().starts_with("- "))
                .collect()
        })
        .unwrap_or_default();
    assert!(
        unauthenticated
            .iter()
            .all(|op| op.contains("/wechat/push/")),
        "{unauthenticated:?}\n{report}"
    );
    assert!(
        server.0.try_wait().unwrap().is_none(),
        "the server died under schemathesis:\n{report}"
    );
}

backend_tests!(schemathesis_finds_nothing);
