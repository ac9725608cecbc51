//! Lowering (stub, being written).
use super::{diag::Diagnostics, model::Config, reader::Reader};
pub fn lower(_r: &mut Reader<'_>) -> Config { Config::default() }
