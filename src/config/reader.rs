//! Macro layer (stub, being written).
use super::{diag::{Diagnostics, Loc}, LoadOptions};

/// One logical line as keepalived's `read_line()` hands it on: a brace alone, or the words between braces.
#[derive(Debug, Clone)]
pub struct Line { pub words: Vec<Word>, pub loc: Loc }
#[derive(Debug, Clone)]
pub struct Word { pub text: String, pub col: u32 }

pub fn read(_opts: &LoadOptions, _diags: &mut Diagnostics) -> Vec<Line> { Vec::new() }
