//! Typed model (stub, being written).
#[derive(Debug, Default, Clone)]
pub struct Config {}
