//! Values and rules shared by the layers: no HTTP, no database connection.

pub mod admin_role;
pub mod admin_session;
pub mod data_keys;
pub mod display_time;
pub mod event;
pub mod login;
pub mod login_code;
pub mod password;
pub mod profile;
pub mod random;
pub mod sealed;
pub mod service_credential;
pub mod text;
pub mod token;
pub mod totp;
pub mod totp_keys;
pub mod user_data;
pub mod user_query;
