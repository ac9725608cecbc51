//! Tracking aggregation and `vrrp_sync_group` coordination for the VRRP core.
//!
//! - [`TrackSet`]: the objects one instance tracks (interfaces, scripts, files, processes,
//!   BFD sessions) with keepalived's weight rules; it yields the weight sum for the effective
//!   priority and whether a weight-0 object holds the instance in FAULT.
//! - [`ScriptTracker`]: `vrrp_script` rise/fall accounting (keepalived
//!   `vrrp_script_child_thread`); it turns raw script exits into the up/down reports that
//!   [`Event::TrackScript`] carries.
//! - [`SyncGroup`]: owns the member [`Instance`]s of one `vrrp_sync_group` and moves them
//!   together as keepalived's `vrrp_sync.c` does (one FAULT → all FAULT, one MASTER → all
//!   MASTER, one BACKUP → all BACKUP).
//!
//! Like the rest of the core this module must not do I/O or read a clock: it only routes
//! events and collects actions.

use std::net::IpAddr;

use super::fsm::{Action, BuildError, Event, Instance, Reason, State, SyncCommand, SyncView};
use super::timer::Now;
use crate::config::model::{self, Config, Tracked, VrrpInstance, VrrpScript};

// ===== tracking =====

/// What a tracker follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrackKind {
    /// An interface (`track_interface`, the instance's own interface, a VIP's `dev`).
    Interface,
    /// A `vrrp_script`.
    Script,
    /// A `track_file` value.
    File,
    /// A `vrrp_track_process` quorum.
    Process,
    /// A `bfd_instance` session.
    Bfd,
}

/// The last status reported for a tracked object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackStatus {
    /// Nothing reported yet (a script before its first run).
    Unknown,
    Up,
    Down,
    /// The number read from a tracked file.
    Value(i64),
}

/// How one tracker currently affects its instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackEffect {
    /// Adds this much to the base priority (possibly 0).
    Weight(i32),
    /// Holds the instance in FAULT.
    Fault,
    /// A weight-0 script that has not reported yet: the instance waits in FAULT, silently.
    Pending,
}

/// One object tracked by one instance, with the weight keepalived resolved for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracker {
    pub kind: TrackKind,
    pub name: String,
    /// 0: failure means FAULT. Otherwise -253..=253.
    pub weight: i32,
    /// `reverse`: the contribution is negated (and for weight 0, "up" is the failure).
    pub reverse: bool,
    pub status: TrackStatus,
}

impl Tracker {
    fn multiplier(&self) -> i64 {
        if self.reverse { -1 } else { 1 }
    }

    /// The tracker's effect, as keepalived's `initialise_*_tracking_priorities` and
    /// `process_update_*` compute it: a weighted object adds `weight` when up (positive
    /// weights) or when down (negative weights), negated by `reverse`; a weight-0 object
    /// faults the instance instead. A file contributes `value × weight`, clamped to
    /// -254..=253, and -254 (or, at weight 0, a non-zero value) is a fault.
    pub fn effect(&self) -> TrackEffect {
        let m = self.multiplier();
        let w = i64::from(self.weight);
        match (self.kind, self.status) {
            (TrackKind::File, TrackStatus::Value(v)) => {
                if w == 0 {
                    // keepalived: `!new_status != (multiplier == 1)` is a fault.
                    if (v != 0) != self.reverse {
                        TrackEffect::Fault
                    } else {
                        TrackEffect::Weight(0)
                    }
                } else {
                    let s = v.saturating_mul(w).saturating_mul(m).clamp(-254, 253);
                    if s == -254 {
                        TrackEffect::Fault
                    } else {
                        TrackEffect::Weight(s as i32)
                    }
                }
            }
            (_, TrackStatus::Unknown) => {
                if w == 0 && self.kind == TrackKind::Script {
                    TrackEffect::Pending
                } else {
                    TrackEffect::Weight(0)
                }
            }
            (_, status) => {
                let up = match status {
                    TrackStatus::Up => true,
                    TrackStatus::Down => false,
                    // A value reported for a non-file object: non-zero is "up".
                    TrackStatus::Value(v) => v != 0,
                    TrackStatus::Unknown => unreachable!("handled above"),
                };
                if w == 0 {
                    // keepalived: up when `now_up == (multiplier == 1)`.
                    if up == self.reverse {
                        TrackEffect::Fault
                    } else {
                        TrackEffect::Weight(0)
                    }
                } else if (w > 0) == up {
                    TrackEffect::Weight((w * m) as i32)
                } else {
                    TrackEffect::Weight(0)
                }
            }
        }
    }
}

