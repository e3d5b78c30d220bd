//! The catalogue keys of the domain's words that pages show: genders,
//! roles, statuses, audit actions, WeChat's content labels and review
//! reasons. The values stay as they are stored; only their labels change
//! with the language.

use crate::domain::admin_role::AdminRole;

pub fn gender_key(g: i16) -> &'static str {
    match g {
        1 => "gender-male",
        2 => "gender-female",
        _ => "gender-unknown",
    }
}

pub fn role_key(role: AdminRole) -> &'static str {
    match role {
        AdminRole::Viewer => "role-viewer",
        AdminRole::Operator => "role-operator",
        AdminRole::Owner => "role-owner",
    }
}

/// A user session's status, as the user page's CSS class names it.
pub fn session_status_key(status: &str) -> &'static str {
    match status {
        "active" => "session-status-active",
        "revoked" => "session-status-revoked",
        _ => "session-status-expired",
    }
}

/// A webhook delivery's status, as the page's CSS class names it.
pub fn delivery_status_key(status: &str) -> &'static str {
    match status {
        "delivered" => "wh-status-delivered",
        "failed" => "wh-status-failed",
        _ => "wh-status-pending",
    }
}

/// An audit entry's action (its stored name); `None` for one this build
/// does not know (written by a newer node), shown by its name alone.
pub fn audit_action_key(action: &str) -> Option<&'static str> {
    Some(match action {
        "sign_in" => "audit-sign-in",
        "sign_in_failed" => "audit-sign-in-failed",
        "sign_in_throttled" => "audit-sign-in-throttled",
        "sign_in_alert" => "audit-sign-in-alert",
        "sign_out" => "audit-sign-out",
        "revoke_session" => "audit-revoke-session",
        "revoke_all_sessions" => "audit-revoke-all-sessions",
        "export" => "audit-export",
        "service_created" => "audit-service-created",
        "service_revoked" => "audit-service-revoked",
        "account_merged" => "audit-account-merged",
        "account_unlinked" => "audit-account-unlinked",
        "content_approved" => "audit-content-approved",
        "content_rejected" => "audit-content-rejected",
        "access_denied" => "audit-access-denied",
        "admin_session_ended" => "audit-admin-session-ended",
        "role_changed" => "audit-role-changed",
        "account_deleted" => "audit-account-deleted",
        _ => return None,
    })
}

/// What one of WeChat's content-check labels means.
pub fn content_label_key(label: i64) -> &'static str {
    match label {
        100 => "content-label-normal",
        10001 => "content-label-ad",
        20001 => "content-label-politics",
        20002 => "content-label-porn",
        20003 => "content-label-abuse",
        20006 => "content-label-crime",
        20008 => "content-label-fraud",
        20012 => "content-label-vulgar",
        20013 => "content-label-copyright",
        _ => "content-label-other",
    }
}

/// Why a value waits for review, as the content check stores it; `None`
/// for a reason this build does not know, shown as it is.
pub fn review_reason_key(reason: &str) -> Option<&'static str> {
    Some(match reason {
        "WeChat asks for a review" => "review-reason-asked",
        "WeChat gave no verdict" => "review-reason-no-verdict",
        "WeChat's verdict did not come" => "review-reason-no-push",
        _ => return None,
    })
}

/// An account field's label, by the name the service gives it (the merge
/// preview's field list).
pub fn field_key(name: &str) -> &'static str {
    match name {
        "unionid" => "field-unionid",
        "nickname" => "field-nickname",
        "avatar_url" => "field-avatar-url",
        "gender" => "field-gender",
        "country" => "field-country",
        "province" => "field-province",
        "city" => "field-city",
        "language" => "field-language",
        "phone_number" => "field-phone",
        "created_at" => "field-created-at",
        "login_count" => "field-login-count",
        _ => "field-other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::i18n::{Lang, Tr};
    use crate::db::admins::AuditAction;

    /// Every word has its message in every language (a missing one would
    /// show its key).
    #[test]
    fn every_word_has_its_message() {
        let mut keys: Vec<&str> = (0..=3).map(gender_key).collect();
        keys.extend(AdminRole::ALL.map(role_key));
        keys.extend(["active", "revoked", "expired"].map(session_status_key));
        keys.extend(["delivered", "failed", "pending"].map(delivery_status_key));
        for action in AuditAction::ALL {
            keys.push(audit_action_key(action.as_str()).expect("every action has a label"));
        }
        keys.extend(
            [
                100, 10001, 20001, 20002, 20003, 20006, 20008, 20012, 20013, 1,
            ]
            .map(content_label_key),
        );
        keys.extend(
            [
                "WeChat asks for a review",
                "WeChat gave no verdict",
                "WeChat's verdict did not come",
            ]
            .map(|r| review_reason_key(r).unwrap()),
        );
        keys.extend(
            [
                "unionid",
                "nickname",
                "avatar_url",
                "gender",
                "country",
                "province",
                "city",
                "language",
                "phone_number",
                "created_at",
                "login_count",
                "?",
            ]
            .map(field_key),
        );
        for lang in Lang::ALL {
            let t = Tr::new(lang, chrono_tz::UTC);
            for key in &keys {
                assert_ne!(t.get(key), *key, "{}: {key}", lang.tag());
            }
        }
        let zh = Tr::new(Lang::ZhCn, chrono_tz::UTC);
        assert_eq!(zh.get(gender_key(1)), "男");
        assert_eq!(
            Tr::new(Lang::En, chrono_tz::UTC).get(gender_key(2)),
            "Female"
        );
    }
}
