//! The use cases, with plain Rust inputs and outputs: no HTTP types.

pub mod admin_sign_in;