/// Why an instance cannot run.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FaultCause {
    /// A weight-0 tracked object failed (or a weighted file reached -254).
    Tracked { kind: TrackKind, name: String },
    /// No address to send adverts from (keepalived: "no IPv4 address for interface").
    NoSourceAddress,
}

/// Whether an instance's own conditions let it run (sync groups aside).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// Waiting for the first result of this weight-0 script (keepalived `num_script_init`).
    Pending {
        script: String,
    },
    Fault(FaultCause),
}

impl Readiness {
    pub fn is_ready(&self) -> bool {
        matches!(self, Readiness::Ready)
    }

    pub fn is_fault(&self) -> bool {
        matches!(self, Readiness::Fault(_))
    }
}

/// The tracked objects of one instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrackSet {
    trackers: Vec<Tracker>,
}

/// keepalived caps configured weights at ±253 (±254 is accepted with a warning).
fn clamp_weight(w: i32) -> i32 {
    w.clamp(-253, 253)
}

impl TrackSet {
    pub fn new() -> Self {
        TrackSet::default()
    }

    /// Add a tracker, merging with an existing one for the same object as keepalived's
    /// `add_vrrp_to_interface`/`add_vrrp_to_track_script` do: a later registration replaces
    /// the weight unless the existing one is unweighted (weight 0 wins).
    pub fn add(&mut self, kind: TrackKind, name: &str, weight: i32, reverse: bool) {
        let status = match kind {
            TrackKind::Interface => TrackStatus::Up,
            TrackKind::File => TrackStatus::Value(0),
            _ => TrackStatus::Unknown,
        };
        self.add_with_status(kind, name, weight, reverse, status);
    }

    /// [`TrackSet::add`] with an initial status (e.g. `init_fail` scripts start Down).
    pub fn add_with_status(
        &mut self,
        kind: TrackKind,
        name: &str,
        weight: i32,
        reverse: bool,
        status: TrackStatus,
    ) {
        let weight = clamp_weight(weight);
        if let Some(t) = self
            .trackers
            .iter_mut()
            .find(|t| t.kind == kind && t.name == name)
        {
            if t.weight != 0 {
                t.weight = weight;
                t.reverse = reverse;
            }
            return;
        }
        self.trackers.push(Tracker {
            kind,
            name: name.to_string(),
            weight,
            reverse,
            status,
        });
    }

