//! SIGHUP: read the configuration again and decide whether it may replace the running one.
//!
//! keepalived with `reload_check_config` runs `keepalived --config-test` on the new files and
//! refuses the reload when it fails ("New config failed validation"); keepalived-rs always
//! does so, in process. A refused configuration changes nothing: no instance is rebuilt,
//! no VIP moves, the checkers keep their table. Errors of the script-security class are
//! not a reason to refuse: keepalived runs such a configuration and only disables the
//! offending scripts, as it does at start.
//!
//! This module must not apply anything: the engine and the checkers do that.

use crate::config::diag::{ErrorClass, Severity};
use crate::config::model::Config;
use crate::config::{self, LoadOptions, Loaded};

/// What to do with a configuration read on SIGHUP.
#[derive(Debug)]
pub enum Verdict {
    /// Valid: hand it to the subsystems (warnings are logged by [`read`]).
    Apply(Box<Config>),
    /// Not applied; the reason, for the log.
    Refuse(String),
}

/// Decides on a loaded configuration.
pub fn judge(loaded: Loaded) -> Verdict {
    let d = &loaded.diagnostics;
    let errors = d
        .items
        .iter()
        .filter(|i| {
            (i.severity == Severity::Error && i.class != ErrorClass::Security)
                || i.class == ErrorClass::FileNotFound
        })
        .count();
    if d.config_file_error {
        return Verdict::Refuse("a configuration file could not be read".into());
    }
    if errors > 0 {
        return Verdict::Refuse(format!(
            "{errors} error(s) in the configuration (keepalived -t exit code {})",
            loaded.test_exit_code()
        ));
    }
    Verdict::Apply(Box::new(loaded.config))
}

/// Reads the configuration (on a blocking thread: includes may be large), logs every
/// diagnostic, and judges it.
pub async fn read(opts: &LoadOptions) -> Verdict {
    // keepalived's reader only warns about a missing main file; a reload must not take
    // that for an empty configuration.
    if let Err(e) = std::fs::File::open(&opts.path) {
        return Verdict::Refuse(format!("cannot read {}: {e}", opts.path.display()));
    }
    let opts = opts.clone();
    let loaded = match tokio::task::spawn_blocking(move || config::load(&opts)).await {
        Ok(l) => l,
        Err(e) => return Verdict::Refuse(format!("the configuration reader failed: {e}")),
    };
    for line in loaded.diagnostics.render().lines() {
        tracing::warn!("{line}");
    }
    judge(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Loaded {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keepalived.conf");
        std::fs::write(&path, text).expect("write");
        let mut opts = LoadOptions::new(&path);
        opts.check_interfaces = false;
        config::load(&opts)
    }

    #[test]
    fn a_valid_configuration_is_applied() {
        let l = load(
            "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n \
             virtual_ipaddress {\n  203.0.113.10/24\n }\n}\n",
        );
        assert!(matches!(judge(l), Verdict::Apply(_)));
    }

    #[test]
    fn a_configuration_with_errors_is_refused() {
        let l = load(
            "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 300\n \
             virtual_ipaddress {\n  203.0.113.10/24\n }\n",
        );
        assert!(matches!(judge(l), Verdict::Refuse(_)));
    }

    #[tokio::test]
    async fn a_missing_file_is_refused() {
        let opts = LoadOptions::new("/nonexistent/keepalived-rs/keepalived.conf");
        assert!(matches!(read(&opts).await, Verdict::Refuse(_)));
    }
}
