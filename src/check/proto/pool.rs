//! Real-server and virtual-server state: what keepalived's check/ipwrapper.c decides when a
//! checker changes state, as a pure state machine.
//!
//! A real server is alive when none of its checkers is failing (`num_failed_checkers == 0`).
//! Its effective weight is its configured weight plus what MISC_CHECK `misc_dynamic` and
//! FILE_CHECK contribute. A virtual server has quorum while the sum of its alive real
//! servers' weights stays at or above `quorum - hysteresis` (and regains it at
//! `quorum + hysteresis`). Without quorum its sorry server, if any, replaces the real servers.
//!
//! Instead of replaying keepalived's sequence of IPVS commands, the pool describes the
//! destinations IPVS must hold ([`Pool::table`]); the rules below are those of ipvswrapper.c
//! `ipvs_cmd` (a deleted destination with `inhibit_on_failure` stays with weight 0).

use std::net::IpAddr;

use tracing::info;

/// Index of a checker (a probe, possibly shared by several real servers).
pub type CheckerId = usize;

/// One checker of one real server, as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotSpec {
    pub checker: CheckerId,
    /// The checker's state before it has run (`false` with `alpha`).
    pub initially_up: bool,
    /// keepalived's `checker->alpha`: a first failure still notifies.
    pub alpha: bool,
}

/// A real server, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsSpec {
    pub addr: IpAddr,
    pub port: u16,
    pub weight: i64,
    pub inhibit: bool,
    pub slots: Vec<SlotSpec>,
}

/// A sorry server, as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SorrySpec {
    pub addr: IpAddr,
    pub port: u16,
    pub weight: u32,
    pub inhibit: bool,
}

/// A virtual server, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VsSpec {
    pub quorum: u32,
    pub hysteresis: u32,
    pub omega: bool,
    pub sorry: Option<SorrySpec>,
    pub real_servers: Vec<RsSpec>,
}

/// How a checker changes a real server's weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightChange {
    /// MISC_CHECK `misc_dynamic` exit status `n` ≥ 2: the real server's weight becomes
    /// `n - 2` (keepalived: `cur_weight = status - 2 - iweight`).
    Absolute(i64),
    /// The checker contributes this much to the weight (FILE_CHECK, or 0 to withdraw).
    Relative(i64),
}

/// Inputs to the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Cold start: put alive servers in, compute quorum (keepalived `init_services`).
    Init,
    /// A checker's `update_svr_checker_state`.
    Checker {
        id: CheckerId,
        up: bool,
        changed: bool,
        first: bool,
    },
    /// A checker's weight contribution changed. `requorum` is false where keepalived
    /// assigns the weight without re-evaluating quorum (a failing MISC_CHECK dropping its
    /// dynamic weight just before the real server goes down).
    Weight {
        id: CheckerId,
        change: WeightChange,
        requorum: bool,
    },
    /// The checker process is stopping (keepalived `clear_services`).
    Shutdown,
}

/// Effects for the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Run the real server's `notify_up` / `notify_down` and write the `RS ...` FIFO line.
    RsNotify { vs: usize, rs: usize, up: bool },
    /// Run `quorum_up` / `quorum_down` and write the `VS ...` FIFO line.
    VsNotify { vs: usize, up: bool, init: bool },
    /// The destination table changed: publish [`Pool::table`].
    TableChanged,
}

/// Which configured server a destination is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DestRole {
    Real(usize),
    Sorry,
}

/// One IPVS destination the checker wants installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Dest {
    pub role: DestRole,
    pub addr: IpAddr,
    pub port: u16,
    pub weight: u32,
    /// The real server is alive (false for an inhibited one held at weight 0).
    pub alive: bool,
}

/// The destinations of one virtual server.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServiceTable {
    pub quorum_up: bool,
    pub sorry_active: bool,
    pub dests: Vec<Dest>,
}

#[derive(Debug, Clone)]
struct Slot {
    spec: SlotSpec,
    up: bool,
    cur_weight: i64,
}

#[derive(Debug, Clone)]
struct RsState {
    alive: bool,
    effective_weight: i64,
    num_failed: u32,
    slots: Vec<Slot>,
}

#[derive(Debug, Clone)]
struct VsState {
    quorum_up: bool,
    sorry_alive: bool,
    rs: Vec<RsState>,
}

/// Real and virtual server state for a whole configuration.
#[derive(Debug, Clone)]
pub struct Pool {
    specs: Vec<VsSpec>,
    vs: Vec<VsState>,
    /// For each checker, the (virtual server, real server, slot) it reports to.
    members: Vec<Vec<(usize, usize, usize)>>,
}

/// keepalived `real_weight`: an effective weight as IPVS takes it.
pub fn real_weight(w: i64) -> i64 {
    w.clamp(0, i32::MAX as i64)
}

