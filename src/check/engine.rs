//! The tokio driver: one task per distinct probe, one task owning the pool.
//!
//! ```text
//!   probe task ×N (checker core + I/O) ──Msg──▶ pool task (pool core) ──▶ watch<HealthTable>
//!        ▲ sleep_until(deadline)                      │
//!        └── Arm / Probe actions                      └── notify scripts, lvs_notify_fifo
//! ```
//!
//! Probe tasks never wait on each other: a hostile server stalls only its own task, and
//! only for the probe's time bound. The pool task does no I/O but spawning notify scripts
//! and non-blocking FIFO writes.

use std::collections::HashMap;
use std::future::Future;
use std::io::Write as _;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::io::{self, TlsCache};
use super::plan::{Plan, ProbeKind, ProbeSpec};
use super::proto::Now;
use super::proto::checker::{self, Checker, Outcome};
use super::proto::pool::{
    self, DestRole, Pool, ServiceTable, WeightChange, fifo_rs_line, fifo_vs_line,
};
use super::snapshot::{self, HealthSnapshot, Memory};
use crate::alert::{self, Alerter};
use crate::config::model::{Command, Config};
use crate::ipvs::desired::{self, DesiredTable};
use crate::vrrp::notify::{Script, ScriptEnv, spawn_notify};

/// What the checkers want IPVS to hold: for each virtual server of the configuration (same
/// index as `Config::virtual_servers`), its destinations with their current weights.
#[derive(Debug, Clone, Default)]
pub struct HealthTable {
    pub services: Vec<ServiceTable>,
    /// The configuration `services` follows (it changes on reload).
    pub config: Option<Arc<Config>>,
}

/// A request for the checkers' live state (USR1's `keepalived_check.data`): the engine
/// answers with a [`HealthSnapshot`] built when the request arrives.
pub type SnapshotRequest = oneshot::Sender<HealthSnapshot>;

/// Counters for benchmarks and status dumps.
#[derive(Debug, Default)]
pub struct Stats {
    /// Probes started.
    pub probes: AtomicU64,
    /// Probes that failed.
    pub failures: AtomicU64,
    /// Probes started more than 10% of `delay_loop` after their deadline.
    pub late: AtomicU64,
    /// The largest lateness seen, in µs.
    pub max_late_us: AtomicU64,
}

/// One step of a probe, for tests and debugging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trace {
    ProbeStart {
        probe: usize,
        at: Now,
        url: usize,
    },
    ProbeEnd {
        probe: usize,
        at: Now,
        outcome: Outcome,
    },
    Report {
        probe: usize,
        at: Now,
        up: bool,
    },
    Rs {
        vs: usize,
        rs: usize,
        up: bool,
    },
    Quorum {
        vs: usize,
        up: bool,
    },
}

/// Knobs for tests and benchmarks; the daemon uses the default.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Every step, as it happens.
    pub trace: Option<mpsc::UnboundedSender<Trace>>,
    pub stats: Option<Arc<Stats>>,
    /// Use this warmup draw for every probe instead of a random one (0: no warmup).
    pub jitter: Option<u32>,
}

/// Messages from probe tasks to the pool task.
#[derive(Debug)]
enum Msg {
    Pool(pool::Event),
    /// A checker's state report, with keepalived's mail body when this report mails
    /// (check_*.c: the checker flipped; MISC_CHECK also on its first run).
    Checker {
        ev: pool::Event,
        mail: Option<String>,
    },
}

fn now(epoch: Instant) -> Now {
    Now(epoch.elapsed().as_micros() as u64)
}

fn at(epoch: Instant, t: Now) -> Instant {
    epoch + Duration::from_micros(t.0)
}

/// Run the checkers of `config` until `shutdown` completes, publishing the live IPVS table
/// (the configuration's [`DesiredTable`] with every real server's health applied) on `tx`
/// whenever it changes. On shutdown the probes stop (scripts are killed) and the `omega`
/// notifications run; the last table stays published.
pub async fn run<F>(config: Arc<Config>, tx: watch::Sender<DesiredTable>, shutdown: F)
where
    F: Future<Output = ()>,
{
    let (_keep, configs) = watch::channel(config);
    let (_no_requests, requests) = mpsc::channel(1);
    run_desired(configs, tx, shutdown, requests).await
}

