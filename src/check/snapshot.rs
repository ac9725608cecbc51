//! The checkers' live state as the status dump reads it (keepalived's
//! `keepalived_check.data`, check_data.c `dump_vs` / `dump_rs`, check_api.c `dump_checker`).
//!
//! The engine builds a [`HealthSnapshot`] when it is asked for one (USR1), from its plan, its
//! pool and the little it remembers beside them ([`Memory`]); nothing is built while nobody
//! asks. This module does no I/O and keeps no clock.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::plan::{Plan, ProbeSpec};
use super::proto::pool::{DestRole, Pool};
use crate::config::model::Config;

/// The checkers' view of every virtual server of `config`, in configuration order.
#[derive(Debug, Clone)]
pub struct HealthSnapshot {
    /// The configuration the indices below follow (it changes on reload).
    pub config: Arc<Config>,
    /// Same index as `config.virtual_servers`.
    pub services: Vec<VsHealth>,
}

/// One virtual server (keepalived `virtual_server_t`'s live fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VsHealth {
    /// Quorum and hysteresis after keepalived's `validate_check_config` corrections.
    pub quorum: u32,
    pub hysteresis: u32,
    /// keepalived `quorum_state_up`.
    pub quorum_up: bool,
    /// The sorry server replaces the real servers.
    pub sorry_active: bool,
    /// keepalived `weigh_live_realservers`.
    pub live_weight: i64,
    /// Carried over from the configuration before the last reload.
    pub reloaded: bool,
    /// Same index as the configuration's `real_servers`.
    pub real_servers: Vec<RsHealth>,
}

/// One real server (keepalived `real_server_t`'s live fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsHealth {
    pub alive: bool,
    /// Configured weight plus what MISC_CHECK `misc_dynamic` and FILE_CHECK add.
    pub effective_weight: i64,
    /// keepalived `peffective_weight`: the effective weight when the last reload found this
    /// real server again (0 before any reload).
    pub previous_effective_weight: i64,
    /// keepalived `num_failed_checkers`.
    pub failed_checkers: u32,
    /// keepalived `set`: the destination is in the table the checkers publish for IPVS
    /// (an inhibited real server that is down is, with weight 0).
    pub set: bool,
    pub reloaded: bool,
    /// In configuration order (one per keepalived checker; a checker the plan left out,
    /// such as BFD_CHECK, is absent).
    pub checkers: Vec<CheckerHealth>,
}

/// One checker of one real server (keepalived `checker_t`'s live fields).
#[derive(Debug, Clone)]
pub struct CheckerHealth {
    /// What the checker does (shared by every real server it serves).
    pub spec: Arc<ProbeSpec>,
    /// False for a MISC_CHECK disabled by script security.
    pub enabled: bool,
    pub up: bool,
    /// It has reported a result at least once.
    pub has_run: bool,
    /// Its weight contribution (MISC_CHECK `misc_dynamic`, FILE_CHECK).
    pub cur_weight: i64,
}

impl PartialEq for CheckerHealth {
    fn eq(&self, o: &Self) -> bool {
        self.spec.key() == o.spec.key()
            && (self.enabled, self.up, self.has_run, self.cur_weight)
                == (o.enabled, o.up, o.has_run, o.cur_weight)
    }
}

impl Eq for CheckerHealth {}

/// What the engine keeps beside the pool for the snapshot.
#[derive(Debug, Clone, Default)]
pub struct Memory {
    /// Stable probe ids that have reported a result.
    pub has_run: HashSet<usize>,
    /// (virtual server, real server) found again by the last reload, with the effective
    /// weight it had then.
    pub reloaded_rs: HashMap<(usize, usize), i64>,
    /// Virtual servers found again by the last reload.
    pub reloaded_vs: HashSet<usize>,
}

impl Memory {
    /// A checker reported.
    pub fn ran(&mut self, id: usize) {
        self.has_run.insert(id);
    }

    /// Starts the memory of a reloaded configuration: what ran keeps having run (probe ids
    /// are stable across reloads); the reload marks are the new ones.
    pub fn reloaded(&self) -> Memory {
        Memory {
            has_run: self.has_run.clone(),
            ..Memory::default()
        }
    }
}

/// The snapshot of `pool` (built from `plan` for `config`).
pub fn build(config: &Arc<Config>, plan: &Plan, pool: &Pool, memory: &Memory) -> HealthSnapshot {
    // The plan's probes by the stable id the pool's slots carry.
    let index: HashMap<usize, usize> = plan
        .ids
        .iter()
        .enumerate()
        .map(|(i, &id)| (id, i))
        .collect();
    let mut specs: HashMap<usize, (Arc<ProbeSpec>, bool)> = HashMap::new();
    let mut spec_of = |id: usize| {
        specs
            .entry(id)
            .or_insert_with(|| {
                let i = index.get(&id).copied();
                let spec = i.and_then(|i| plan.probes.get(i)).cloned();
                let disabled = i.and_then(|i| plan.disabled.get(i)).copied();
                (
                    Arc::new(spec.unwrap_or_else(|| unknown_probe(id))),
                    !disabled.unwrap_or(false),
                )
            })
            .clone()
    };
    let mut services = Vec::with_capacity(pool.specs().len());
    for (v, spec) in pool.specs().iter().enumerate() {
        let table = pool.service_table(v);
        let real_servers = (0..spec.real_servers.len())
            .map(|r| {
                let checkers: Vec<CheckerHealth> = pool
                    .rs_checkers(v, r)
                    .map(|(id, up, cur_weight)| {
                        let (spec, enabled) = spec_of(id);
                        CheckerHealth {
                            spec,
                            enabled,
                            up,
                            has_run: memory.has_run.contains(&id),
                            cur_weight,
                        }
                    })
                    .collect();
                RsHealth {
                    alive: pool.rs_alive(v, r),
                    effective_weight: pool.rs_weight(v, r),
                    previous_effective_weight: memory
                        .reloaded_rs
                        .get(&(v, r))
                        .copied()
                        .unwrap_or(0),
                    failed_checkers: checkers.iter().filter(|c| !c.up).count() as u32,
                    set: table.dests.iter().any(|d| d.role == DestRole::Real(r)),
                    reloaded: memory.reloaded_rs.contains_key(&(v, r)),
                    checkers,
                }
            })
            .collect();
        services.push(VsHealth {
            quorum: spec.quorum,
            hysteresis: spec.hysteresis,
            quorum_up: table.quorum_up,
            sorry_active: table.sorry_active,
            live_weight: pool.live_weight(v),
            reloaded: memory.reloaded_vs.contains(&v),
            real_servers,
        });
    }
    HealthSnapshot {
        config: config.clone(),
        services,
    }
}

/// A slot naming a probe the plan does not have cannot happen (the engine builds both from
/// one plan); should it, the dump shows a TCP_CHECK to nowhere rather than failing.
fn unknown_probe(id: usize) -> ProbeSpec {
    use super::proto::checker::{Flavor, Timing};
    use crate::config::model::Micros;
    ProbeSpec {
        kind: super::plan::ProbeKind::Tcp,
        target: std::net::SocketAddr::from(([0, 0, 0, 0], 0)),
        bind: None,
        connect_timeout: Micros(0),
        timing: Timing {
            delay_loop: Micros(0),
            delay_before_retry: Micros(0),
            retry: 0,
            warmup: Micros(0),
        },
        flavor: Flavor::Standard,
        alpha: false,
        log_all_failures: false,
        name: format!("(unknown checker {id})"),
    }
}