impl Pool {
    /// Build the pool. Quorum and hysteresis are corrected as keepalived's
    /// `validate_check_config` does (quorum ≤ total weight, hysteresis < quorum).
    pub fn new(mut specs: Vec<VsSpec>) -> Pool {
        let mut members: Vec<Vec<(usize, usize, usize)>> = Vec::new();
        let mut vs = Vec::with_capacity(specs.len());
        for (vi, spec) in specs.iter_mut().enumerate() {
            let total: i64 = spec.real_servers.iter().map(|r| r.weight).sum();
            if (spec.quorum as i64) > total {
                spec.quorum = total.max(0) as u32;
            }
            if spec.hysteresis >= spec.quorum {
                spec.hysteresis = spec.quorum.saturating_sub(1);
            }
            let mut rss = Vec::with_capacity(spec.real_servers.len());
            for (ri, rs) in spec.real_servers.iter().enumerate() {
                let slots: Vec<Slot> = rs
                    .slots
                    .iter()
                    .map(|s| Slot {
                        spec: *s,
                        up: s.initially_up,
                        cur_weight: 0,
                    })
                    .collect();
                for (si, s) in rs.slots.iter().enumerate() {
                    if members.len() <= s.checker {
                        members.resize_with(s.checker + 1, Vec::new);
                    }
                    members[s.checker].push((vi, ri, si));
                }
                rss.push(RsState {
                    alive: false,
                    effective_weight: rs.weight,
                    num_failed: slots.iter().filter(|s| !s.up).count() as u32,
                    slots,
                });
            }
            vs.push(VsState {
                quorum_up: true,
                sorry_alive: false,
                rs: rss,
            });
        }
        Pool { specs, vs, members }
    }

    /// The configuration the pool was built from (after quorum corrections).
    pub fn specs(&self) -> &[VsSpec] {
        &self.specs
    }

    /// Whether real server `rs` of virtual server `vs` is alive.
    pub fn rs_alive(&self, vs: usize, rs: usize) -> bool {
        self.vs[vs].rs[rs].alive
    }

    /// The effective weight of a real server (configured + dynamic).
    pub fn rs_weight(&self, vs: usize, rs: usize) -> i64 {
        self.vs[vs].rs[rs].effective_weight
    }

    /// The state checker `id` last reported (as mirrored in the first slot it serves).
    pub fn checker_up(&self, id: CheckerId) -> Option<bool> {
        let &(v, r, s) = self.members.get(id)?.first()?;
        Some(self.vs[v].rs[r].slots[s].up)
    }