    /// Record a new status; `false` if the object is not tracked or nothing changed.
    pub fn update(&mut self, kind: TrackKind, name: &str, status: TrackStatus) -> bool {
        match self
            .trackers
            .iter_mut()
            .find(|t| t.kind == kind && t.name == name)
        {
            Some(t) if t.status != status => {
                t.status = status;
                true
            }
            _ => false,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &Tracker> {
        self.trackers.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.trackers.is_empty()
    }

    /// The sum of the weighted contributions (keepalived `total_priority - base_priority`).
    pub fn weight_sum(&self) -> i64 {
        self.trackers
            .iter()
            .map(|t| match t.effect() {
                TrackEffect::Weight(w) => i64::from(w),
                _ => 0,
            })
            .sum()
    }

    /// The first tracker holding the instance in FAULT.
    pub fn first_fault(&self) -> Option<FaultCause> {
        self.trackers
            .iter()
            .find(|t| t.effect() == TrackEffect::Fault)
            .map(|t| FaultCause::Tracked {
                kind: t.kind,
                name: t.name.clone(),
            })
    }

    /// The first weight-0 script still awaiting its first result.
    pub fn first_pending(&self) -> Option<String> {
        self.trackers
            .iter()
            .find(|t| t.effect() == TrackEffect::Pending)
            .map(|t| t.name.clone())
    }

    /// The trackers keepalived (`vrrp_complete_instance`, `sync_group_tracking_init`) gives
    /// `inst`, in its order:
    /// 1. `track_interface`/`track_script`/`track_file`/`track_process`/`track_bfd` of the
    ///    instance. Weights are dropped for the address owner (weighted objects are not
    ///    tracked at all, a default-weight file becomes unweighted) and, for members of a
    ///    sync group without `sync_group_tracking_weight`, interface weights become 0 and
    ///    weighted scripts/processes/BFDs are not tracked.
    /// 2. the sync group's tracked objects, weight 0 if any member is the address owner.
    /// 3. the instance's own interface (unless `dont_track_primary`), the `dev` of every
    ///    VIP/eVIP and the `dev` of every virtual route without `no_track`, all weight 0.
    pub fn for_instance(cfg: &Config, inst: &VrrpInstance) -> TrackSet {
        let mut set = TrackSet::new();
        let owner = inst.priority.0 == 255;
        let group = group_of(cfg, &inst.name);
        let sync_no_weight = group.is_some_and(|g| !g.sync_group_tracking_weight);
        let strip = owner || sync_no_weight;
        let primary = inst.interface.as_ref().map(|(n, _)| n.as_str());

        let t = &inst.tracking;
        for tr in &t.interfaces {
            // keepalived ignores a track_interface naming the instance's own interface.
            if Some(tr.name.as_str()) == primary {
                continue;
            }
            let w = tr.weight.unwrap_or(0);
            if w != 0 && owner {
                continue;
            }
            let w = if sync_no_weight { 0 } else { w };
            set.add(TrackKind::Interface, &tr.name, w, tr.reverse);
        }
        for tr in &t.scripts {
            let Some((w, rev, init_fail)) = script_weight(cfg, tr) else {
                continue;
            };
            if strip && w != 0 {
                continue;
            }
            set.add_script(&tr.name, w, rev, init_fail);
        }
        for tr in &t.files {
            let Some((w, rev, init)) = file_weight(cfg, tr) else {
                continue;
            };
            let w = match (strip, w) {
                (true, 1) => 0, // the default weight: "specify weight 0"
                (true, 0) | (false, _) => w,
                (true, _) => continue,
            };
            set.add_with_status(TrackKind::File, &tr.name, w, rev, TrackStatus::Value(init));
        }
        for tr in &t.processes {
            let Some((w, rev)) = process_weight(cfg, tr) else {
                continue;
            };
            if strip && w != 0 {
                continue;
            }
            set.add(TrackKind::Process, &tr.name, w, rev);
        }
        for tr in &t.bfds {
            let Some((w, rev)) = bfd_weight(cfg, tr) else {
                continue;
            };
            if strip && w != 0 {
                continue;
            }
            set.add(TrackKind::Bfd, &tr.name, w, rev);
        }

        if let Some(g) = group {
            let group_owner = g.members.iter().any(|(m, _)| {
                cfg.instances
                    .iter()
                    .any(|i| &i.name == m && i.priority.0 == 255)
            });
            let gw = |w: i32| if group_owner { 0 } else { w };
            for tr in &g.tracking.scripts {
                if let Some((w, rev, init_fail)) = script_weight(cfg, tr) {
                    set.add_script(&tr.name, gw(w), rev, init_fail);
                }
            }
            for tr in &g.tracking.files {
                if let Some((w, rev, init)) = file_weight(cfg, tr) {
                    set.add_with_status(
                        TrackKind::File,
                        &tr.name,
                        gw(w),
                        rev,
                        TrackStatus::Value(init),
                    );
                }
            }
            for tr in &g.tracking.processes {
                if let Some((w, rev)) = process_weight(cfg, tr) {
                    set.add(TrackKind::Process, &tr.name, gw(w), rev);
                }
            }
            for tr in &g.tracking.bfds {
                if let Some((w, rev)) = bfd_weight(cfg, tr) {
                    set.add(TrackKind::Bfd, &tr.name, gw(w), rev);
                }
            }
            for tr in &g.tracking.interfaces {
                set.add(
                    TrackKind::Interface,
                    &tr.name,
                    gw(tr.weight.unwrap_or(0)),
                    tr.reverse,
                );
            }
        }

        if let Some(p) = primary
            && !inst.dont_track_primary
        {
            set.add(TrackKind::Interface, p, 0, false);
        }
        for a in inst.vips.iter().chain(&inst.evips) {
            let Some(dev) = a.dev.as_deref() else {
                continue;
            };
            if a.flags.iter().any(|f| f == "no_track")
                || (inst.dont_track_primary && Some(dev) == primary)
            {
                continue;
            }
            set.add(TrackKind::Interface, dev, 0, false);
        }
        for r in &inst.virtual_routes {
            if let Some(dev) = r.dev.as_deref()
                && !r.words.iter().any(|w| w == "no_track")
            {
                set.add(TrackKind::Interface, dev, 0, false);
            }
        }
        set
    }

    fn add_script(&mut self, name: &str, weight: i32, reverse: bool, init_fail: bool) {
        let status = if init_fail {
            TrackStatus::Down
        } else {
            TrackStatus::Unknown
        };
        self.add_with_status(TrackKind::Script, name, weight, reverse, status);
    }
}

/// The sync group `name` belongs to, if any.
pub(super) fn group_of<'a>(cfg: &'a Config, name: &str) -> Option<&'a model::SyncGroup> {
    cfg.sync_groups
        .iter()
        .find(|g| g.members.iter().any(|(m, _)| m == name))
}

