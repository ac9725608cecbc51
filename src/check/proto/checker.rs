//! One checker's scheduling and up/down decisions, exactly as keepalived's per-checker epilogs
//! make them (check_tcp.c `tcp_epilog`, check_http.c `epilog`/`timeout_epilog`,
//! check_smtp.c `smtp_final`, check_misc.c `misc_check_child_thread`, check_dns.c `dns_final`).
//!
//! The driver feeds [`Event`]s and carries out [`Action`]s; all deadlines are absolute.
//!
//! keepalived facts this encodes:
//! - a checker starts "up" (or "down" with `alpha`), with `retry_it = retry`, so the very first
//!   failure takes it down without retries (check_data.c: "For non alpha mode, one failure is
//!   enough initially");
//! - later, a failure of an up checker is retried `retry` times, `delay_before_retry` apart,
//!   before the checker goes down; a down checker is simply re-tried every `delay_loop`;
//! - the first probe happens after a random part of `warmup` (default `delay_loop`);
//! - MISC_CHECK schedules from the start of the previous run, the others from its end;
//! - SMTP_CHECK resets its retry counter at every regular run, so it retries even while down;
//! - HTTP_GET / SSL_GET walk their `url` list one url per run, and retry the failing url.

use crate::config::model::Micros;

use super::Now;

/// Timing of one checker, after keepalived's inheritance (checker ← real_server ←
/// virtual_server ← default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timing {
    pub delay_loop: Micros,
    pub delay_before_retry: Micros,
    pub retry: u32,
    /// Upper bound of the random initial delay (keepalived default: `delay_loop`).
    pub warmup: Micros,
}

/// Which keepalived epilog the checker follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flavor {
    /// TCP_CHECK, UDP_CHECK, PING_CHECK, DNS_CHECK, FILE_CHECK.
    Standard,
    /// MISC_CHECK: like `Standard`, but the next run is timed from the previous run's start.
    Misc,
    /// SMTP_CHECK: retries restart at every regular run.
    Smtp,
    /// HTTP_GET / SSL_GET with `urls` urls (at least 1).
    Http { urls: usize, fast_recovery: bool },
}

/// The outcome of one probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
}

/// What happens to a checker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Start checking. `jitter` is a uniformly drawn `u32`: the first probe happens after
    /// `warmup * jitter / u32::MAX` (keepalived `register_checkers_thread`).
    Start { jitter: u32 },
    /// The armed deadline has passed.
    Timer,
    /// The probe the checker asked for finished.
    Result(Outcome),
}

/// What the driver must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Run one probe now (for HTTP/SSL: of url number `url`).
    Probe { url: usize },
    /// Call [`Checker::handle`] with [`Event::Timer`] at this instant.
    Arm(Now),
    /// keepalived's `update_svr_checker_state(up)`: `changed` when the checker flipped,
    /// `first` when this is the first result the checker reports.
    Report {
        up: bool,
        changed: bool,
        first: bool,
    },
}

/// Why keepalived called its epilog (check_http.c `register_checker_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    New,
    Retry,
    Failed,
}

/// One checker's state.
#[derive(Debug, Clone)]
pub struct Checker {
    timing: Timing,
    flavor: Flavor,
    is_up: bool,
    has_run: bool,
    retry_it: u32,
    /// HTTP: the url being checked and the url that is failing, if any.
    url_it: usize,
    failed_url: Option<usize>,
    /// When the running probe started (MISC_CHECK times its next run from here).
    last_start: Now,
    probing: bool,
    /// SMTP: the armed run is a retry (keeps `retry_it`).
    smtp_retry_pending: bool,
    deadline: Option<Now>,
}

impl Checker {
    /// A checker as keepalived sets it up at cold start.
    pub fn new(timing: Timing, flavor: Flavor, alpha: bool) -> Checker {
        Checker {
            timing,
            flavor,
            is_up: !alpha,
            has_run: false,
            retry_it: timing.retry,
            url_it: 0,
            failed_url: None,
            last_start: Now(0),
            probing: false,
            smtp_retry_pending: false,
            deadline: None,
        }
    }

    /// Whether the checker currently considers its target up.
    pub fn is_up(&self) -> bool {
        self.is_up
    }

    /// Whether the checker has reported a result yet.
    pub fn has_run(&self) -> bool {
        self.has_run
    }

    /// The pending deadline, if any.
    pub fn deadline(&self) -> Option<Now> {
        self.deadline
    }

    /// Carry over the state of the same checker from before a reload (keepalived
    /// `migrate_checkers`): up/down, has run, no retry in progress.
    pub fn migrate_from(&mut self, old: &Checker) {
        self.is_up = old.is_up;
        self.has_run = old.has_run;
        self.retry_it = 0;
    }

