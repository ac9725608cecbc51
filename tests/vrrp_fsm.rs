//! The sans-IO VRRP state machine driven with synthetic time.
//!
//! Instances are built from real keepalived.conf text (through the library's loader, with no
//! interface check) and either driven one event at a time or wired into [`Net`], a
//! zero-latency LAN that delivers every `SendAdvert` to the other routers and fires deadlines
//! in time order. No sleeps, no sockets: every deadline is checked to the microsecond.

use std::collections::VecDeque;
use std::net::IpAddr;

use keepalived_rs::config::model::{Centis, Config, Micros, Priority};
use keepalived_rs::config::{self, LoadOptions};
use keepalived_rs::vrrp::fsm::{
    Action, Event, FaultCause, GarpCause, GroupAction, IgnoreReason, Instance, MasterReason,
    Readiness, Reason, ScriptTracker, State, SyncGroup, TrackKind,
};
use keepalived_rs::vrrp::timer::Now;

// ===== harness =====

/// Load keepalived.conf `text`; the configuration must have no errors.
fn load(text: &str) -> Config {
    load_checked(text, true)
}

fn load_checked(text: &str, strict: bool) -> Config {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("keepalived.conf");
    std::fs::write(&path, text).expect("write keepalived.conf");
    let mut opts = LoadOptions::new(&path);
    opts.check_interfaces = false;
    let loaded = config::load(&opts);
    assert!(
        !strict || !loaded.diagnostics.has_errors(),
        "configuration errors:\n{}",
        loaded.diagnostics.render()
    );
    loaded.config
}

/// A `vrrp_instance` block with the usual boilerplate around `extra` lines.
fn instance(name: &str, vrid: u8, prio: u8, extra: &str) -> String {
    format!(
        "vrrp_instance {name} {{\n  interface eth0\n  virtual_router_id {vrid}\n  \
         priority {prio}\n  advert_int 1\n{extra}\n  virtual_ipaddress {{\n    192.168.1.{vrid}/24\n  }}\n}}\n"
    )
}

fn ip(last: u8) -> IpAddr {
    IpAddr::from([10, 0, 0, last])
}

fn build(cfg: &Config, name: &str, addr: IpAddr) -> Instance {
    let inst = cfg
        .instances
        .iter()
        .find(|i| i.name == name)
        .expect("instance in config");
    let mut i = Instance::new(cfg, inst).expect("instance builds");
    i.handle(Now(0), Event::SourceAddress(Some(addr)));
    i
}

/// One instance from a one-instance configuration, source address 10.0.0.1.
fn single(text: &str) -> Instance {
    let cfg = load(text);
    let name = cfg.instances[0].name.clone();
    build(&cfg, &name, ip(1))
}

fn advert(src: IpAddr, prio: u8, centis: u32) -> Event {
    Event::Advert {
        src,
        priority: Priority(prio),
        max_adver_int: Centis(centis),
    }
}

fn last_deadline(acts: &[Action]) -> Option<Option<Now>> {
    acts.iter().rev().find_map(|a| match a {
        Action::SetDeadline(d) => Some(*d),
        _ => None,
    })
}

fn sent(acts: &[Action]) -> Vec<u8> {
    acts.iter()
        .filter_map(|a| match a {
            Action::SendAdvert { priority } => Some(priority.0),
            _ => None,
        })
        .collect()
}

fn transitions(acts: &[Action]) -> Vec<(State, State, Reason)> {
    acts.iter()
        .filter_map(|a| match a {
            Action::Transition { from, to, reason } => Some((*from, *to, reason.clone())),
            _ => None,
        })
        .collect()
}

const S: u64 = 1_000_000;

/// A zero-latency LAN of routers sharing one VRID.
struct Net {
    routers: Vec<(Instance, IpAddr)>,
    now: Now,
    /// Every action, with the router index and the time it was emitted.
    log: Vec<(Now, usize, Action)>,
}

impl Net {
    fn new(routers: Vec<(Instance, IpAddr)>) -> Self {
        Net {
            routers,
            now: Now(0),
            log: Vec::new(),
        }
    }

    fn state(&self, i: usize) -> State {
        self.routers[i].0.state()
    }

    fn inst(&self, i: usize) -> &Instance {
        &self.routers[i].0
    }

    /// Give router `i` an event now and deliver what it sends.
    fn event(&mut self, i: usize, ev: Event) {
        let acts = self.routers[i].0.handle(self.now, ev);
        let mut queue = VecDeque::new();
        self.record(i, acts, &mut queue);
        self.flush(queue);
    }

    fn record(&mut self, i: usize, acts: Vec<Action>, queue: &mut VecDeque<(usize, Event)>) {
        for a in acts {
            if let Action::SendAdvert { priority } = a {
                let (inst, src) = &self.routers[i];
                let max_adver_int = inst.params().advert_int;
                for j in (0..self.routers.len()).filter(|j| *j != i) {
                    let ev = Event::Advert {
                        src: *src,
                        priority,
                        max_adver_int,
                    };
                    queue.push_back((j, ev));
                }
            }
            self.log.push((self.now, i, a));
        }
    }

    fn flush(&mut self, mut queue: VecDeque<(usize, Event)>) {
        while let Some((j, ev)) = queue.pop_front() {
            let acts = self.routers[j].0.handle(self.now, ev);
            self.record(j, acts, &mut queue);
        }
    }

    /// Fire deadlines in time order up to and including `until`. Routers due at the same
    /// instant all fire before any advert is delivered (they are simultaneous).
    fn run_until(&mut self, until: Now) {
        loop {
            let next = self
                .routers
                .iter()
                .filter_map(|(r, _)| r.next_deadline())
                .min();
            match next {
                Some(t) if t <= until => {
                    self.now = t;
                    let mut queue = VecDeque::new();
                    for i in 0..self.routers.len() {
                        if self.routers[i].0.next_deadline().is_some_and(|d| d <= t) {
                            let acts = self.routers[i].0.handle(t, Event::Timer);
                            self.record(i, acts, &mut queue);
                        }
                    }
                    self.flush(queue);
                }
                _ => break,
            }
        }
        self.now = until;
    }