/// `track_script NAME [weight W [reverse|noreverse]]`: without a weight the script's own
/// `weight [reverse]` applies (keepalived `alloc_track_script`).
fn script_weight(cfg: &Config, tr: &Tracked) -> Option<(i32, bool, bool)> {
    let s = cfg.vrrp_scripts.iter().find(|s| s.name == tr.name)?;
    Some(match tr.weight {
        Some(w) => (w, tr.reverse, s.init_fail),
        None => (s.weight, s.weight_reverse, s.init_fail),
    })
}

/// `track_file NAME [weight W [reverse]]`, with the file's initial value (`init_file`).
fn file_weight(cfg: &Config, tr: &Tracked) -> Option<(i32, bool, i64)> {
    let f = cfg.track_files.iter().find(|f| f.name == tr.name)?;
    let init = f.init_file.and_then(|(v, _)| v).unwrap_or(0);
    Some(match tr.weight {
        Some(w) => (w, tr.reverse, init),
        None => (f.weight, f.weight_reverse, init),
    })
}

fn process_weight(cfg: &Config, tr: &Tracked) -> Option<(i32, bool)> {
    let p = cfg.track_processes.iter().find(|p| p.name == tr.name)?;
    Some(match tr.weight {
        Some(w) => (w, tr.reverse),
        None => (p.weight, p.weight_reverse),
    })
}

fn bfd_weight(cfg: &Config, tr: &Tracked) -> Option<(i32, bool)> {
    let b = cfg.bfd_instances.iter().find(|b| b.name == tr.name)?;
    Some(match tr.weight {
        Some(w) => (w, tr.reverse),
        None => (b.weight, false),
    })
}

// ===== vrrp_script rise/fall =====

/// `vrrp_script` rise/fall accounting (keepalived `vrrp_script_child_thread`).
///
/// `result` runs from 0 to `rise + fall - 1`; the script counts as up from `rise` upwards.
/// A fresh script starts at `rise - 1`, so its first success reports it up; `init_fail`
/// starts it at 0 (down, with no report until it rises).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptTracker {
    name: String,
    rise: u32,
    fall: u32,
    result: u32,
    /// No run has completed yet (keepalived `SCRIPT_INIT_STATE_INIT`).
    initial: bool,
}

