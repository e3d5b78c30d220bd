//! The use cases, with plain Rust inputs and outputs: no HTTP types.

pub mod admin_sign_in;
pub mod admins;
mod error;
pub mod export;

pub use error::{ServiceError, ServiceResult};
