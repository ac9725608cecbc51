//! Fault injection, for the tests of [`super::supervise`] only.
//!
//! Compiled only with the Cargo feature `fault-injection`, which is off by default: a
//! release build (`cargo build --release`, `dist/install.sh`) contains neither this code
//! nor the name of its variable. `cargo test` turns the feature on through the crate's
//! dev-dependency on itself (Cargo.toml), so the binary the integration tests run has it.
//!
//! `KEEPALIVED_RS_FAULT` holds comma-separated `SUBSYSTEM-panic-after-ms=N` items, with
//! SUBSYSTEM one of `vrrp`, `check`, `ipvs`: the first run of that subsystem's task panics
//! `N` ms after it started (its respawned successors run normally). The panic happens
//! around the task, at one of its await points, so the task is torn down exactly as if it
//! had panicked itself.
//!
//! This module must not be reachable without the feature.

use std::future::Future;
use std::time::Duration;

use super::supervise::Subsystem;

/// The variable read at start.
pub const ENV: &str = "KEEPALIVED_RS_FAULT";

/// The faults asked for.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Faults {
    panic_after: Vec<(Subsystem, Duration)>,
}

impl Faults {
    /// From [`ENV`]; an unset variable asks for nothing, a malformed one is logged and
    /// ignored.
    pub fn from_env() -> Faults {
        let Some(text) = std::env::var_os(ENV) else {
            return Faults::default();
        };
        match Faults::parse(&text.to_string_lossy()) {
            Ok(f) => {
                tracing::warn!("{ENV}: fault injection armed: {f:?}");
                f
            }
            Err(e) => {
                tracing::warn!("{ENV}: {e} - ignored");
                Faults::default()
            }
        }
    }

    pub fn parse(text: &str) -> Result<Faults, String> {
        let mut out = Faults::default();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| format!("{item:?}: expected KEY=VALUE"))?;
            let sub = match key {
                "vrrp-panic-after-ms" => Subsystem::Vrrp,
                "check-panic-after-ms" => Subsystem::Checkers,
                "ipvs-panic-after-ms" => Subsystem::Ipvs,
                _ => return Err(format!("{key:?}: unknown fault")),
            };
            let ms: u64 = value
                .parse()
                .map_err(|_| format!("{item:?}: not a number of milliseconds"))?;
            out.panic_after.push((sub, Duration::from_millis(ms)));
        }
        Ok(out)
    }

    /// When run number `generation` (0 = the first) of `sub` must panic.
    pub fn panic_after(&self, sub: Subsystem, generation: u32) -> Option<Duration> {
        if generation != 0 {
            return None;
        }
        self.panic_after
            .iter()
            .find(|(s, _)| *s == sub)
            .map(|(_, d)| *d)
    }
}

/// Runs `task`, panicking after `after` if it is still running then.
pub async fn wrap<F: Future<Output = ()>>(sub: Subsystem, after: Option<Duration>, task: F) {
    let Some(after) = after else {
        return task.await;
    };
    tokio::select! {
        () = task => {}
        () = tokio::time::sleep(after) => {
            panic!("fault injection: {} task panics after {after:?}", sub.name())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_subsystem_and_fires_only_in_the_first_run() {
        let f = Faults::parse("vrrp-panic-after-ms=1500, ipvs-panic-after-ms=7").expect("parse");
        assert_eq!(
            f.panic_after(Subsystem::Vrrp, 0),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(f.panic_after(Subsystem::Vrrp, 1), None);
        assert_eq!(
            f.panic_after(Subsystem::Ipvs, 0),
            Some(Duration::from_millis(7))
        );
        assert_eq!(f.panic_after(Subsystem::Checkers, 0), None);
        assert!(Faults::parse("vrrp-panic-after-ms").is_err());
        assert!(Faults::parse("vrrp-crash=1").is_err());
        assert!(Faults::parse("vrrp-panic-after-ms=soon").is_err());
        assert_eq!(Faults::parse("").expect("empty"), Faults::default());
    }
}