impl ScriptTracker {
    pub fn new(script: &VrrpScript) -> Self {
        ScriptTracker::with(&script.name, script.rise, script.fall, script.init_fail)
    }

    pub fn with(name: &str, rise: u32, fall: u32, init_fail: bool) -> Self {
        let rise = rise.max(1);
        ScriptTracker {
            name: name.to_string(),
            rise,
            fall: fall.max(1),
            result: if init_fail { 0 } else { rise - 1 },
            initial: !init_fail,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the script currently counts as up.
    pub fn is_up(&self) -> bool {
        self.result >= self.rise
    }

    /// Record one completed run (`success`: exit status 0). Returns `Some(up)` when the
    /// tracked status must be reported, i.e. when it changed or on the first result.
    pub fn record(&mut self, success: bool) -> Option<bool> {
        let top = self.rise + self.fall - 1;
        let report = if success {
            if self.result < self.rise - 1 {
                self.result += 1;
                None
            } else if self.result != top {
                let rising = self.result < self.rise;
                self.result = top;
                rising.then_some(true)
            } else {
                None
            }
        } else if self.result > self.rise {
            self.result -= 1;
            None
        } else {
            let falling = self.result == self.rise || self.initial;
            self.result = 0;
            falling.then_some(false)
        };
        self.initial = false;
        report
    }

    /// The event to feed the instances for a report from [`ScriptTracker::record`].
    pub fn event(&self, up: bool) -> Event {
        Event::TrackScript {
            name: self.name.clone(),
            ok: up,
        }
    }
}

// ===== sync groups =====

/// What a sync group emits: member actions (by index into [`SyncGroup::members`]) and the
/// group's own transitions and notifications (`notify_master` etc. of the group).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupAction {
    Member {
        index: usize,
        action: Action,
    },
    Transition {
        from: State,
        to: State,
        reason: Reason,
    },
    Notify(State),
}

/// A `vrrp_sync_group`: it owns its members and keeps them in step. Members must be driven
/// only through the group, so that every member sees the group's view.
#[derive(Debug, Clone)]
pub struct SyncGroup {
    name: String,
    members: Vec<Instance>,
    state: State,
}

impl SyncGroup {
    /// Build the group and its member instances from the configuration.
    pub fn new(cfg: &Config, group: &model::SyncGroup) -> Result<SyncGroup, BuildError> {
        let mut members = Vec::new();
        for (name, _) in &group.members {
            let inst = cfg
                .instances
                .iter()
                .find(|i| &i.name == name)
                .ok_or_else(|| BuildError::UnknownInstance(name.clone()))?;
            members.push(Instance::new(cfg, inst)?);
        }
        if members.is_empty() {
            return Err(BuildError::EmptySyncGroup(group.name.clone()));
        }
        Ok(SyncGroup::from_instances(&group.name, members))
    }