    /// The checkers of a real server, in configuration order: (checker, its last reported
    /// state, its weight contribution), for the status dumps.
    pub fn rs_checkers(
        &self,
        vs: usize,
        rs: usize,
    ) -> impl Iterator<Item = (CheckerId, bool, i64)> + '_ {
        self.vs[vs].rs[rs]
            .slots
            .iter()
            .map(|s| (s.spec.checker, s.up, s.cur_weight))
    }

    /// Whether virtual server `vs` has quorum.
    pub fn quorum_up(&self, vs: usize) -> bool {
        self.vs[vs].quorum_up
    }

    /// Carry a real server's state over a reload (keepalived `migrate_checkers` and
    /// `clear_diff_rs`): its alive flag and the up/down state of the checkers that still
    /// exist. `slot_up[i]` is the state of slot `i` (`None`: a new checker, keeps its
    /// initial state).
    pub fn migrate_rs(&mut self, vs: usize, rs: usize, alive: bool, slot_up: &[Option<bool>]) {
        let r = &mut self.vs[vs].rs[rs];
        for (slot, up) in r.slots.iter_mut().zip(slot_up) {
            if let Some(up) = up {
                slot.up = *up;
            }
        }
        r.num_failed = r.slots.iter().filter(|s| !s.up).count() as u32;
        r.alive = alive && r.num_failed == 0;
    }

    /// Mark a virtual server as already initialised with this quorum state (reload).
    pub fn migrate_vs(&mut self, vs: usize, quorum_up: bool, sorry_alive: bool) {
        self.vs[vs].quorum_up = quorum_up;
        self.vs[vs].sorry_alive = sorry_alive && self.specs[vs].sorry.is_some();
    }

    pub fn handle(&mut self, event: Event) -> Vec<Action> {
        let mut out = Vec::new();
        match event {
            Event::Init => self.init(&mut out),
            Event::Checker { id, up, first, .. } => {
                let members = self.members.get(id).cloned().unwrap_or_default();
                for m in members {
                    self.checker_state(m, up, first, &mut out);
                }
            }
            Event::Weight {
                id,
                change,
                requorum,
            } => {
                let members = self.members.get(id).cloned().unwrap_or_default();
                for (v, r, s) in members {
                    self.weight(v, r, s, change, requorum, &mut out);
                }
            }
            Event::Shutdown => self.shutdown(&mut out),
        }
        out
    }

    /// Initialise every virtual server.
    fn init(&mut self, out: &mut Vec<Action>) {
        for v in 0..self.vs.len() {
            for r in &mut self.vs[v].rs {
                // init_service_rs: a real server with no failed checker goes in alive.
                if r.num_failed == 0 {
                    r.alive = true;
                }
            }
            // set_quorum_states, then update_quorum_state(init).
            self.vs[v].quorum_up = self.live_weight(v) >= self.threshold_up(v);
            self.update_quorum(v, true, out);
        }
        out.push(Action::TableChanged);
    }

    fn threshold_up(&self, v: usize) -> i64 {
        self.specs[v].quorum as i64 + self.specs[v].hysteresis as i64
    }

    /// The (virtual server, real server) pairs checker `id` reports to.
    pub fn members_of(&self, id: CheckerId) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.members
            .get(id)
            .into_iter()
            .flatten()
            .map(|&(v, r, _)| (v, r))
    }

    /// keepalived `weigh_live_realservers`: the weight of the alive real servers.
    pub fn live_weight(&self, v: usize) -> i64 {
        self.vs[v]
            .rs
            .iter()
            .filter(|r| r.alive)
            .map(|r| real_weight(r.effective_weight))
            .sum()
    }

    /// ipwrapper.c `update_svr_checker_state`.
    fn checker_state(
        &mut self,
        (v, r, s): (usize, usize, usize),
        up: bool,
        first: bool,
        out: &mut Vec<Action>,
    ) {
        let slot = &self.vs[v].rs[r].slots[s];
        if slot.up == up {
            // The first result confirms the initial state: only a failure (or any result in
            // alpha mode) is announced.
            if first && (slot.spec.alpha || !up) {
                let alive = self.vs[v].rs[r].alive;
                out.push(Action::RsNotify {
                    vs: v,
                    rs: r,
                    up: alive,
                });
            }
            return;
        }
        let num_failed = self.vs[v].rs[r].num_failed;
        if up {
            if num_failed <= 1 {
                self.svr_state(v, r, true, out);
            }
        } else if num_failed == 0 {
            self.svr_state(v, r, false, out);
        }
        // set_checker_state
        let rs = &mut self.vs[v].rs[r];
        rs.slots[s].up = up;
        if up {
            rs.num_failed = rs.num_failed.saturating_sub(1);
        } else {
            rs.num_failed += 1;
        }
    }

    /// ipwrapper.c `perform_svr_state`.
    fn svr_state(&mut self, v: usize, r: usize, alive: bool, out: &mut Vec<Action>) {
        if self.vs[v].rs[r].alive == alive {
            return;
        }
        let spec = &self.specs[v].real_servers[r];
        info!(
            rs = %fmt_addr(spec.addr, spec.port),
            vs = v,
            inhibit = spec.inhibit,
            "{} real server",
            if alive { "adding" } else { "removing" }
        );
        self.vs[v].rs[r].alive = alive;
        out.push(Action::RsNotify {
            vs: v,
            rs: r,
            up: alive,
        });
        out.push(Action::TableChanged);
        self.update_quorum(v, false, out);
    }

    /// ipwrapper.c `update_quorum_state`.
    fn update_quorum(&mut self, v: usize, init: bool, out: &mut Vec<Action>) {
        let weight_sum = self.live_weight(v);
        let spec = &self.specs[v];
        let (q, h) = (spec.quorum as i64, spec.hysteresis as i64);
        let state = &mut self.vs[v];
        let threshold = if state.quorum_up { q - h } else { q + h };
        if !state.quorum_up && weight_sum >= threshold {
            state.quorum_up = true;
            info!(
                vs = v,
                quorum = q,
                hysteresis = h,
                weight_sum,
                "gained quorum"
            );
            if state.sorry_alive {
                state.sorry_alive = false;
                out.push(Action::TableChanged);
            }
            out.push(Action::VsNotify {
                vs: v,
                up: true,
                init,
            });
        } else if (state.quorum_up && (weight_sum == 0 || weight_sum < threshold))
            || (init && !state.quorum_up && spec.sorry.is_some() && !state.sorry_alive)
        {
            state.quorum_up = false;
            info!(
                vs = v,
                quorum = q,
                hysteresis = h,
                weight_sum,
                "{}",
                if init {
                    "starting with quorum down"
                } else {
                    "lost quorum"
                }
            );
            if spec.sorry.is_some() && !state.sorry_alive {
                state.sorry_alive = true;
                out.push(Action::TableChanged);
            }
            out.push(Action::VsNotify {
                vs: v,
                up: false,
                init,
            });
        }
    }

    /// ipwrapper.c `update_svr_wgt` (and the direct assignments of check_misc.c).
    fn weight(
        &mut self,
        v: usize,
        r: usize,
        s: usize,
        change: WeightChange,
        requorum: bool,
        out: &mut Vec<Action>,
    ) {
        let iweight = self.specs[v].real_servers[r].weight;
        let rs = &mut self.vs[v].rs[r];
        let new_cur = match change {
            WeightChange::Absolute(w) => w - iweight,
            WeightChange::Relative(w) => w,
        };
        let old_cur = std::mem::replace(&mut rs.slots[s].cur_weight, new_cur);
        let old = rs.effective_weight;
        rs.effective_weight = old - old_cur + new_cur;
        if real_weight(old) != real_weight(rs.effective_weight) {
            info!(
                vs = v,
                rs = r,
                from = real_weight(old),
                to = real_weight(rs.effective_weight),
                "changing weight"
            );
            if rs.alive {
                out.push(Action::TableChanged);
            }
            if requorum {
                self.update_quorum(v, false, out);
            }
        }
    }

    /// ipwrapper.c `clear_services(stopping)`: notifications only with `omega`.
    fn shutdown(&mut self, out: &mut Vec<Action>) {
        for v in 0..self.vs.len() {
            let omega = self.specs[v].omega;
            for r in 0..self.vs[v].rs.len() {
                if self.vs[v].rs[r].alive {
                    self.vs[v].rs[r].alive = false;
                    if omega {
                        out.push(Action::RsNotify {
                            vs: v,
                            rs: r,
                            up: false,
                        });
                    }
                }
            }
            // update_vs_notifies(stopping)
            self.vs[v].quorum_up = false;
            self.vs[v].sorry_alive = false;
            if omega {
                out.push(Action::VsNotify {
                    vs: v,
                    up: false,
                    init: false,
                });
            }
        }
        out.push(Action::TableChanged);
    }

    /// The destinations of virtual server `v` as IPVS should hold them now.
    pub fn service_table(&self, v: usize) -> ServiceTable {
        let spec = &self.specs[v];
        let state = &self.vs[v];
        let mut dests = Vec::with_capacity(spec.real_servers.len() + 1);
        for (r, (rs, st)) in spec.real_servers.iter().zip(&state.rs).enumerate() {
            let weight = if st.alive && !state.sorry_alive {
                Some(real_weight(st.effective_weight) as u32)
            } else if rs.inhibit {
                Some(0)
            } else {
                None
            };
            if let Some(weight) = weight {
                dests.push(Dest {
                    role: DestRole::Real(r),
                    addr: rs.addr,
                    port: rs.port,
                    weight,
                    alive: st.alive,
                });
            }
        }
        if let Some(s) = spec.sorry {
            let weight = if state.sorry_alive {
                Some(s.weight)
            } else if s.inhibit {
                Some(0)
            } else {
                None
            };
            if let Some(weight) = weight {
                // A sorry server that is also a real server is one destination.
                dests.retain(|d| !(d.addr == s.addr && d.port == s.port));
                dests.push(Dest {
                    role: DestRole::Sorry,
                    addr: s.addr,
                    port: s.port,
                    weight,
                    alive: state.sorry_alive,
                });
            }
        }
        ServiceTable {
            quorum_up: state.quorum_up,
            sorry_active: state.sorry_alive,
            dests,
        }
    }

    /// Every virtual server's destinations, in configuration order.
    pub fn table(&self) -> Vec<ServiceTable> {
        (0..self.vs.len()).map(|v| self.service_table(v)).collect()
    }
}

/// keepalived's `[addr]:port` (`inet_sockaddrtopair`).
pub fn fmt_addr(addr: IpAddr, port: u16) -> String {
    format!("[{addr}]:{port}")
}

/// keepalived's `[addr]:proto:port` (`inet_sockaddrtotrio`), `proto` one of tcp/udp/sctp.
pub fn fmt_trio(addr: IpAddr, proto: &str, port: u16) -> String {
    format!("[{addr}]:{proto}:{port}")
}

/// The `lvs_notify_fifo` line for a real server (ipwrapper.c `notify_fifo_rs`).
pub fn fifo_rs_line(rs: &str, vs: &str, up: bool) -> String {
    format!("RS {rs} {vs} {}\n", if up { "UP" } else { "DOWN" })
}

/// The `lvs_notify_fifo` line for a virtual server (ipwrapper.c `notify_fifo_vs`).
pub fn fifo_vs_line(vs: &str, up: bool) -> String {
    format!("VS {vs} {}\n", if up { "UP" } else { "DOWN" })
}