    /// When router `i` last entered `state`.
    fn entered(&self, i: usize, state: State) -> Option<Now> {
        self.log.iter().rev().find_map(|(t, r, a)| match a {
            Action::Transition { to, .. } if *r == i && *to == state => Some(*t),
            _ => None,
        })
    }

    fn actions_of(&self, i: usize, since: Now) -> Vec<Action> {
        self.log
            .iter()
            .filter(|(t, r, _)| *r == i && *t >= since)
            .map(|(_, _, a)| a.clone())
            .collect()
    }
}

/// Two routers, each with its own configuration.
fn pair(a: &str, b: &str) -> Net {
    let (ca, cb) = (load(a), load(b));
    let ia = build(&ca, &ca.instances[0].name, ip(1));
    let ib = build(&cb, &cb.instances[0].name, ip(2));
    Net::new(vec![(ia, ip(1)), (ib, ip(2))])
}

// ===== RFC 5798 §6.4.1 / §6.4.2: startup and election =====

/// Start one instance at `t0`, expect Master exactly `mdi` later.
fn check_election(text: &str, mdi: u64) {
    let t0 = Now(7 * S);
    let mut i = single(text);
    let acts = i.handle(t0, Event::Startup);
    assert_eq!(i.state(), State::Backup);
    assert_eq!(
        transitions(&acts),
        vec![(State::Init, State::Backup, Reason::Startup)]
    );
    assert!(acts.contains(&Action::Notify(State::Backup)));
    assert_eq!(last_deadline(&acts), Some(Some(Now(t0.0 + mdi))));
    assert_eq!(i.master_down_interval(), Micros(mdi));

    assert!(i.handle(Now(t0.0 + mdi - 1), Event::Timer).is_empty());
    assert_eq!(i.state(), State::Backup);

    let t1 = Now(t0.0 + mdi);
    let acts = i.handle(t1, Event::Timer);
    assert_eq!(i.state(), State::Master);
    let adv = i.params().advert_int;
    let prio = i.effective_priority();
    assert_eq!(
        acts,
        vec![
            Action::Transition {
                from: State::Backup,
                to: State::Master,
                reason: Reason::MasterDown(MasterReason::NoResponse),
            },
            Action::SendAdvert { priority: prio },
            Action::AddVips,
            Action::SendGratuitous {
                repeat: 5,
                cause: GarpCause::BecameMaster
            },
            Action::Notify(State::Master),
            Action::SetDeadline(Some(Now(t1.0 + u64::from(adv.0) * 10_000))),
        ]
    );
}

#[test]
fn rfc3768_6_4_1_v2_prio_100_master_after_3_609375s() {
    // 3 × 1 s + (256 − 100)/256 s = 3.609375 s.
    check_election(&instance("VI", 51, 100, ""), 3_609_375);
}

#[test]
fn rfc3768_6_4_1_v2_prio_254_master_after_3_007812s() {
    // Skew (256 − 254)/256 s = 7812.5 µs, truncated as keepalived does.
    check_election(&instance("VI", 51, 254, ""), 3_007_812);
}

#[test]
fn rfc5798_6_4_1_v3_prio_100_master_after_3_609375s() {
    check_election(&instance("VI", 51, 100, "  version 3"), 3_609_375);
}

#[test]
fn rfc5798_6_4_1_v3_prio_254_half_second_interval() {
    // 3 × 50 cs + 2 × 50 × 625 / 16 µs = 1.5 s + 3906 µs.
    let text = instance("VI", 51, 254, "  version 3").replace("advert_int 1\n", "advert_int 0.5\n");
    check_election(&text, 1_503_906);
}

#[test]
fn rfc5798_6_1_v2_skew_ignores_interval_v3_scales_it() {
    let v2 = single(&instance("VI", 51, 100, "").replace("advert_int 1\n", "advert_int 3\n"));
    let v3 =
        single(&instance("VI", 51, 100, "  version 3").replace("advert_int 1\n", "advert_int 3\n"));
    assert_eq!(v2.skew_time(), Micros(609_375));
    assert_eq!(v3.skew_time(), Micros(1_828_125));
    assert_eq!(v2.master_down_interval(), Micros(9_609_375));
    assert_eq!(v3.master_down_interval(), Micros(10_828_125));
}

#[test]
fn down_timer_adverts_scales_master_down_interval() {
    let i = single(&instance("VI", 51, 100, "  down_timer_adverts 5"));
    assert_eq!(i.master_down_interval(), Micros(5_609_375));
}

#[test]
fn rfc5798_6_4_1_owner_with_state_master_takes_over_at_once() {
    // keepalived times out of Backup after 1 µs (vrrp_init_state).
    let mut i = single(&instance("VI", 51, 255, "  state MASTER"));
    let acts = i.handle(Now(S), Event::Startup);
    assert_eq!(last_deadline(&acts), Some(Some(Now(S + 1))));
    assert!(!acts.contains(&Action::Notify(State::Backup)));
    let acts = i.handle(Now(S + 1), Event::Timer);
    assert_eq!(i.state(), State::Master);
    assert_eq!(
        transitions(&acts),
        vec![(
            State::Backup,
            State::Master,
            Reason::MasterDown(MasterReason::Preempted)
        )]
    );
    assert_eq!(sent(&acts), vec![255]);
}

#[test]
fn owner_with_state_backup_waits_like_everyone() {
    let mut i = single(&instance("VI", 51, 255, "  state BACKUP"));
    let acts = i.handle(Now(0), Event::Startup);
    // 3 s + 1/256 s.
    assert_eq!(last_deadline(&acts), Some(Some(Now(3_003_906))));
}