/// [`run`] following configuration reloads (each new value on `configs`), as
/// [`run_reloadable`] does, and answering `requests` for the live state (the daemon's USR1
/// dump) until the senders are gone or the checkers stop.
pub async fn run_desired<F>(
    configs: watch::Receiver<Arc<Config>>,
    tx: watch::Sender<DesiredTable>,
    shutdown: F,
    requests: mpsc::Receiver<SnapshotRequest>,
) where
    F: Future<Output = ()>,
{
    let (htx, mut hrx) = watch::channel(HealthTable::default());
    let convert = async {
        while hrx.changed().await.is_ok() {
            let health = hrx.borrow_and_update().clone();
            if let Some(config) = &health.config {
                tx.send_replace(to_desired(config, &health));
            }
        }
    };
    tokio::join!(
        drive(configs, htx, shutdown, Options::default(), Some(requests)),
        convert
    );
}

/// Build the live IPVS table from the configuration and the checkers' view
/// (`crate::ipvs::desired` gives each server's service keys and destination attributes).
pub fn to_desired(config: &Config, health: &HealthTable) -> DesiredTable {
    let mut t = DesiredTable::default();
    for (vs, svc_health) in config.virtual_servers.iter().zip(&health.services) {
        for (key, mut svc) in desired::vs_services(config, vs) {
            for d in &svc_health.dests {
                let w = d.weight.min(i32::MAX as u32) as i32;
                let entry = match d.role {
                    DestRole::Real(r) => vs
                        .real_servers
                        .get(r)
                        .map(|rs| desired::real_server_dest(vs, &key, rs, w)),
                    DestRole::Sorry => desired::sorry_server_dest(vs, &key).map(|(k, mut dd)| {
                        dd.weight = w;
                        (k, dd)
                    }),
                };
                if let Some((k, dd)) = entry {
                    svc.destinations.insert(k, dd);
                }
            }
            match t.services.entry(key) {
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(svc);
                }
                std::collections::btree_map::Entry::Occupied(mut e) => {
                    for (k, dd) in svc.destinations {
                        e.get_mut().destinations.entry(k).or_insert(dd);
                    }
                }
            }
        }
    }
    t
}

/// [`run`] with test / benchmark options, publishing the checkers' own [`HealthTable`].
pub async fn run_with<F>(
    config: Arc<Config>,
    tx: watch::Sender<HealthTable>,
    shutdown: F,
    opts: Options,
) where
    F: Future<Output = ()>,
{
    let (_keep, configs) = watch::channel(config);
    run_reloadable(configs, tx, shutdown, opts).await
}

/// [`run_with`] that follows configuration reloads: each new value on `configs` (SIGHUP) is
/// applied as keepalived's `reload_check_thread` does. Checkers that are unchanged keep
/// running with their up/down state and timers; new or changed ones start afresh; removed
/// ones stop. Real servers found again (same virtual server, same address and port) keep
/// their alive state, and a sorry server already in stays in.
pub async fn run_reloadable<F>(
    configs: watch::Receiver<Arc<Config>>,
    tx: watch::Sender<HealthTable>,
    shutdown: F,
    opts: Options,
) where
    F: Future<Output = ()>,
{
    drive(configs, tx, shutdown, opts, None).await
}

