//! wxlogin: a login server for WeChat mini-programs.
//!
//! - [`config`]: command line and typed settings
//! - [`db`]: SQLite or PostgreSQL, chosen at run time
//! - [`wechat`]: the WeChat API client and the dev-mode simulator
//! - [`api`]: the JSON API for mini-programs
//! - [`admin`]: the admin site under `/admin`
//! - [`app`]: building and running the HTTP server

pub mod admin;
pub mod api;
pub mod background;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod domain;
pub mod media;
pub mod seed;
pub mod service;
pub mod signals;
pub mod startup;
pub mod state;
pub mod systemd;
pub mod telemetry;
pub mod web;
pub mod webhook;
pub mod wechat;