#[test]
fn vrrp_startup_delay_postpones_the_first_timeout() {
    let text = format!(
        "global_defs {{\n  vrrp_startup_delay 5\n}}\n{}",
        instance("VI", 51, 100, "")
    );
    let mut i = single(&text);
    let acts = i.handle(Now(S), Event::Startup);
    assert_eq!(last_deadline(&acts), Some(Some(Now(S + 5 * S + 3_609_375))));
    // An advert during the delay restarts the timer from the end of the delay.
    i.handle(Now(2 * S), advert(ip(2), 200, 100));
    assert_eq!(i.next_deadline(), Some(Now(S + 5 * S + 3_609_375)));
    // After the delay, from now.
    let acts = i.handle(Now(7 * S), advert(ip(2), 200, 100));
    assert_eq!(last_deadline(&acts), Some(Some(Now(7 * S + 3_609_375))));
}

#[test]
fn two_routers_elect_the_higher_priority() {
    let mut net = pair(&instance("A", 51, 100, ""), &instance("B", 51, 200, ""));
    net.event(0, Event::Startup);
    net.event(1, Event::Startup);
    net.run_until(Now(60 * S));
    assert_eq!(net.state(0), State::Backup);
    assert_eq!(net.state(1), State::Master);
    // B: 3 s + 56/256 s.
    assert_eq!(net.entered(1, State::Master), Some(Now(3_218_750)));
    assert_eq!(net.entered(0, State::Master), None);
    assert_eq!(net.inst(0).master(), Some((ip(2), Priority(200))));
    // A's down timer is pushed on by every advert: last advert + 3.609375 s.
    assert_eq!(
        net.inst(0).next_deadline(),
        Some(Now(59 * S + 218_750 + 3_609_375))
    );
}

// ===== preemption =====

#[test]
fn rfc5798_6_4_2_higher_priority_backup_preempts() {
    let mut net = pair(&instance("A", 51, 100, ""), &instance("B", 51, 200, ""));
    net.event(0, Event::Startup);
    net.run_until(Now(10 * S));
    assert_eq!(net.state(0), State::Master);
    let a_master = net.entered(0, State::Master).expect("A became master");
    assert_eq!(a_master, Now(3_609_375));

    net.event(1, Event::Startup);
    net.run_until(Now(30 * S));
    // B discards A's lower-priority adverts, so its down timer runs out.
    let ignored = net
        .actions_of(1, Now(10 * S))
        .iter()
        .filter(|a| {
            matches!(
                a,
                Action::AdvertIgnored {
                    reason: IgnoreReason::LowerPriority,
                    ..
                }
            )
        })
        .count();
    assert_eq!(ignored, 3);
    assert_eq!(net.entered(1, State::Master), Some(Now(10 * S + 3_218_750)));
    assert_eq!(net.state(1), State::Master);
    assert_eq!(net.state(0), State::Backup);
    let back = net.actions_of(0, Now(10 * S + 3_218_750));
    assert_eq!(
        transitions(&back),
        vec![(
            State::Master,
            State::Backup,
            Reason::HigherPriority {
                src: ip(2),
                priority: Priority(200)
            }
        )]
    );
    assert!(back.contains(&Action::RemoveVips));
    assert!(
        !sent(&back).contains(&0),
        "going to BACKUP sends no priority 0"
    );
}

#[test]
fn nopreempt_backup_leaves_a_lower_master_alone() {
    let mut net = pair(
        &instance("A", 51, 100, ""),
        &instance("B", 51, 200, "  state BACKUP\n  nopreempt"),
    );
    net.event(0, Event::Startup);
    net.run_until(Now(10 * S));
    net.event(1, Event::Startup);
    net.run_until(Now(60 * S));
    assert_eq!(net.state(0), State::Master);
    assert_eq!(net.state(1), State::Backup);
    assert_eq!(net.inst(1).master(), Some((ip(1), Priority(100))));
}

#[test]
fn preempt_delay_defers_preemption() {
    let mut net = pair(
        &instance("A", 51, 100, ""),
        &instance("B", 51, 200, "  preempt_delay 10"),
    );
    net.event(0, Event::Startup);
    net.run_until(Now(10 * S));
    net.event(1, Event::Startup);
    net.run_until(Now(40 * S));
    // A adverts at 10.609375 + k s. The first one (k = 0) starts the delay; the advert at
    // exactly the end of the delay (k = 10) is no longer accepted, so the down timer runs
    // from the one at k = 9.
    let first = 10 * S + 609_375;
    assert_eq!(net.inst(1).preempt_time(), Some(Now(first + 10 * S)));
    assert_eq!(
        net.entered(1, State::Master),
        Some(Now(first + 9 * S + 3_218_750))
    );
    assert_eq!(net.state(0), State::Backup);
}

#[test]
fn rfc5798_6_4_2_priority_zero_means_skew_time_takeover() {
    let mut net = pair(&instance("A", 51, 200, ""), &instance("B", 51, 100, ""));
    net.event(0, Event::Startup);
    net.event(1, Event::Startup);
    net.run_until(Now(20 * S));
    assert_eq!(net.state(0), State::Master);
    net.now = Now(20 * S + 500);
    net.event(0, Event::Shutdown);
    assert_eq!(net.state(0), State::Stop);
    // B's down timer is now Skew_Time = 156/256 s.
    assert_eq!(
        net.inst(1).next_deadline(),
        Some(Now(20 * S + 500 + 609_375))
    );
    net.run_until(Now(30 * S));
    assert_eq!(
        net.entered(1, State::Master),
        Some(Now(20 * S + 500 + 609_375))
    );
    assert_eq!(
        transitions(&net.actions_of(1, Now(20 * S)))[0].2,
        Reason::MasterDown(MasterReason::PriorityZero)
    );
}

