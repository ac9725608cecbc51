//! The sans-IO checker cores driven with synthetic time: keepalived's retry /
//! delay_before_retry / warmup / alpha rules, the real-server and virtual-server pool
//! (several checkers, inhibit, quorum with hysteresis, sorry server, dynamic weights), and
//! the protocol evaluators (HTTP, UDP, DNS, SMTP, MISC, FILE). No sockets, no sleeps: every
//! deadline is checked to the microsecond.

use std::net::IpAddr;

use keepalived_rs::check::proto::Now;
use keepalived_rs::check::proto::checker::{Action, Checker, Event, Flavor, Outcome, Timing};
use keepalived_rs::check::proto::http::{
    HttpFailure, HttpProtocol, Limits, Mode, Progress, ResponseEval, UrlCheck, build_request,
    parse_digest,
};
use keepalived_rs::check::proto::pool::{
    self, Dest, DestRole, Pool, RsSpec, SlotSpec, SorrySpec, VsSpec, WeightChange,
};
use keepalived_rs::check::proto::{dns, file, misc, smtp, udp};
use keepalived_rs::config::model::Micros;

const S: u64 = 1_000_000;

fn timing(delay_loop: u64, dbr: u64, retry: u32) -> Timing {
    Timing {
        delay_loop: Micros(delay_loop * S),
        delay_before_retry: Micros(dbr * S),
        retry,
        warmup: Micros(delay_loop * S),
    }
}

/// One probe: its start time, its outcome, and the (up, changed, first) reports it caused.
type Step = (u64, Outcome, Vec<(bool, bool, bool)>);

/// Drive a checker through a list of probe outcomes, each probe taking `probe_us`.
fn drive(ck: &mut Checker, outcomes: &[Outcome], probe_us: u64) -> Vec<Step> {
    let mut out = Vec::new();
    let mut acts = ck.handle(Now(0), Event::Start { jitter: 0 });
    for &o in outcomes {
        let Some(Action::Arm(at)) = acts.iter().find(|a| matches!(a, Action::Arm(_))).copied()
        else {
            panic!("no deadline armed: {acts:?}");
        };
        let fired = ck.handle(at, Event::Timer);
        assert!(
            fired.iter().any(|a| matches!(a, Action::Probe { .. })),
            "timer at {at} did not probe"
        );
        acts = ck.handle(Now(at.0 + probe_us), Event::Result(o));
        let reports = acts
            .iter()
            .filter_map(|a| match a {
                Action::Report { up, changed, first } => Some((*up, *changed, *first)),
                _ => None,
            })
            .collect();
        out.push((at.0, o, reports));
    }
    out
}

use Outcome::{Failure as F, Success as OK};

#[test]
fn first_failure_takes_checker_down_without_retries() {
    // keepalived starts checkers with retry_it = retry: "one failure is enough initially".
    let mut ck = Checker::new(timing(10, 2, 3), Flavor::Standard, false);
    let r = drive(&mut ck, &[F], 0);
    assert_eq!(r[0].2, vec![(false, true, true)]);
    assert!(!ck.is_up());
}

#[test]
fn up_checker_retries_then_goes_down_with_delay_before_retry_spacing() {
    let mut ck = Checker::new(timing(10, 2, 3), Flavor::Standard, false);
    // ok at 0, then 3 failures retried 2 s apart, 4th failure => down, then delay_loop.
    let r = drive(&mut ck, &[OK, F, F, F, F, F, OK], 0);
    let times: Vec<u64> = r.iter().map(|x| x.0 / S).collect();
    assert_eq!(times, vec![0, 10, 12, 14, 16, 26, 36]);
    let reports: Vec<_> = r.iter().map(|x| x.2.clone()).collect();
    assert_eq!(
        reports[0],
        vec![(true, false, true)],
        "first success confirms up"
    );
    assert!(
        reports[1..4].iter().all(Vec::is_empty),
        "retries report nothing"
    );
    assert_eq!(
        reports[4],
        vec![(false, true, false)],
        "down after 3 retries"
    );
    assert!(reports[5].is_empty(), "a down checker is not re-reported");
    assert_eq!(reports[6], vec![(true, true, false)]);
}

