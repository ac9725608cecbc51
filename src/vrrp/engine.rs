//! The VRRP engine: drives the sans-IO state machines ([`Instance`], [`SyncGroup`]) with real
//! sockets, clocks, interfaces, scripts and files, and carries out their [`Action`]s.
//!
//! ```text
//!  rx tasks (one per interface/protocol) ──RxDatagram──┐
//!  link poller, vrrp_script runners, track_file pollers ─Track──┤
//!  daemon (signals) ──Control──────────────────────────────────┤
//!                                                              ▼
//!                      Engine::run: select! { control, deadline, datagram, track }
//!                        │ validate (packet.rs) → Event → Instance/SyncGroup::handle
//!                        └ Actions → adverts (socket.rs), VIPs (VipOps), routes and
//!                          rules (RouteOps), GARP/NA
//!                          (AnnounceOps), notify scripts and FIFOs (notify.rs, spawned)
//! ```
//!
//! One task owns every instance, so the state machines need no locks, and nothing in the
//! loop waits for anything slow: scripts are spawned, sockets are non-blocking, and VIP
//! changes are single acknowledged rtnetlink requests. Each instance logs inside its own
//! tracing span (`vrrp{instance=VI_1 vrid=51 if=eth0}`) with keepalived's wording, so that
//! the lines operators grep for ("(VI_1) Entering MASTER STATE") are unchanged.
//!
//! This module must not: decide protocol behaviour (that is `fsm.rs`/`sync.rs`), parse
//! packets (`packet.rs`), or touch addresses it did not add (`VipOps` implementations
//! remove only what they added).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{Span, debug, info, info_span, warn};

use super::auth::AuthConfig;
use super::fsm::{
    Action, Event, IgnoreReason, Instance, Reason, State, SyncGroup, TrackKind, Warning,
};
use super::notify::{Notifier, NotifyScripts, Script, Subject, run_check};
use super::packet::{
    self, Af, AhSeal, Discard, Expect, Ipv4Tx, Peer, UnicastRx, V3Checksum, WireState,
};
use super::snapshot::{Counters, InstanceSnapshot};
use super::socket::{self, RxDatagram, RxV4, TxV4, V6};
use super::sync::{GroupAction, ScriptTracker};
use super::timer::Now;
use crate::config::model::{
    Centis, Config, Family, IpAddress, Micros, Priority, Route, Rule, UnicastChecksum, Vrid,
    VrrpInstance,
};

// ===== host operations =====

/// Installs and removes virtual addresses. The daemon's implementation speaks rtnetlink and
/// removes only what it added; tests may record calls instead.
pub trait VipOps: Send {
    fn add(&mut self, ifname: &str, addr: &IpAddress) -> Result<(), String>;
    fn remove(&mut self, ifname: &str, addr: &IpAddress) -> Result<(), String>;
}

/// Sends one gratuitous ARP (IPv4) or unsolicited neighbour advertisement (IPv6) for `addr`
/// out of `ifname`.
pub trait AnnounceOps: Send {
    fn announce(&mut self, ifname: &str, addr: IpAddr) -> Result<(), String>;
}

/// Installs and removes `virtual_routes`/`static_routes` and `virtual_rules`/`static_rules`
/// entries (kept as `ip route` / `ip rule` words). Implementations remove only what they
/// added.
pub trait RouteOps: Send {
    fn add_route(&mut self, route: &Route) -> Result<(), String>;
    fn remove_route(&mut self, route: &Route) -> Result<(), String>;
    fn add_rule(&mut self, rule: &Rule) -> Result<(), String>;
    fn remove_rule(&mut self, rule: &Rule) -> Result<(), String>;
}

/// What the engine does to the host besides VRRP packets.
pub struct Host {
    pub vips: Box<dyn VipOps>,
    pub announce: Box<dyn AnnounceOps>,
    pub routes: Box<dyn RouteOps>,
}

/// Daemon flags that change how VIPs are released.
#[derive(Debug, Clone, Copy, Default)]
pub struct EngineOptions {
    /// `-V`: leave the VIPs in place at exit.
    pub dont_release_vrrp: bool,
}

/// An instance's state change, as the engine reports it to other subsystems (the IPVS
/// sync daemon follows the instance `lvs_sync_daemon` names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceTransition {
    pub instance: String,
    pub from: State,
    pub to: State,
}

/// Requests from the daemon.
#[derive(Debug)]
pub enum Control {
    /// SIGHUP: the new configuration (already read and validated).
    Reload(Box<Config>),
    /// SIGTERM/SIGINT.
    Shutdown,
    /// USR1/USR2/STATS_CLEAR/JSON: a copy of every instance, then (with `clear`) counters
    /// zeroed.
    Snapshot {
        clear: bool,
        reply: tokio::sync::oneshot::Sender<Vec<InstanceSnapshot>>,
    },
}

// ===== interfaces =====

/// What the engine needs to know about an interface.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    /// `IFF_UP` and `IFF_RUNNING` (keepalived's notion of an interface being up).
    pub up: bool,
    /// IPv4 addresses in kernel order (the first is the primary).
    pub v4: Vec<Ipv4Addr>,
    pub v6: Vec<Ipv6Addr>,
}

impl Link {
    fn link_local(&self) -> Option<Ipv6Addr> {
        self.v6.iter().copied().find(|a| socket::is_link_local(*a))
    }
}

/// Reads every interface of the network namespace (getifaddrs).
pub fn read_links() -> BTreeMap<String, Link> {
    use nix::net::if_::InterfaceFlags;
    let mut out: BTreeMap<String, Link> = BTreeMap::new();
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return out;
    };
    for ifa in addrs {
        let link = out.entry(ifa.interface_name.clone()).or_default();
        link.up = ifa
            .flags
            .contains(InterfaceFlags::IFF_UP | InterfaceFlags::IFF_RUNNING);
        let Some(addr) = ifa.address else { continue };
        if let Some(sin) = addr.as_sockaddr_in() {
            let a = sin.ip();
            if !link.v4.contains(&a) {
                link.v4.push(a);
            }
        } else if let Some(sin6) = addr.as_sockaddr_in6() {
            let a = sin6.ip();
            if !link.v6.contains(&a) {
                link.v6.push(a);
            }
        } else if let Some(ll) = addr.as_link_addr() {
            link.index = u32::try_from(ll.ifindex()).unwrap_or(0);
        }
    }
    for (name, link) in out.iter_mut() {
        if link.index == 0 {
            link.index = nix::net::if_::if_nametoindex(name.as_str()).unwrap_or(0);
        }
    }
    out
}

/// Tracking input from the helper tasks.
#[derive(Debug)]
enum Track {
    Links(BTreeMap<String, Link>),
    Script { name: String, ok: bool },
    File { name: String, value: i64 },
}

// ===== per-instance I/O state =====

/// Counters of one instance (`USR1` dump).
#[derive(Debug, Clone, Default)]
struct Stats {
    adverts_rx: u64,
    adverts_tx: u64,
    pri_zero_rx: u64,
    pri_zero_tx: u64,
    became_master: u64,
    released_master: u64,
    discards: BTreeMap<&'static str, u64>,
}

/// Where an instance lives among the units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot {
    unit: usize,
    member: Option<usize>,
}

/// The I/O side of one `vrrp_instance`.
struct Inst {
    name: String,
    span: Span,
    ifname: String,
    af: Af,
    version: packet::Version,
    vrid: Vrid,
    advert_int: Centis,
    auth: AuthConfig,
    /// The advert's address list.
    addrs: Vec<IpAddr>,
    /// VIPs then eVIPs, each with the interface it goes on.
    vips: Vec<(String, IpAddress)>,
    /// What this instance added and has not removed yet.
    installed: Vec<(String, IpAddress)>,
    /// `virtual_routes` / `virtual_rules`, and those of them installed now.
    routes: Vec<Route>,
    rules: Vec<Rule>,
    routes_installed: Vec<Route>,
    rules_installed: Vec<Rule>,
    peers: Vec<Peer>,
    check_src: bool,
    skip_check_adv_addr: bool,
    unicast_ttl: u8,
    cfg_src: Option<IpAddr>,
    src: Option<IpAddr>,
    wire: WireState,
    last_master: Option<IpAddr>,
    scripts: NotifyScripts,
    notify_priority_changes: bool,
    garp_interval: Micros,
    stats: Stats,
    slot: Slot,
    last_transition: Option<std::time::SystemTime>,
}