#[test]
fn rfc5798_6_4_3_equal_priority_higher_address_wins() {
    let mut net = pair(&instance("A", 51, 100, ""), &instance("B", 51, 100, ""));
    net.event(0, Event::Startup);
    net.event(1, Event::Startup);
    // Both time out together and both become master; the tie-break settles it.
    net.run_until(Now(3_609_375));
    assert_eq!(net.state(0), State::Backup);
    assert_eq!(net.state(1), State::Master);
    let a = net.actions_of(0, Now(3_609_375));
    assert!(transitions(&a).contains(&(
        State::Master,
        State::Backup,
        Reason::EqualPriorityHigherAddress { src: ip(2) }
    )));
    // B re-asserted at A's (lower address) advert.
    assert!(
        net.actions_of(1, Now(3_609_375))
            .contains(&Action::NotifyMasterRxLowerPri)
    );
    net.run_until(Now(30 * S));
    assert_eq!(net.state(1), State::Master);
}

// ===== master receiving adverts =====

fn master_at(text: &str, t: Now) -> Instance {
    let mut i = single(text);
    i.handle(Now(0), Event::Startup);
    let d = i.next_deadline().expect("down timer");
    i.handle(d, Event::Timer);
    assert_eq!(i.state(), State::Master);
    let _ = i.handle(t, Event::Timer);
    i
}

#[test]
fn master_reasserts_on_lower_priority_and_refreshes_arp() {
    let mut i = master_at(&instance("VI", 51, 150, ""), Now(4 * S));
    let t = Now(4 * S + 100);
    let acts = i.handle(t, advert(ip(9), 100, 100));
    assert_eq!(i.state(), State::Master);
    assert_eq!(
        acts,
        vec![
            Action::SendAdvert {
                priority: Priority(150)
            },
            Action::SendGratuitous {
                repeat: 5,
                cause: GarpCause::LowerPriority
            },
            Action::NotifyMasterRxLowerPri,
            // The advert timer restarts from the advert just sent.
            Action::SetDeadline(Some(Now(t.0 + S))),
        ]
    );
    // garp_lower_prio_delay defaults to garp_master_delay (5 s).
    let acts = i.handle(Now(t.0 + S), Event::Timer);
    assert_eq!(sent(&acts), vec![150]);
    let acts = i.handle(Now(t.0 + 5 * S), Event::Timer);
    assert!(acts.contains(&Action::SendGratuitous {
        repeat: 5,
        cause: GarpCause::LowerPriorityDelay
    }));
}

#[test]
fn lower_prio_no_advert_stays_silent() {
    let text = instance(
        "VI",
        51,
        150,
        "  lower_prio_no_advert\n  garp_lower_prio_repeat 2\n  garp_lower_prio_delay 0",
    );
    let mut i = master_at(&text, Now(4 * S));
    let before = i.next_deadline();
    let acts = i.handle(Now(4 * S + 100), advert(ip(9), 100, 100));
    assert_eq!(
        acts,
        vec![
            Action::SendGratuitous {
                repeat: 2,
                cause: GarpCause::LowerPriority
            },
            Action::NotifyMasterRxLowerPri,
        ]
    );
    assert_eq!(i.next_deadline(), before);
}

#[test]
fn rfc5798_6_4_3_master_answers_priority_zero() {
    let mut i = master_at(&instance("VI", 51, 150, ""), Now(4 * S));
    let acts = i.handle(Now(4 * S + 7), advert(ip(9), 0, 100));
    assert_eq!(sent(&acts), vec![150]);
    assert_eq!(i.state(), State::Master);
    assert_eq!(last_deadline(&acts), Some(Some(Now(5 * S + 7))));
}

#[test]
fn higher_prio_send_advert_answers_before_yielding() {
    let mut i = master_at(
        &instance("VI", 51, 150, "  higher_prio_send_advert"),
        Now(4 * S),
    );
    let acts = i.handle(Now(4 * S + 7), advert(ip(9), 200, 100));
    assert_eq!(i.state(), State::Backup);
    assert_eq!(sent(&acts), vec![150]);
    assert_eq!(
        acts[0],
        Action::SendAdvert {
            priority: Priority(150)
        }
    );
}

#[test]
fn garp_schedule_delay_and_refresh() {
    let text = instance(
        "VI",
        51,
        100,
        "  garp_master_delay 2\n  garp_master_repeat 3\n  garp_master_refresh 10\n  garp_master_refresh_repeat 2",
    );
    let mut i = single(&text);
    i.handle(Now(0), Event::Startup);
    let t = Now(3_609_375);
    let acts = i.handle(t, Event::Timer);
    assert!(acts.contains(&Action::SendGratuitous {
        repeat: 3,
        cause: GarpCause::BecameMaster
    }));
    let mut garps = Vec::new();
    let mut now = t;
    while now < Now(t.0 + 33 * S) {
        now = i.next_deadline().expect("master always has a deadline");
        for a in i.handle(now, Event::Timer) {
            if let Action::SendGratuitous { repeat, cause } = a {
                garps.push((now.0 - t.0, repeat, cause));
            }
        }
    }
    assert_eq!(
        garps,
        vec![
            (2 * S, 3, GarpCause::MasterDelay),
            (12 * S, 2, GarpCause::Refresh),
            (22 * S, 2, GarpCause::Refresh),
            (32 * S, 2, GarpCause::Refresh),
        ]
    );
}

#[test]
fn v2_adverts_with_another_interval_are_dropped() {
    let mut i = single(&instance("VI", 51, 100, ""));
    i.handle(Now(0), Event::Startup);
    let acts = i.handle(Now(S), advert(ip(2), 200, 300));
    assert_eq!(
        acts,
        vec![Action::AdvertIgnored {
            src: ip(2),
            priority: Priority(200),
            reason: IgnoreReason::IntervalMismatch {
                ours: Centis(100),
                theirs: Centis(300)
            }
        }]
    );
}

// ===== RFC 5798 §6.4.2: v3 learns Master_Adver_Interval =====