    /// A group over already-built instances.
    ///
    /// keepalived's `vrrp_complete_init`: a group can start as MASTER only when every member
    /// is an address owner configured `state MASTER`. If one member wants MASTER and another
    /// does not or is not an owner, every member's `state MASTER` is turned into BACKUP, so
    /// the members wait a whole Master_Down_Interval for a master (measured with keepalived
    /// 2.2.7: a non-owner `state MASTER` group took over after about 3.6 s, not one
    /// advert interval).
    pub fn from_instances(name: &str, mut members: Vec<Instance>) -> SyncGroup {
        let wants_master = members.iter().any(|m| m.params().wants_master());
        let backup_or_non_owner = members
            .iter()
            .any(|m| !m.params().wants_master() || !m.params().is_owner());
        if wants_master && backup_or_non_owner {
            for m in &mut members {
                m.demote_initial_master();
            }
        }
        SyncGroup {
            name: name.to_string(),
            members,
            state: State::Init,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The group state (keepalived `sgroup->state`).
    pub fn state(&self) -> State {
        self.state
    }

    pub fn members(&self) -> &[Instance] {
        &self.members
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.members.iter().position(|m| m.params().name == name)
    }

    /// The earliest deadline of any member.
    pub fn next_deadline(&self) -> Option<Now> {
        self.members
            .iter()
            .filter_map(Instance::next_deadline)
            .min()
    }

    /// Deliver `event` to every member (startup, timers, tracking, shutdown).
    pub fn handle(&mut self, now: Now, event: Event) -> Vec<GroupAction> {
        let mut out = Vec::new();
        match event {
            Event::Startup => self.startup(now, &mut out),
            Event::Shutdown => {
                for i in 0..self.members.len() {
                    self.deliver_plain(now, i, Event::Shutdown, &mut out);
                }
                self.set_state(State::Stop, Reason::Shutdown, &mut out);
            }
            ev => {
                for i in 0..self.members.len() {
                    self.deliver(now, i, ev.clone(), &mut out);
                }
            }
        }
        out
    }

    /// Reload (SIGHUP): continue from `prev`, the group this one replaces. Members found in
    /// `prev` (by name) keep their state as [`Instance::resume`] describes; the others start
    /// in the group's kept state.
    pub fn resume(&mut self, now: Now, prev: &SyncGroup) -> Vec<GroupAction> {
        let mut out = Vec::new();
        if self.state != State::Init {
            return out;
        }
        if !matches!(prev.state, State::Master | State::Backup) {
            self.startup(now, &mut out);
            return out;
        }
        self.state = prev.state;
        for i in 0..self.members.len() {
            let view = self.view_for(i);
            let old = prev
                .members
                .iter()
                .find(|m| m.params().name == self.members[i].params().name);
            let m = &mut self.members[i];
            m.sync = Some(view);
            let mut acts = Vec::new();
            match old {
                Some(old) => m.resume_from(now, old, Some(self.state), &mut acts),
                None => m.startup(now, Some(self.state), &mut acts),
            }
            m.finish(&mut acts);
            Self::collect(&mut out, i, acts);
        }
        out
    }

    /// Deliver `event` (typically an advertisement) to one member.
    pub fn handle_member(&mut self, now: Now, index: usize, event: Event) -> Vec<GroupAction> {
        let mut out = Vec::new();
        if index < self.members.len() {
            self.deliver(now, index, event, &mut out);
        }
        out
    }

    fn view_for(&self, i: usize) -> SyncView {
        let others = || {
            self.members
                .iter()
                .enumerate()
                .filter(move |(j, _)| *j != i)
        };
        SyncView {
            group: self.name.clone(),
            // keepalived `vrrp_sync_can_goto_master`: only if everyone wants to.
            can_goto_master: self.state == State::Master
                || others().all(|(_, m)| m.want() == State::Master),
            others_not_ready: others().any(|(_, m)| !m.readiness().is_ready()),
        }
    }

    fn set_state(&mut self, to: State, reason: Reason, out: &mut Vec<GroupAction>) {
        let from = self.state;
        self.state = to;
        out.push(GroupAction::Transition { from, to, reason });
        out.push(GroupAction::Notify(to));
    }

    fn collect(out: &mut Vec<GroupAction>, index: usize, actions: Vec<Action>) {
        out.extend(
            actions
                .into_iter()
                .map(|action| GroupAction::Member { index, action }),
        );
    }

    fn deliver_plain(&mut self, now: Now, i: usize, event: Event, out: &mut Vec<GroupAction>) {
        let view = self.view_for(i);
        let m = &mut self.members[i];
        m.sync = Some(view);
        let acts = m.handle(now, event);
        Self::collect(out, i, acts);
    }

    /// keepalived `vrrp_init_state` for a group: the group state comes first (FAULT if a
    /// member is faulty, INIT while a member awaits a script, MASTER if every member is an
    /// address owner wanting MASTER, else BACKUP), then each member starts from it.
    fn startup(&mut self, now: Now, out: &mut Vec<GroupAction>) {
        if self.state != State::Init {
            return;
        }
        let mut state = State::Backup;
        if self
            .members
            .iter()
            .all(|m| m.params().is_owner() && m.params().wants_master())
        {
            state = State::Master;
        }
        for m in &self.members {
            match m.readiness() {
                Readiness::Fault(_) => state = State::Fault,
                Readiness::Pending { .. } if state != State::Fault => state = State::Init,
                _ => {}
            }
        }
        if state != State::Init {
            self.set_state(state, Reason::Startup, out);
        }
        for i in 0..self.members.len() {
            let view = self.view_for(i);
            let m = &mut self.members[i];
            m.sync = Some(view);
            let mut acts = Vec::new();
            m.startup(now, Some(state), &mut acts);
            m.finish(&mut acts);
            Self::collect(out, i, acts);
        }
    }

    /// Deliver one event to member `i`, then apply keepalived's sync transitions
    /// (`VRRP_TSM` in vrrp_scheduler.c, `down_instance`, `try_up_instance`).
    fn deliver(&mut self, now: Now, i: usize, event: Event, out: &mut Vec<GroupAction>) {
        let prev = self.members[i].state();
        let start = out.len();
        self.deliver_plain(now, i, event, out);
        let lower_prio = out[start..].iter().any(|a| {
            matches!(
                a,
                GroupAction::Member {
                    action: Action::NotifyMasterRxLowerPri,
                    ..
                }
            )
        });
        let m = &self.members[i];
        let cur = m.state();
        let member = Some(m.params().name.clone());
        let reason = Reason::SyncGroup {
            group: self.name.clone(),
            member,
        };

        if cur == State::Fault && m.readiness().is_fault() && self.state != State::Fault {
            // vrrp_sync_fault: one member down takes the whole group down.
            self.force_others(now, i, SyncCommand::Fault, out);
            self.set_state(State::Fault, reason, out);
        } else if cur == State::Master && prev != State::Master && self.state != State::Master {
            // vrrp_sync_master (TSM BACKUP→MASTER, FAULT→MASTER).
            self.force_others(now, i, SyncCommand::Master, out);
            self.set_state(State::Master, reason, out);
        } else if cur == State::Backup && prev != State::Backup && self.state != State::Backup {
            // vrrp_sync_backup (TSM MASTER→BACKUP, and a member coming up from FAULT).
            self.force_others(now, i, SyncCommand::Backup, out);
            self.set_state(State::Backup, reason, out);
        }

        if lower_prio {
            // vrrp_state_master_rx: the other members refresh ARP caches too.
            self.force_others(now, i, SyncCommand::LowerPriorityGarp, out);
        }
    }

    fn force_others(
        &mut self,
        now: Now,
        i: usize,
        command: SyncCommand,
        out: &mut Vec<GroupAction>,
    ) {
        let member = self.members[i].params().name.clone();
        for j in 0..self.members.len() {
            if j == i {
                continue;
            }
            let ev = Event::Sync {
                group: self.name.clone(),
                member: member.clone(),
                command,
            };
            self.deliver_plain(now, j, ev, out);
        }
    }
}

/// Addresses compared for the RFC 5798 §6.4.3 tie-break: only within one family.
pub(super) fn cmp_addr(theirs: IpAddr, ours: Option<IpAddr>) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (theirs, ours) {
        (IpAddr::V4(a), Some(IpAddr::V4(b))) => a.cmp(&b),
        (IpAddr::V6(a), Some(IpAddr::V6(b))) => a.cmp(&b),
        _ => Ordering::Equal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tr(kind: TrackKind, weight: i32, reverse: bool, status: TrackStatus) -> Tracker {
        Tracker {
            kind,
            name: "x".into(),
            weight,
            reverse,
            status,
        }
    }

    #[test]
    fn weighted_bool_tracker_contributions() {
        use TrackEffect::Weight;
        use TrackKind::Script as S;
        use TrackStatus::{Down, Up};
        assert_eq!(tr(S, 20, false, Up).effect(), Weight(20));
        assert_eq!(tr(S, 20, false, Down).effect(), Weight(0));
        assert_eq!(tr(S, -20, false, Up).effect(), Weight(0));
        assert_eq!(tr(S, -20, false, Down).effect(), Weight(-20));
        assert_eq!(tr(S, 20, true, Up).effect(), Weight(-20));
        assert_eq!(tr(S, 20, true, Down).effect(), Weight(0));
        assert_eq!(tr(S, -20, true, Down).effect(), Weight(20));
        assert_eq!(tr(S, 20, false, TrackStatus::Unknown).effect(), Weight(0));
    }

    #[test]
    fn weight_zero_faults_and_pending() {
        use TrackStatus::{Down, Unknown, Up};
        assert_eq!(
            tr(TrackKind::Interface, 0, false, Down).effect(),
            TrackEffect::Fault
        );
        assert_eq!(
            tr(TrackKind::Interface, 0, true, Up).effect(),
            TrackEffect::Fault
        );
        assert_eq!(
            tr(TrackKind::Interface, 0, true, Down).effect(),
            TrackEffect::Weight(0)
        );
        assert_eq!(
            tr(TrackKind::Script, 0, false, Unknown).effect(),
            TrackEffect::Pending
        );
        assert_eq!(
            tr(TrackKind::Process, 0, false, Unknown).effect(),
            TrackEffect::Weight(0)
        );
    }

    #[test]
    fn file_values() {
        let f = |w, rev, v| tr(TrackKind::File, w, rev, TrackStatus::Value(v)).effect();
        assert_eq!(f(0, false, 0), TrackEffect::Weight(0));
        assert_eq!(f(0, false, 3), TrackEffect::Fault);
        assert_eq!(f(0, true, 0), TrackEffect::Fault);
        assert_eq!(f(1, false, 30), TrackEffect::Weight(30));
        assert_eq!(f(10, false, 30), TrackEffect::Weight(253));
        assert_eq!(f(2, true, 30), TrackEffect::Weight(-60));
        assert_eq!(f(1, false, -254), TrackEffect::Fault);
        assert_eq!(f(1, false, -1000), TrackEffect::Fault);
        assert_eq!(f(1, false, -253), TrackEffect::Weight(-253));
    }

    #[test]
    fn merge_keeps_weight_zero() {
        let mut s = TrackSet::new();
        s.add(TrackKind::Interface, "eth1", -30, false);
        s.add(TrackKind::Interface, "eth1", 0, false);
        s.add(TrackKind::Interface, "eth1", 50, false);
        assert_eq!(s.iter().count(), 1);
        assert_eq!(s.iter().next().map(|t| t.weight), Some(0));
        s.add(TrackKind::Script, "chk", 300, false);
        assert_eq!(s.iter().nth(1).map(|t| t.weight), Some(253));
    }

    #[test]
    fn script_rise_fall() {
        // rise 2, fall 3: first success reports up at once (init), then three failures
        // are needed to report down, and two successes to come back.
        let mut s = ScriptTracker::with("chk", 2, 3, false);
        assert!(!s.is_up());
        assert_eq!(s.record(true), Some(true));
        assert!(s.is_up());
        assert_eq!(s.record(false), None);
        assert_eq!(s.record(false), None);
        assert_eq!(s.record(false), Some(false));
        assert_eq!(s.record(false), None);
        assert_eq!(s.record(true), None);
        assert_eq!(s.record(true), Some(true));
        assert_eq!(s.record(true), None);
    }

    #[test]
    fn script_first_result_failure_is_reported() {
        let mut s = ScriptTracker::with("chk", 3, 1, false);
        assert_eq!(s.record(false), Some(false));
        assert_eq!(s.record(false), None);
        assert_eq!(s.record(true), None);
        assert_eq!(s.record(true), None);
        assert_eq!(s.record(true), Some(true));
        assert_eq!(s.record(false), Some(false));
    }

    #[test]
    fn script_init_fail_starts_down_silently() {
        let mut s = ScriptTracker::with("chk", 1, 1, true);
        assert!(!s.is_up());
        assert_eq!(s.record(false), None);
        assert_eq!(s.record(true), Some(true));
    }
}