/// [`run_reloadable`], answering snapshot requests when given a channel for them.
async fn drive<F>(
    mut configs: watch::Receiver<Arc<Config>>,
    tx: watch::Sender<HealthTable>,
    shutdown: F,
    opts: Options,
    requests: Option<mpsc::Receiver<SnapshotRequest>>,
) where
    F: Future<Output = ()>,
{
    let epoch = Instant::now();
    let (msg_tx, mut msg_rx) = mpsc::unbounded_channel::<Msg>();
    let tls = Arc::new(TlsCache::new());
    let mut probes = Probes {
        ids: HashMap::new(),
        next_id: 0,
        running: HashMap::new(),
        tasks: JoinSet::new(),
    };
    let config = configs.borrow_and_update().clone();
    let (mut plan, mut pool) = probes.plan(&config);
    info!(
        virtual_servers = plan.pool.len(),
        probes = plan.probes.len(),
        "starting health checkers"
    );
    let mut notifier = Notifier::new(&config, &plan, opts.trace.clone());
    let init = pool.handle(pool::Event::Init);
    if notifier.apply(&init, &pool) {
        tx.send_replace(HealthTable {
            services: pool.table(),
            config: Some(config.clone()),
        });
    }
    let mut config = config;
    probes.sync(&plan, epoch, &msg_tx, &tls, &opts);

    let mut reloads_open = true;
    let mut memory = Memory::default();
    let mut requests_open = requests.is_some();
    let (_none, idle) = mpsc::channel(1);
    let mut requests = requests.unwrap_or(idle);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            req = requests.recv(), if requests_open => match req {
                // Built now, from the state every report so far has left (a dropped
                // requester has timed out: nothing to do).
                Some(reply) => {
                    let _ = reply.send(snapshot::build(&config, &plan, &pool, &memory));
                }
                None => requests_open = false,
            },
            r = configs.changed(), if reloads_open => {
                if r.is_err() {
                    reloads_open = false;
                    continue;
                }
                config = configs.borrow_and_update().clone();
                let (new_plan, mut new_pool) = probes.plan(&config);
                memory = memory.reloaded();
                migrate(&plan, &pool, &new_plan, &mut new_pool, &mut memory);
                info!(probes = new_plan.probes.len(), "reloading health checkers");
                notifier = Notifier::new(&config, &new_plan, opts.trace.clone());
                let init = new_pool.handle(pool::Event::Init);
                notifier.apply(&init, &new_pool);
                (plan, pool) = (new_plan, new_pool);
                probes.sync(&plan, epoch, &msg_tx, &tls, &opts);
                tx.send_replace(HealthTable { services: pool.table(), config: Some(config.clone()) });
            }
            msg = msg_rx.recv() => {
                let Some(msg) = msg else { break };
                let mut changed = false;
                let mut next = Some(msg);
                // Take everything already queued before publishing once.
                while let Some(msg) = next {
                    changed |= match msg {
                        Msg::Pool(ev) => {
                            let a = pool.handle(ev);
                            notifier.apply(&a, &pool)
                        }
                        Msg::Checker { ev, mail } => {
                            if let pool::Event::Checker { id, .. } = ev {
                                memory.ran(id);
                            }
                            notifier.checker(&mut pool, ev, mail)
                        }
                    };
                    next = msg_rx.try_recv().ok();
                }
                if changed {
                    tx.send_replace(HealthTable { services: pool.table(), config: Some(config.clone()) });
                }
            }
        }
    }
    info!("stopping health checkers");
    probes.tasks.abort_all();
    while probes.tasks.join_next().await.is_some() {}
    // The last table stays published: removing the services is the IPVS layer's shutdown
    // (keepalived `clear_services`, or nothing with `--dont-release-ipvs`).
    notifier.stopping = true;
    let actions = pool.handle(pool::Event::Shutdown);
    notifier.apply(&actions, &pool);
    // The omega mail gets as long as keepalived gives the STOP scripts.
    notifier.alerter.flush(Duration::from_secs(1)).await;
    drop(tx);
}

/// The running probe tasks, by stable id (one id per probe key for the engine's life).
struct Probes {
    ids: HashMap<String, usize>,
    next_id: usize,
    running: HashMap<usize, tokio::task::AbortHandle>,
    tasks: JoinSet<()>,
}

impl Probes {
    /// Build the plan and its pool, with slots naming stable probe ids.
    fn plan(&mut self, config: &Config) -> (Plan, Pool) {
        let mut plan = Plan::build(config);
        plan.prepare_scripts(&ScriptEnv::new(config));
        let mut stable = Vec::with_capacity(plan.keys.len());
        for k in &plan.keys {
            let next = self.next_id;
            let id = *self.ids.entry(k.clone()).or_insert(next);
            if id == next {
                self.next_id += 1;
            }
            stable.push(id);
        }
        // Forget the probes this configuration no longer has.
        let current: std::collections::HashSet<&String> = plan.keys.iter().collect();
        self.ids.retain(|k, _| current.contains(k));
        for vs in &mut plan.pool {
            for rs in &mut vs.real_servers {
                for slot in &mut rs.slots {
                    slot.checker = stable[slot.checker];
                }
            }
        }
        plan.ids = stable;
        let pool = Pool::new(plan.pool.clone());
        (plan, pool)
    }

