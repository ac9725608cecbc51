//! Cross-object checks (stub, being written).
use super::{diag::Diagnostics, model::Config, LoadOptions};
pub fn validate(_c: &mut Config, _o: &LoadOptions, _d: &mut Diagnostics) {}
