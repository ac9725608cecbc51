//! The host operations the VRRP engine performs (VIPs, routes, rules through rtnetlink;
//! gratuitous ARP / NA through a packet socket), and the [`Ledger`] of what it installed.
//!
//! keepalived runs VRRP in a child process; when that child dies, the kernel objects it
//! created outlive it and its successor starts from a clean slate. keepalived-rs runs the
//! engine as a task of the daemon, so the record of what the kernel created for it must not
//! die with the task: the rtnetlink managers (which remember exactly the addresses, routes
//! and rules the kernel created for us, see [`crate::netlink`]) are owned by the [`Ledger`],
//! outside the engine. The engine reaches them through [`Ledger::host`]; the supervisor
//! ([`super::supervise`]) releases everything they hold when the engine ends without having
//! been asked to ([`Ledger::release`]), so no VIP is left on an interface with nobody
//! sending adverts for it.
//!
//! This module must not decide when to release: it only does what the supervisor asks.

use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tracing::warn;

use crate::config::model::{IpAddress, Route, Rule};
use crate::netlink::route::{Added, RouteSpec};
use crate::netlink::rule::RuleSpec;
use crate::netlink::{AddressManager, AddressSpec, RouteManager};
use crate::vrrp::engine::{AnnounceOps, Host, RouteOps, VipOps};
use crate::vrrp::garp::GarpSender;

/// The rtnetlink managers, or why one could not be opened.
struct Held {
    vips: Result<AddressManager, String>,
    routes: Result<RouteManager, String>,
}

/// What the VRRP engine installed on the host, kept outside the engine (see the module
/// documentation). Clones share one record.
#[derive(Clone)]
pub struct Ledger(Arc<Mutex<Held>>);

/// What [`Ledger::release`] removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Released {
    pub vips: usize,
    pub routes: usize,
    pub rules: usize,
}

impl Ledger {
    /// Opens the rtnetlink sockets. A socket that cannot be opened is logged; every
    /// operation through it then fails (and the engine logs each failure) instead of the
    /// daemon dying.
    pub fn open() -> Ledger {
        let vips = AddressManager::new().map_err(|e| {
            warn!("Cannot open rtnetlink socket: {e}");
            e.to_string()
        });
        let routes = RouteManager::new().map_err(|e| e.to_string());
        Ledger(Arc::new(Mutex::new(Held { vips, routes })))
    }

    /// A panic in the engine while it held the lock leaves the record as it was before the
    /// call that panicked: still the right thing to release.
    fn lock(&self) -> MutexGuard<'_, Held> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The host for one run of the engine: VIPs, routes and rules recorded here; a fresh
    /// packet socket for the announcements.
    pub fn host(&self) -> Host {
        let announce: Box<dyn AnnounceOps> = match GarpSender::new() {
            Ok(s) => Box::new(PacketAnnounce(s)),
            Err(e) => {
                warn!("Cannot open gratuitous ARP socket: {e}");
                Box::new(Unavailable(e.to_string()))
            }
        };
        Host {
            vips: Box::new(NetlinkVips(self.clone())),
            announce,
            routes: Box::new(NetlinkRoutes(self.clone())),
        }
    }

    /// Removes every rule, route and address the kernel created for the engine (in that
    /// order, as keepalived's shutdown does: rules, routes, then the VIPs, newest first).
    /// Each removal is attempted; failures are logged and stay recorded.
    pub fn release(&self) -> Released {
        let mut held = self.lock();
        let mut out = Released::default();
        if let Ok(m) = &mut held.routes {
            let (routes, rules) = m.added();
            let (routes, rules) = (routes.to_vec(), rules.to_vec());
            for r in rules.iter().rev() {
                match m.remove_rule(r) {
                    Ok(_) => out.rules += 1,
                    Err(e) => warn!("cannot remove rule {r}: {e}"),
                }
            }
            for r in routes.iter().rev() {
                match m.remove_route(r) {
                    Ok(_) => out.routes += 1,
                    Err(e) => warn!("cannot remove route {r}: {e}"),
                }
            }
        }
        if let Ok(m) = &mut held.vips {
            let before = m.added().count();
            match m.remove_all_added() {
                Ok(n) => out.vips = n,
                Err(e) => {
                    out.vips = before - m.added().count();
                    warn!("cannot remove every virtual address: {e}");
                }
            }
        }
        out
    }

