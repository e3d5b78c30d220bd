//! The use cases, with plain Rust inputs and outputs and no HTTP types:
//! what `api/`, `admin/` and `cli/` call. Each takes the shared state it
//! needs and answers a [`ServiceError`].

pub mod account_closing;
pub mod accounts;
pub mod admin_access;
pub mod admin_sessions;
pub mod admin_sign_in;
pub mod admins;
pub mod audit;
mod code_retry;
pub mod content;
pub mod data_keys;
mod error;
pub mod export;
pub mod health;
pub mod login;
pub mod overview_charts;
pub mod personal_data;
pub mod profile;
mod risk;
pub mod second_factor;
pub mod services;
pub mod sessions;
pub mod user_data;
pub mod users;
pub mod webhooks;
pub mod wechat_tokens;

pub use error::{label_meaning, Refusal, SecondFactorProblem, ServiceError, ServiceResult};