    /// Start the probes of `plan` not running yet; stop those it no longer has.
    fn sync(
        &mut self,
        plan: &Plan,
        epoch: Instant,
        msg_tx: &mpsc::UnboundedSender<Msg>,
        tls: &Arc<TlsCache>,
        opts: &Options,
    ) {
        let wanted: HashMap<usize, usize> = plan
            .ids
            .iter()
            .enumerate()
            .filter(|&(i, _)| !plan.disabled.get(i).copied().unwrap_or(false))
            .map(|(i, &id)| (id, i))
            .collect();
        self.running.retain(|id, h| {
            let keep = wanted.contains_key(id);
            if !keep {
                h.abort();
            }
            keep
        });
        for (&id, &i) in &wanted {
            if self.running.contains_key(&id) {
                continue;
            }
            let jitter = opts.jitter.unwrap_or_else(|| io::random_u64() as u32);
            let h = self.tasks.spawn(probe_task(ProbeCtx {
                id,
                spec: Arc::new(plan.probes[i].clone()),
                epoch,
                tx: msg_tx.clone(),
                tls: tls.clone(),
                jitter,
                stats: opts.stats.clone(),
                trace: opts.trace.clone(),
            }));
            self.running.insert(id, h);
        }
        // Reap finished (aborted) tasks without waiting.
        while self.tasks.try_join_next().is_some() {}
    }
}

/// keepalived `clear_diff_services` / `migrate_checkers`: carry real-server and checker
/// state from the old pool to the new one, and mark in `memory` what was found again
/// (keepalived's `reloaded` flags and `peffective_weight`).
fn migrate(old_plan: &Plan, old: &Pool, new_plan: &Plan, new: &mut Pool, memory: &mut Memory) {
    let mut old_vs: HashMap<&str, usize> = HashMap::new();
    for (v, name) in old_plan.vs_names.iter().enumerate() {
        old_vs.entry(name.as_str()).or_insert(v);
    }
    for (v, name) in new_plan.vs_names.iter().enumerate() {
        let Some(&ov) = old_vs.get(name.as_str()) else {
            continue;
        };
        let old_rs: HashMap<&str, usize> = old_plan.rs_names[ov]
            .iter()
            .enumerate()
            .map(|(r, n)| (n.as_str(), r))
            .collect();
        for (r, rs_name) in new_plan.rs_names[v].iter().enumerate() {
            let Some(&or) = old_rs.get(rs_name.as_str()) else {
                continue;
            };
            let slot_up: Vec<Option<bool>> = new.specs()[v].real_servers[r]
                .slots
                .iter()
                .map(|s| old.checker_up(s.checker))
                .collect();
            new.migrate_rs(v, r, old.rs_alive(ov, or), &slot_up);
            memory.reloaded_rs.insert((v, r), old.rs_weight(ov, or));
        }
        new.migrate_vs(v, old.quorum_up(ov), old.service_table(ov).sorry_active);
        memory.reloaded_vs.insert(v);
    }
}

struct ProbeCtx {
    id: usize,
    spec: Arc<ProbeSpec>,
    epoch: Instant,
    tx: mpsc::UnboundedSender<Msg>,
    tls: Arc<TlsCache>,
    jitter: u32,
    stats: Option<Arc<Stats>>,
    trace: Option<mpsc::UnboundedSender<Trace>>,
}

impl ProbeCtx {
    fn trace(&self, t: Trace) {
        if let Some(tr) = &self.trace {
            let _ = tr.send(t);
        }
    }
}