#[test]
fn next_check_is_timed_from_the_end_of_the_probe() {
    let mut ck = Checker::new(timing(5, 1, 0), Flavor::Standard, false);
    let r = drive(&mut ck, &[OK, OK, OK], 300_000);
    let times: Vec<u64> = r.iter().map(|x| x.0).collect();
    assert_eq!(times, vec![0, 5_300_000, 10_600_000]);
}

#[test]
fn misc_check_is_timed_from_the_start_of_the_run() {
    let mut ck = Checker::new(timing(5, 1, 0), Flavor::Misc, false);
    let r = drive(&mut ck, &[OK, OK, OK], 300_000);
    let times: Vec<u64> = r.iter().map(|x| x.0).collect();
    assert_eq!(times, vec![0, 5_000_000, 10_000_000]);
    // A run longer than delay_loop: the next one starts 1 µs after it ended.
    let mut ck = Checker::new(timing(1, 1, 0), Flavor::Misc, false);
    let r = drive(&mut ck, &[OK, OK], 3 * S);
    assert_eq!(r[1].0, 3 * S + 1);
}

#[test]
fn warmup_delays_the_first_probe_by_the_drawn_fraction() {
    let mut ck = Checker::new(timing(60, 1, 1), Flavor::Standard, false);
    let a = ck.handle(
        Now(1000),
        Event::Start {
            jitter: u32::MAX / 2,
        },
    );
    assert_eq!(a, vec![Action::Arm(Now(1000 + 30 * S - 1))]);
    // Early timers are ignored.
    assert!(ck.handle(Now(2000), Event::Timer).is_empty());
}

#[test]
fn alpha_checker_starts_down_and_its_first_failure_is_reported_unchanged() {
    let mut ck = Checker::new(timing(10, 1, 2), Flavor::Standard, true);
    assert!(!ck.is_up());
    let r = drive(&mut ck, &[F, OK], 0);
    assert_eq!(r[0].2, vec![(false, false, true)]);
    assert_eq!(r[1].2, vec![(true, true, false)]);
}

#[test]
fn smtp_retries_even_while_down() {
    let mut ck = Checker::new(timing(10, 2, 1), Flavor::Smtp, false);
    let r = drive(&mut ck, &[F, F, F, F, OK], 0);
    let times: Vec<u64> = r.iter().map(|x| x.0 / S).collect();
    // Each regular run gets one retry 2 s later, up or down.
    assert_eq!(times, vec![0, 2, 12, 14, 24]);
    assert_eq!(r[1].2, vec![(false, true, true)]);
    assert!(r[3].2.is_empty());
    assert_eq!(r[4].2, vec![(true, true, false)]);
}

#[test]
fn http_walks_urls_one_per_delay_loop_and_retries_the_failing_one() {
    let flavor = Flavor::Http {
        urls: 2,
        fast_recovery: false,
    };
    let mut ck = Checker::new(timing(10, 3, 1), flavor, false);
    let mut acts = ck.handle(Now(0), Event::Start { jitter: 0 });
    let mut log = Vec::new();
    let outcomes = [OK, OK, OK, F, F, OK, OK, OK];
    for o in outcomes {
        let at = match acts.iter().find_map(|a| match a {
            Action::Arm(t) => Some(*t),
            _ => None,
        }) {
            Some(t) => t,
            None => panic!("no deadline: {acts:?}"),
        };
        let url = ck
            .handle(at, Event::Timer)
            .into_iter()
            .find_map(|a| match a {
                Action::Probe { url } => Some(url),
                _ => None,
            })
            .expect("probe");
        acts = ck.handle(at, Event::Result(o));
        let rep: Vec<bool> = acts
            .iter()
            .filter_map(|a| match a {
                Action::Report { up, .. } => Some(*up),
                _ => None,
            })
            .collect();
        log.push((at.0 / S, url, rep));
    }
    assert_eq!(
        log,
        vec![
            (0, 0, vec![]),
            (10, 1, vec![true]), // both urls passed: up (first run)
            (20, 0, vec![]),
            (30, 1, vec![]),      // url 1 fails: retry after delay_before_retry
            (33, 1, vec![false]), // retry fails: down, url 1 marked failed
            (43, 1, vec![]),      // failed url retried after max(dbr, delay_loop); works
            (53, 0, vec![]),      // all urls again from the first
            (63, 1, vec![true]),
        ]
    );
}