#[test]
fn rfc5798_6_4_2_v3_backup_learns_master_adver_interval() {
    let mut i = single(&instance("VI", 51, 100, "  version 3"));
    i.handle(Now(0), Event::Startup);
    let acts = i.handle(Now(S), advert(ip(2), 200, 200));
    assert_eq!(i.master_adver_int(), Centis(200));
    // 3 × 2 s + 156 × 200 × 625 / 16 µs.
    assert_eq!(last_deadline(&acts), Some(Some(Now(S + 7_218_750))));
    // The master goes away; as master we advertise at our own 1 s.
    let acts = i.handle(Now(S + 7_218_750), Event::Timer);
    assert_eq!(i.state(), State::Master);
    assert_eq!(i.master_adver_int(), Centis(100));
    assert_eq!(last_deadline(&acts), Some(Some(Now(S + 7_218_750 + S))));
}

#[test]
fn rfc5798_6_4_3_v3_master_yielding_adopts_the_new_interval() {
    let mut i = master_at(&instance("VI", 51, 100, "  version 3"), Now(4 * S));
    let acts = i.handle(Now(4 * S + 10), advert(ip(2), 200, 50));
    assert_eq!(i.state(), State::Backup);
    assert_eq!(i.master_adver_int(), Centis(50));
    assert_eq!(
        last_deadline(&acts),
        Some(Some(Now(4 * S + 10 + 1_500_000 + 304_687)))
    );
}

// ===== tracking =====

const SECURE: &str = "global_defs {\n  enable_script_security\n  script_user root\n}\n";
const SCRIPT: &str = "global_defs {\n  enable_script_security\n  script_user root\n}\n\
                      vrrp_script chk {\n  script \"/bin/true\"\n  interval 1\n  weight -60\n}\n";

#[test]
fn script_weight_moves_priority_and_mastership() {
    let a = instance("A", 51, 150, "  track_script {\n    chk\n  }");
    let b = instance("B", 51, 120, "");
    let mut net = pair(&format!("{SCRIPT}{a}"), &b);
    net.event(
        0,
        Event::TrackScript {
            name: "chk".into(),
            ok: true,
        },
    );
    net.event(0, Event::Startup);
    net.event(1, Event::Startup);
    net.run_until(Now(10 * S));
    assert_eq!(net.state(0), State::Master);
    assert_eq!(net.inst(0).effective_priority(), Priority(150));

    // The script fails: A drops to 90, B discards A's adverts and takes over.
    net.now = Now(10 * S + 1);
    net.event(
        0,
        Event::TrackScript {
            name: "chk".into(),
            ok: false,
        },
    );
    assert_eq!(net.inst(0).effective_priority(), Priority(90));
    assert!(
        net.actions_of(0, Now(10 * S))
            .contains(&Action::PriorityChanged {
                from: Priority(150),
                to: Priority(90)
            })
    );
    net.run_until(Now(30 * S));
    assert_eq!(net.state(1), State::Master);
    assert_eq!(net.state(0), State::Backup);
    // A (skew 106/256 s) became master at 3.414062 s and advertises every second; B last
    // accepted an advert at 150 at 9.414062 s and times out 3 + 136/256 s later.
    assert_eq!(net.entered(0, State::Master), Some(Now(3_414_062)));
    assert_eq!(
        net.entered(1, State::Master),
        Some(Now(9_414_062 + 3_531_250))
    );

    // It recovers: A is back at 150 and preempts B.
    net.event(
        0,
        Event::TrackScript {
            name: "chk".into(),
            ok: true,
        },
    );
    net.run_until(Now(60 * S));
    assert_eq!(net.state(0), State::Master);
    assert_eq!(net.state(1), State::Backup);
}

#[test]
fn script_tracker_rise_fall_feeds_the_instance() {
    let text = format!(
        "{SECURE}vrrp_script chk {{\n  script \"/bin/true\"\n  rise 2\n  fall 2\n  weight 20\n}}\n{}",
        instance("VI", 51, 100, "  track_script {\n    chk\n  }")
    );
    let cfg = load(&text);
    let mut i = build(&cfg, "VI", ip(1));
    let mut tracker = ScriptTracker::new(&cfg.vrrp_scripts[0]);
    i.handle(Now(0), Event::Startup);
    let mut feed = |ok: bool, i: &mut Instance| {
        if let Some(up) = tracker.record(ok) {
            i.handle(Now(1), tracker.event(up));
        }
    };
    feed(true, &mut i); // the first success counts at once
    assert_eq!(i.effective_priority(), Priority(120));
    feed(false, &mut i);
    assert_eq!(i.effective_priority(), Priority(120));
    feed(false, &mut i);
    assert_eq!(i.effective_priority(), Priority(100));
    feed(true, &mut i);
    assert_eq!(i.effective_priority(), Priority(100));
    feed(true, &mut i);
    assert_eq!(i.effective_priority(), Priority(120));
}

#[test]
fn interface_and_file_weights_with_reverse_and_clamping() {
    let text = format!(
        "track_file tf {{\n  file /tmp/prio\n  weight 2\n}}\n{}",
        instance(
            "VI",
            51,
            200,
            "  track_interface {\n    eth1 weight -30\n    eth2 weight 40 reverse\n  }\n  \
             track_file {\n    tf\n  }",
        )
    );
    let mut i = single(&text);
    i.handle(Now(0), Event::Startup);
    // eth2 is up: 200 − 40 = 160.
    assert_eq!(i.effective_priority(), Priority(160));
    i.handle(Now(1), Event::InterfaceDown("eth1".into()));
    assert_eq!(i.effective_priority(), Priority(130));
    i.handle(Now(2), Event::InterfaceDown("eth2".into()));
    assert_eq!(i.effective_priority(), Priority(170));
    i.handle(
        Now(3),
        Event::TrackFile {
            name: "tf".into(),
            value: 50,
        },
    );
    // 170 + 100 clamps to 254.
    assert_eq!(i.effective_priority(), Priority(254));
    i.handle(
        Now(4),
        Event::TrackFile {
            name: "tf".into(),
            value: -80,
        },
    );
    assert_eq!(i.effective_priority(), Priority(10));
    // −127 × 2 = −254: a tracked file at −254 is a fault.
    i.handle(
        Now(5),
        Event::TrackFile {
            name: "tf".into(),
            value: -127,
        },
    );
    assert_eq!(i.state(), State::Fault);
}

