//! The sans-IO VRRP state machine: RFC 5798 §6.4 (Initialize, Backup, Master) plus
//! keepalived's FAULT and STOP states, tracking, preemption and gratuitous ARP schedule,
//! behaving as keepalived 2.2.7 (vrrp.c, vrrp_scheduler.c, vrrp_track.c) does.
//!
//! Events go in through [`Instance::handle`] with the caller's current time; [`Action`]s come
//! out in the order keepalived performs them. Deadlines are absolute [`Now`]s
//! ([`Action::SetDeadline`], [`Instance::next_deadline`]); the driver calls
//! `handle(now, Event::Timer)` when one passes.
//!
//! This module must not: open sockets, read a clock, spawn tasks, use floats, or know the
//! wire format (the packet layer validates and decodes adverts into [`Event::Advert`]).
//! Sync groups live in [`sync`], timer arithmetic in [`timer`].

use std::fmt;
use std::net::IpAddr;

pub use super::sync::{
    FaultCause, GroupAction, Readiness, ScriptTracker, SyncGroup, TrackEffect, TrackKind, TrackSet,
    TrackStatus, Tracker,
};
pub use super::timer::{Now, Version};
use super::timer::{centis, master_down_interval, skew_time, skew_time_min};
use crate::config::model::{
    Centis, Config, Family, InitialState, Micros, Priority, Vrid, VrrpInstance,
};

// ===== events, actions, reasons =====

/// An input to the state machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Leave Initialize (RFC 5798 §6.4.1). Tracker statuses reported before this are the
    /// initial ones.
    Startup,
    /// A deadline handed out earlier has passed; everything due at `now` is processed.
    Timer,
    /// A valid advertisement for our VRID (already checked by the packet layer).
    /// `max_adver_int` is the advertised interval (v2 seconds converted to centiseconds).
    Advert {
        src: IpAddr,
        priority: Priority,
        max_adver_int: Centis,
    },
    /// A tracked interface (or our own / a VIP's interface) came up.
    InterfaceUp(String),
    InterfaceDown(String),
    /// A `vrrp_script` changed state after rise/fall accounting ([`ScriptTracker`]).
    TrackScript {
        name: String,
        ok: bool,
    },
    /// A `track_file` now holds `value`.
    TrackFile {
        name: String,
        value: i64,
    },
    /// A `vrrp_track_process` gained or lost quorum.
    TrackProcess {
        name: String,
        quorum: bool,
    },
    /// A tracked BFD session went up or down.
    TrackBfd {
        name: String,
        up: bool,
    },
    /// The address we advertise from (and compare in the §6.4.3 tie-break); `None` when the
    /// interface has none, which is a fault as in keepalived.
    SourceAddress(Option<IpAddr>),
    /// Sent by a [`SyncGroup`] to move this member with the group.
    Sync {
        group: String,
        member: String,
        command: SyncCommand,
    },
    /// Stop (RFC 5798 §6.4.2/§6.4.3 "Shutdown event").
    Shutdown,
}

/// What a sync group asks of a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyncCommand {
    Master,
    Backup,
    Fault,
    /// A member, as master, saw a lower-priority advert: refresh ARP caches too.
    LowerPriorityGarp,
}

/// An instance (or sync group) state. `Init` is RFC 5798's Initialize; `Fault` and `Stop`
/// are keepalived's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    Init,
    Backup,
    Master,
    Fault,
    Stop,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Init => "INIT",
            State::Backup => "BACKUP",
            State::Master => "MASTER",
            State::Fault => "FAULT",
            State::Stop => "STOP",
        })
    }
}

/// What the driver must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send one advertisement with this priority (0: we are resigning, RFC 5798 §6.4.3).
    SendAdvert { priority: Priority },
    /// Install the VIPs, eVIPs, virtual routes and rules (and accept-mode filtering).
    AddVips,
    /// Remove what [`Action::AddVips`] installed.
    RemoveVips,
    /// Send `repeat` rounds of gratuitous ARP / unsolicited NA for every VIP and eVIP; the
    /// driver spaces them by `vrrp_garp_interval` / `vrrp_gna_interval`.
    SendGratuitous { repeat: u32, cause: GarpCause },
    /// Run the notifications for entering this state (`notify_master`, `notify`, FIFO...).
    Notify(State),
    /// Run `notify_master_rx_lower_pri`.
    NotifyMasterRxLowerPri,
    /// The effective priority changed (for `notify_priority_changes`).
    PriorityChanged { from: Priority, to: Priority },
    /// The state changed; log it.
    Transition {
        from: State,
        to: State,
        reason: Reason,
    },
    /// An advertisement was dropped without effect.
    AdvertIgnored {
        src: IpAddr,
        priority: Priority,
        reason: IgnoreReason,
    },
    /// Something worth a log line that changes nothing.
    Warn(Warning),
    /// The next deadline (`None`: no timer). Emitted whenever it changes.
    SetDeadline(Option<Now>),
}

/// Why gratuitous ARPs are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GarpCause {
    /// The burst on becoming master (`garp_master_repeat`).
    BecameMaster,
    /// The second burst `garp_master_delay` later.
    MasterDelay,
    /// Every `garp_master_refresh` (`garp_master_refresh_repeat`).
    Refresh,
    /// As master, a lower-priority advert was seen (`garp_lower_prio_repeat`).
    LowerPriority,
    /// `garp_lower_prio_delay` after that.
    LowerPriorityDelay,
}

/// Why the state changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// Leaving Initialize (RFC 5798 §6.4.1).
    Startup,
    /// Master_Down_Timer fired in Backup (RFC 5798 §6.4.2).
    MasterDown(MasterReason),
    /// As master, an advert with a higher priority arrived (RFC 5798 §6.4.3).
    HigherPriority {
        src: IpAddr,
        priority: Priority,
    },
    /// As master, an equal-priority advert from a higher address arrived (RFC 5798 §6.4.3).
    EqualPriorityHigherAddress {
        src: IpAddr,
    },
    /// A tracked object or the source address failed.
    Fault(FaultCause),
    /// Waiting for the first result of a weight-0 script.
    AwaitingScript(String),
    /// Every fault cleared.
    Recovered,
    /// Moved with a sync group; `member` is the instance the group followed.
    SyncGroup {
        group: String,
        member: Option<String>,
    },
    Shutdown,
}

/// Why a backup becomes master (keepalived's `next_master_reason`, the RFC 6527 MIB's
/// `vrrpv3StatisticsMasterTransitions` reasons).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MasterReason {
    /// The master stopped advertising.
    NoResponse,
    /// The master resigned with a priority-0 advert.
    PriorityZero,
    /// We preempted a lower-priority master, or we are the address owner.
    Preempted,
}

