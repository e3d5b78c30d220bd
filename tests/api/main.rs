//! HTTP-level tests of the real application, on SQLite and on PostgreSQL.

mod admin_site;
mod admin_table;
mod binary;
mod errors;
mod health;
mod helpers;
mod login;
mod seed;
mod sessions;
mod token_cache;