#[test]
fn owner_ignores_weights() {
    let text = format!(
        "{SCRIPT}{}",
        instance(
            "VI",
            51,
            255,
            "  state MASTER\n  track_interface {\n    eth1 weight -30\n  }\n  track_script {\n    chk\n  }",
        )
    );
    // keepalived reports the ignored weights as configuration errors.
    let cfg = load_checked(&text, false);
    let mut i = build(&cfg, "VI", ip(1));
    i.handle(Now(0), Event::Startup);
    i.handle(Now(1), Event::InterfaceDown("eth1".into()));
    i.handle(
        Now(2),
        Event::TrackScript {
            name: "chk".into(),
            ok: false,
        },
    );
    assert_eq!(i.effective_priority(), Priority(255));
    assert!(
        i.trackers()
            .iter()
            .all(|t| t.name != "chk" && t.name != "eth1")
    );
}

#[test]
fn weight_zero_fault_resigns_and_recovers() {
    let a = instance("A", 51, 200, "  track_interface {\n    eth1\n  }");
    let b = instance("B", 51, 100, "");
    let mut net = pair(&a, &b);
    net.event(0, Event::Startup);
    net.event(1, Event::Startup);
    net.run_until(Now(10 * S));
    assert_eq!(net.state(0), State::Master);

    let t = Now(10 * S + 5);
    net.now = t;
    net.event(0, Event::InterfaceDown("eth1".into()));
    let acts = net.actions_of(0, t);
    let cause = FaultCause::Tracked {
        kind: TrackKind::Interface,
        name: "eth1".into(),
    };
    assert_eq!(
        acts,
        vec![
            Action::Transition {
                from: State::Master,
                to: State::Fault,
                reason: Reason::Fault(cause.clone()),
            },
            Action::SendAdvert {
                priority: Priority(0)
            },
            Action::RemoveVips,
            Action::Notify(State::Fault),
            Action::SetDeadline(None),
        ]
    );
    assert_eq!(net.inst(0).readiness(), &Readiness::Fault(cause));
    // B takes over after Skew_Time; A in FAULT ignores B's adverts.
    net.run_until(Now(20 * S));
    assert_eq!(net.entered(1, State::Master), Some(Now(t.0 + 609_375)));
    assert!(net.actions_of(0, Now(t.0 + 1)).iter().all(|a| matches!(
        a,
        Action::AdvertIgnored {
            reason: IgnoreReason::NotListening(State::Fault),
            ..
        }
    )));

    // Recovery: BACKUP with a full down timer, then A preempts B.
    let t = Now(20 * S);
    net.event(0, Event::InterfaceUp("eth1".into()));
    assert_eq!(net.state(0), State::Backup);
    assert_eq!(
        transitions(&net.actions_of(0, t)),
        vec![(State::Fault, State::Backup, Reason::Recovered)]
    );
    net.run_until(Now(40 * S));
    assert_eq!(net.state(0), State::Master);
    assert_eq!(net.state(1), State::Backup);
}

#[test]
fn own_interface_down_is_a_fault_unless_dont_track_primary() {
    let mut i = single(&instance("VI", 51, 100, ""));
    i.handle(Now(0), Event::Startup);
    i.handle(Now(1), Event::InterfaceDown("eth0".into()));
    assert_eq!(i.state(), State::Fault);

    let mut i = single(&instance("VI", 51, 100, "  dont_track_primary"));
    i.handle(Now(0), Event::Startup);
    i.handle(Now(1), Event::InterfaceDown("eth0".into()));
    assert_eq!(i.state(), State::Backup);
}

#[test]
fn weight_zero_script_holds_fault_until_first_result() {
    let text = format!(
        "{SECURE}vrrp_script chk {{\n  script \"/bin/true\"\n}}\n{}",
        instance("VI", 51, 100, "  track_script {\n    chk\n  }")
    );
    let mut i = single(&text);
    let acts = i.handle(Now(0), Event::Startup);
    assert_eq!(i.state(), State::Fault);
    assert_eq!(
        transitions(&acts),
        vec![(
            State::Init,
            State::Fault,
            Reason::AwaitingScript("chk".into())
        )]
    );
    // Waiting for a script is not notified as a fault.
    assert!(!acts.contains(&Action::Notify(State::Fault)));
    let acts = i.handle(
        Now(S),
        Event::TrackScript {
            name: "chk".into(),
            ok: true,
        },
    );
    assert_eq!(i.state(), State::Backup);
    assert_eq!(last_deadline(&acts), Some(Some(Now(S + 3_609_375))));
}

// ===== sync groups =====

fn group_config(extra_b: &str) -> Config {
    load(&format!(
        "vrrp_sync_group G {{\n  group {{\n    VI_A\n    VI_B\n  }}\n}}\n{}{}",
        instance("VI_A", 51, 100, ""),
        instance("VI_B", 52, 100, extra_b).replace("interface eth0", "interface eth1"),
    ))
}

fn group(cfg: &Config) -> SyncGroup {
    let mut g = SyncGroup::new(cfg, &cfg.sync_groups[0]).expect("group builds");
    g.handle(Now(0), Event::SourceAddress(Some(ip(1))));
    g
}

fn member_transitions(acts: &[GroupAction], index: usize) -> Vec<(State, State)> {
    acts.iter()
        .filter_map(|a| match a {
            GroupAction::Member {
                index: i,
                action: Action::Transition { from, to, .. },
            } if *i == index => Some((*from, *to)),
            _ => None,
        })
        .collect()
}