/// Why an advertisement was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IgnoreReason {
    /// keepalived does not read adverts in this state.
    NotListening(State),
    /// Backup with preemption: a lower-priority master is not accepted (RFC 5798 §6.4.2
    /// "Otherwise, discard the ADVERTISEMENT"), so the down timer keeps running.
    LowerPriority,
    /// VRRPv2 requires the sender's interval to equal ours (RFC 3768 §7.1).
    IntervalMismatch { ours: Centis, theirs: Centis },
    /// `owner_ignore_adverts`: the address owner listens to nobody.
    OwnerIgnoresAdverts,
}

/// Conditions keepalived logs without acting on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Warning {
    /// An equal-priority advert carried our own address.
    EqualPriorityOwnAddress { src: IpAddr },
    /// Another router also claims to be the address owner (priority 255).
    BothAddressOwners { src: IpAddr },
}

/// Why an instance could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    #[error("({0}) the virtual router id must be set")]
    NoVrid(String),
    #[error("sync group member {0} is not a configured vrrp_instance")]
    UnknownInstance(String),
    #[error("sync group {0} has no members")]
    EmptySyncGroup(String),
}

// ===== parameters =====

/// Gratuitous ARP / NA schedule of one instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Garp {
    pub master_delay: Micros,
    pub master_repeat: u32,
    pub master_refresh: Micros,
    pub master_refresh_repeat: u32,
    pub lower_prio_delay: Micros,
    pub lower_prio_repeat: u32,
}

/// The effective settings of one instance, after keepalived's defaults and
/// `vrrp_complete_instance` adjustments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    pub name: String,
    pub vrid: Vrid,
    pub version: Version,
    pub interface: Option<String>,
    pub base_priority: Priority,
    pub initial_state: InitialState,
    /// Our Advertisement_Interval (v2: whole seconds).
    pub advert_int: Centis,
    pub nopreempt: bool,
    pub preempt_delay: Micros,
    pub down_timer_adverts: u32,
    pub lower_prio_no_advert: bool,
    pub higher_prio_send_advert: bool,
    pub owner_ignore_adverts: bool,
    pub accept: bool,
    pub garp: Garp,
    /// `vrrp_startup_delay`: backups do not time out before it has passed.
    pub startup_delay: Micros,
}

impl Params {
    /// Resolve `inst` against the global defaults of `cfg`.
    pub fn resolve(cfg: &Config, inst: &VrrpInstance) -> Result<Params, BuildError> {
        let g = &cfg.global;
        let vrid = inst
            .vrid
            .ok_or_else(|| BuildError::NoVrid(inst.name.clone()))?;
        let strict = inst.strict_mode.unwrap_or(g.vrrp_strict);
        let version = if inst.family == Family::Inet6 {
            Version::V3
        } else {
            Version::from_number(inst.version.unwrap_or(g.vrrp_version))
        };
        let owner = inst.priority.0 == 255;
        let advert_int = match version {
            // RFC 3768 §5.3.7: whole seconds, 1..=255.
            Version::V2 => Centis(((inst.advert_int.0 + 50) / 100).clamp(1, 255) * 100),
            // RFC 5798 §5.2.7: 12 bits of centiseconds.
            Version::V3 => Centis(inst.advert_int.0.clamp(1, 4095)),
        };
        let nopreempt = inst.nopreempt && !owner && inst.state != InitialState::Master;
        let preempt_delay = if strict || nopreempt || inst.state == InitialState::Master {
            Micros(0)
        } else {
            inst.preempt_delay.min(Micros::secs(1000))
        };
        let down_timer_adverts = if strict {
            3
        } else {
            inst.down_timer_adverts
                .unwrap_or(g.vrrp_down_timer_adverts)
                .clamp(1, 100)
        };
        let lower_prio_no_advert = strict
            || inst
                .lower_prio_no_advert
                .unwrap_or(g.vrrp_lower_prio_no_advert);
        let higher_prio_send_advert = !strict
            && inst
                .higher_prio_send_advert
                .unwrap_or(g.vrrp_higher_prio_send_advert);
        let mut accept = inst.accept.unwrap_or(owner || !strict);
        if accept && !owner && strict && version == Version::V2 {
            accept = false;
        }

        // vrrp_min_garp changes the defaults it finds (global_parser.c); explicit values stay.
        let mut garp = inst.garp;
        let mut global_garp = g.garp;
        if g.vrrp_min_garp {
            for gs in [&mut garp, &mut global_garp] {
                if gs.master_repeat == 5 {
                    gs.master_repeat = 1;
                }
                if gs.master_refresh_repeat == 1 {
                    gs.master_refresh_repeat = 0;
                }
                if gs.master_delay == Micros::secs(5) {
                    gs.master_delay = Micros(0);
                }
            }
        }
        // The lower-priority schedule defaults to the global master one (vrrp_complete_init);
        // strict mode turns it off.
        let (lower_prio_delay, lower_prio_repeat) = if strict {
            (Micros(0), 0)
        } else {
            (
                garp.lower_prio_delay
                    .or(global_garp.lower_prio_delay)
                    .unwrap_or(global_garp.master_delay),
                garp.lower_prio_repeat
                    .or(global_garp.lower_prio_repeat)
                    .unwrap_or(global_garp.master_repeat),
            )
        };

        Ok(Params {
            name: inst.name.clone(),
            vrid,
            version,
            interface: inst.interface.as_ref().map(|(n, _)| n.clone()),
            base_priority: inst.priority,
            initial_state: inst.state,
            advert_int,
            nopreempt,
            preempt_delay,
            down_timer_adverts,
            lower_prio_no_advert,
            higher_prio_send_advert,
            owner_ignore_adverts: inst.owner_ignore_adverts && owner,
            accept,
            garp: Garp {
                master_delay: garp.master_delay,
                master_repeat: garp.master_repeat,
                master_refresh: garp.master_refresh,
                master_refresh_repeat: garp.master_refresh_repeat,
                lower_prio_delay,
                lower_prio_repeat,
            },
            startup_delay: g.vrrp_startup_delay,
        })
    }

    /// Priority 255: the router owns the virtual addresses (RFC 5798 §5.2.4).
    pub fn is_owner(&self) -> bool {
        self.base_priority.0 == 255
    }

    /// `state MASTER` was configured (keepalived's initial `wantstate`).
    pub fn wants_master(&self) -> bool {
        self.initial_state == InitialState::Master
    }
}

// ===== the instance =====

/// What a [`SyncGroup`] tells a member before each event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyncView {
    pub(crate) group: String,
    /// keepalived `vrrp_sync_can_goto_master`.
    pub(crate) can_goto_master: bool,
    /// Another member is faulty or awaiting a script (`num_member_fault`/`num_member_init`).
    pub(crate) others_not_ready: bool,
}