/// One probe's life: the checker core decides, this loop sleeps and probes.
async fn probe_task(cx: ProbeCtx) {
    let spec = &cx.spec;
    let mut ck = Checker::new(spec.timing, spec.flavor, spec.alpha);
    let mut actions = ck.handle(now(cx.epoch), checker::Event::Start { jitter: cx.jitter });
    let mut weight: Option<WeightChange> = None;
    let weighted = matches!(
        spec.kind,
        ProbeKind::Misc { dynamic: true, .. } | ProbeKind::File { .. }
    );
    loop {
        let mut probe_url = None;
        let mut deadline = None;
        for a in actions.drain(..) {
            match a {
                checker::Action::Arm(t) => deadline = Some(t),
                checker::Action::Probe { url } => probe_url = Some(url),
                checker::Action::Report { .. } => {}
            }
        }
        if let Some(url) = probe_url {
            let result = io::probe(spec, url, &cx.tls).await;
            let t = now(cx.epoch);
            cx.trace(Trace::ProbeEnd {
                probe: cx.id,
                at: t,
                outcome: result.outcome,
            });
            if let Some(e) = &result.error {
                if let Some(s) = &cx.stats {
                    s.failures.fetch_add(1, Ordering::Relaxed);
                }
                if spec.log_all_failures || ck.is_up() {
                    debug!(checker = spec.kind.keyword(), target = %spec.name, error = %e, "check failed");
                }
            }
            actions = ck.handle(t, checker::Event::Result(result.outcome));
            // Weight first, as keepalived updates the weight before the state.
            if weighted && result.outcome == Outcome::Success && result.weight != weight {
                if let Some(w) = result.weight {
                    cx.send(pool::Event::Weight {
                        id: cx.id,
                        change: w,
                        requorum: true,
                    });
                }
                weight = result.weight;
            }
            for a in &actions {
                if let checker::Action::Report { up, changed, first } = *a {
                    if !up && weighted && weight.take().is_some() {
                        cx.send(pool::Event::Weight {
                            id: cx.id,
                            change: WeightChange::Relative(0),
                            requorum: false,
                        });
                    }
                    info!(
                        checker = spec.kind.keyword(),
                        target = %spec.name,
                        up,
                        "{} check {}",
                        spec.kind.keyword(),
                        if up { "succeeded" } else { "failed" }
                    );
                    cx.trace(Trace::Report {
                        probe: cx.id,
                        at: t,
                        up,
                    });
                    let is_misc = matches!(spec.kind, ProbeKind::Misc { .. });
                    let mail = (changed || (is_misc && first)).then(|| {
                        let misc = is_misc.then_some(match (&result.error, up) {
                            (_, true) => "succeeded",
                            (Some(io::ProbeError::ScriptTimeout), false) => "timed out",
                            _ => "failed",
                        });
                        crate::alert::checker_body(spec.kind.keyword(), up, misc)
                    });
                    let _ = cx.tx.send(Msg::Checker {
                        ev: pool::Event::Checker {
                            id: cx.id,
                            up,
                            changed,
                            first,
                        },
                        mail,
                    });
                }
            }
            continue;
        }
        let Some(deadline) = deadline.or(ck.deadline()) else {
            return;
        };
        tokio::time::sleep_until(at(cx.epoch, deadline)).await;
        let t = now(cx.epoch);
        if let Some(s) = &cx.stats {
            s.probes.fetch_add(1, Ordering::Relaxed);
            let late = t.since(deadline).0;
            s.max_late_us.fetch_max(late, Ordering::Relaxed);
            if late > spec.timing.delay_loop.0 / 10 {
                s.late.fetch_add(1, Ordering::Relaxed);
            }
        }
        actions = ck.handle(t, checker::Event::Timer);
        for a in &actions {
            if let checker::Action::Probe { url } = a {
                cx.trace(Trace::ProbeStart {
                    probe: cx.id,
                    at: t,
                    url: *url,
                });
            }
        }
    }
}

impl ProbeCtx {
    fn send(&self, ev: pool::Event) {
        let _ = self.tx.send(Msg::Pool(ev));
    }
}

