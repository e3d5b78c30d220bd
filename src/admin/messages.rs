//! What the service layer's refusals and the user table's parameter errors
//! say on the admin site: each one a catalogue message with its arguments.

use super::i18n::{Key, Msg};
use super::words::role_key;
use crate::domain::admin_role::AdminRole;
use crate::domain::user_query::{sort_names, InvalidParam, Param};
use crate::service::{SecondFactorProblem, ServiceError};

/// The message of a service error that the admin is told about; `None` for
/// an internal error, whose cause only the log gets.
pub fn service(e: &ServiceError) -> Option<Msg> {
    match e {
        ServiceError::NotFound => Some(Msg::new("err-not-found")),
        ServiceError::Invalid(text) | ServiceError::Conflict(text) => Some(free_text(text)),
        ServiceError::Forbidden {
            role,
            needs,
            action,
        } => Some(forbidden(*role, *needs, action)),
        ServiceError::SecondFactor(problem) => Some(Msg::new(second_factor_key(*problem))),
        _ => None,
    }
}

fn second_factor_key(problem: SecondFactorProblem) -> &'static str {
    match problem {
        SecondFactorProblem::Malformed => "second-factor-malformed",
        SecondFactorProblem::WrongCode => "second-factor-wrong-code",
        SecondFactorProblem::Replayed => "second-factor-replayed",
        SecondFactorProblem::WrongRecoveryCode => "second-factor-wrong-recovery-code",
        SecondFactorProblem::Unrecognised => "second-factor-unrecognised",
        SecondFactorProblem::AlreadyOn => "second-factor-already-on",
        SecondFactorProblem::NothingPending => "second-factor-nothing-pending",
        SecondFactorProblem::NotOn => "second-factor-not-on",
    }
}

/// A refusal by role: "your role (viewer) cannot export users; …".
fn forbidden(role: AdminRole, needs: AdminRole, action: &str) -> Msg {
    let msg = match action_key(action) {
        Some(key) => Msg::one("err-forbidden", "action", Key(key)),
        None => Msg::new("err-forbidden-other"),
    };
    msg.arg("role", Key(role_key(role)))
        .arg("needs", Key(role_key(needs)))
}

/// The actions the service names when it refuses a role, in its words.
fn action_key(action: &str) -> Option<&'static str> {
    Some(match action {
        "manage admins" => "action-manage-admins",
        "change roles" => "action-change-roles",
        "revoke a user's session" => "action-revoke-session",
        "revoke a user's sessions" => "action-revoke-sessions",
        "delete accounts" => "action-delete-accounts",
        "decide a review" => "action-decide-review",
        "end another admin's session" => "action-end-admin-session",
        "export users" => "action-export-users",
        "merge accounts" => "action-merge-accounts",
        "unlink an identity" => "action-unlink-identity",
        _ => return None,
    })
}

/// The service's free-text refusals that the admin site can meet, known by
/// their words (`ServiceError::Invalid` and `Conflict` carry English
/// sentences). Any other is shown as it is.
fn free_text(text: &str) -> Msg {
    if let Some((id, _)) = text
        .strip_prefix("there is no account ")
        .and_then(|rest| rest.split_once(';'))
    {
        return Msg::one("err-no-such-account", "id", id);
    }
    if let Some((a, b)) = text
        .strip_prefix("accounts ")
        .and_then(|rest| rest.split_once(" both have a unionid"))
        .and_then(|(pair, _)| pair.split_once(" and "))
    {
        return Msg::one("err-merge-two-unionids", "a", a).arg("b", b);
    }
    if let Some(name) = text.strip_suffix(" is the only owner; make another admin an owner first") {
        return Msg::one("err-last-owner", "name", name);
    }
    let fixed = [
        ("an account cannot be merged with itself", "err-merge-self"),
        (
            "this is the account's only identity",
            "err-unlink-only-identity",
        ),
        (
            "WeChat gives this identity the account's unionid",
            "err-unlink-own-unionid",
        ),
        (
            "this value no longer waits for review",
            "err-review-decided",
        ),
    ];
    match fixed.iter().find(|(start, _)| text.starts_with(start)) {
        Some((_, key)) => Msg::new(key),
        None => Msg::one("err-other", "text", text),
    }
}