/// One `vrrp_instance`.
#[derive(Debug, Clone)]
pub struct Instance {
    params: Params,
    tracks: TrackSet,
    source_addr: Option<IpAddr>,
    state: State,
    /// keepalived `wantstate`: where the instance would be without its sync group.
    want: State,
    readiness: Readiness,
    effective_priority: Priority,
    /// Master_Adver_Interval (RFC 5798 §6.1): learnt from the master in v3.
    master_adver_int: Centis,
    /// keepalived `ms_down_timer`: what the next Backup deadline is computed from.
    ms_down_timer: Micros,
    /// The Adver_Timer (Master) or Master_Down_Timer (Backup) deadline.
    sands: Option<Now>,
    startup_end: Option<Now>,
    preempt_time: Option<Now>,
    vips_set: bool,
    garp_delayed: Option<Now>,
    garp_lower_prio_delayed: Option<Now>,
    garp_refresh: Option<Now>,
    /// The last master we accepted (address, priority).
    master: Option<(IpAddr, Priority)>,
    next_master_reason: MasterReason,
    fault_notified: bool,
    pub(crate) sync: Option<SyncView>,
    last_deadline: Option<Now>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKind {
    GarpDelayed,
    GarpLowerPrio,
    GarpRefresh,
    Sands,
}

impl Instance {
    /// Build `inst` with the globals, scripts, files and sync groups of `cfg`. A member of a
    /// sync group must then be driven through a [`SyncGroup`].
    pub fn new(cfg: &Config, inst: &VrrpInstance) -> Result<Instance, BuildError> {
        let mut i = Instance::from_parts(
            Params::resolve(cfg, inst)?,
            TrackSet::for_instance(cfg, inst),
        );
        i.source_addr = inst.unicast_src_ip.or(inst.mcast_src_ip);
        i.readiness = i.compute_readiness();
        i.effective_priority = i.compute_priority();
        Ok(i)
    }

    /// An instance from resolved parameters and trackers (no source address yet).
    pub fn from_parts(params: Params, tracks: TrackSet) -> Instance {
        let mut i = Instance {
            effective_priority: params.base_priority,
            master_adver_int: params.advert_int,
            params,
            tracks,
            source_addr: None,
            state: State::Init,
            want: State::Backup,
            readiness: Readiness::Ready,
            ms_down_timer: Micros(0),
            sands: None,
            startup_end: None,
            preempt_time: None,
            vips_set: false,
            garp_delayed: None,
            garp_lower_prio_delayed: None,
            garp_refresh: None,
            master: None,
            next_master_reason: MasterReason::NoResponse,
            fault_notified: false,
            sync: None,
            last_deadline: None,
        };
        i.readiness = i.compute_readiness();
        i.effective_priority = i.compute_priority();
        i
    }

    pub fn params(&self) -> &Params {
        &self.params
    }