    /// Is anything recorded?
    pub fn is_empty(&self) -> bool {
        let held = self.lock();
        let vips = held.vips.as_ref().map_or(0, |m| m.added().count());
        let routes = held
            .routes
            .as_ref()
            .map_or(0, |m| m.added().0.len() + m.added().1.len());
        vips + routes == 0
    }
}

/// VIPs through the ledger's rtnetlink manager; only what was added is removed.
struct NetlinkVips(Ledger);

impl VipOps for NetlinkVips {
    fn add(&mut self, ifname: &str, addr: &IpAddress) -> Result<(), String> {
        let spec = AddressSpec::from_config(addr, ifname).map_err(|e| e.to_string())?;
        match &mut self.0.lock().vips {
            Ok(m) => m.add(&spec).map(|_| ()).map_err(|e| e.to_string()),
            Err(e) => Err(e.clone()),
        }
    }

    fn remove(&mut self, ifname: &str, addr: &IpAddress) -> Result<(), String> {
        let spec = AddressSpec::from_config(addr, ifname).map_err(|e| e.to_string())?;
        match &mut self.0.lock().vips {
            Ok(m) => m.remove(&spec).map(|_| ()).map_err(|e| e.to_string()),
            Err(e) => Err(e.clone()),
        }
    }
}

/// Routes and rules through the ledger's rtnetlink manager; only what the kernel created
/// for us is removed. An entry that was already there (`EEXIST`) is an error for the
/// engine, so that it does not count it as installed.
struct NetlinkRoutes(Ledger);

impl NetlinkRoutes {
    fn route(r: &Route) -> Result<RouteSpec, String> {
        RouteSpec::parse(&r.words).map_err(|e| format!("route {:?}: {e}", r.words.join(" ")))
    }

    fn rule(r: &Rule) -> Result<RuleSpec, String> {
        RuleSpec::parse(&r.words).map_err(|e| format!("rule {:?}: {e}", r.words.join(" ")))
    }

    fn with<T>(
        &mut self,
        f: impl FnOnce(&mut RouteManager) -> Result<T, String>,
    ) -> Result<T, String> {
        match &mut self.0.lock().routes {
            Ok(m) => f(m),
            Err(e) => Err(e.clone()),
        }
    }
}

impl RouteOps for NetlinkRoutes {
    fn add_route(&mut self, route: &Route) -> Result<(), String> {
        let spec = Self::route(route)?;
        match self.with(|m| m.add_route(&spec).map_err(|e| e.to_string()))? {
            Added::Added => Ok(()),
            Added::Existed => Err(format!("route {spec} already exists - not ours")),
        }
    }

    fn remove_route(&mut self, route: &Route) -> Result<(), String> {
        let spec = Self::route(route)?;
        self.with(|m| m.remove_route(&spec).map(|_| ()).map_err(|e| e.to_string()))
    }

    fn add_rule(&mut self, rule: &Rule) -> Result<(), String> {
        let spec = Self::rule(rule)?;
        match self.with(|m| m.add_rule(&spec).map_err(|e| e.to_string()))? {
            Added::Added => Ok(()),
            Added::Existed => Err(format!("rule {spec} already exists - not ours")),
        }
    }

    fn remove_rule(&mut self, rule: &Rule) -> Result<(), String> {
        let spec = Self::rule(rule)?;
        self.with(|m| m.remove_rule(&spec).map(|_| ()).map_err(|e| e.to_string()))
    }
}

/// Gratuitous ARP / unsolicited NA through a packet socket.
struct PacketAnnounce(GarpSender);

impl AnnounceOps for PacketAnnounce {
    fn announce(&mut self, ifname: &str, addr: IpAddr) -> Result<(), String> {
        let r = match addr {
            IpAddr::V4(a) => self.0.send_arp(ifname, a),
            IpAddr::V6(a) => self.0.send_na(ifname, a),
        };
        r.map(|_| ()).map_err(|e| e.to_string())
    }
}

/// Announcements that fail: the packet socket could not be opened.
struct Unavailable(String);

impl AnnounceOps for Unavailable {
    fn announce(&mut self, _: &str, _: IpAddr) -> Result<(), String> {
        Err(self.0.clone())
    }
}
