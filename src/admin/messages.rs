//! What the service layer's refusals and the user table's parameter errors
//! say on the admin site: each one a catalogue message with its arguments.

use super::i18n::{Key, Msg};
use super::words::role_key;
use crate::domain::admin_role::AdminRole;
use crate::domain::password::{PasswordError, MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS};
use crate::domain::user_query::{sort_names, InvalidParam, Param};
use crate::service::{Refusal, SecondFactorProblem, ServiceError};

/// The message of a service error that the admin is told about; `None` for
/// an internal error, whose cause only the log gets.
pub fn service(e: &ServiceError) -> Option<Msg> {
    match e {
        ServiceError::NotFound => Some(Msg::new("err-not-found")),
        ServiceError::Refused(r) => Some(refusal(r)),
        // Rules of the API's input, which no admin page sends.
        ServiceError::Invalid(text) => Some(Msg::one("err-other", "text", text.as_str())),
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

/// A refusal of a change to accounts or admins, in the catalogue's words.
fn refusal(refusal: &Refusal) -> Msg {
    match refusal {
        Refusal::NoSuchAccount(id) => Msg::one("err-no-such-account", "id", *id),
        Refusal::MergeWithItself => Msg::new("err-merge-self"),
        Refusal::TwoUnionids(a, b) => Msg::one("err-merge-two-unionids", "a", *a).arg("b", *b),
        Refusal::OnlyIdentity => Msg::new("err-unlink-only-identity"),
        Refusal::OwnUnionid => Msg::new("err-unlink-own-unionid"),
        Refusal::ReviewDecided => Msg::new("err-review-decided"),
        Refusal::LastOwner(name) => Msg::one("err-last-owner", "name", name.as_str()),
        Refusal::AdminName => Msg::new("err-admin-name"),
        Refusal::Password(PasswordError::TooShort) => {
            Msg::one("err-password-too-short", "min", MIN_PASSWORD_CHARS)
        }
        Refusal::Password(PasswordError::TooLong) => {
            Msg::one("err-password-too-long", "max", MAX_PASSWORD_CHARS)
        }
        Refusal::AdminExists => Msg::new("err-admin-exists"),
        Refusal::LanguageTag => Msg::new("err-language-tag"),
        Refusal::ServiceName => Msg::new("err-service-name"),
        Refusal::ServiceExists => Msg::new("err-service-exists"),
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

    #[test]
    fn refusals_are_worded_in_the_language() {
        let zh = Tr::new(Lang::ZhCn, chrono_tz::UTC);
        let cases = [
            (Refusal::NoSuchAccount(42), "err-no-such-account", "42"),
            (Refusal::MergeWithItself, "err-merge-self", ""),
            (Refusal::TwoUnionids(3, 4), "err-merge-two-unionids", "4"),
            (Refusal::OnlyIdentity, "err-unlink-only-identity", ""),
            (Refusal::OwnUnionid, "err-unlink-own-unionid", ""),
            (Refusal::ReviewDecided, "err-review-decided", ""),
            (Refusal::LastOwner("vera".into()), "err-last-owner", "vera"),
            (Refusal::AdminName, "err-admin-name", "64"),
            (
                Refusal::Password(PasswordError::TooShort),
                "err-password-too-short",
                "10",
            ),
            (
                Refusal::Password(PasswordError::TooLong),
                "err-password-too-long",
                "1024",
            ),
            (Refusal::AdminExists, "err-admin-exists", ""),
            (Refusal::LanguageTag, "err-language-tag", "zh-CN"),
            (Refusal::ServiceName, "err-service-name", "64"),
            (Refusal::ServiceExists, "err-service-exists", ""),
        ];
        for (r, key, shown) in cases {
            let msg = refusal(&r);
            assert_eq!(msg.key, key, "{r}");
            let text = zh.msg(&msg);
            assert!(text.contains(shown) && text != r.to_string(), "{text}");
        }
        let other = service(&ServiceError::Invalid("something new".into())).unwrap();
        assert_eq!(zh.msg(&other), "something new");
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