    /// `state MASTER` becomes `state BACKUP` (keepalived `vrrp_complete_init`, for sync
    /// groups that mix address owners and non-owners: see [`super::sync::SyncGroup`]).
    pub(crate) fn demote_initial_master(&mut self) {
        self.params.initial_state = InitialState::Backup;
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// The state the instance would be in without its sync group.
    pub fn want(&self) -> State {
        self.want
    }

    pub fn readiness(&self) -> &Readiness {
        &self.readiness
    }

    pub fn effective_priority(&self) -> Priority {
        self.effective_priority
    }

    pub fn master_adver_int(&self) -> Centis {
        self.master_adver_int
    }

    /// The current Master_Down_Interval (RFC 5798 §6.1).
    pub fn master_down_interval(&self) -> Micros {
        master_down_interval(
            self.params.version,
            self.params.down_timer_adverts,
            self.master_adver_int,
            self.effective_priority,
        )
    }

    /// The current Skew_Time (RFC 5798 §6.1).
    pub fn skew_time(&self) -> Micros {
        skew_time(
            self.params.version,
            self.effective_priority,
            self.master_adver_int,
        )
    }

    pub fn trackers(&self) -> &TrackSet {
        &self.tracks
    }

    pub fn source_address(&self) -> Option<IpAddr> {
        self.source_addr
    }

    /// The master we last accepted an advert from, and its priority.
    pub fn master(&self) -> Option<(IpAddr, Priority)> {
        self.master
    }

    /// When a lower-priority master may be preempted (`preempt_delay` running).
    pub fn preempt_time(&self) -> Option<Now> {
        self.preempt_time
    }

    pub fn vips_set(&self) -> bool {
        self.vips_set
    }

    /// The earliest pending deadline.
    pub fn next_deadline(&self) -> Option<Now> {
        self.timers().map(|(at, _)| at).min()
    }

    /// Process one event at `now`.
    pub fn handle(&mut self, now: Now, event: Event) -> Vec<Action> {
        let mut out = Vec::new();
        if self.state == State::Stop {
            return out;
        }
        match event {
            Event::Startup => self.startup(now, None, &mut out),
            Event::Timer => self.on_timer(now, &mut out),
            Event::Advert {
                src,
                priority,
                max_adver_int,
            } => self.on_advert(now, src, priority, max_adver_int, &mut out),
            Event::InterfaceUp(n) => self.on_track(now, TrackKind::Interface, &n, true, &mut out),
            Event::InterfaceDown(n) => {
                self.on_track(now, TrackKind::Interface, &n, false, &mut out)
            }
            Event::TrackScript { name, ok } => {
                self.on_track(now, TrackKind::Script, &name, ok, &mut out)
            }
            Event::TrackProcess { name, quorum } => {
                self.on_track(now, TrackKind::Process, &name, quorum, &mut out)
            }
            Event::TrackBfd { name, up } => self.on_track(now, TrackKind::Bfd, &name, up, &mut out),
            Event::TrackFile { name, value } => {
                if self
                    .tracks
                    .update(TrackKind::File, &name, TrackStatus::Value(value))
                {
                    self.reevaluate(now, &mut out);
                }
            }
            Event::SourceAddress(addr) => {
                if self.source_addr != addr {
                    self.source_addr = addr;
                    self.reevaluate(now, &mut out);
                }
            }
            Event::Sync {
                group,
                member,
                command,
            } => {
                let reason = Reason::SyncGroup {
                    group,
                    member: Some(member),
                };
                self.on_sync(now, command, reason, &mut out);
            }
            Event::Shutdown => self.shutdown(&mut out),
        }
        self.finish(&mut out);
        out
    }

    // ----- helpers -----

    fn timers(&self) -> impl Iterator<Item = (Now, TimerKind)> {
        [
            (self.garp_delayed, TimerKind::GarpDelayed),
            (self.garp_lower_prio_delayed, TimerKind::GarpLowerPrio),
            (self.garp_refresh, TimerKind::GarpRefresh),
            (self.sands, TimerKind::Sands),
        ]
        .into_iter()
        .filter_map(|(at, k)| at.map(|at| (at, k)))
    }

    /// Emit [`Action::SetDeadline`] if the next deadline moved.
    pub(crate) fn finish(&mut self, out: &mut Vec<Action>) {
        let next = self.next_deadline();
        if next != self.last_deadline {
            self.last_deadline = next;
            out.push(Action::SetDeadline(next));
        }
    }

    fn mdi(&self) -> Micros {
        self.master_down_interval()
    }

    fn compute_readiness(&self) -> Readiness {
        if let Some(cause) = self.tracks.first_fault() {
            Readiness::Fault(cause)
        } else if self.source_addr.is_none() {
            Readiness::Fault(FaultCause::NoSourceAddress)
        } else if let Some(script) = self.tracks.first_pending() {
            Readiness::Pending { script }
        } else {
            Readiness::Ready
        }
    }

    /// keepalived `vrrp_set_effective_priority`: base + weights, clamped to 1..=254; the
    /// address owner ignores weights.
    fn compute_priority(&self) -> Priority {
        if self.params.is_owner() {
            return self.params.base_priority;
        }
        let total = i64::from(self.params.base_priority.0) + self.tracks.weight_sum();
        Priority(total.clamp(1, 254) as u8)
    }

    fn can_goto_master(&self) -> bool {
        self.sync.as_ref().is_none_or(|v| v.can_goto_master)
    }

    /// keepalived `vrrp_init_instance_sands`.
    fn init_sands(&mut self, now: Now) {
        self.sands = match self.state {
            State::Master => Some(now.add(centis(self.params.advert_int))),
            State::Backup => {
                let base = match self.startup_end {
                    Some(end) if now < end => end,
                    _ => now,
                };
                Some(base.add(self.ms_down_timer))
            }
            _ => None,
        };
    }

    /// Change state: log, then notify.
    fn enter(&mut self, to: State, reason: Reason, out: &mut Vec<Action>) {
        let from = self.state;
        self.state = to;
        if from != to {
            out.push(Action::Transition { from, to, reason });
        }
        out.push(Action::Notify(to));
        self.fault_notified = to == State::Fault;
    }

    fn garp(&self, repeat: u32, cause: GarpCause, out: &mut Vec<Action>) {
        if self.vips_set && repeat > 0 {
            out.push(Action::SendGratuitous { repeat, cause });
        }
    }

    // ----- startup -----

    /// keepalived `vrrp_init_state` + `vrrp_init_instance_sands`. `group_state` is the sync
    /// group's state when the instance is a member.
    pub(crate) fn startup(&mut self, now: Now, group_state: Option<State>, out: &mut Vec<Action>) {
        if self.state != State::Init {
            return;
        }
        if self.params.startup_delay > Micros(0) {
            self.startup_end = Some(now.add(self.params.startup_delay));
        }
        self.master_adver_int = self.params.advert_int;
        self.readiness = self.compute_readiness();
        self.effective_priority = self.compute_priority();
        self.want = if self.params.wants_master() {
            State::Master
        } else {
            State::Backup
        };
        if self.readiness.is_fault() {
            self.want = State::Fault;
        }
        let new_state = group_state.unwrap_or(self.want);
        let is_up = !self.readiness.is_fault();
        // Nobody (in the group) is waiting for a first script result.
        let no_init = self.readiness.is_ready() && group_state != Some(State::Init);

        if is_up
            && no_init
            && new_state == State::Master
            && self.params.is_owner()
            && self.want == State::Master
        {
            // "The simplest way to become master is to timeout from the backup state very
            // quickly (1usec)" — RFC 5798 §6.4.1: the owner goes straight to Master.
            self.state = State::Backup;
            self.ms_down_timer = Micros(1);
            self.next_master_reason = MasterReason::Preempted;
            out.push(Action::Transition {
                from: State::Init,
                to: State::Backup,
                reason: Reason::Startup,
            });
        } else {
            // RFC 5798 §6.4.1: Backup with Master_Down_Timer = Master_Down_Interval; a group
            // member wanting MASTER in a BACKUP group waits one interval to see a master.
            self.ms_down_timer = if new_state == State::Backup && self.want == State::Master {
                Micros(
                    centis(self.master_adver_int).0
                        + skew_time_min(self.params.version, self.master_adver_int).0,
                )
            } else {
                self.mdi()
            };
            self.next_master_reason = MasterReason::NoResponse;
            if is_up && no_init && new_state != State::Fault {
                self.enter(State::Backup, Reason::Startup, out);
            } else {
                let reason = match (&self.readiness, &self.sync) {
                    (Readiness::Fault(c), _) => Reason::Fault(c.clone()),
                    (Readiness::Pending { script }, _) => Reason::AwaitingScript(script.clone()),
                    (Readiness::Ready, Some(v)) => Reason::SyncGroup {
                        group: v.group.clone(),
                        member: None,
                    },
                    (Readiness::Ready, None) => Reason::Startup,
                };
                self.state = State::Fault;
                out.push(Action::Transition {
                    from: State::Init,
                    to: State::Fault,
                    reason,
                });
                // keepalived notifies a FAULT at startup only for a real fault.
                if self.readiness.is_fault() {
                    out.push(Action::Notify(State::Fault));
                    self.fault_notified = true;
                }
            }
        }
        self.init_sands(now);
    }

    /// Reload (SIGHUP): continue from `prev`, the running instance this one replaces
    /// (keepalived `restore_vrrp_state`). A master stays master with its addresses in place
    /// and advertises at once (`reload_master`); a backup stays backup with the master it knew
    /// and a fresh Master_Down_Timer; anything else, or an instance that is no longer ready,
    /// starts up as at boot. No transition is logged and nothing is notified for a kept state.
    pub fn resume(&mut self, now: Now, prev: &Instance) -> Vec<Action> {
        let mut out = Vec::new();
        self.resume_from(now, prev, None, &mut out);
        self.finish(&mut out);
        out
    }

    /// [`Instance::resume`] for a sync group member (`group_state`: the group's kept state).
    pub(crate) fn resume_from(
        &mut self,
        now: Now,
        prev: &Instance,
        group_state: Option<State>,
        out: &mut Vec<Action>,
    ) {
        if self.state != State::Init {
            return;
        }
        self.master_adver_int = self.params.advert_int;
        self.readiness = self.compute_readiness();
        self.effective_priority = self.compute_priority();
        let ready = self.readiness.is_ready();
        match prev.state {
            State::Master if ready && group_state.is_none_or(|g| g == State::Master) => {
                self.state = State::Master;
                self.want = State::Master;
                self.vips_set = prev.vips_set;
                self.garp_refresh = prev.garp_refresh;
                self.fault_notified = false;
                // keepalived `reload_master`: advertise now.
                self.sands = Some(now);
            }
            State::Backup if ready && group_state.is_none_or(|g| g == State::Backup) => {
                self.state = State::Backup;
                self.want = prev.want;
                self.master = prev.master;
                self.ms_down_timer = self.mdi();
                self.init_sands(now);
            }
            _ => {
                let start = out.len();
                self.startup(now, group_state, out);
                // keepalived `vrrp_init_state`: the state was restored from before the reload,
                // so an instance still in FAULT has not changed state - nothing to log or
                // notify (its notify_fault script does not run again).
                if prev.state == State::Fault && self.state == State::Fault {
                    let mut i = start;
                    while i < out.len() {
                        if matches!(
                            out[i],
                            Action::Transition {
                                to: State::Fault,
                                ..
                            } | Action::Notify(State::Fault)
                        ) {
                            out.remove(i);
                        } else {
                            i += 1;
                        }
                    }
                    self.fault_notified = prev.fault_notified;
                }
            }
        }
    }

    // ----- timers -----

    fn on_timer(&mut self, now: Now, out: &mut Vec<Action>) {
        if self.state == State::Init {
            return;
        }
        let mut due: Vec<(Now, TimerKind)> = self.timers().filter(|(at, _)| *at <= now).collect();
        due.sort();
        for (_, kind) in due {
            match kind {
                TimerKind::GarpDelayed => {
                    self.garp_delayed = None;
                    self.garp(self.params.garp.master_repeat, GarpCause::MasterDelay, out);
                }
                TimerKind::GarpLowerPrio => {
                    self.garp_lower_prio_delayed = None;
                    let rep = self.params.garp.lower_prio_repeat;
                    self.garp(rep, GarpCause::LowerPriorityDelay, out);
                }
                TimerKind::GarpRefresh => {
                    if self.vips_set {
                        let g = self.params.garp;
                        self.garp(g.master_refresh_repeat, GarpCause::Refresh, out);
                        self.garp_refresh = Some(now.add(g.master_refresh));
                    } else {
                        self.garp_refresh = None;
                    }
                }
                TimerKind::Sands => {
                    match self.state {
                        // RFC 5798 §6.4.2: "If the Master_Down_Timer fires ... transition
                        // to the Master state".
                        State::Backup => {
                            let reason = Reason::MasterDown(self.next_master_reason);
                            self.goto_master(now, reason, false, out);
                        }
                        // RFC 5798 §6.4.3: "If the Adver_Timer fires ... Send an
                        // ADVERTISEMENT; Reset the Adver_Timer".
                        State::Master => self.master_tx(now, out),
                        _ => {}
                    }
                    self.init_sands(now);
                }
            }
        }
    }

    // ----- Master entry and exit -----

    /// keepalived `vrrp_state_goto_master`. `forced`: a sync group decided already.
    fn goto_master(&mut self, now: Now, reason: Reason, forced: bool, out: &mut Vec<Action>) {
        if !forced && !self.can_goto_master() {
            // Held in Backup until every member of the group wants MASTER.
            self.want = State::Master;
            self.ms_down_timer = self.mdi();
            self.init_sands(now);
            return;
        }
        let from = self.state;
        self.state = State::Master;
        self.want = State::Master;
        out.push(Action::Transition {
            from,
            to: State::Master,
            reason,
        });
        self.init_sands(now);
        self.master_tx(now, out);
    }

    /// keepalived `vrrp_state_master_tx`: advertise first, so that the old master drops the
    /// VIPs before our gratuitous ARPs (RFC 5798 §6.4.2 transition actions).
    fn master_tx(&mut self, now: Now, out: &mut Vec<Action>) {
        out.push(Action::SendAdvert {
            priority: self.effective_priority,
        });
        if !self.vips_set {
            self.become_master(now, out);
        }
    }

    /// keepalived `vrrp_state_become_master` (the refresh timer as in 2.4: first at
    /// `garp_master_delay + garp_master_refresh`, then every `garp_master_refresh`).
    fn become_master(&mut self, now: Now, out: &mut Vec<Action>) {
        // As master, Master_Adver_Interval is our own Advertisement_Interval again.
        self.master_adver_int = self.params.advert_int;
        out.push(Action::AddVips);
        self.vips_set = true;
        let g = self.params.garp;
        self.garp(g.master_repeat, GarpCause::BecameMaster, out);
        if g.master_delay > Micros(0) {
            self.garp_delayed = Some(now.add(g.master_delay));
        }
        if g.master_refresh > Micros(0) {
            self.garp_refresh = Some(now.add(g.master_delay).add(g.master_refresh));
        }
        out.push(Action::Notify(State::Master));
        self.fault_notified = false;
    }

    /// keepalived `vrrp_restore_interface` without the advert: drop the VIPs and the
    /// pending GARPs.
    fn restore_interface(&mut self, out: &mut Vec<Action>) {
        self.garp_delayed = None;
        self.garp_lower_prio_delayed = None;
        self.garp_refresh = None;
        if self.vips_set {
            out.push(Action::RemoveVips);
            self.vips_set = false;
        }
    }

    /// keepalived `vrrp_state_leave_master` towards `self.want` (Backup or Fault).
    fn leave_master(&mut self, now: Now, reason: Reason, out: &mut Vec<Action>) {
        let to = if self.want == State::Fault {
            State::Fault
        } else {
            State::Backup
        };
        out.push(Action::Transition {
            from: State::Master,
            to,
            reason,
        });
        if to == State::Backup {
            self.preempt_time = None;
        } else {
            // Leaving for FAULT: tell the backups to take over at once (Skew_Time).
            out.push(Action::SendAdvert {
                priority: Priority(0),
            });
        }
        self.restore_interface(out);
        self.state = to;
        out.push(Action::Notify(to));
        self.fault_notified = to == State::Fault;
        self.ms_down_timer = self.mdi();
        self.init_sands(now);
    }

    /// keepalived `vrrp_state_leave_fault` towards `self.want`.
    fn leave_fault(&mut self, now: Now, reason: Reason, out: &mut Vec<Action>) {
        if self.want == State::Master {
            self.goto_master(now, reason, true, out);
        } else {
            let to = self.want;
            if self.state == State::Master && to == State::Fault {
                out.push(Action::SendAdvert {
                    priority: Priority(0),
                });
                self.restore_interface(out);
            }
            self.enter(to, reason, out);
            if to == State::Backup {
                self.preempt_time = None;
            }
        }
        self.master_adver_int = self.params.advert_int;
        self.ms_down_timer = self.mdi();
        self.init_sands(now);
    }

    // ----- advertisements -----

    fn on_advert(
        &mut self,
        now: Now,
        src: IpAddr,
        priority: Priority,
        max_adver_int: Centis,
        out: &mut Vec<Action>,
    ) {
        let ignore = |reason, out: &mut Vec<Action>| {
            out.push(Action::AdvertIgnored {
                src,
                priority,
                reason,
            })
        };
        if !matches!(self.state, State::Backup | State::Master) {
            return ignore(IgnoreReason::NotListening(self.state), out);
        }
        if self.params.owner_ignore_adverts && self.effective_priority.0 == 255 {
            return ignore(IgnoreReason::OwnerIgnoresAdverts, out);
        }
        // RFC 3768 §7.1: "MUST verify that the Adver Interval in the packet is the same as
        // the locally configured for this virtual router" (VRRPv2 only).
        if self.params.version == Version::V2 && max_adver_int != self.params.advert_int {
            let reason = IgnoreReason::IntervalMismatch {
                ours: self.params.advert_int,
                theirs: max_adver_int,
            };
            return ignore(reason, out);
        }
        match self.state {
            State::Backup => self.backup_rx(now, src, priority, max_adver_int, out),
            _ => self.master_rx(now, src, priority, max_adver_int, out),
        }
    }

    /// RFC 5798 §6.4.2 "If an ADVERTISEMENT is received" (keepalived `vrrp_state_backup`).
    fn backup_rx(
        &mut self,
        now: Now,
        src: IpAddr,
        priority: Priority,
        max_adver_int: Centis,
        out: &mut Vec<Action>,
    ) {
        let eff = self.effective_priority;
        let delaying =
            self.params.preempt_delay > Micros(0) && self.preempt_time.is_none_or(|t| t > now);
        if priority.0 == 0 {
            // "If the Priority in the ADVERTISEMENT is zero, then: Set the Master_Down_Timer
            // to Skew_Time".
            self.ms_down_timer = self.skew_time();
            self.next_master_reason = MasterReason::PriorityZero;
            self.init_sands(now);
        } else if self.params.nopreempt || priority >= eff || delaying {
            // "If Preempt_Mode is False, or if the Priority in the ADVERTISEMENT is greater
            // than or equal to the local Priority, then: Set Master_Adver_Interval to Adver
            // Interval contained in the ADVERTISEMENT; Recompute the Master_Down_Interval;
            // Reset the Master_Down_Timer to Master_Down_Interval". keepalived also accepts
            // lower priorities while preempt_delay runs.
            if self.params.version == Version::V3 {
                self.master_adver_int = max_adver_int;
            }
            self.ms_down_timer = self.mdi();
            self.master = Some((src, priority));
            self.next_master_reason = MasterReason::NoResponse;
            if self.params.preempt_delay > Micros(0) {
                if priority >= eff {
                    self.preempt_time = None;
                } else if self.preempt_time.is_none() {
                    self.preempt_time = Some(now.add(self.params.preempt_delay));
                }
            }
            // Held in Backup by a sync group, we no longer want MASTER.
            self.want = State::Backup;
            self.init_sands(now);
        } else {
            // "Otherwise, discard the ADVERTISEMENT": the down timer keeps running.
            self.next_master_reason = MasterReason::Preempted;
            self.master = Some((src, priority));
            if let Some(s) = self.sands {
                self.ms_down_timer = s.since(now);
            }
            out.push(Action::AdvertIgnored {
                src,
                priority,
                reason: IgnoreReason::LowerPriority,
            });
        }
    }

    /// RFC 5798 §6.4.3 "If an ADVERTISEMENT is received" (keepalived `vrrp_state_master_rx`).
    fn master_rx(
        &mut self,
        now: Now,
        src: IpAddr,
        priority: Priority,
        max_adver_int: Centis,
        out: &mut Vec<Action>,
    ) {
        use std::cmp::Ordering;
        let eff = self.effective_priority;
        let addr_cmp = super::sync::cmp_addr(src, self.source_addr);
        let theirs_wins = priority > eff || (priority == eff && addr_cmp == Ordering::Greater);

        if priority.0 == 0 || (self.params.higher_prio_send_advert && theirs_wins) {
            // "If the Priority in the ADVERTISEMENT is zero, then: Send an ADVERTISEMENT;
            // Reset the Adver_Timer". higher_prio_send_advert also answers a winner once.
            out.push(Action::SendAdvert { priority: eff });
            if priority.0 == 0 {
                return self.master_rx_done(now);
            }
        }
        if priority == eff {
            if addr_cmp == Ordering::Equal {
                out.push(Action::Warn(Warning::EqualPriorityOwnAddress { src }));
            } else if eff.0 == 255 {
                out.push(Action::Warn(Warning::BothAddressOwners { src }));
            }
        }
        if priority < eff || (priority == eff && addr_cmp == Ordering::Less) {
            // The RFC discards a lower-priority advert; keepalived re-asserts at once
            // ("forcing new election") unless lower_prio_no_advert, and refreshes ARP caches.
            if !self.params.lower_prio_no_advert {
                out.push(Action::SendAdvert { priority: eff });
            }
            let g = self.params.garp;
            if g.lower_prio_repeat > 0 && self.vips_set {
                self.garp(g.lower_prio_repeat, GarpCause::LowerPriority, out);
                if g.lower_prio_delay > Micros(0) {
                    self.garp_lower_prio_delayed = Some(now.add(g.lower_prio_delay));
                }
            }
            out.push(Action::NotifyMasterRxLowerPri);
            return self.master_rx_done(now);
        }
        if theirs_wins {
            // "If the Priority in the ADVERTISEMENT is greater than the local Priority, or
            // the Priority in the ADVERTISEMENT is equal to the local Priority and the primary
            // IP Address of the sender is greater than the local primary IP Address, then:
            // Cancel Adver_Timer; Set Master_Adver_Interval to Adver Interval contained in
            // the ADVERTISEMENT; Recompute the Skew_Time; Recompute the Master_Down_Interval;
            // Set Master_Down_Timer to Master_Down_Interval; Transition to the Backup state".
            if self.params.version == Version::V3 {
                self.master_adver_int = max_adver_int;
            }
            self.master = Some((src, priority));
            self.want = State::Backup;
            let reason = if priority > eff {
                Reason::HigherPriority { src, priority }
            } else {
                Reason::EqualPriorityHigherAddress { src }
            };
            return self.leave_master(now, reason, out);
        }
        // Equal priority from our own address: only the timer moves.
        self.master_rx_done(now);
    }

    /// keepalived resets a master's advert timer after any received advert, unless
    /// `lower_prio_no_advert` (vrrp_scheduler.c `vrrp_dispatcher_read`).
    fn master_rx_done(&mut self, now: Now) {
        if !self.params.lower_prio_no_advert {
            self.init_sands(now);
        }
    }

    // ----- tracking -----

    fn on_track(&mut self, now: Now, kind: TrackKind, name: &str, up: bool, out: &mut Vec<Action>) {
        let status = if up {
            TrackStatus::Up
        } else {
            TrackStatus::Down
        };
        if self.tracks.update(kind, name, status) {
            self.reevaluate(now, out);
        }
    }

    /// After a tracker or the source address changed: move the priority, then go down or
    /// come up (keepalived `vrrp_set_effective_priority`, `down_instance`, `try_up_instance`).
    fn reevaluate(&mut self, now: Now, out: &mut Vec<Action>) {
        self.set_effective_priority(out);
        let now_ready = self.compute_readiness();
        let before = std::mem::replace(&mut self.readiness, now_ready);
        if self.state == State::Init {
            return;
        }
        match (&before, self.readiness.clone()) {
            (Readiness::Fault(_), Readiness::Fault(_)) => {}
            (_, Readiness::Fault(cause)) => self.down_instance(now, cause, out),
            (Readiness::Ready, _) => {}
            (_, Readiness::Ready) => self.try_up(now, out),
            _ => {}
        }
    }

    fn set_effective_priority(&mut self, out: &mut Vec<Action>) {
        let new = self.compute_priority();
        let old = self.effective_priority;
        if new == old {
            return;
        }
        self.effective_priority = new;
        if self.state == State::Init {
            return;
        }
        // A Backup's running down timer moves by the change in Master_Down_Interval.
        let old_down = self.ms_down_timer;
        self.ms_down_timer = self.mdi();
        if self.state == State::Backup
            && let Some(s) = self.sands
        {
            self.sands = Some(if self.ms_down_timer >= old_down {
                s.add(Micros(self.ms_down_timer.0 - old_down.0))
            } else {
                s.sub(Micros(old_down.0 - self.ms_down_timer.0))
            });
        }
        out.push(Action::PriorityChanged { from: old, to: new });
    }

    /// keepalived `down_instance`.
    fn down_instance(&mut self, now: Now, cause: FaultCause, out: &mut Vec<Action>) {
        self.want = State::Fault;
        let reason = Reason::Fault(cause);
        match self.state {
            State::Master => self.leave_master(now, reason, out),
            State::Fault => {
                // Already in FAULT (awaiting a script, or held by the group): the fault is
                // now our own, so notify it once.
                if !self.fault_notified {
                    out.push(Action::Notify(State::Fault));
                    self.fault_notified = true;
                }
            }
            _ => self.leave_fault(now, reason, out),
        }
    }

    /// keepalived `try_up_instance`.
    fn try_up(&mut self, now: Now, out: &mut Vec<Action>) {
        if self.state != State::Fault {
            return;
        }
        // Only an owner still wanting MASTER (it never faulted, it awaited a script) keeps
        // that wish; down_instance() has set `want` to FAULT otherwise.
        if self.want == State::Master && self.params.is_owner() {
            self.want = State::Master;
            self.next_master_reason = MasterReason::Preempted;
        } else {
            self.want = State::Backup;
            self.next_master_reason = MasterReason::NoResponse;
        }
        self.master_adver_int = self.params.advert_int;
        if self.sync.as_ref().is_some_and(|v| v.others_not_ready) {
            // Our faults are gone but the group's are not: stay in FAULT.
            return;
        }
        let want = self.want;
        if want == State::Master && !self.can_goto_master() {
            self.want = State::Backup;
        }
        self.leave_fault(now, Reason::Recovered, out);
        self.want = want;
    }

    // ----- sync groups -----

    fn on_sync(&mut self, now: Now, command: SyncCommand, reason: Reason, out: &mut Vec<Action>) {
        if matches!(self.state, State::Init | State::Stop) {
            return;
        }
        match command {
            // vrrp_sync_master
            SyncCommand::Master if self.state != State::Master && self.readiness.is_ready() => {
                self.want = State::Master;
                self.goto_master(now, reason, true, out);
            }
            // vrrp_sync_backup
            SyncCommand::Backup if self.state != State::Backup && self.readiness.is_ready() => {
                self.want = State::Backup;
                if self.state == State::Master {
                    self.leave_master(now, reason, out);
                } else {
                    self.leave_fault(now, reason, out);
                }
            }
            // vrrp_sync_fault
            SyncCommand::Fault if self.state != State::Fault => {
                self.want = State::Fault;
                if self.state == State::Master {
                    self.leave_master(now, reason, out);
                } else {
                    self.leave_fault(now, reason, out);
                }
            }
            SyncCommand::LowerPriorityGarp => {
                let g = self.params.garp;
                if g.lower_prio_repeat > 0 && self.vips_set {
                    self.garp(g.lower_prio_repeat, GarpCause::LowerPriority, out);
                    if g.lower_prio_delay > Micros(0) {
                        self.garp_lower_prio_delayed = Some(now.add(g.lower_prio_delay));
                    }
                }
            }
            _ => {}
        }
    }

    // ----- shutdown -----

    /// keepalived `restore_vrrp_interfaces` + `notify_shutdown`: a master resigns with a
    /// priority-0 advert (RFC 5798 §6.4.3 "If a Shutdown event is received") and drops
    /// its VIPs; every instance notifies STOP.
    fn shutdown(&mut self, out: &mut Vec<Action>) {
        if self.state == State::Master {
            out.push(Action::SendAdvert {
                priority: Priority(0),
            });
        }
        self.restore_interface(out);
        self.sands = None;
        self.enter(State::Stop, Reason::Shutdown, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::diag::Loc;
    use crate::config::model::{IpAddress, Tracked, VrrpScript};

    const ME: [u8; 4] = [10, 0, 0, 1];
    const PEER_HI: [u8; 4] = [10, 0, 0, 2];
    const PEER_LO: [u8; 4] = [10, 0, 0, 0];

    fn ip(a: [u8; 4]) -> IpAddr {
        IpAddr::from(a)
    }

    fn base(name: &str, prio: u8, version: u8) -> VrrpInstance {
        let mut v = VrrpInstance::new(name.into(), Loc::default());
        v.vrid = Some(Vrid(51));
        v.interface = Some(("eth0".into(), Loc::default()));
        v.priority = Priority(prio);
        v.version = Some(version);
        v.vips.push(IpAddress {
            addr: IpAddr::from([192, 168, 1, 1]),
            prefix: 24,
            broadcast: None,
            dev: None,
            scope: None,
            label: None,
            peer: None,
            peer_prefix: None,
            flags: Vec::new(),
            preferred_lft: None,
            loc: Loc::default(),
        });
        v
    }

    fn build(cfg: &Config, v: &VrrpInstance) -> Instance {
        let mut i = Instance::new(cfg, v).expect("valid instance");
        i.handle(Now(0), Event::SourceAddress(Some(ip(ME))));
        i
    }

    fn advert(src: [u8; 4], prio: u8, int: u32) -> Event {
        Event::Advert {
            src: ip(src),
            priority: Priority(prio),
            max_adver_int: Centis(int),
        }
    }

    fn deadline(acts: &[Action]) -> Option<Option<Now>> {
        acts.iter().rev().find_map(|a| match a {
            Action::SetDeadline(d) => Some(*d),
            _ => None,
        })
    }

    #[test]
    fn rfc5798_6_4_1_backup_waits_master_down_interval() {
        let cfg = Config::default();
        let mut i = build(&cfg, &base("vi", 100, 2));
        let acts = i.handle(Now(1_000), Event::Startup);
        assert_eq!(i.state(), State::Backup);
        assert!(acts.contains(&Action::Notify(State::Backup)));
        assert_eq!(deadline(&acts), Some(Some(Now(1_000 + 3_609_375))));
        // Nothing happens a microsecond early.
        let acts = i.handle(Now(1_000 + 3_609_374), Event::Timer);
        assert_eq!(i.state(), State::Backup);
        assert!(acts.is_empty());
        let acts = i.handle(Now(1_000 + 3_609_375), Event::Timer);
        assert_eq!(i.state(), State::Master);
        assert_eq!(
            &acts[1..5],
            &[
                Action::SendAdvert {
                    priority: Priority(100)
                },
                Action::AddVips,
                Action::SendGratuitous {
                    repeat: 5,
                    cause: GarpCause::BecameMaster
                },
                Action::Notify(State::Master),
            ]
        );
    }

    #[test]
    fn rfc5798_6_4_2_priority_zero_sets_skew() {
        let cfg = Config::default();
        let mut i = build(&cfg, &base("vi", 254, 3));
        i.handle(Now(0), Event::Startup);
        let acts = i.handle(Now(500_000), advert(PEER_HI, 0, 100));
        assert_eq!(deadline(&acts), Some(Some(Now(500_000 + 7_812))));
    }

    #[test]
    fn tracked_script_weight_moves_priority_and_down_timer() {
        let mut cfg = Config::default();
        cfg.vrrp_scripts.push(VrrpScript {
            name: "chk".into(),
            script: None,
            interval: Micros::secs(1),
            timeout: None,
            weight: -60,
            weight_reverse: false,
            rise: 1,
            fall: 1,
            user: None,
            init_fail: false,
            loc: Loc::default(),
        });
        let mut v = base("vi", 100, 2);
        v.tracking.scripts.push(Tracked {
            name: "chk".into(),
            weight: None,
            reverse: false,
            loc: Loc::default(),
        });
        let mut i = build(&cfg, &v);
        i.handle(Now(0), Event::Startup);
        assert_eq!(i.effective_priority(), Priority(100));
        let acts = i.handle(
            Now(10),
            Event::TrackScript {
                name: "chk".into(),
                ok: false,
            },
        );
        assert_eq!(i.effective_priority(), Priority(40));
        assert!(acts.contains(&Action::PriorityChanged {
            from: Priority(100),
            to: Priority(40)
        }));
        // Skew grows from 156/256 s to 216/256 s: the deadline moves by the difference.
        assert_eq!(deadline(&acts), Some(Some(Now(3_000_000 + 843_750))));
    }

    #[test]
    fn master_resigns_on_shutdown() {
        let cfg = Config::default();
        let mut v = base("vi", 255, 2);
        v.state = InitialState::Master;
        let mut i = build(&cfg, &v);
        i.handle(Now(0), Event::Startup);
        i.handle(Now(1), Event::Timer);
        assert_eq!(i.state(), State::Master);
        let acts = i.handle(Now(2), Event::Shutdown);
        assert_eq!(
            acts,
            vec![
                Action::SendAdvert {
                    priority: Priority(0)
                },
                Action::RemoveVips,
                Action::Transition {
                    from: State::Master,
                    to: State::Stop,
                    reason: Reason::Shutdown
                },
                Action::Notify(State::Stop),
                Action::SetDeadline(None),
            ]
        );
        assert!(i.handle(Now(3), Event::Timer).is_empty());
    }

    #[test]
    fn lower_priority_tie_break_against_own_address() {
        let cfg = Config::default();
        let mut i = build(&cfg, &base("vi", 100, 2));
        i.handle(Now(0), Event::Startup);
        i.handle(Now(3_609_375), Event::Timer);
        let acts = i.handle(Now(3_700_000), advert(PEER_LO, 100, 100));
        assert_eq!(i.state(), State::Master);
        assert!(acts.contains(&Action::NotifyMasterRxLowerPri));
        let acts = i.handle(Now(3_800_000), advert(PEER_HI, 100, 100));
        assert_eq!(i.state(), State::Backup);
        assert!(acts.contains(&Action::Transition {
            from: State::Master,
            to: State::Backup,
            reason: Reason::EqualPriorityHigherAddress { src: ip(PEER_HI) }
        }));
    }

    #[test]
    fn v2_interval_mismatch_is_dropped() {
        let cfg = Config::default();
        let mut i = build(&cfg, &base("vi", 100, 2));
        i.handle(Now(0), Event::Startup);
        let acts = i.handle(Now(5), advert(PEER_HI, 200, 200));
        assert_eq!(
            acts,
            vec![Action::AdvertIgnored {
                src: ip(PEER_HI),
                priority: Priority(200),
                reason: IgnoreReason::IntervalMismatch {
                    ours: Centis(100),
                    theirs: Centis(200)
                }
            }]
        );
    }

    #[test]
    fn min_garp_and_lower_prio_defaults() {
        let mut cfg = Config::default();
        let v = base("vi", 100, 2);
        let p = Params::resolve(&cfg, &v).expect("params");
        assert_eq!(p.garp.lower_prio_repeat, 5);
        assert_eq!(p.garp.lower_prio_delay, Micros::secs(5));
        cfg.global.vrrp_min_garp = true;
        let p = Params::resolve(&cfg, &v).expect("params");
        assert_eq!(p.garp.master_repeat, 1);
        assert_eq!(p.garp.master_delay, Micros(0));
        assert_eq!(p.garp.master_refresh_repeat, 0);
        assert_eq!(p.garp.lower_prio_repeat, 1);
        assert_eq!(p.garp.lower_prio_delay, Micros(0));
    }

    #[test]
    fn no_source_address_is_a_fault() {
        let cfg = Config::default();
        let mut i = Instance::new(&cfg, &base("vi", 100, 2)).expect("valid");
        let acts = i.handle(Now(0), Event::Startup);
        assert_eq!(i.state(), State::Fault);
        assert!(acts.contains(&Action::Notify(State::Fault)));
        let acts = i.handle(Now(10), Event::SourceAddress(Some(ip(ME))));
        assert_eq!(i.state(), State::Backup);
        assert_eq!(deadline(&acts), Some(Some(Now(10 + 3_609_375))));
    }
}