impl Inst {
    fn unicast(&self) -> bool {
        !self.peers.is_empty()
    }

    /// keepalived matches instances across a reload by VRID, family and interface.
    fn key(&self) -> (u8, Af, String) {
        (self.vrid.0, self.af, self.ifname.clone())
    }
}

fn instance_af(v: &VrrpInstance) -> Af {
    match v.family {
        Family::Inet6 => Af::Ipv6,
        Family::Inet => Af::Ipv4,
        Family::Unspecified => v
            .vips
            .first()
            .map(|a| a.addr)
            .or(v.unicast_src_ip)
            .or(v.mcast_src_ip)
            .map_or(Af::Ipv4, Af::of),
    }
}

/// A standalone instance or a sync group with its members (indices into `Engine::insts`).
enum Unit {
    Single(Box<Instance>, usize),
    Group(Box<SyncGroup>, Vec<usize>, Box<GroupIo>),
}

struct GroupIo {
    scripts: NotifyScripts,
    span: Span,
}

impl Unit {
    fn next_deadline(&self) -> Option<Now> {
        match self {
            Unit::Single(i, _) => i.next_deadline(),
            Unit::Group(g, _, _) => g.next_deadline(),
        }
    }

    fn instance(&self, member: Option<usize>) -> &Instance {
        match (self, member) {
            (Unit::Single(i, _), _) => i,
            (Unit::Group(g, _, _), Some(m)) => &g.members()[m],
            (Unit::Group(g, _, _), None) => &g.members()[0],
        }
    }
}

/// A pending round of gratuitous ARP / NA.
#[derive(Debug, Clone, Copy)]
struct GarpRound {
    at: Now,
    inst: usize,
    left: u32,
}

/// The sockets of the running configuration.
#[derive(Default)]
struct Sockets {
    tx4: HashMap<String, TxV4>,
    v6: HashMap<String, Arc<V6>>,
    /// (interface, protocol; 0 for the IPv6 socket) → receive task.
    rx: HashMap<(String, u8), JoinHandle<()>>,
}

/// Counters for packets no instance could take.
#[derive(Debug, Clone, Default)]
struct IfStats {
    discards: BTreeMap<&'static str, u64>,
}

// ===== the engine =====

pub struct Engine {
    cfg: Config,
    opts: EngineOptions,
    origin: tokio::time::Instant,
    units: Vec<Unit>,
    insts: Vec<Inst>,
    host: Host,
    notifier: Notifier,
    links: BTreeMap<String, Link>,
    sockets: Sockets,
    if_stats: BTreeMap<String, IfStats>,
    garp: Vec<GarpRound>,
    script_trackers: HashMap<String, ScriptTracker>,
    /// The last status each script reported (kept across reloads).
    script_status: HashMap<String, bool>,
    file_values: HashMap<String, i64>,
    helpers: Vec<JoinHandle<()>>,
    rx_send: mpsc::Sender<RxDatagram>,
    rx_recv: mpsc::Receiver<RxDatagram>,
    track_send: mpsc::Sender<Track>,
    track_recv: mpsc::Receiver<Track>,
    /// Where state changes are reported ([`Engine::report_transitions`]).
    transitions: Option<mpsc::UnboundedSender<InstanceTransition>>,
    /// `smtp_alert` mail for instance and group state changes.
    alerter: crate::alert::Alerter,
}

/// How early the engine asks tokio to wake it before a deadline. tokio's timer wheel has
/// millisecond ticks and rounds a deadline up to the next one (and `epoll_wait` rounds its
/// timeout up again), so a deadline used to fire 1-2 ms late: measured on a VRRPv3
/// priority-0 handover (Skew_Time 60.9 ms), the backup's first advert went out 62.7 ms after
/// the priority-0 advert on average, against keepalived's 61.2 ms.
const TIMER_SLOP: Duration = Duration::from_millis(2);

/// The last stretch to a deadline, on the engine's own thread: `nanosleep` is accurate to
/// tens of microseconds. This blocks the worker for at most [`TIMER_SLOP`], once per deadline,
/// and there is nothing else due before the deadline anyway (a datagram arriving meanwhile
/// waits at most that long in its channel).
fn sleep_precisely_until(at: tokio::time::Instant) {
    let left = at.saturating_duration_since(tokio::time::Instant::now());
    if !left.is_zero() && left <= TIMER_SLOP {
        std::thread::sleep(left);
    }
}

/// Why an instance's advert could not be sent.
fn log_send_error(inst: &Inst, e: impl std::fmt::Display) {
    let _g = inst.span.enter();
    warn!(
        "({}) failed to send advert on {}: {e}",
        inst.name, inst.ifname
    );
}

impl Engine {
    /// Builds the engine for `cfg`. Must be called inside a tokio runtime (sockets register
    /// with its reactor when the engine starts).
    pub fn new(cfg: Config, host: Host, opts: EngineOptions) -> Engine {
        let (rx_send, rx_recv) = mpsc::channel(1024);
        let (track_send, track_recv) = mpsc::channel(256);
        let notifier = Notifier::new(&cfg);
        let alerter = crate::alert::Alerter::new(&cfg);
        Engine {
            cfg,
            opts,
            origin: tokio::time::Instant::now(),
            units: Vec::new(),
            insts: Vec::new(),
            host,
            notifier,
            links: read_links(),
            sockets: Sockets::default(),
            if_stats: BTreeMap::new(),
            garp: Vec::new(),
            script_trackers: HashMap::new(),
            script_status: HashMap::new(),
            file_values: HashMap::new(),
            helpers: Vec::new(),
            rx_send,
            rx_recv,
            track_send,
            track_recv,
            transitions: None,
            alerter,
        }
    }

    /// Report every instance state change on `tx` (a receiver that went away is ignored).
    pub fn report_transitions(mut self, tx: mpsc::UnboundedSender<InstanceTransition>) -> Self {
        self.transitions = Some(tx);
        self
    }