// ===== pool =====

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

fn rs(addr: &str, weight: i64, inhibit: bool, checkers: &[usize]) -> RsSpec {
    RsSpec {
        addr: ip(addr),
        port: 80,
        weight,
        inhibit,
        slots: checkers
            .iter()
            .map(|&c| SlotSpec {
                checker: c,
                initially_up: true,
                alpha: false,
            })
            .collect(),
    }
}

fn ev(id: usize, up: bool) -> pool::Event {
    pool::Event::Checker {
        id,
        up,
        changed: true,
        first: false,
    }
}

fn weights(p: &Pool, vs: usize) -> Vec<(DestRole, u32)> {
    p.service_table(vs)
        .dests
        .iter()
        .map(|d: &Dest| (d.role, d.weight))
        .collect()
}

#[test]
fn a_real_server_is_up_only_while_all_its_checkers_are() {
    let mut p = Pool::new(vec![VsSpec {
        quorum: 1,
        hysteresis: 0,
        omega: false,
        sorry: None,
        real_servers: vec![rs("10.0.0.1", 3, false, &[0, 1])],
    }]);
    p.handle(pool::Event::Init);
    assert_eq!(weights(&p, 0), vec![(DestRole::Real(0), 3)]);
    let a = p.handle(ev(0, false));
    assert!(a.contains(&pool::Action::RsNotify {
        vs: 0,
        rs: 0,
        up: false
    }));
    assert!(weights(&p, 0).is_empty());
    // The second checker failing too changes nothing more.
    assert!(
        !p.handle(ev(1, false))
            .iter()
            .any(|a| matches!(a, pool::Action::RsNotify { .. }))
    );
    // One checker recovering is not enough.
    p.handle(ev(0, true));
    assert!(!p.rs_alive(0, 0));
    let a = p.handle(ev(1, true));
    assert!(a.contains(&pool::Action::RsNotify {
        vs: 0,
        rs: 0,
        up: true
    }));
    assert_eq!(weights(&p, 0), vec![(DestRole::Real(0), 3)]);
}

#[test]
fn inhibit_on_failure_keeps_the_destination_at_weight_zero() {
    let mut p = Pool::new(vec![VsSpec {
        quorum: 1,
        hysteresis: 0,
        omega: false,
        sorry: None,
        real_servers: vec![
            rs("10.0.0.1", 5, true, &[0]),
            rs("10.0.0.2", 5, false, &[1]),
        ],
    }]);
    p.handle(pool::Event::Init);
    p.handle(ev(0, false));
    p.handle(ev(1, false));
    assert_eq!(weights(&p, 0), vec![(DestRole::Real(0), 0)]);
    p.handle(ev(0, true));
    assert_eq!(weights(&p, 0), vec![(DestRole::Real(0), 5)]);
}

