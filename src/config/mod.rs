//! keepalived.conf front end.
//!
//! Pipeline: [`reader`] (include, comments, `@id`, `$macros`, `~SEQ`/`~LST`, brace splitting; a
//! source map for every token) → [`syntax`] (the pest lexer of `grammar/keepalived.pest`) →
//! [`lower`] (keepalived's line-oriented block walk driven by the [`keywords`] table, building
//! [`model::Config`]) → [`validate`] (keepalived's cross-object checks). [`dump`] prints the
//! effective configuration for `-d`.

pub mod diag;
pub mod dump;
pub mod keywords;
pub mod lower;
pub mod model;
pub mod reader;
pub mod syntax;
pub mod validate;

use std::path::PathBuf;

pub use diag::{Diagnostic, Diagnostics, ErrorClass, Severity};

/// How to read a configuration.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// `-f FILE` (default `/etc/keepalived/keepalived.conf`).
    pub path: PathBuf,
    /// `-i ID` for `@ID` conditional lines; `None` = short host name.
    pub config_id: Option<String>,
    /// `-e`: a missing include is an error.
    pub all_config: bool,
    /// Check that the interfaces the configuration names exist (as `keepalived -t` does).
    pub check_interfaces: bool,
}

impl LoadOptions {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        LoadOptions {
            path: path.into(),
            config_id: None,
            all_config: false,
            check_interfaces: true,
        }
    }
}

/// The result of reading a configuration: the model (always built, possibly partial, as
/// keepalived runs what it could read) and every diagnostic collected on the way.
#[derive(Debug)]
pub struct Loaded {
    pub config: model::Config,
    pub diagnostics: Diagnostics,
}

impl Loaded {
    /// The exit code `keepalived -t` gives for this configuration (keepalived 2.2.7 numbering:
    /// 0 ok, 4 cannot run, 5 errors but runnable, 6 scripts without script security).
    pub fn test_exit_code(&self) -> i32 {
        self.diagnostics.test_exit_code()
    }
}

/// Read, lower and validate the configuration at `opts.path`. A piranha lvs.cf is recognised
/// by its content and read by [`crate::lvs_cf`] instead.
pub fn load(opts: &LoadOptions) -> Loaded {
    if crate::lvs_cf::looks_like(&opts.path) {
        return crate::lvs_cf::load(opts);
    }
    // Reading (files, macros, lexing) runs on its own thread, the block walk and lowering on
    // this one: the two halves of the work overlap.
    let (mut diags, mut config) = std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::sync_channel(8);
        let reading = s.spawn(move || {
            let mut rd = Diagnostics::default();
            let mut reader = reader::Reader::open(opts, &mut rd);
            while let Some(chunk) = reader.next_chunk(1024) {
                if tx.send(chunk).is_err() {
                    break;
                }
            }
            rd
        });
        let mut walk = Diagnostics::default();
        let config = lower::lower(&mut lower::ChannelSource::new(rx), &mut walk);
        let mut diags = match reading.join() {
            Ok(rd) => rd,
            Err(_) => {
                let mut d = Diagnostics::default();
                d.report(
                    ErrorClass::Fatal,
                    None,
                    "internal error: the configuration reader stopped unexpectedly",
                );
                d
            }
        };
        // Reading diagnostics first, then those of the block walk.
        diags.absorb(walk);
        (diags, config)
    });
    validate::validate(&mut config, opts, &mut diags);
    Loaded {
        config,
        diagnostics: diags,
    }
}
