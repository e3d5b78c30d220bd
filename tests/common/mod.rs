//! What the test binaries share: the app on a free port against a real
//! database, a fake WeChat, an admin client, HTML scraping, and fake people.
//! Each binary uses only part of it.
#![allow(dead_code)]

pub mod admin_client;
pub mod app;
pub mod db;
pub mod html;
pub mod people;

pub use admin_client::*;
pub use app::*;
pub use db::*;
pub use html::*;
pub use people::*;

pub const APPID: &str = "wx1234567890abcdef";
pub const SECRET: &str = "s3cr3t-app-secret-never-shown";
pub const ADMIN: &str = "operator";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";