#[test]
fn quorum_with_hysteresis_brings_the_sorry_server_in_and_out() {
    // Three servers of weight 2, quorum 4, hysteresis 1: lost below 3, regained at 5.
    let mut p = Pool::new(vec![VsSpec {
        quorum: 4,
        hysteresis: 1,
        omega: false,
        sorry: Some(SorrySpec {
            addr: ip("10.9.9.9"),
            port: 80,
            weight: 1,
            inhibit: false,
        }),
        real_servers: vec![
            rs("10.0.0.1", 2, false, &[0]),
            rs("10.0.0.2", 2, false, &[1]),
            rs("10.0.0.3", 2, false, &[2]),
        ],
    }]);
    let a = p.handle(pool::Event::Init);
    assert!(p.quorum_up(0));
    assert!(!a.iter().any(|a| matches!(a, pool::Action::VsNotify { .. })));
    // 6 -> 4: still >= quorum - hysteresis = 3.
    p.handle(ev(0, false));
    assert!(p.quorum_up(0));
    // 4 -> 2: lost; the sorry server replaces the remaining real servers.
    let a = p.handle(ev(1, false));
    assert!(a.contains(&pool::Action::VsNotify {
        vs: 0,
        up: false,
        init: false
    }));
    assert!(!p.quorum_up(0));
    assert_eq!(weights(&p, 0), vec![(DestRole::Sorry, 1)]);
    // 2 -> 4: not enough to regain (needs quorum + hysteresis = 5).
    p.handle(ev(1, true));
    assert!(!p.quorum_up(0));
    assert_eq!(weights(&p, 0), vec![(DestRole::Sorry, 1)]);
    // 4 -> 6: regained, sorry server out, real servers back.
    let a = p.handle(ev(0, true));
    assert!(a.contains(&pool::Action::VsNotify {
        vs: 0,
        up: true,
        init: false
    }));
    assert_eq!(
        weights(&p, 0),
        vec![
            (DestRole::Real(0), 2),
            (DestRole::Real(1), 2),
            (DestRole::Real(2), 2)
        ]
    );
}

#[test]
fn starting_with_quorum_down_puts_the_sorry_server_in_at_init() {
    let mut p = Pool::new(vec![VsSpec {
        quorum: 1,
        hysteresis: 0,
        omega: false,
        sorry: Some(SorrySpec {
            addr: ip("10.9.9.9"),
            port: 80,
            weight: 1,
            inhibit: true,
        }),
        real_servers: vec![RsSpec {
            slots: vec![SlotSpec {
                checker: 0,
                initially_up: false,
                alpha: true,
            }],
            ..rs("10.0.0.1", 1, false, &[])
        }],
    }]);
    let a = p.handle(pool::Event::Init);
    assert!(a.contains(&pool::Action::VsNotify {
        vs: 0,
        up: false,
        init: true
    }));
    assert_eq!(weights(&p, 0), vec![(DestRole::Sorry, 1)]);
    // Alpha: the first failure is announced although nothing changed.
    let a = p.handle(pool::Event::Checker {
        id: 0,
        up: false,
        changed: false,
        first: true,
    });
    assert_eq!(
        a,
        vec![pool::Action::RsNotify {
            vs: 0,
            rs: 0,
            up: false
        }]
    );
    p.handle(ev(0, true));
    // sorry_server_inhibit: kept at weight 0 once quorum is back.
    assert_eq!(
        weights(&p, 0),
        vec![(DestRole::Real(0), 1), (DestRole::Sorry, 0)]
    );
}

#[test]
fn misc_dynamic_weight_changes_quorum() {
    let mut p = Pool::new(vec![VsSpec {
        quorum: 3,
        hysteresis: 0,
        omega: false,
        sorry: None,
        real_servers: vec![rs("10.0.0.1", 3, false, &[0])],
    }]);
    p.handle(pool::Event::Init);
    let a = p.handle(pool::Event::Weight {
        id: 0,
        change: WeightChange::Absolute(1),
        requorum: true,
    });
    assert_eq!(p.rs_weight(0, 0), 1);
    assert!(a.contains(&pool::Action::VsNotify {
        vs: 0,
        up: false,
        init: false
    }));
    assert_eq!(weights(&p, 0), vec![(DestRole::Real(0), 1)]);
    let a = p.handle(pool::Event::Weight {
        id: 0,
        change: WeightChange::Relative(0),
        requorum: true,
    });
    assert_eq!(p.rs_weight(0, 0), 3);
    assert!(a.contains(&pool::Action::VsNotify {
        vs: 0,
        up: true,
        init: false
    }));
}

