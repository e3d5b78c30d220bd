//! Table definitions shared by both backends. Kept by hand: each migration in
//! `migrations/sqlite` has a twin in `migrations/postgres`, and this file
//! describes what both produce.

diesel::table! {
    /// A person: the profile, linked across apps by `unionid`.
    accounts (id) {
        id -> BigInt,
        unionid -> Nullable<Text>,
        nickname -> Text,
        avatar_url -> Text,
        gender -> SmallInt,
        country -> Text,
        province -> Text,
        city -> Text,
        language -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        last_login_at -> Timestamp,
        login_count -> BigInt,
        phone_number -> Nullable<Text>,
        phone_country_code -> Nullable<Text>,
        /// When WeChat last verified `phone_number`.
        phone_verified_at -> Nullable<Timestamp>,
        /// The highest `risk_rank` of the account's identities.
        risk_rank -> Nullable<SmallInt>,
        /// A nickname WeChat's content check has not passed yet.
        nickname_pending -> Nullable<Text>,
        /// An avatar URL WeChat's content check has not passed yet.
        avatar_pending -> Nullable<Text>,
        /// When the account was closed; its personal data is erased.
        deleted_at -> Nullable<Timestamp>,
        /// The keyed hash of the phone number, for admins' lookups.
        phone_hash -> Nullable<Text>,
    }
}

diesel::table! {
    /// One (appid, openid) of an account, with that app's session_key.
    identities (id) {
        id -> BigInt,
        account_id -> BigInt,
        appid -> Text,
        openid -> Text,
        unionid -> Nullable<Text>,
        session_key -> Text,
        created_at -> Timestamp,
        last_login_at -> Timestamp,
        login_count -> BigInt,
        /// When WeChat issued `session_key`: the login that brought it.
        session_key_issued_at -> Timestamp,
        /// WeChat's risk rank at the first login, when the app asks for it.
        risk_rank -> Nullable<SmallInt>,
    }
}

diesel::table! {
    sessions (id) {
        id -> BigInt,
        account_id -> BigInt,
        identity_id -> BigInt,
        token_hash -> Binary,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        last_seen_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        client_ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
    }
}

diesel::joinable!(identities -> accounts (account_id));
diesel::joinable!(sessions -> identities (identity_id));

diesel::table! {
    admins (id) {
        id -> BigInt,
        username -> Text,
        password_hash -> Text,
        created_at -> Timestamp,
        last_login_at -> Nullable<Timestamp>,
        role -> Text,
        locale -> Nullable<Text>,
        totp_secret -> Nullable<Binary>,
        totp_enabled_at -> Nullable<Timestamp>,
        totp_last_step -> Nullable<BigInt>,
    }
}

diesel::table! {
    admin_sessions (id) {
        id -> BigInt,
        admin_id -> BigInt,
        token_hash -> Text,
        csrf -> Text,
        second_factor_pending -> Bool,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
    }
}

diesel::table! {
    admin_recovery_codes (id) {
        id -> BigInt,
        admin_id -> BigInt,
        code_hash -> Text,
        created_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(admin_sessions -> admins (admin_id));
diesel::joinable!(admin_recovery_codes -> admins (admin_id));

diesel::table! {
    audit_log (id) {
        id -> BigInt,
        created_at -> Timestamp,
        admin_id -> Nullable<BigInt>,
        username -> Text,
        action -> Text,
        ip -> Nullable<Text>,
        detail -> Text,
    }
}

diesel::table! {
    sign_in_throttle (kind, subject) {
        kind -> Text,
        subject -> Text,
        window_start -> Timestamp,
        attempts -> BigInt,
    }
}

diesel::table! {
    readiness_probe (id) {
        id -> BigInt,
        written_at -> Timestamp,
        padding -> Nullable<Binary>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    accounts,
    identities,
    sessions,
    admins,
    admin_sessions,
    admin_recovery_codes,
    audit_log,
    content_checks
);

diesel::table! {
    services (id) {
        id -> BigInt,
        name -> Text,
        client_id -> Text,
        secret_hash -> Binary,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        last_used_at -> Nullable<Timestamp>,
        calls -> BigInt,
    }
}

diesel::table! {
    webhook_events (id) {
        id -> BigInt,
        event_id -> Text,
        kind -> Text,
        payload -> Text,
        created_at -> Timestamp,
        next_attempt_at -> Timestamp,
        attempts -> Integer,
        last_status -> Nullable<Integer>,
        last_error -> Nullable<Text>,
        delivered_at -> Nullable<Timestamp>,
        failed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    wechat_access_tokens (appid) {
        appid -> Text,
        sealed_token -> Nullable<Binary>,
        expires_at -> Nullable<Timestamp>,
        refreshed_at -> Nullable<Timestamp>,
        lease_holder -> Nullable<Text>,
        lease_until -> Nullable<Timestamp>,
        forced_at -> Nullable<Timestamp>,
        forced_day -> BigInt,
        forced_count -> Integer,
    }
}

diesel::table! {
    login_codes (code_hash) {
        code_hash -> Binary,
        sealed_token -> Binary,
        claimed_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    /// Successful (billed) phone-number exchanges per app and China day.
    phone_exchanges (appid, day) {
        appid -> Text,
        day -> Date,
        count -> BigInt,
    }
}

diesel::table! {
    /// Pending nicknames and avatars, until they are decided.
    content_checks (id) {
        id -> BigInt,
        account_id -> BigInt,
        identity_id -> BigInt,
        field -> Text,
        value -> Text,
        status -> Text,
        trace_id -> Nullable<Text>,
        label -> Nullable<BigInt>,
        reason -> Text,
        attempts -> Integer,
        submitted_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(content_checks -> accounts (account_id));

diesel::table! {
    /// Digests of the message pushes received in the last ten minutes.
    wechat_pushes_seen (digest) {
        digest -> Binary,
        seen_at -> Timestamp,
    }
}

diesel::table! {
    /// New accounts and logins per UTC hour, for the admin overview.
    activity_hours (hour) {
        hour -> Timestamp,
        new_accounts -> BigInt,
        logins -> BigInt,
    }
}

diesel::table! {
    /// Accounts by gender and province, recounted every few minutes.
    profile_totals (kind, value) {
        kind -> Text,
        value -> Text,
        accounts -> BigInt,
        computed_at -> Timestamp,
    }
}