/// Carries out the pool's notifications: notify_up / notify_down / quorum_up / quorum_down
/// scripts, `lvs_notify_fifo` / `notify_fifo` lines and alert mail.
///
/// The scripts are resolved once per configuration as keepalived's checker does
/// (check_data.c `check_check_script_security`): each runs as its own `user [group]`, else
/// `script_user`, else `keepalived_script` if it exists, else root; with
/// `enable_script_security` one that would run as root from a path writable by a non-root
/// user is disabled ("Unsafe permissions found for script '...' - disabling.").
struct Notifier {
    vs_names: Vec<String>,
    rs_names: Vec<Vec<String>>,
    rs_scripts: Vec<Vec<(Option<Script>, Option<Script>)>>,
    vs_scripts: Vec<(Option<Script>, Option<Script>)>,
    env: ScriptEnv,
    fifos: Vec<Fifo>,
    trace: Option<mpsc::UnboundedSender<Trace>>,
    alerter: Alerter,
    /// Per real server / virtual server: whether it mails (keepalived `smtp_alert` defaults).
    rs_mail: Vec<Vec<bool>>,
    vs_mail: Vec<bool>,
    no_checker_emails: bool,
    /// The checker is stopping (omega notifications: "=> Shutting down <=").
    stopping: bool,
}

struct Fifo {
    path: String,
    file: std::fs::File,
    /// The FIFO's reader script, killed when the checker stops.
    _script: Option<tokio::process::Child>,
}

impl Notifier {
    fn new(config: &Config, plan: &Plan, trace: Option<mpsc::UnboundedSender<Trace>>) -> Notifier {
        let env = ScriptEnv::new(config);
        let prep =
            |c: &Option<Box<Command>>, kind: &str| c.as_deref().and_then(|c| env.prepare(c, kind));
        let rs_scripts = config
            .virtual_servers
            .iter()
            .map(|vs| {
                vs.real_servers
                    .iter()
                    .map(|rs| {
                        (
                            prep(&rs.notify_up, "notify_up"),
                            prep(&rs.notify_down, "notify_down"),
                        )
                    })
                    .collect()
            })
            .collect();
        let vs_scripts = config
            .virtual_servers
            .iter()
            .map(|vs| {
                (
                    prep(&vs.quorum_up, "quorum_up"),
                    prep(&vs.quorum_down, "quorum_down"),
                )
            })
            .collect();
        let rs_mail = config
            .virtual_servers
            .iter()
            .map(|vs| {
                vs.real_servers
                    .iter()
                    .map(|rs| Alerter::rs_wants(config, rs))
                    .collect()
            })
            .collect();
        let vs_mail = config
            .virtual_servers
            .iter()
            .map(|vs| Alerter::vs_wants(config, vs))
            .collect();
        let mut fifos = Vec::new();
        let mut seen = HashMap::new();
        for (path, script) in [&config.global.lvs_notify_fifo, &config.global.notify_fifo]
            .into_iter()
            .flatten()
        {
            if seen.insert(path.clone(), ()).is_some() {
                continue;
            }
            match open_fifo(path) {
                Ok(file) => {
                    let script = script
                        .as_ref()
                        .and_then(|c| env.prepare(c, "notify_fifo"))
                        .and_then(|s| {
                            let mut cmd = env.command(&s, std::slice::from_ref(path));
                            cmd.kill_on_drop(true);
                            cmd.spawn()
                                .map_err(|e| warn!(script = %s.display(), error = %e, "cannot run notify FIFO script"))
                                .ok()
                        });
                    fifos.push(Fifo {
                        path: path.clone(),
                        file,
                        _script: script,
                    });
                }
                Err(e) => warn!(fifo = %path, error = %e, "cannot open notify FIFO"),
            }
        }
        Notifier {
            vs_names: plan.vs_names.clone(),
            rs_names: plan.rs_names.clone(),
            rs_scripts,
            vs_scripts,
            env,
            fifos,
            trace,
            alerter: Alerter::new(config),
            rs_mail,
            vs_mail,
            no_checker_emails: config.global.no_checker_emails,
            stopping: false,
        }
    }

