//! HTTP machinery shared by the JSON API and the admin site.

pub mod connections;