#[test]
fn one_shared_checker_drives_every_virtual_server_it_serves() {
    let vs = |a| VsSpec {
        quorum: 1,
        hysteresis: 0,
        omega: false,
        sorry: None,
        real_servers: vec![rs(a, 1, false, &[0])],
    };
    let mut p = Pool::new(vec![vs("10.0.0.1"), vs("10.0.0.1")]);
    p.handle(pool::Event::Init);
    let a = p.handle(ev(0, false));
    let n = a
        .iter()
        .filter(|a| matches!(a, pool::Action::RsNotify { up: false, .. }))
        .count();
    assert_eq!(n, 2);
    assert!(!p.rs_alive(0, 0) && !p.rs_alive(1, 0));
}

#[test]
fn shutdown_notifies_only_with_omega() {
    let mk = |omega| VsSpec {
        quorum: 1,
        hysteresis: 0,
        omega,
        sorry: None,
        real_servers: vec![rs("10.0.0.1", 1, false, &[0])],
    };
    let mut p = Pool::new(vec![mk(false), mk(true)]);
    p.handle(pool::Event::Init);
    let a = p.handle(pool::Event::Shutdown);
    assert!(a.contains(&pool::Action::RsNotify {
        vs: 1,
        rs: 0,
        up: false
    }));
    assert!(a.contains(&pool::Action::VsNotify {
        vs: 1,
        up: false,
        init: false
    }));
    assert!(
        !a.iter()
            .any(|a| matches!(a, pool::Action::RsNotify { vs: 0, .. }))
    );
}

#[test]
fn fifo_lines_have_keepalived_shape() {
    let rs = pool::fmt_trio(ip("10.0.0.1"), "tcp", 80);
    let vs = pool::fmt_trio(ip("192.168.1.1"), "tcp", 80);
    assert_eq!(
        pool::fifo_rs_line(&rs, &vs, false),
        "RS [10.0.0.1]:tcp:80 [192.168.1.1]:tcp:80 DOWN\n"
    );
    assert_eq!(
        pool::fifo_vs_line(&vs, true),
        "VS [192.168.1.1]:tcp:80 UP\n"
    );
}

/// Checker and pool wired together with synthetic time: a server that fails at t=35 s is
/// removed exactly after retry × delay_before_retry, and comes back at the next success.
#[test]
fn checker_and_pool_together_follow_keepalived_timing() {
    let mut ck = Checker::new(timing(10, 3, 2), Flavor::Standard, false);
    let mut p = Pool::new(vec![VsSpec {
        quorum: 1,
        hysteresis: 0,
        omega: false,
        sorry: None,
        real_servers: vec![rs("10.0.0.1", 1, true, &[0])],
    }]);
    p.handle(pool::Event::Init);
    let server_up = |t: u64| !(35 * S..50 * S).contains(&t);
    let mut acts = ck.handle(Now(0), Event::Start { jitter: 0 });
    let mut events = Vec::new();
    for _ in 0..10 {
        let at = acts
            .iter()
            .find_map(|a| match a {
                Action::Arm(t) => Some(*t),
                _ => None,
            })
            .expect("armed");
        ck.handle(at, Event::Timer);
        let o = if server_up(at.0) { OK } else { F };
        acts = ck.handle(at, Event::Result(o));
        for a in &acts {
            if let Action::Report { up, changed, first } = *a {
                for pa in p.handle(pool::Event::Checker {
                    id: 0,
                    up,
                    changed,
                    first,
                }) {
                    if let pool::Action::RsNotify { up, .. } = pa {
                        events.push((at.0 / S, up, weights(&p, 0)));
                    }
                }
            }
        }
    }
    assert_eq!(
        events,
        vec![
            (46, false, vec![(DestRole::Real(0), 0)]), // fails at 40, 43, 46 (2 retries)
            (56, true, vec![(DestRole::Real(0), 1)]),
        ]
    );
}

