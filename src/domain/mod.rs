//! Values and rules shared by the layers: no HTTP, no database connection.

pub mod random;
pub mod text;