fn group_notifies(acts: &[GroupAction]) -> Vec<State> {
    acts.iter()
        .filter_map(|a| match a {
            GroupAction::Notify(s) => Some(*s),
            _ => None,
        })
        .collect()
}

fn member_sent(acts: &[GroupAction], index: usize) -> Vec<u8> {
    acts.iter()
        .filter_map(|a| match a {
            GroupAction::Member {
                index: i,
                action: Action::SendAdvert { priority },
            } if *i == index => Some(priority.0),
            _ => None,
        })
        .collect()
}

#[test]
fn sync_group_moves_to_master_together() {
    let cfg = group_config("");
    let mut g = group(&cfg);
    let acts = g.handle(Now(0), Event::Startup);
    assert_eq!(g.state(), State::Backup);
    assert_eq!(group_notifies(&acts), vec![State::Backup]);
    assert_eq!(g.next_deadline(), Some(Now(3_609_375)));

    let acts = g.handle(Now(3_609_375), Event::Timer);
    // VI_A times out first but is held (VI_B does not want MASTER yet); VI_B then times
    // out, everyone wants MASTER, and the group takes VI_A along.
    assert_eq!(g.state(), State::Master);
    assert_eq!(g.members()[0].state(), State::Master);
    assert_eq!(g.members()[1].state(), State::Master);
    assert_eq!(
        member_transitions(&acts, 1),
        vec![(State::Backup, State::Master)]
    );
    assert_eq!(
        member_transitions(&acts, 0),
        vec![(State::Backup, State::Master)]
    );
    assert_eq!(group_notifies(&acts), vec![State::Master]);
    let forced = acts.iter().find_map(|a| match a {
        GroupAction::Member {
            index: 0,
            action: Action::Transition { reason, .. },
        } => Some(reason.clone()),
        _ => None,
    });
    assert_eq!(
        forced,
        Some(Reason::SyncGroup {
            group: "G".into(),
            member: Some("VI_B".into())
        })
    );
}

/// keepalived 2.2.7 `vrrp_complete_init`: `state MASTER` members of a group with a
/// non-owner are demoted to BACKUP, so they wait the whole Master_Down_Interval (not one
/// advert interval plus skew) before taking over.
#[test]
fn sync_group_state_master_non_owner_waits_master_down_interval() {
    let cfg = load(&format!(
        "vrrp_sync_group G {{\n  group {{\n    VI_A\n    VI_B\n  }}\n}}\n{}{}",
        instance("VI_A", 51, 150, "  state MASTER"),
        instance("VI_B", 52, 150, "  state MASTER").replace("interface eth0", "interface eth1"),
    ));
    let mut g = group(&cfg);
    assert!(g.members().iter().all(|m| !m.params().wants_master()));
    g.handle(Now(0), Event::Startup);
    assert_eq!(g.state(), State::Backup);
    // Master_Down_Interval at priority 150: 3 s + (256 - 150) / 256 s.
    assert_eq!(g.next_deadline(), Some(Now(3_000_000 + 414_062)));
}

#[test]
fn sync_group_member_is_held_in_backup_while_another_has_a_master() {
    let cfg = group_config("");
    let mut g = group(&cfg);
    g.handle(Now(0), Event::Startup);
    // VI_B hears a master; VI_A does not.
    g.handle_member(Now(3 * S), 1, advert(ip(7), 200, 100));
    g.handle(Now(3_609_375), Event::Timer);
    assert_eq!(g.members()[0].state(), State::Backup);
    assert_eq!(g.members()[0].want(), State::Master);
    assert_eq!(g.state(), State::Backup);
    // VI_A's timer restarted.
    assert_eq!(g.members()[0].next_deadline(), Some(Now(2 * 3_609_375)));
}

#[test]
fn sync_group_fault_propagates_and_recovers() {
    let cfg = group_config("");
    let mut g = group(&cfg);
    g.handle(Now(0), Event::Startup);
    g.handle(Now(3_609_375), Event::Timer);
    assert_eq!(g.state(), State::Master);

    // VI_B's own interface goes down: both members resign with priority 0.
    let acts = g.handle(Now(5 * S), Event::InterfaceDown("eth1".into()));
    assert_eq!(g.state(), State::Fault);
    assert_eq!(
        member_transitions(&acts, 1),
        vec![(State::Master, State::Fault)]
    );
    assert_eq!(
        member_transitions(&acts, 0),
        vec![(State::Master, State::Fault)]
    );
    assert_eq!(member_sent(&acts, 1), vec![0]);
    assert_eq!(member_sent(&acts, 0), vec![0]);
    assert_eq!(group_notifies(&acts), vec![State::Fault]);
    assert_eq!(g.next_deadline(), None);
    assert!(g.members()[0].readiness().is_ready());

    // It comes back: both go to BACKUP with a full down timer.
    let acts = g.handle(Now(6 * S), Event::InterfaceUp("eth1".into()));
    assert_eq!(g.state(), State::Backup);
    assert_eq!(
        member_transitions(&acts, 1),
        vec![(State::Fault, State::Backup)]
    );
    assert_eq!(
        member_transitions(&acts, 0),
        vec![(State::Fault, State::Backup)]
    );
    assert_eq!(group_notifies(&acts), vec![State::Backup]);
    assert_eq!(g.next_deadline(), Some(Now(6 * S + 3_609_375)));
}