    /// A checker's report: update the pool, then mail as keepalived's checkers do (for each
    /// real server it serves with `smtp_alert`, when the real server's state changed or
    /// `no_checker_emails` is off). True when the table changed.
    fn checker(&mut self, pool: &mut Pool, ev: pool::Event, mail: Option<String>) -> bool {
        let pool::Event::Checker { id, .. } = ev else {
            let a = pool.handle(ev);
            return self.apply(&a, pool);
        };
        let before: Vec<(usize, usize, bool)> = match &mail {
            Some(_) if self.alerter.enabled() => pool
                .members_of(id)
                .map(|(v, r)| (v, r, pool.rs_alive(v, r)))
                .collect(),
            _ => Vec::new(),
        };
        let a = pool.handle(ev);
        let changed = self.apply(&a, pool);
        if let Some(body) = mail {
            for (v, r, was_alive) in before {
                let alive = pool.rs_alive(v, r);
                if self.rs_mail[v][r] && (alive != was_alive || !self.no_checker_emails) {
                    self.alerter
                        .real_server(&self.rs_names[v][r], &self.vs_names[v], alive, &body);
                }
            }
        }
        changed
    }

    /// Carry out `actions`; true when the table changed.
    fn apply(&mut self, actions: &[pool::Action], pool: &Pool) -> bool {
        let mut changed = false;
        for a in actions {
            match *a {
                pool::Action::TableChanged => changed = true,
                pool::Action::RsNotify { vs, rs, up } => {
                    let (rs_name, vs_name) = (&self.rs_names[vs][rs], &self.vs_names[vs]);
                    info!(rs = %rs_name, vs = %vs_name, "real server {}", if up { "UP" } else { "DOWN" });
                    let (on_up, on_down) = &self.rs_scripts[vs][rs];
                    if let Some(s) = if up { on_up } else { on_down } {
                        spawn_notify(&self.env, s, &[]);
                    }
                    let line = fifo_rs_line(rs_name, vs_name, up);
                    // ipwrapper.c `clear_service_rs`: with omega, the shutdown mails too.
                    if self.stopping && self.rs_mail[vs][rs] {
                        self.alerter.real_server(
                            &self.rs_names[vs][rs],
                            &self.vs_names[vs],
                            false,
                            "=> Shutting down <=",
                        );
                    }
                    self.write_fifos(&line);
                    if let Some(t) = &self.trace {
                        let _ = t.send(Trace::Rs { vs, rs, up });
                    }
                }
                pool::Action::VsNotify { vs, up, init } => {
                    let (on_up, on_down) = &self.vs_scripts[vs];
                    if let Some(s) = if up { on_up } else { on_down } {
                        spawn_notify(&self.env, s, &[]);
                    }
                    let line = fifo_vs_line(&self.vs_names[vs], up);
                    self.write_fifos(&line);
                    if self.vs_mail.get(vs).copied().unwrap_or(false) {
                        self.vs_alert(pool, vs, up, init);
                    }
                    if let Some(t) = &self.trace {
                        let _ = t.send(Trace::Quorum { vs, up });
                    }
                }
            }
        }
        changed
    }

    /// ipwrapper.c `do_vs_notifies`' mail. The threshold printed is the one the change was
    /// decided on: `quorum + hysteresis` when quorum was down, `quorum - hysteresis` when up.
    fn vs_alert(&self, pool: &Pool, vs: usize, up: bool, init: bool) {
        if self.stopping {
            self.alerter
                .virtual_server(&self.vs_names[vs], up, "=> Shutting down <=");
            return;
        }
        let spec = &pool.specs()[vs];
        let (q, h, sum) = (spec.quorum, spec.hysteresis, pool.live_weight(vs));
        let threshold = if up || init {
            q as i64 + h as i64
        } else {
            q as i64 - h as i64
        };
        let body = alert::quorum_body(up, init, q, h, threshold, sum);
        self.alerter.virtual_server(&self.vs_names[vs], up, &body);
    }

    fn write_fifos(&mut self, line: &str) {
        for f in &mut self.fifos {
            if let Err(e) = f.file.write_all(line.as_bytes()) {
                debug!(fifo = %f.path, error = %e, "notify FIFO line dropped");
            }
        }
    }
}

/// Open (creating it if missing) a notify FIFO for non-blocking writes. Opened read-write so
/// that it works with no reader yet; a regular file is appended to.
fn open_fifo(path: &str) -> std::io::Result<std::fs::File> {
    match std::fs::metadata(path) {
        Ok(m) if !m.file_type().is_fifo() => {
            return std::fs::OpenOptions::new().append(true).open(path);
        }
        Ok(_) => {}
        Err(_) => {
            nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600))
                .map_err(std::io::Error::from)?;
        }
    }
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}
