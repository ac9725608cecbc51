//! Lowering (stub, being written).
use super::{diag::Diagnostics, model::Config, reader::Line};
pub fn lower(_lines: &[Line], _d: &mut Diagnostics) -> Config { Config::default() }