#[test]
fn sync_group_waits_for_every_member_to_recover() {
    let cfg = group_config("");
    let mut g = group(&cfg);
    g.handle(Now(0), Event::Startup);
    g.handle(Now(S), Event::InterfaceDown("eth1".into()));
    g.handle(Now(S), Event::InterfaceDown("eth0".into()));
    assert_eq!(g.state(), State::Fault);
    // VI_B recovers but VI_A is still down: nobody comes up.
    let acts = g.handle(Now(2 * S), Event::InterfaceUp("eth1".into()));
    assert!(member_transitions(&acts, 1).is_empty());
    assert_eq!(g.members()[1].state(), State::Fault);
    let acts = g.handle(Now(3 * S), Event::InterfaceUp("eth0".into()));
    assert_eq!(g.state(), State::Backup);
    assert_eq!(
        member_transitions(&acts, 0),
        vec![(State::Fault, State::Backup)]
    );
    assert_eq!(
        member_transitions(&acts, 1),
        vec![(State::Fault, State::Backup)]
    );
}

#[test]
fn sync_group_follows_a_member_preempted_to_backup() {
    let cfg = group_config("");
    let mut g = group(&cfg);
    g.handle(Now(0), Event::Startup);
    g.handle(Now(3_609_375), Event::Timer);
    let acts = g.handle_member(Now(4 * S), 0, advert(ip(7), 200, 100));
    assert_eq!(g.state(), State::Backup);
    assert_eq!(
        member_transitions(&acts, 0),
        vec![(State::Master, State::Backup)]
    );
    assert_eq!(
        member_transitions(&acts, 1),
        vec![(State::Master, State::Backup)]
    );
    assert!(member_sent(&acts, 1).is_empty());
}

#[test]
fn sync_group_lower_priority_advert_refreshes_every_member() {
    let cfg = group_config("");
    let mut g = group(&cfg);
    g.handle(Now(0), Event::Startup);
    g.handle(Now(3_609_375), Event::Timer);
    let acts = g.handle_member(Now(4 * S), 0, advert(ip(7), 50, 100));
    let garps: Vec<usize> = acts
        .iter()
        .filter_map(|a| match a {
            GroupAction::Member {
                index,
                action:
                    Action::SendGratuitous {
                        cause: GarpCause::LowerPriority,
                        ..
                    },
            } => Some(*index),
            _ => None,
        })
        .collect();
    assert_eq!(garps, vec![0, 1]);
}

#[test]
fn sync_group_shutdown_resigns_every_master() {
    let cfg = group_config("");
    let mut g = group(&cfg);
    g.handle(Now(0), Event::Startup);
    g.handle(Now(3_609_375), Event::Timer);
    let acts = g.handle(Now(5 * S), Event::Shutdown);
    assert_eq!(member_sent(&acts, 0), vec![0]);
    assert_eq!(member_sent(&acts, 1), vec![0]);
    assert_eq!(g.state(), State::Stop);
    assert_eq!(group_notifies(&acts), vec![State::Stop]);
}

#[test]
fn sync_group_startup_fault_when_a_member_is_down() {
    let cfg = group_config("");
    let mut g = group(&cfg);
    g.handle(Now(0), Event::InterfaceDown("eth1".into()));
    let acts = g.handle(Now(0), Event::Startup);
    assert_eq!(g.state(), State::Fault);
    assert_eq!(group_notifies(&acts), vec![State::Fault]);
    assert_eq!(g.members()[0].state(), State::Fault);
    assert_eq!(g.members()[1].state(), State::Fault);
    // Only the member with the fault notifies FAULT itself.
    let notifies: Vec<usize> = acts
        .iter()
        .filter_map(|a| match a {
            GroupAction::Member {
                index,
                action: Action::Notify(State::Fault),
            } => Some(*index),
            _ => None,
        })
        .collect();
    assert_eq!(notifies, vec![1]);
}

// ===== shutdown =====

#[test]
fn rfc5798_6_4_3_shutdown_sends_priority_zero() {
    let mut i = master_at(&instance("VI", 51, 150, ""), Now(4 * S));
    let acts = i.handle(Now(4 * S + 1), Event::Shutdown);
    assert_eq!(sent(&acts), vec![0]);
    assert!(acts.contains(&Action::RemoveVips));
    assert!(acts.contains(&Action::Notify(State::Stop)));
    assert_eq!(i.next_deadline(), None);

    // A backup stops silently.
    let mut i = single(&instance("VI", 51, 150, ""));
    i.handle(Now(0), Event::Startup);
    let acts = i.handle(Now(1), Event::Shutdown);
    assert!(sent(&acts).is_empty());
    assert!(!acts.contains(&Action::RemoveVips));
    assert!(acts.contains(&Action::Notify(State::Stop)));
}

#[test]
fn sync_group_waits_in_fault_for_a_members_first_script_result() {
    let cfg = load(&format!(
        "{SECURE}vrrp_script chk {{\n  script \"/bin/true\"\n}}\n\
         vrrp_sync_group G {{\n  group {{\n    VI_A\n    VI_B\n  }}\n}}\n{}{}",
        instance("VI_A", 51, 100, "  track_script {\n    chk\n  }"),
        instance("VI_B", 52, 100, "").replace("interface eth0", "interface eth1"),
    ));
    let mut g = group(&cfg);
    let acts = g.handle(Now(0), Event::Startup);
    // The group stays in INIT: nobody notifies, both members wait in FAULT.
    assert_eq!(g.state(), State::Init);
    assert!(group_notifies(&acts).is_empty());
    assert_eq!(g.members()[0].state(), State::Fault);
    assert_eq!(g.members()[1].state(), State::Fault);
    assert!(!acts.iter().any(|a| matches!(
        a,
        GroupAction::Member {
            action: Action::Notify(_),
            ..
        }
    )));
    let acts = g.handle(
        Now(S),
        Event::TrackScript {
            name: "chk".into(),
            ok: true,
        },
    );
    assert_eq!(g.state(), State::Backup);
    assert_eq!(
        member_transitions(&acts, 0),
        vec![(State::Fault, State::Backup)]
    );
    assert_eq!(
        member_transitions(&acts, 1),
        vec![(State::Fault, State::Backup)]
    );
    assert_eq!(group_notifies(&acts), vec![State::Backup]);
    assert_eq!(g.next_deadline(), Some(Now(S + 3_609_375)));
}