    fn now(&self) -> Now {
        Now(u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX))
    }

    fn instant(&self, at: Now) -> tokio::time::Instant {
        self.origin + Duration::from_micros(at.0)
    }

    /// Runs until [`Control::Shutdown`] (or the control channel closes), then shuts down
    /// as keepalived does: priority-0 adverts from masters, VIPs removed, STOP notified.
    pub async fn run(mut self, mut control: mpsc::Receiver<Control>) {
        let cfg = self.cfg.clone();
        let statics = self.add_statics(&cfg);
        self.build(&cfg, None);
        loop {
            let deadline = self.next_deadline().map(|d| self.instant(d));
            let wake = deadline.map_or_else(
                || tokio::time::Instant::now() + Duration::from_secs(3600),
                |at| at.checked_sub(TIMER_SLOP).unwrap_or(at),
            );
            tokio::select! {
                biased;
                c = control.recv() => match c {
                    None | Some(Control::Shutdown) => break,
                    Some(Control::Reload(cfg)) => self.reload(*cfg),
                    Some(Control::Snapshot { clear, reply }) => {
                        let _ = reply.send(self.snapshot(clear));
                    }
                },
                _ = tokio::time::sleep_until(wake) => {
                    if let Some(at) = deadline {
                        sleep_precisely_until(at);
                    }
                    self.on_timer();
                }
                Some(dg) = self.rx_recv.recv() => self.on_datagram(dg),
                Some(t) = self.track_recv.recv() => self.on_track(t),
            }
        }
        self.shutdown().await;
        self.remove_statics(statics);
    }

    /// `static_routes` and `static_rules`: installed at start (routes first), removed at
    /// exit (rules first); only those the kernel created for us.
    fn add_statics(&mut self, cfg: &Config) -> (Vec<Route>, Vec<Rule>) {
        let mut routes = Vec::new();
        for r in &cfg.static_routes {
            match self.host.routes.add_route(r) {
                Ok(()) => routes.push(r.clone()),
                Err(e) => warn!("cannot add static route: {e}"),
            }
        }
        let mut rules = Vec::new();
        for r in &cfg.static_rules {
            match self.host.routes.add_rule(r) {
                Ok(()) => rules.push(r.clone()),
                Err(e) => warn!("cannot add static rule: {e}"),
            }
        }
        (routes, rules)
    }

    fn remove_statics(&mut self, (routes, rules): (Vec<Route>, Vec<Rule>)) {
        for r in rules.iter().rev() {
            if let Err(e) = self.host.routes.remove_rule(r) {
                warn!("cannot remove static rule: {e}");
            }
        }
        for r in routes.iter().rev() {
            if let Err(e) = self.host.routes.remove_route(r) {
                warn!("cannot remove static route: {e}");
            }
        }
    }

    fn next_deadline(&self) -> Option<Now> {
        let units = self.units.iter().filter_map(Unit::next_deadline);
        let garp = self.garp.iter().map(|g| g.at);
        units.chain(garp).min()
    }

    // ----- building -----

    /// Builds units, instances, sockets and trackers for `cfg`. With `prev`, the instances
    /// and groups of the previous configuration are resumed where they match.
    fn build(&mut self, cfg: &Config, prev: Option<(Vec<Unit>, Vec<Inst>)>) {
        let now = self.now();
        let mut built: Vec<Instance> = Vec::new();
        let mut insts: Vec<Inst> = Vec::new();
        for v in &cfg.instances {
            match Instance::new(cfg, v) {
                Ok(i) => {
                    insts.push(self.make_inst(cfg, v));
                    built.push(i);
                }
                Err(e) => warn!("{e} - instance skipped"),
            }
        }
        // Initial tracker statuses (interfaces, files, known scripts, source address).
        for (inst, io) in built.iter_mut().zip(insts.iter_mut()) {
            self.prime(now, inst, io);
        }

        // Group the instances: sync group members first, by group.
        let mut slots: Vec<Option<Slot>> = vec![None; built.len()];
        let mut by_name: HashMap<String, usize> = HashMap::new();
        for (i, v) in insts.iter().enumerate() {
            by_name.insert(v.name.clone(), i);
        }
        let mut built: Vec<Option<Instance>> = built.into_iter().map(Some).collect();
        let mut units: Vec<Unit> = Vec::new();
        for g in &cfg.sync_groups {
            let mut members = Vec::new();
            let mut ids = Vec::new();
            for (name, _) in &g.members {
                if let Some(&i) = by_name.get(name)
                    && let Some(inst) = built[i].take()
                {
                    members.push(inst);
                    ids.push(i);
                }
            }
            if members.is_empty() {
                continue;
            }
            let u = units.len();
            for (m, &i) in ids.iter().enumerate() {
                slots[i] = Some(Slot {
                    unit: u,
                    member: Some(m),
                });
            }
            let span = info_span!("vrrp_group", group = %g.name);
            units.push(Unit::Group(
                Box::new(SyncGroup::from_instances(&g.name, members)),
                ids,
                Box::new(GroupIo {
                    scripts: NotifyScripts::prepare(&self.notifier.env, &g.notify),
                    span,
                }),
            ));
        }
        for (i, inst) in built.into_iter().enumerate() {
            if let Some(inst) = inst {
                slots[i] = Some(Slot {
                    unit: units.len(),
                    member: None,
                });
                units.push(Unit::Single(Box::new(inst), i));
            }
        }
        for (io, slot) in insts.iter_mut().zip(slots) {
            io.slot = slot.expect("invariant: every built instance has a unit");
        }

        let (old_units, mut old_insts) = prev.unwrap_or_default();
        self.units = units;
        self.insts = insts;
        self.open_sockets();
        self.start_helpers(cfg);

        // Start or resume each unit.
        let mut used_old: HashSet<usize> = HashSet::new();
        for u in 0..self.units.len() {
            let acts = match &mut self.units[u] {
                Unit::Single(inst, i) => {
                    let i = *i;
                    let key = self.insts[i].key();
                    let old = old_insts
                        .iter()
                        .enumerate()
                        .position(|(oi, o)| o.key() == key && !used_old.contains(&oi))
                        .and_then(|oi| {
                            let o = &old_insts[oi];
                            match &old_units[o.slot.unit] {
                                Unit::Single(prev, _) => Some((oi, prev.as_ref())),
                                Unit::Group(..) => None,
                            }
                        });
                    match old {
                        Some((oi, prev)) => {
                            used_old.insert(oi);
                            let acts = inst.resume(now, prev);
                            carry_over(&mut self.insts[i], &mut old_insts[oi]);
                            acts.into_iter()
                                .map(|a| (i, Some(a), None))
                                .collect::<Vec<_>>()
                        }
                        None => inst
                            .handle(now, Event::Startup)
                            .into_iter()
                            .map(|a| (i, Some(a), None))
                            .collect(),
                    }
                }
                Unit::Group(group, ids, _) => {
                    let prev = old_units.iter().find_map(|ou| match ou {
                        Unit::Group(g, oids, _) if g.name() == group.name() => Some((g, oids)),
                        _ => None,
                    });
                    let gacts = match prev {
                        Some((pg, oids)) => {
                            for &i in ids.iter() {
                                let name = self.insts[i].name.clone();
                                if let Some(&oi) = oids
                                    .iter()
                                    .find(|&&oi| old_insts.get(oi).is_some_and(|o| o.name == name))
                                {
                                    used_old.insert(oi);
                                    carry_over(&mut self.insts[i], &mut old_insts[oi]);
                                }
                            }
                            group.resume(now, pg)
                        }
                        None => group.handle(now, Event::Startup),
                    };
                    let ids = ids.clone();
                    split_group_actions(&ids, gacts)
                }
            };
            self.apply_all(u, acts, None);
        }

        // Instances that disappeared: resign and release what they installed.
        for (oi, o) in old_insts.iter_mut().enumerate() {
            if used_old.contains(&oi) {
                continue;
            }
            let was_master = old_units
                .get(o.slot.unit)
                .is_some_and(|u| u.instance(o.slot.member).state() == State::Master);
            let _g = o.span.clone().entered();
            info!("({}) removed by reload", o.name);
            if was_master {
                send_advert(&self.sockets, o, Priority(0));
            }
            release(&mut self.host, o);
            self.notifier
                .state(Subject::Instance, &o.name, State::Fault, 0, &o.scripts);
        }
        // Matched instances whose state no longer holds VIPs, or whose VIP list changed.
        for i in 0..self.insts.len() {
            let slot = self.insts[i].slot;
            let vips_set = self.units[slot.unit].instance(slot.member).vips_set();
            if vips_set {
                self.sync_vips(i);
            } else if !self.insts[i].installed.is_empty() {
                release(&mut self.host, &mut self.insts[i]);
            }
        }
    }

    fn make_inst(&self, cfg: &Config, v: &VrrpInstance) -> Inst {
        let g = &cfg.global;
        let af = instance_af(v);
        let version = if af == Af::Ipv6 || v.version.unwrap_or(g.vrrp_version) == 3 {
            packet::Version::V3
        } else {
            packet::Version::V2
        };
        let ifname = v
            .interface
            .as_ref()
            .map(|(n, _)| n.clone())
            .or_else(|| {
                // Unicast without `interface`: the interface holding unicast_src_ip.
                let src = v.unicast_src_ip?;
                self.links.iter().find_map(|(n, l)| {
                    let has = match src {
                        IpAddr::V4(a) => l.v4.contains(&a),
                        IpAddr::V6(a) => l.v6.contains(&a),
                    };
                    has.then(|| n.clone())
                })
            })
            .unwrap_or_default();
        if ifname.is_empty() {
            warn!("({}) no interface to run on - instance inactive", v.name);
        }
        let mut auth = AuthConfig::from_model(v.authentication.as_ref());
        if version == packet::Version::V3 || af == Af::Ipv6 {
            auth = AuthConfig::None;
        }
        let vrid = v.vrid.unwrap_or(Vrid(0));
        let advert_int = match version {
            packet::Version::V2 => Centis(((v.advert_int.0 + 50) / 100).clamp(1, 255) * 100),
            packet::Version::V3 => Centis(v.advert_int.0.clamp(1, 4095)),
        };
        let addrs: Vec<IpAddr> = v
            .vips
            .iter()
            .map(|a| a.addr)
            .filter(|a| Af::of(*a) == af)
            .collect();
        let vips = v
            .vips
            .iter()
            .chain(&v.evips)
            .map(|a| (a.dev.clone().unwrap_or_else(|| ifname.clone()), a.clone()))
            .collect();
        let peers = v
            .unicast_peers
            .iter()
            .map(|p| Peer {
                addr: p.addr,
                min_ttl: p.min_ttl.unwrap_or(0),
                max_ttl: p.max_ttl.unwrap_or(255),
            })
            .collect();
        let checksum = if v.v3_checksum_as_v2.unwrap_or(g.v3_checksum_as_v2) {
            V3Checksum::AsV2
        } else {
            match v.old_unicast_checksum {
                UnicastChecksum::Old => V3Checksum::OldUnicast,
                UnicastChecksum::Never => V3Checksum::StandardNoDetect,
                UnicastChecksum::Detect => V3Checksum::Standard,
            }
        };
        let garp_interval = match af {
            Af::Ipv4 => g.vrrp_garp_interval,
            Af::Ipv6 => g.vrrp_gna_interval,
        };
        let sync_prio = cfg
            .sync_groups
            .iter()
            .find(|sg| sg.members.iter().any(|(n, _)| n == &v.name))
            .and_then(|sg| sg.notify_priority_changes);
        Inst {
            span: info_span!("vrrp", instance = %v.name, vrid = vrid.0, r#if = %ifname),
            name: v.name.clone(),
            ifname,
            af,
            version,
            vrid,
            advert_int,
            auth,
            addrs,
            vips,
            installed: Vec::new(),
            routes: v.virtual_routes.clone(),
            rules: v.virtual_rules.clone(),
            routes_installed: Vec::new(),
            rules_installed: Vec::new(),
            peers,
            check_src: v.check_unicast_src || g.vrrp_check_unicast_src,
            skip_check_adv_addr: v.skip_check_adv_addr || g.vrrp_skip_check_adv_addr,
            unicast_ttl: v.unicast_ttl.unwrap_or(255),
            cfg_src: v.unicast_src_ip.or(v.mcast_src_ip),
            src: None,
            wire: WireState::new(checksum),
            last_master: None,
            scripts: NotifyScripts::prepare(&self.notifier.env, &v.notify),
            notify_priority_changes: v.notify_priority_changes.or(sync_prio).unwrap_or(false),
            garp_interval,
            stats: Stats::default(),
            slot: Slot {
                unit: 0,
                member: None,
            },
            last_transition: None,
        }
    }

    /// Feeds an instance in Initialize the current state of what it tracks.
    fn prime(&self, now: Now, inst: &mut Instance, io: &mut Inst) {
        io.src = io
            .cfg_src
            .or_else(|| self.interface_source(&io.ifname, io.af));
        let _ = inst.handle(now, Event::SourceAddress(io.src));
        let tracked: Vec<(TrackKind, String)> = inst
            .trackers()
            .iter()
            .map(|t| (t.kind, t.name.clone()))
            .collect();
        for (kind, name) in tracked {
            let ev = match kind {
                TrackKind::Interface => match self.links.get(&name) {
                    Some(l) if l.up => None,
                    _ => Some(Event::InterfaceDown(name)),
                },
                TrackKind::File => self
                    .file_values
                    .get(&name)
                    .map(|&value| Event::TrackFile { name, value }),
                TrackKind::Script => self
                    .script_status
                    .get(&name)
                    .map(|&ok| Event::TrackScript { name, ok }),
                _ => None,
            };
            if let Some(ev) = ev {
                let _ = inst.handle(now, ev);
            }
        }
    }

    fn interface_source(&self, ifname: &str, af: Af) -> Option<IpAddr> {
        let link = self.links.get(ifname)?;
        match af {
            Af::Ipv4 => link.v4.first().copied().map(IpAddr::V4),
            Af::Ipv6 => link.link_local().map(IpAddr::V6),
        }
    }

    fn open_sockets(&mut self) {
        let mut want_rx: HashSet<(String, u8)> = HashSet::new();
        for inst in &self.insts {
            if inst.ifname.is_empty() {
                continue;
            }
            match inst.af {
                Af::Ipv4 => {
                    let ah = matches!(inst.auth, AuthConfig::Ah(_));
                    for &p in socket::v4_protocols(ah) {
                        want_rx.insert((inst.ifname.clone(), p));
                    }
                }
                Af::Ipv6 => {
                    want_rx.insert((inst.ifname.clone(), 0));
                }
            }
        }
        // Close what is no longer needed.
        self.sockets.rx.retain(|k, h| {
            let keep = want_rx.contains(k);
            if !keep {
                h.abort();
            }
            keep
        });
        let v6_names: HashSet<&String> =
            want_rx.iter().filter(|k| k.1 == 0).map(|k| &k.0).collect();
        self.sockets.v6.retain(|n, _| v6_names.contains(n));
        let v4_names: HashSet<&String> =
            want_rx.iter().filter(|k| k.1 != 0).map(|k| &k.0).collect();
        self.sockets.tx4.retain(|n, _| v4_names.contains(n));

        for (ifname, proto) in want_rx {
            if self.sockets.rx.contains_key(&(ifname.clone(), proto)) {
                continue;
            }
            let index = self.links.get(&ifname).map_or(0, |l| l.index);
            let tx = self.rx_send.clone();
            let handle = if proto == 0 {
                match V6::open(&ifname, index, Some(packet::MCAST_V6)) {
                    Ok(s) => {
                        let s = Arc::new(s);
                        self.sockets.v6.insert(ifname.clone(), s.clone());
                        tokio::spawn(forward_datagrams(s, tx, "IPv6 VRRP"))
                    }
                    Err(e) => {
                        warn!("Cannot open IPv6 VRRP socket on {ifname}: {e}");
                        continue;
                    }
                }
            } else {
                if !self.sockets.tx4.contains_key(&ifname) {
                    match TxV4::open(&ifname) {
                        Ok(s) => {
                            self.sockets.tx4.insert(ifname.clone(), s);
                        }
                        Err(e) => warn!("Cannot open VRRP send socket on {ifname}: {e}"),
                    }
                }
                match RxV4::open(&ifname, index, proto, Some(packet::MCAST_V4)) {
                    Ok(s) => tokio::spawn(forward_datagrams(Arc::new(s), tx, "VRRP")),
                    Err(e) => {
                        warn!(
                            "Cannot open VRRP receive socket (protocol {proto}) on {ifname}: {e}"
                        );
                        continue;
                    }
                }
            };
            self.sockets.rx.insert((ifname, proto), handle);
        }
    }

    /// Link poller, vrrp_script runners and track_file pollers for `cfg`.
    fn start_helpers(&mut self, cfg: &Config) {
        for h in self.helpers.drain(..) {
            h.abort();
        }
        let tx = self.track_send.clone();
        self.helpers.push(tokio::spawn(async move {
            let mut last = BTreeMap::new();
            loop {
                let links = tokio::task::spawn_blocking(read_links)
                    .await
                    .unwrap_or_default();
                if links != last {
                    last = links.clone();
                    if tx.send(Track::Links(links)).await.is_err() {
                        return;
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }));

        let tracked = |kind: TrackKind| -> HashSet<String> {
            let mut set = HashSet::new();
            for u in &self.units {
                let insts: Vec<&Instance> = match u {
                    Unit::Single(i, _) => vec![i],
                    Unit::Group(g, _, _) => g.members().iter().collect(),
                };
                for i in insts {
                    set.extend(
                        i.trackers()
                            .iter()
                            .filter(|t| t.kind == kind)
                            .map(|t| t.name.clone()),
                    );
                }
            }
            set
        };
        let scripts = tracked(TrackKind::Script);
        let old = std::mem::take(&mut self.script_trackers);
        for s in &cfg.vrrp_scripts {
            if !scripts.contains(&s.name) {
                continue;
            }
            let tracker = old
                .get(&s.name)
                .cloned()
                .unwrap_or_else(|| ScriptTracker::new(s));
            self.script_trackers.insert(s.name.clone(), tracker);
            // `user` inside the vrrp_script block overrides the default script user.
            let cmd = s.script.as_ref().map(|c| {
                let mut c = c.clone();
                if let Some((user, group)) = &s.user {
                    c.user = Some(user.clone());
                    c.group = group.clone();
                }
                c
            });
            let Some(script) = cmd
                .as_ref()
                .and_then(|c| self.notifier.env.prepare(c, "vrrp_script"))
            else {
                continue;
            };
            let interval = Duration::from_micros(s.interval.0.max(10_000));
            let timeout = Duration::from_micros(s.timeout.unwrap_or(s.interval).0.max(10_000));
            let env = self.notifier.env.clone();
            let name = s.name.clone();
            let tx = self.track_send.clone();
            self.helpers.push(tokio::spawn(script_loop(
                env, script, name, interval, timeout, tx,
            )));
        }
        let files = tracked(TrackKind::File);
        for f in &cfg.track_files {
            if !files.contains(&f.name) {
                continue;
            }
            let Some(path) = f.file.clone() else { continue };
            let name = f.name.clone();
            let tx = self.track_send.clone();
            let init = f.init_file.and_then(|(v, _)| v);
            self.helpers.push(tokio::spawn(async move {
                let mut last = None;
                loop {
                    let value = match tokio::fs::read_to_string(&path).await {
                        Ok(text) => parse_track_file(&text),
                        Err(_) => init.unwrap_or(0),
                    };
                    if last != Some(value) {
                        last = Some(value);
                        if tx
                            .send(Track::File {
                                name: name.clone(),
                                value,
                            })
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }));
        }
    }

    // ----- reload and shutdown -----

    fn reload(&mut self, cfg: Config) {
        info!("Reloading");
        let old_units = std::mem::take(&mut self.units);
        let old_insts = std::mem::take(&mut self.insts);
        self.garp.clear();
        self.cfg = cfg.clone();
        // Script users may have changed; the FIFOs stay open (keepalived keeps them too
        // unless their names change).
        self.notifier.env = super::notify::ScriptEnv::new(&cfg);
        self.alerter = crate::alert::Alerter::new(&cfg);
        // States before the reload, for `fifo_write_vrrp_states_on_reload`.
        let mut before: HashMap<(bool, String), State> = HashMap::new();
        for inst in &old_insts {
            let s = inst.slot;
            if let Some(u) = old_units.get(s.unit) {
                before.insert((false, inst.name.clone()), u.instance(s.member).state());
            }
        }
        for u in &old_units {
            if let Unit::Group(g, _, _) = u {
                before.insert((true, g.name().to_string()), g.state());
            }
        }
        self.build(&cfg, Some((old_units, old_insts)));
        if cfg.global.fifo_write_vrrp_states_on_reload {
            self.write_states_to_fifos(&before);
        }
        info!("Reload finished");
    }

    async fn shutdown(&mut self) {
        let now = self.now();
        for u in 0..self.units.len() {
            let acts = match &mut self.units[u] {
                Unit::Single(inst, i) => inst
                    .handle(now, Event::Shutdown)
                    .into_iter()
                    .map(|a| (*i, Some(a), None))
                    .collect(),
                Unit::Group(g, ids, _) => {
                    let ids = ids.clone();
                    split_group_actions(&ids, g.handle(now, Event::Shutdown))
                }
            };
            self.apply_all(u, acts, None);
        }
        if !self.opts.dont_release_vrrp {
            for i in 0..self.insts.len() {
                release(&mut self.host, &mut self.insts[i]);
            }
        }
        for h in self.helpers.drain(..) {
            h.abort();
        }
        for (_, h) in self.sockets.rx.drain() {
            h.abort();
        }
        self.notifier.shutdown().await;
    }

    // ----- input -----

    fn on_timer(&mut self) {
        let now = self.now();
        for u in 0..self.units.len() {
            if self.units[u].next_deadline().is_none_or(|d| d > now) {
                continue;
            }
            self.feed_unit(u, now, Event::Timer, None);
        }
        let due: Vec<GarpRound> = self.garp.iter().copied().filter(|g| g.at <= now).collect();
        self.garp.retain(|g| g.at > now);
        for g in due {
            self.garp_round(g.inst, now, g.left);
        }
    }

    /// Delivers `event` to every instance of unit `u`.
    fn feed_unit(&mut self, u: usize, now: Now, event: Event, rx: Option<(IpAddr, Priority)>) {
        let acts = match &mut self.units[u] {
            Unit::Single(inst, i) => inst
                .handle(now, event)
                .into_iter()
                .map(|a| (*i, Some(a), None))
                .collect(),
            Unit::Group(g, ids, _) => {
                let ids = ids.clone();
                split_group_actions(&ids, g.handle(now, event))
            }
        };
        self.apply_all(u, acts, rx);
    }

    /// Delivers `event` to one instance.
    fn feed_inst(&mut self, i: usize, now: Now, event: Event, rx: Option<(IpAddr, Priority)>) {
        let slot = self.insts[i].slot;
        let acts = match &mut self.units[slot.unit] {
            Unit::Single(inst, i) => inst
                .handle(now, event)
                .into_iter()
                .map(|a| (*i, Some(a), None))
                .collect(),
            Unit::Group(g, ids, _) => {
                let ids = ids.clone();
                let m = slot.member.unwrap_or(0);
                split_group_actions(&ids, g.handle_member(now, m, event))
            }
        };
        self.apply_all(slot.unit, acts, rx);
    }

    /// keepalived `vrrp_init_state` on reload with `fifo_write_vrrp_states_on_reload`: every
    /// group, and every instance other than a master, whose state the reload did not change
    /// writes it to the notify FIFOs (one that changed was notified in full already).
    fn write_states_to_fifos(&mut self, before: &HashMap<(bool, String), State>) {
        let mut lines = Vec::new();
        for u in &self.units {
            if let Unit::Group(g, _, _) = u
                && before.get(&(true, g.name().to_string())) == Some(&g.state())
            {
                lines.push((Subject::Group, g.name().to_string(), g.state(), 0));
            }
        }
        for i in 0..self.insts.len() {
            let (name, state) = (self.insts[i].name.clone(), self.state_of(i));
            // A master goes straight back to MASTER without a line (vrrp_init_state).
            if state != State::Master && before.get(&(false, name.clone())) == Some(&state) {
                let prio = self.instance_of(i).effective_priority().0;
                lines.push((Subject::Instance, name, state, prio));
            }
        }
        for (subject, name, state, prio) in lines {
            self.notifier.fifo_state(subject, &name, state, prio);
        }
    }

    fn state_of(&self, i: usize) -> State {
        let s = self.insts[i].slot;
        self.units[s.unit].instance(s.member).state()
    }

    fn instance_of(&self, i: usize) -> &Instance {
        let s = self.insts[i].slot;
        self.units[s.unit].instance(s.member)
    }

    fn on_datagram(&mut self, dg: RxDatagram) {
        let parsed = match &dg.v6 {
            None => packet::parse_ipv4(&dg.bytes),
            Some(meta) => packet::parse_ipv6(&dg.bytes, *meta),
        };
        let pkt = match parsed {
            Ok(p) => p,
            Err(d) => {
                // Not attributable to an instance (or, for IPv6, a bad checksum).
                let af = if dg.v6.is_some() { Af::Ipv6 } else { Af::Ipv4 };
                let candidates: Vec<usize> = self
                    .insts
                    .iter()
                    .enumerate()
                    .filter(|(_, x)| x.ifname == dg.ifname && x.af == af)
                    .map(|(i, _)| i)
                    .collect();
                let vrid = if dg.v6.is_some() {
                    dg.bytes.get(1).copied()
                } else {
                    None
                };
                match candidates
                    .iter()
                    .find(|&&i| Some(self.insts[i].vrid.0) == vrid)
                {
                    Some(&i) => self.count_discard(i, &d),
                    None => self.count_if_discard(&dg.ifname, &d),
                }
                return;
            }
        };
        let vrid = pkt.vrid();
        let af = pkt.af();
        let dst_multicast = pkt.dst().is_multicast();
        // The instance for this VRID on this interface and family; when several (unicast and
        // multicast instances sharing a VRID), the one whose cast matches.
        let mut cands: Vec<usize> = self
            .insts
            .iter()
            .enumerate()
            .filter(|(_, x)| x.ifname == dg.ifname && x.af == af && x.vrid == vrid)
            .map(|(i, _)| i)
            .collect();
        if cands.len() > 1 {
            cands.sort_by_key(|&i| self.insts[i].unicast() == dst_multicast);
        }
        let Some(&i) = cands.first() else {
            let d = Discard::VridMismatch {
                got: vrid,
                expected: Vrid(0),
            };
            let c = self
                .if_stats
                .entry(dg.ifname.clone())
                .or_default()
                .discards
                .entry(d.as_str())
                .or_default();
            *c += 1;
            debug!(
                "Unknown VRID({}) received on interface({}) from {}. ignoring...",
                vrid.0,
                dg.ifname,
                pkt.src()
            );
            return;
        };
        let state = self.state_of(i);
        // keepalived does not look at adverts in FAULT or INIT.
        if !matches!(state, State::Master | State::Backup) {
            return;
        }
        let inst = &mut self.insts[i];
        let check_addrs = state == State::Master
            || !inst.skip_check_adv_addr
            || inst.last_master != Some(pkt.src());
        let unicast = inst.unicast().then_some(UnicastRx {
            check_src: inst.check_src,
            peers: &inst.peers,
        });
        let expect = Expect {
            version: inst.version,
            vrid: inst.vrid,
            adver_int: inst.advert_int,
            auth: inst.auth,
            addrs: &inst.addrs,
            check_addrs,
            unicast,
        };
        match pkt.validate(&expect, &mut inst.wire) {
            Ok(rcv) => {
                inst.stats.adverts_rx += 1;
                let prio = rcv.advert.priority;
                if prio.0 == 0 {
                    inst.stats.pri_zero_rx += 1;
                }
                let src = rcv.src;
                let me = self.instance_of(i);
                let eff = me.effective_priority();
                if state == State::Master
                    && prio.0 != 0
                    && (prio < eff
                        || (prio == eff
                            && super::sync::cmp_addr(src, me.source_address())
                                == std::cmp::Ordering::Less))
                {
                    let lower_no_advert = me.params().lower_prio_no_advert;
                    let inst = &mut self.insts[i];
                    let _g = inst.span.clone().entered();
                    info!(
                        "({}) Received advert from {src} with lower priority {}, ours {}{}",
                        inst.name,
                        prio.0,
                        eff.0,
                        if lower_no_advert {
                            ""
                        } else {
                            ", forcing new election"
                        }
                    );
                    if let Some(ah) = rcv.ah {
                        info!("({}) IPSEC-AH : Syncing seq_num - Increment seq", inst.name);
                        inst.wire.ah.sync_to(ah.seq);
                    }
                }
                if state == State::Backup {
                    self.insts[i].last_master = Some(src);
                }
                let event = Event::Advert {
                    src,
                    priority: prio,
                    max_adver_int: rcv.advert.adver_int,
                };
                self.feed_inst(i, self.now(), event, Some((src, prio)));
            }
            Err(d) => self.count_discard(i, &d),
        }
    }

    fn count_discard(&mut self, i: usize, d: &Discard) {
        let inst = &mut self.insts[i];
        *inst.stats.discards.entry(d.as_str()).or_default() += 1;
        let _g = inst.span.clone().entered();
        info!("({}) {d}", inst.name);
    }

    fn count_if_discard(&mut self, ifname: &str, d: &Discard) {
        *self
            .if_stats
            .entry(ifname.to_string())
            .or_default()
            .discards
            .entry(d.as_str())
            .or_default() += 1;
        info!(
            reason = d.as_str(),
            "VRRP packet on {ifname} discarded: {d}"
        );
    }

    fn on_track(&mut self, t: Track) {
        let now = self.now();
        match t {
            Track::Links(links) => {
                let old = std::mem::replace(&mut self.links, links);
                let mut events = Vec::new();
                let names: HashSet<&String> = old.keys().chain(self.links.keys()).collect();
                for name in names {
                    let was = old.get(name).is_some_and(|l| l.up);
                    let is = self.links.get(name).is_some_and(|l| l.up);
                    if was != is {
                        info!("Netlink reports {name} {}", if is { "up" } else { "down" });
                        events.push(if is {
                            Event::InterfaceUp(name.clone())
                        } else {
                            Event::InterfaceDown(name.clone())
                        });
                    }
                }
                for ev in events {
                    for u in 0..self.units.len() {
                        self.feed_unit(u, now, ev.clone(), None);
                    }
                }
                // Source addresses that appeared or vanished.
                for i in 0..self.insts.len() {
                    let io = &self.insts[i];
                    if io.cfg_src.is_some() {
                        continue;
                    }
                    let still = io.src.is_some_and(|s| self.link_has(&io.ifname, s));
                    if still {
                        continue;
                    }
                    let new = self.interface_source(&io.ifname, io.af);
                    if new != io.src {
                        self.insts[i].src = new;
                        self.feed_inst(i, now, Event::SourceAddress(new), None);
                    }
                }
            }
            Track::Script { name, ok } => {
                let Some(tracker) = self.script_trackers.get_mut(&name) else {
                    return;
                };
                if let Some(up) = tracker.record(ok) {
                    self.script_status.insert(name.clone(), up);
                    info!(
                        "VRRP_Script({name}) {}",
                        if up { "succeeded" } else { "failed" }
                    );
                    let ev = tracker.event(up);
                    for u in 0..self.units.len() {
                        self.feed_unit(u, now, ev.clone(), None);
                    }
                }
            }
            Track::File { name, value } => {
                self.file_values.insert(name.clone(), value);
                info!("Track file {name} value {value}");
                let ev = Event::TrackFile { name, value };
                for u in 0..self.units.len() {
                    self.feed_unit(u, now, ev.clone(), None);
                }
            }
        }
    }

    fn link_has(&self, ifname: &str, a: IpAddr) -> bool {
        self.links.get(ifname).is_some_and(|l| match a {
            IpAddr::V4(a) => l.v4.contains(&a),
            IpAddr::V6(a) => l.v6.contains(&a),
        })
    }

    // ----- output -----

    fn apply_all(
        &mut self,
        u: usize,
        acts: Vec<(usize, Option<Action>, Option<GroupAction>)>,
        rx: Option<(IpAddr, Priority)>,
    ) {
        let now = self.now();
        for (i, a, g) in acts {
            match (a, g) {
                (Some(a), _) => self.apply(i, a, now, rx),
                (None, Some(g)) => self.apply_group(u, g),
                (None, None) => {}
            }
        }
    }

    fn apply_group(&mut self, u: usize, g: GroupAction) {
        let Unit::Group(group, _, gio) = &self.units[u] else {
            return;
        };
        let name = group.name().to_string();
        let _g = gio.span.clone().entered();
        match g {
            GroupAction::Transition { from, to, reason } => {
                if from != to {
                    debug!("VRRP_Group({name}) {from} -> {to}: {reason:?}");
                    info!("VRRP_Group({name}) Syncing instances to {to} state");
                }
            }
            GroupAction::Notify(state) => {
                let scripts = gio.scripts.clone();
                self.notifier
                    .state(Subject::Group, &name, state, 0, &scripts);
                self.alerter.vrrp_group(&self.cfg, &name, state);
            }
            GroupAction::Member { .. } => {}
        }
    }

    fn apply(&mut self, i: usize, action: Action, now: Now, rx: Option<(IpAddr, Priority)>) {
        let span = self.insts[i].span.clone();
        let _g = span.enter();
        let name = self.insts[i].name.clone();
        match action {
            Action::SendAdvert { priority } => {
                send_advert(&self.sockets, &mut self.insts[i], priority);
            }
            Action::AddVips => self.add_vips(i),
            Action::RemoveVips => release(&mut self.host, &mut self.insts[i]),
            Action::SendGratuitous { repeat, cause } => {
                debug!(?cause, "({name}) gratuitous ARP/NA x{repeat}");
                self.garp_round(i, now, repeat);
            }
            Action::Notify(state) => {
                let prio = self.instance_of(i).effective_priority().0;
                let inst = &self.insts[i];
                let scripts = inst.scripts.clone();
                self.notifier
                    .state(Subject::Instance, &name, state, prio, &scripts);
                self.alerter.vrrp_instance(&self.cfg, &name, state);
            }
            Action::NotifyMasterRxLowerPri => {
                let prio = self.instance_of(i).effective_priority().0;
                let script = self.insts[i].scripts.master_rx_lower_pri.clone();
                self.notifier
                    .event(&name, "MASTER_RX_LOWER_PRI", prio, script.as_ref());
            }
            Action::PriorityChanged { from, to } => {
                info!(
                    "({name}) Changing effective priority from {} to {}",
                    from.0, to.0
                );
                if self.insts[i].notify_priority_changes {
                    let ev = if self.state_of(i) == State::Master {
                        "MASTER_PRIORITY"
                    } else {
                        "BACKUP_PRIORITY"
                    };
                    self.notifier.event(&name, ev, to.0, None);
                }
            }
            Action::Transition { from, to, reason } => {
                self.log_transition(i, from, to, &reason, rx);
            }
            Action::AdvertIgnored {
                src,
                priority,
                reason,
            } => match reason {
                IgnoreReason::LowerPriority => info!(
                    "({name}) received lower priority ({}) advert from {src} - discarding",
                    priority.0
                ),
                IgnoreReason::IntervalMismatch { ours, theirs } => info!(
                    "({name}) advertisement interval mismatch mine={} sec rcv'd={} sec",
                    ours.0 / 100,
                    theirs.0 / 100
                ),
                other => debug!(reason = ?other, "({name}) advert from {src} ignored"),
            },
            Action::Warn(w) => match w {
                Warning::EqualPriorityOwnAddress { .. } => info!(
                    "({name}) WARNING - equal priority advert received from remote host with our IP address."
                ),
                Warning::BothAddressOwners { .. } => info!(
                    "({name}) CONFIGURATION ERROR: local instance and a remote instance are both configured as address owner, please fix - reducing local priority"
                ),
            },
            Action::SetDeadline(_) => {}
        }
    }

    fn log_transition(
        &mut self,
        i: usize,
        from: State,
        to: State,
        reason: &Reason,
        rx: Option<(IpAddr, Priority)>,
    ) {
        let eff = self.instance_of(i).effective_priority();
        let inst = &mut self.insts[i];
        inst.last_transition = Some(std::time::SystemTime::now());
        let name = inst.name.clone();
        match reason {
            Reason::MasterDown(super::fsm::MasterReason::NoResponse) => {
                info!("({name}) Receive advertisement timeout");
            }
            Reason::HigherPriority { src, priority } => info!(
                "({name}) Master received advert from {src} with higher priority {}, ours {}",
                priority.0, eff.0
            ),
            Reason::EqualPriorityHigherAddress { src } => info!(
                "({name}) Master received advert from {src} with same priority {} but higher IP address than ours",
                eff.0
            ),
            Reason::Fault(cause) => debug!(?cause, "({name}) fault"),
            _ => {}
        }
        let _ = rx;
        if let Some(tx) = &self.transitions
            && from != to
        {
            let _ = tx.send(InstanceTransition {
                instance: name.clone(),
                from,
                to,
            });
        }
        if to == State::Master {
            inst.stats.became_master += 1;
        }
        if from == State::Master {
            inst.stats.released_master += 1;
        }
        let suffix = if from == State::Init && to != State::Master {
            " (init)"
        } else {
            ""
        };
        debug!("({name}) {from} -> {to}: {reason:?}");
        match to {
            State::Master | State::Backup | State::Fault => {
                info!("({name}) Entering {to} STATE{suffix}")
            }
            State::Stop => info!("({name}) Stopping"),
            State::Init => {}
        }
    }
}

/// An engine that goes away without an ordered shutdown (a panic unwinding through
/// [`Engine::run`], or its task being aborted) takes its helper tasks with it: the link
/// poller, the script runners and the receive tasks would otherwise live on until their next
/// send failed. Its VIPs are the daemon's to release (`daemon::host::Ledger`).
impl Drop for Engine {
    fn drop(&mut self) {
        for h in self.helpers.drain(..) {
            h.abort();
        }
        for (_, h) in self.sockets.rx.drain() {
            h.abort();
        }
    }
}

/// A socket the engine receives adverts on (IPv4 per interface and protocol, or IPv6).
trait AdvertSocket: Send + Sync + 'static {
    fn recv_datagram(&self) -> impl Future<Output = std::io::Result<RxDatagram>> + Send;
}

impl AdvertSocket for RxV4 {
    fn recv_datagram(&self) -> impl Future<Output = std::io::Result<RxDatagram>> + Send {
        self.recv()
    }
}

impl AdvertSocket for V6 {
    fn recv_datagram(&self) -> impl Future<Output = std::io::Result<RxDatagram>> + Send {
        self.recv()
    }
}

/// A receive task: every datagram goes to the engine until the engine is gone; a receive
/// error is logged and retried 100 ms later.
async fn forward_datagrams<S: AdvertSocket>(s: Arc<S>, tx: mpsc::Sender<RxDatagram>, what: &str) {
    loop {
        match s.recv_datagram().await {
            Ok(dg) => {
                if tx.send(dg).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                debug!("{what} receive error: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Sends one advert with `priority` from `inst` to its group or each unicast peer.
fn send_advert(sockets: &Sockets, inst: &mut Inst, priority: Priority) {
    {
        let Some(src) = inst.src else {
            return;
        };
        let advert = packet::Advert {
            version: inst.version,
            vrid: inst.vrid,
            priority,
            adver_int: inst.advert_int,
            addrs: inst.addrs.clone(),
            auth: packet::Auth::from(&inst.auth),
        };
        let dsts: Vec<IpAddr> = if inst.unicast() {
            inst.peers.iter().map(|p| p.addr).collect()
        } else {
            vec![inst.af.group()]
        };
        for dst in dsts {
            let res = match (src, dst) {
                (IpAddr::V4(s), IpAddr::V4(d)) => {
                    let Some(sock) = sockets.tx4.get(&inst.ifname) else {
                        return;
                    };
                    let ttl = if inst.unicast() {
                        inst.unicast_ttl
                    } else {
                        packet::VRRP_TTL
                    };
                    let tx = Ipv4Tx {
                        src: s,
                        dst: d,
                        id: inst.wire.next_ip_id(),
                        ttl,
                    };
                    let seal_seq;
                    let seal = match &inst.auth {
                        AuthConfig::Ah(key) => {
                            seal_seq = inst.wire.ah.next_tx();
                            Some(AhSeal {
                                key,
                                seq: seal_seq,
                                unicast: inst.unicast(),
                            })
                        }
                        _ => None,
                    };
                    packet::encode_ipv4(&advert, &tx, inst.wire.checksum, seal)
                        .map_err(|e| e.to_string())
                        .and_then(|bytes| sock.send(&bytes, d).map_err(|e| e.to_string()))
                }
                (IpAddr::V6(s), IpAddr::V6(d)) => {
                    let Some(sock) = sockets.v6.get(&inst.ifname) else {
                        return;
                    };
                    advert
                        .encode(src, dst, inst.wire.checksum)
                        .map_err(|e| e.to_string())
                        .and_then(|bytes| sock.send(&bytes, s, d).map_err(|e| e.to_string()))
                }
                _ => Err(format!(
                    "source {src} and destination {dst} differ in family"
                )),
            };
            match res {
                Ok(()) => {
                    inst.stats.adverts_tx += 1;
                    if priority.0 == 0 {
                        inst.stats.pri_zero_tx += 1;
                    }
                }
                Err(e) => log_send_error(inst, e),
            }
        }
        if priority.0 == 0 {
            let _g = inst.span.enter();
            info!("({}) sent 0 priority", inst.name);
        }
    }
}

impl Engine {
    fn add_vips(&mut self, i: usize) {
        let inst = &mut self.insts[i];
        for (dev, vip) in inst.vips.clone() {
            if inst
                .installed
                .iter()
                .any(|(d, a)| *d == dev && a.addr == vip.addr)
            {
                continue;
            }
            match self.host.vips.add(&dev, &vip) {
                Ok(()) => inst.installed.push((dev, vip)),
                Err(e) => warn!("({}) cannot add VIP {} on {dev}: {e}", inst.name, vip.addr),
            }
        }
        // keepalived `vrrp_state_become_master`: routes after the addresses (a route's
        // gateway or source may be a VIP), then rules.
        for r in inst.routes.clone() {
            if inst.routes_installed.contains(&r) {
                continue;
            }
            match self.host.routes.add_route(&r) {
                Ok(()) => inst.routes_installed.push(r),
                Err(e) => warn!("({}) cannot add route: {e}", inst.name),
            }
        }
        for r in inst.rules.clone() {
            if inst.rules_installed.contains(&r) {
                continue;
            }
            match self.host.routes.add_rule(&r) {
                Ok(()) => inst.rules_installed.push(r),
                Err(e) => warn!("({}) cannot add rule: {e}", inst.name),
            }
        }
    }

    /// After a reload, make the installed addresses of a master match its new list.
    fn sync_vips(&mut self, i: usize) {
        let inst = &mut self.insts[i];
        let wanted = inst.vips.clone();
        let mut keep = Vec::new();
        for (dev, a) in std::mem::take(&mut inst.installed) {
            if wanted
                .iter()
                .any(|(d, w)| *d == dev && w.addr == a.addr && w.prefix == a.prefix)
            {
                keep.push((dev, a));
            } else if let Err(e) = self.host.vips.remove(&dev, &a) {
                warn!(
                    "({}) cannot remove VIP {} from {dev}: {e}",
                    inst.name, a.addr
                );
            }
        }
        inst.installed = keep;
        let (routes, rules) = (inst.routes.clone(), inst.rules.clone());
        for r in std::mem::take(&mut inst.rules_installed) {
            if rules.contains(&r) {
                inst.rules_installed.push(r);
            } else if let Err(e) = self.host.routes.remove_rule(&r) {
                warn!("({}) cannot remove rule: {e}", inst.name);
            }
        }
        for r in std::mem::take(&mut inst.routes_installed) {
            if routes.contains(&r) {
                inst.routes_installed.push(r);
            } else if let Err(e) = self.host.routes.remove_route(&r) {
                warn!("({}) cannot remove route: {e}", inst.name);
            }
        }
        self.add_vips(i);
    }

    /// One round of gratuitous ARP / NA for every VIP of instance `i`; further rounds are
    /// queued `vrrp_garp_interval` apart (all at once when it is 0).
    fn garp_round(&mut self, i: usize, now: Now, rounds: u32) {
        if rounds == 0 || i >= self.insts.len() {
            return;
        }
        let interval = self.insts[i].garp_interval;
        let n = if interval == Micros(0) { rounds } else { 1 };
        let inst = &self.insts[i];
        let _g = inst.span.enter();
        for (dev, a) in &inst.installed {
            info!(
                "({}) Sending/queueing gratuitous {} on {dev} for {}",
                inst.name,
                if a.addr.is_ipv4() { "ARPs" } else { "NAs" },
                a.addr
            );
            for _ in 0..n {
                if let Err(e) = self.host.announce.announce(dev, a.addr) {
                    debug!(
                        "({}) gratuitous ARP/NA for {} failed: {e}",
                        inst.name, a.addr
                    );
                }
            }
        }
        if rounds > n {
            self.garp.push(GarpRound {
                at: now.add(interval),
                inst: i,
                left: rounds - n,
            });
        }
    }

    // ----- dump -----

    /// Every instance's state and counters, for the dumps; `clear` zeroes the counters
    /// afterwards (STATS_CLEAR).
    fn snapshot(&mut self, clear: bool) -> Vec<InstanceSnapshot> {
        let mut out = Vec::with_capacity(self.insts.len());
        for (i, io) in self.insts.iter().enumerate() {
            let inst = self.instance_of(i);
            let s = &io.stats;
            out.push(InstanceSnapshot {
                params: inst.params().clone(),
                state: inst.state(),
                want: inst.want(),
                master: inst.master(),
                master_adver_int: inst.master_adver_int(),
                master_down_interval: inst.master_down_interval(),
                effective_priority: inst.effective_priority(),
                vips_set: inst.vips_set(),
                ifname: io.ifname.clone(),
                ipv6: io.af == Af::Ipv6,
                src: io.src,
                src_from_config: io.cfg_src.is_some(),
                unicast: io.unicast(),
                vips: io.vips.clone(),
                last_transition: io.last_transition,
                counters: Counters {
                    adverts_rx: s.adverts_rx,
                    adverts_tx: s.adverts_tx,
                    pri_zero_rx: s.pri_zero_rx,
                    pri_zero_tx: s.pri_zero_tx,
                    became_master: s.became_master,
                    released_master: s.released_master,
                    discards: s.discards.clone(),
                },
                if_discards: self
                    .if_stats
                    .get(&io.ifname)
                    .map(|s| s.discards.clone())
                    .unwrap_or_default(),
            });
        }
        if clear {
            for io in &mut self.insts {
                io.stats = Stats::default();
            }
        }
        out
    }
}

/// What a resumed instance keeps from the one it replaces: installed addresses, counters,
/// AH sequence state, last master.
fn carry_over(new: &mut Inst, old: &mut Inst) {
    new.installed = std::mem::take(&mut old.installed);
    new.routes_installed = std::mem::take(&mut old.routes_installed);
    new.rules_installed = std::mem::take(&mut old.rules_installed);
    new.stats = old.stats.clone();
    new.wire.ah = old.wire.ah;
    new.wire.ip_id = old.wire.ip_id;
    new.last_master = old.last_master;
    new.last_transition = old.last_transition;
}

/// Removes every rule, route and address `inst` installed, in keepalived's order
/// (`vrrp_restore_interface`: rules, then routes, then the VIPs they may depend on).
fn release(host: &mut Host, inst: &mut Inst) {
    for r in std::mem::take(&mut inst.rules_installed).iter().rev() {
        if let Err(e) = host.routes.remove_rule(r) {
            warn!("({}) cannot remove rule: {e}", inst.name);
        }
    }
    for r in std::mem::take(&mut inst.routes_installed).iter().rev() {
        if let Err(e) = host.routes.remove_route(r) {
            warn!("({}) cannot remove route: {e}", inst.name);
        }
    }
    for (dev, a) in std::mem::take(&mut inst.installed) {
        if let Err(e) = host.vips.remove(&dev, &a) {
            warn!(
                "({}) cannot remove VIP {} from {dev}: {e}",
                inst.name, a.addr
            );
        }
    }
}

fn split_group_actions(
    ids: &[usize],
    acts: Vec<GroupAction>,
) -> Vec<(usize, Option<Action>, Option<GroupAction>)> {
    acts.into_iter()
        .map(|g| match g {
            GroupAction::Member { index, action } => (
                ids.get(index).copied().unwrap_or(usize::MAX),
                Some(action),
                None,
            ),
            other => (usize::MAX, None, Some(other)),
        })
        .filter(|(i, a, _)| a.is_none() || *i != usize::MAX)
        .collect()
}

/// keepalived reads the first number of a tracked file (`strtol`; nothing numeric is 0).
fn parse_track_file(text: &str) -> i64 {
    let t = text.trim_start();
    let end = t
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && (c == '-' || c == '+'))))
        .map_or(t.len(), |(i, _)| i);
    t[..end].parse().unwrap_or(0)
}

async fn script_loop(
    env: super::notify::ScriptEnv,
    script: Script,
    name: String,
    interval: Duration,
    timeout: Duration,
    tx: mpsc::Sender<Track>,
) {
    loop {
        let start = tokio::time::Instant::now();
        let ok = run_check(&env, &script, timeout).await;
        if tx
            .send(Track::Script {
                name: name.clone(),
                ok,
            })
            .await
            .is_err()
        {
            return;
        }
        tokio::time::sleep_until(start + interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn track_file_values_parse_like_strtol() {
        assert_eq!(parse_track_file("42\n"), 42);
        assert_eq!(parse_track_file("  -7 apples"), -7);
        assert_eq!(parse_track_file(""), 0);
        assert_eq!(parse_track_file("x1"), 0);
    }
}
