//! Output kinds. Each file computes a typed context from resolved data and renders it with
//! the shared minijinja environment of [`crate::render`]; none of them writes files.

pub mod kickstart;
pub mod shell;
pub mod template;
