//! wxlogin: a login server for WeChat mini-programs.
//!
//! - [`config`]: command line and typed settings
//! - [`db`]: SQLite or PostgreSQL, chosen at run time
//! - [`wechat`]: the WeChat API client and the dev-mode simulator
//! - [`api`]: the JSON API for mini-programs
//! - [`app`]: building and running the HTTP server

pub mod api;
pub mod app;
pub mod cli;
pub mod config;
pub mod db;
pub mod telemetry;
pub mod token;
pub mod wechat;