/// A parameter of the user table or its CSV that cannot be used.
pub fn invalid_param(e: InvalidParam) -> Msg {
    let param_key = |p: Param| match p {
        Param::Q => "param-name-q",
        Param::App => "param-name-app",
        Param::Province => "param-name-province",
        Param::City => "param-name-city",
        Param::CreatedFrom => "param-name-created-from",
        Param::CreatedTo => "param-name-created-to",
    };
    match e {
        InvalidParam::TooLong { param, max } => {
            Msg::one("param-too-long", "param", Key(param_key(param))).arg("max", max)
        }
        InvalidParam::ControlCharacters { param } => {
            Msg::one("param-control", "param", Key(param_key(param)))
        }
        InvalidParam::NotADate { param } => {
            Msg::one("param-not-a-date", "param", Key(param_key(param)))
        }
        InvalidParam::Gender => Msg::new("param-gender"),
        InvalidParam::HasUnionid => Msg::new("param-has-unionid"),
        InvalidParam::RiskMin => Msg::new("param-risk-min"),
        InvalidParam::DaysReversed => Msg::new("param-days-reversed"),
        InvalidParam::Sort => Msg::one("param-sort", "names", sort_names()),
        InvalidParam::Order => Msg::new("param-order"),
        InvalidParam::PerPage => Msg::new("param-per-page"),
        InvalidParam::StaleCursor => Msg::new("param-stale-cursor"),
        InvalidParam::BothCursors => Msg::new("param-both-cursors"),
        InvalidParam::Bom => Msg::new("param-bom"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::i18n::{Lang, Tr};

    /// The service's sentences, as it writes them; the HTTP tests meet the
    /// real ones.
    #[test]
    fn known_service_sentences_are_translated() {
        let zh = Tr::new(Lang::ZhCn, chrono_tz::UTC);
        let cases = [
            ("there is no account 42; give the id shown on the other account's page", "err-no-such-account", "42"),
            ("an account cannot be merged with itself; give another account's id", "err-merge-self", ""),
            ("accounts 3 and 4 both have a unionid from WeChat, and they differ: they are two people", "err-merge-two-unionids", "4"),
            ("this is the account's only identity: there is nothing to unlink it from", "err-unlink-only-identity", ""),
            ("WeChat gives this identity the account's unionid, so its next login would link it again; only identities linked by a merge can be unlinked", "err-unlink-own-unionid", ""),
            ("this value no longer waits for review: it was decided already, or replaced by its user since", "err-review-decided", ""),
            ("vera is the only owner; make another admin an owner first", "err-last-owner", "vera"),
        ];
        for (text, key, shown) in cases {
            let msg = free_text(text);
            assert_eq!(msg.key, key, "{text}");
            assert!(zh.msg(&msg).contains(shown), "{}", zh.msg(&msg));
        }
        assert_eq!(free_text("something new").key, "err-other");
        assert_eq!(zh.msg(&free_text("something new")), "something new");
    }

    #[test]
    fn role_refusals_name_the_roles_in_the_language() {
        let msg = forbidden(AdminRole::Viewer, AdminRole::Operator, "export users");
        let en = Tr::new(Lang::En, chrono_tz::UTC).msg(&msg);
        assert_eq!(
            en,
            "your role (viewer) cannot export users; that needs the operator role or higher"
        );
        let zh = Tr::new(Lang::ZhCn, chrono_tz::UTC).msg(&msg);
        assert!(
            zh.contains("查看者") && zh.contains("操作员") && zh.contains("导出用户"),
            "{zh}"
        );
        let other = forbidden(AdminRole::Viewer, AdminRole::Owner, "fly");
        assert_eq!(other.key, "err-forbidden-other");
    }

    /// Every action the service layer names when it refuses a role has its
    /// words: found in the service's source, so that a new one is noticed.
    #[test]
    fn every_refused_action_has_a_message() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/service");
        let mut dirs = vec![root];
        let mut found = 0;
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                for call in text.split("admin_access::authorize(").skip(1) {
                    let args = &call[..call.find(".await").unwrap()];
                    let action = match args.split('"').nth(1) {
                        Some(action) => action.to_owned(),
                        // Given as a variable: `let what = "…";` before.
                        None => text
                            .split("let what = \"")
                            .nth(1)
                            .unwrap()
                            .split('"')
                            .next()
                            .unwrap()
                            .to_owned(),
                    };
                    assert!(
                        action_key(&action).is_some(),
                        "{}: {action:?}",
                        path.display()
                    );
                    found += 1;
                }
            }
        }
        assert!(found >= 10, "the scan finds the refusals: {found}");
    }
}