// ===== HTTP =====

fn feed_all(
    url: &UrlCheck,
    chunks: &[&[u8]],
    limits: Limits,
) -> keepalived_rs::check::proto::http::Verdict {
    let mut e = ResponseEval::new(url, limits, Mode::Check);
    for c in chunks {
        if let Progress::Done(v) = e.feed(c) {
            return v;
        }
    }
    e.eof()
}

#[test]
fn request_has_keepalived_shape() {
    let t = "10.0.0.1:8080".parse().expect("addr");
    assert_eq!(
        build_request("/health", HttpProtocol::V1_0, None, t),
        "GET /health HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: 10.0.0.1:8080\r\n\r\n"
    );
    assert_eq!(
        build_request("/", HttpProtocol::V1_1, Some("www.example.com"), t),
        "GET / HTTP/1.1\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: www.example.com\r\n\r\n"
    );
    let t6 = "[2001:db8::1]:80".parse().expect("addr");
    assert!(
        build_request("/", HttpProtocol::V1_0C, None, t6).contains("Host: [2001:db8::1]:80\r\n")
    );
}

#[test]
fn status_codes_default_and_ranges() {
    let mut u = UrlCheck::new("/");
    assert!(u.status_ok(200) && u.status_ok(299) && !u.status_ok(301) && !u.status_ok(500));
    u.status_codes = vec![(200, 200), (300, 399)];
    assert!(u.status_ok(302) && !u.status_ok(204));
    assert!(!u.status_ok(99) && !u.status_ok(600));
    let v = feed_all(
        &UrlCheck::new("/"),
        &[b"HTTP/1.0 500 Oops\r\n\r\n"],
        Limits::default(),
    );
    assert_eq!(v.result, Err(HttpFailure::Status(500)));
}

#[test]
fn digest_is_md5_of_body_bounded_by_content_length() {
    let mut u = UrlCheck::new("/");
    // md5("hello world\n")
    u.digest = parse_digest("6f5902ac237024bdd0c176cb93063dc4");
    let v = feed_all(
        &u,
        &[
            b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n",
            b"\r\nhello ",
            b"world\nTRAILING",
        ],
        Limits::default(),
    );
    assert_eq!(v.result, Ok(()));
    assert_eq!(v.body_bytes, 12);
    let v = feed_all(
        &u,
        &[b"HTTP/1.0 200 OK\r\n\r\nhello there\n"],
        Limits::default(),
    );
    assert!(matches!(v.result, Err(HttpFailure::Digest(_))));
}

#[test]
fn regex_and_regex_no_match() {
    let mut u = UrlCheck::new("/");
    u.regex = Some(regex::bytes::Regex::new("status: (ok|fine)").expect("regex"));
    let v = feed_all(
        &u,
        &[b"HTTP/1.0 200 OK\r\n\r\nstatus: fi", b"ne\n"],
        Limits::default(),
    );
    assert_eq!(v.result, Ok(()));
    u.regex_no_match = true;
    let v = feed_all(
        &u,
        &[b"HTTP/1.0 200 OK\r\n\r\nstatus: fine\n"],
        Limits::default(),
    );
    assert_eq!(v.result, Err(HttpFailure::Regex(true)));
}