    pub fn handle(&mut self, now: Now, event: Event) -> Vec<Action> {
        let mut out = Vec::new();
        match event {
            Event::Start { jitter } => {
                let w = self.timing.warmup.0 as u128 * jitter as u128 / u32::MAX as u128;
                self.arm(now.add(Micros(w as u64)), &mut out);
            }
            Event::Timer => {
                if self.probing || self.deadline.is_none_or(|d| d > now) {
                    return out;
                }
                self.deadline = None;
                self.probing = true;
                self.last_start = now;
                if self.flavor == Flavor::Smtp && !self.smtp_retry_pending {
                    // smtp_start_check_thread
                    self.retry_it = 0;
                }
                out.push(Action::Probe {
                    url: match self.flavor {
                        Flavor::Http { .. } => self.url_it,
                        _ => 0,
                    },
                });
            }
            Event::Result(outcome) => {
                if !self.probing {
                    return out;
                }
                self.probing = false;
                let delay = match self.flavor {
                    Flavor::Standard | Flavor::Misc => self.standard(outcome, &mut out),
                    Flavor::Smtp => self.smtp(outcome, &mut out),
                    Flavor::Http {
                        urls,
                        fast_recovery,
                    } => self.http(outcome, urls, fast_recovery, &mut out),
                };
                let at = if self.flavor == Flavor::Misc {
                    // check_misc.c: timed from the run's start; an overdue run starts 1 µs
                    // from now.
                    let at = self.last_start.add(delay);
                    if at <= now { now.add(Micros(1)) } else { at }
                } else {
                    now.add(delay)
                };
                self.arm(at, &mut out);
            }
        }
        out
    }

    fn arm(&mut self, at: Now, out: &mut Vec<Action>) {
        self.deadline = Some(at);
        out.push(Action::Arm(at));
    }

    fn report(&mut self, up: bool, out: &mut Vec<Action>) {
        let changed = self.is_up != up;
        out.push(Action::Report {
            up,
            changed,
            first: !self.has_run,
        });
        self.is_up = up;
        self.has_run = true;
    }

    /// check_tcp.c `tcp_epilog` (also UDP, PING; DNS and MISC reduce to the same rules).
    fn standard(&mut self, outcome: Outcome, out: &mut Vec<Action>) -> Micros {
        let success = outcome == Outcome::Success;
        let mut delay = self.timing.delay_loop;
        if success || ((self.is_up || !self.has_run) && self.retry_it >= self.timing.retry) {
            self.retry_it = 0;
            if success && (!self.is_up || !self.has_run) {
                self.report(true, out);
            } else if !success && (self.is_up || !self.has_run) {
                self.report(false, out);
            }
        } else if self.is_up {
            delay = self.timing.delay_before_retry;
            self.retry_it += 1;
        }
        self.has_run = true;
        delay
    }

    /// check_smtp.c `smtp_final`.
    fn smtp(&mut self, outcome: Outcome, out: &mut Vec<Action>) -> Micros {
        self.smtp_retry_pending = false;
        if outcome == Outcome::Failure {
            self.retry_it += 1;
            if self.retry_it <= self.timing.retry {
                self.smtp_retry_pending = true;
                return self.timing.delay_before_retry;
            }
            if self.is_up || !self.has_run {
                self.report(false, out);
            }
            return self.timing.delay_loop;
        }
        self.retry_it = 0;
        if !self.is_up || !self.has_run {
            self.report(true, out);
        }
        self.has_run = true;
        self.timing.delay_loop
    }

    /// check_http.c `timeout_epilog` + `epilog`.
    fn http(
        &mut self,
        outcome: Outcome,
        urls: usize,
        fast_recovery: bool,
        out: &mut Vec<Action>,
    ) -> Micros {
        let urls = urls.max(1);
        let method = match outcome {
            Outcome::Success => Method::New,
            Outcome::Failure if self.is_up || !self.has_run => {
                // timeout_epilog marks the checker as run before the epilog.
                self.has_run = true;
                Method::Retry
            }
            Outcome::Failure => Method::Failed,
        };
        let mut url_done = false;
        match method {
            Method::New => {
                if self.url_it + 1 >= urls {
                    url_done = true;
                } else {
                    self.url_it += 1;
                }
                self.retry_it = 0;
            }
            Method::Retry => self.retry_it += 1,
            Method::Failed => {}
        }
        if method == Method::New && url_done && self.failed_url.is_none() {
            // Every url passed.
            if !self.is_up || !self.has_run {
                self.report(true, out);
            }
            self.url_it = 0;
            self.retry_it = 0;
        } else if method == Method::Retry && self.retry_it > self.timing.retry {
            if self.is_up || !self.has_run {
                self.report(false, out);
            }
            self.failed_url = Some(self.url_it);
        } else if method == Method::New && self.failed_url.is_some() {
            // The failed url works again: check them all from the first.
            self.failed_url = None;
            self.url_it = 0;
            self.retry_it = 0;
        }
        let delay = if method == Method::New {
            if !self.has_run {
                self.retry_it = self.timing.retry;
            }
            self.timing.delay_loop
        } else if self.failed_url.is_some() {
            self.timing.delay_before_retry.max(self.timing.delay_loop)
        } else {
            self.timing.delay_before_retry
        };
        if fast_recovery && (!self.has_run || (!self.is_up && self.failed_url.is_none())) {
            return Micros(0);
        }
        delay
    }
}
