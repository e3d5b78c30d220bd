//! HTTP-level tests of the real application, on SQLite and on PostgreSQL.

#[path = "../common/mod.rs"]
mod common;

mod account_deletion;
mod accounts;
mod admin_i18n;
mod admin_profile;
mod admin_roles;
mod admin_site;
mod admin_table;
mod apps;
mod avatar;
mod binary;
mod clock_skew;
mod code_retry;
mod content;
mod crash;
mod db_outage;
mod disk_full;
mod drain;
mod errors;
mod exit_status;
mod fixtures;
mod fleet;
mod forward_auth;
mod group_commit;
mod hanging_wechat;
mod health;
mod hostile;
mod introspect;
mod login;
mod migration;
mod observability;
mod openapi;
mod phone;
mod profile;
mod retention;
mod risk;
mod seed;
mod session_keys;
mod sessions;
mod sign_in_throttle;
mod systemd;
mod token_cache;
mod userdata;
mod webhooks;