#[test]
fn garbage_huge_headers_and_huge_bodies_fail_with_bounded_memory() {
    let u = UrlCheck::new("/");
    let v = feed_all(&u, &[b"\x00\x01garbage\r\n\r\n"], Limits::default());
    assert_eq!(v.result, Err(HttpFailure::BadHeader));
    let v = feed_all(&u, &[b"complete nonsense without end"], Limits::default());
    assert_eq!(v.result, Err(HttpFailure::NoData));
    let limits = Limits {
        max_header: 1024,
        max_body: 4096,
        max_regex_window: 64,
    };
    let mut e = ResponseEval::new(&u, limits, Mode::Check);
    let junk = [b'a'; 512];
    let mut done = None;
    for _ in 0..100 {
        if let Progress::Done(v) = e.feed(&junk) {
            done = Some(v);
            break;
        }
    }
    assert_eq!(
        done.map(|v| v.result),
        Some(Err(HttpFailure::HeaderTooLarge(1024)))
    );
    // Without digest or regex, the verdict comes at the end of the header: the body is never
    // read.
    let mut e = ResponseEval::new(&u, limits, Mode::Check);
    assert!(matches!(e.feed(b"HTTP/1.0 200 OK\r\n\r\nxx"), Progress::Done(v) if v.result.is_ok()));
    // With a digest, a body past max_body fails.
    let mut u = UrlCheck::new("/");
    u.digest = Some([0; 16]);
    let mut e = ResponseEval::new(&u, limits, Mode::Check);
    assert_eq!(e.feed(b"HTTP/1.0 200 OK\r\n\r\n"), Progress::NeedMore);
    let mut res = None;
    for _ in 0..100 {
        if let Progress::Done(v) = e.feed(&junk) {
            res = Some(v.result);
            break;
        }
    }
    assert_eq!(res, Some(Err(HttpFailure::BodyTooLarge(4096))));
}

// ===== UDP, DNS, SMTP, MISC, FILE =====

#[test]
fn udp_reply_patterns_with_wildcard_nibbles() {
    let p = udp::parse_hex("de ad xX 0f x1", true).expect("pattern");
    assert_eq!(p.data, vec![0xde, 0xad, 0x00, 0x0f, 0x01]);
    assert_eq!(p.care, vec![0xff, 0xff, 0x00, 0xff, 0x0f]);
    let c = udp::ReplyCheck {
        pattern: Some(p),
        min_len: 2,
        max_len: 8,
    };
    assert!(c.matches(&[0xde, 0xad, 0x77, 0x0f, 0xf1, 0x99]));
    assert!(
        c.matches(&[0xde, 0xad]),
        "only the common prefix is compared"
    );
    assert!(!c.matches(&[0xde, 0xae, 0, 0x0f]));
    assert!(!c.matches(&[0xde, 0xad, 0, 0x0f, 0x12]));
    assert!(!c.matches(&[0xde]), "shorter than min_reply_length");
    assert!(
        !c.matches(&[0xde, 0xad, 0, 0x0f, 1, 0, 0, 0, 0]),
        "longer than max"
    );
    assert!(udp::parse_hex("zz", true).is_err());
    assert!(
        udp::parse_hex("xx", false).is_err(),
        "no wildcards in payloads"
    );
    assert_eq!(
        udp::parse_hex("a bc", false).map(|p| p.data),
        Ok(vec![0x0a, 0xbc])
    );
}

#[test]
fn dns_query_and_reply_evaluation() {
    let q = dns::build_query(0x1234, "www.example.com", dns::QType::A).expect("query");
    assert_eq!(&q[..4], &[0x12, 0x34, 0x01, 0x00]);
    assert_eq!(&q[12..], b"\x03www\x07example\x03com\x00\x00\x01\x00\x01");
    let root = dns::build_query(1, ".", dns::QType::default()).expect("query");
    assert_eq!(&root[12..], &[0, 0, 6, 0, 1]);
    let mut reply = q.clone();
    reply[2] |= 0x80;
    assert_eq!(dns::evaluate_reply(0x1234, &reply), dns::ReplyVerdict::Ok);
    assert_eq!(
        dns::evaluate_reply(0x1235, &reply),
        dns::ReplyVerdict::Ignore
    );
    assert_eq!(
        dns::evaluate_reply(0x1234, &q),
        dns::ReplyVerdict::Ignore,
        "a query"
    );
    reply[3] |= 3;
    assert_eq!(
        dns::evaluate_reply(0x1234, &reply),
        dns::ReplyVerdict::Rcode(3)
    );
    assert_eq!(
        dns::evaluate_reply(0x1234, &reply[..5]),
        dns::ReplyVerdict::Ignore
    );
    assert!(dns::build_query(1, &"a".repeat(64), dns::QType::A).is_err());
    assert_eq!(dns::QType::parse("aaaa"), Some(dns::QType::Aaaa));
}

#[test]
fn smtp_dialogue() {
    let mut d = smtp::Dialogue::new("me.example");
    assert_eq!(d.feed(b"220-first line\r\n220 mail"), smtp::Step::NeedMore);
    assert_eq!(
        d.feed(b".example ESMTP\r\n"),
        smtp::Step::Send(b"HELO me.example\r\n".to_vec())
    );
    assert_eq!(
        d.feed(b"250 hello\r\n"),
        smtp::Step::Send(b"QUIT\r\n".to_vec())
    );
    assert_eq!(d.feed(b"221 bye\r\n"), smtp::Step::Success);
    let mut d = smtp::Dialogue::new("x");
    assert_eq!(
        d.feed(b"554 go away\r\n"),
        smtp::Step::Fail(smtp::SmtpFailure::BadBanner)
    );
    let mut d = smtp::Dialogue::new("x");
    d.feed(b"220 ok\r\n");
    assert_eq!(
        d.feed(b"500 what\r\n"),
        smtp::Step::Fail(smtp::SmtpFailure::BadHelo)
    );
    let mut d = smtp::Dialogue::new("x");
    let long = vec![b'2'; 600];
    assert!(matches!(
        d.feed(&long),
        smtp::Step::Fail(smtp::SmtpFailure::LineTooLong(_))
    ));
    let mut d = smtp::Dialogue::new("x");
    assert_eq!(d.eof(), smtp::Step::Fail(smtp::SmtpFailure::Closed));
}

#[test]
fn misc_exit_codes() {
    use keepalived_rs::check::proto::misc::{ScriptEnd, evaluate};
    assert!(evaluate(ScriptEnd::Exited(0), false).up);
    assert!(!evaluate(ScriptEnd::Exited(1), true).up);
    assert!(
        !evaluate(ScriptEnd::Exited(7), false).up,
        "2-255 only with misc_dynamic"
    );
    let v = evaluate(ScriptEnd::Exited(7), true);
    assert!(v.up);
    assert_eq!(v.weight, Some(WeightChange::Absolute(5)));
    assert_eq!(
        evaluate(ScriptEnd::Exited(0), true).weight,
        Some(WeightChange::Relative(0))
    );
    let v = misc::evaluate(
        ScriptEnd::Signaled {
            signal: 15,
            timed_out: true,
        },
        true,
    );
    assert!(!v.up);
}

#[test]
fn file_values() {
    assert_eq!(file::parse_value(" 42\n"), 42);
    assert_eq!(file::parse_value("0x10"), 16);
    assert_eq!(file::parse_value("010"), 8);
    assert_eq!(file::parse_value("-3abc"), -3);
    assert_eq!(file::parse_value("junk"), 0);
    assert_eq!(file::evaluate(0, 0, false), file::FileVerdict::Up(0));
    assert_eq!(file::evaluate(1, 0, false), file::FileVerdict::Down);
    assert_eq!(file::evaluate(1, 0, true), file::FileVerdict::Up(0));
    assert_eq!(file::evaluate(3, 2, false), file::FileVerdict::Up(6));
    assert_eq!(file::evaluate(3, 2, true), file::FileVerdict::Up(-6));
    assert_eq!(
        file::evaluate(i64::MIN / 2, 5, false),
        file::FileVerdict::Down
    );
}
