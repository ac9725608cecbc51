//! The reconciliation planner: desired table vs the kernel's table → the fewest IPVS commands.
//!
//! Pure: no I/O, no clock. The kernel's table is read with GET_SERVICE / GET_DEST dumps and
//! decoded into the same [`Table`] shape as the desired one.
//!
//! Rules:
//! - a desired service missing from the kernel: NEW_SERVICE, then NEW_DEST for each destination;
//! - a desired service present with other parameters (scheduler, flags but HASHED, timeout,
//!   netmask, persistence engine): SET_SERVICE;
//! - within a desired service the desired destinations are the truth: NEW_DEST for a missing
//!   one, SET_DEST for one whose method, tunnel, weight or thresholds differ, DEL_DEST for one
//!   the kernel has and we do not want;
//! - a kernel service that is not desired is deleted only if it is **managed** (we programmed it
//!   before: a virtual server that left the configuration); others belong to someone else and
//!   are left alone;
//! - order: additions and changes first (service, then its destinations), removals of
//!   destinations next, removals of services last, so a service never runs empty in between.

use std::collections::BTreeSet;
use std::fmt;

use super::desired::{DesiredTable, Dest, DestKey, Flags, Service, ServiceKey};

/// A table of services with destinations, as desired or as the kernel reports it.
pub type Table = DesiredTable;

/// A service's own parameters (everything a NEW/SET_SERVICE carries beyond its key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceParams {
    pub scheduler: String,
    pub flags: Flags,
    pub timeout: u32,
    pub netmask: u32,
    pub pe_name: Option<String>,
}

impl ServiceParams {
    pub fn of(s: &Service) -> Self {
        ServiceParams {
            scheduler: s.scheduler.clone(),
            flags: s.flags.configured(),
            timeout: s.timeout,
            netmask: s.netmask,
            pe_name: s.pe_name.clone(),
        }
    }
}

/// One IPVS generic-netlink command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    NewService {
        key: ServiceKey,
        params: ServiceParams,
    },
    SetService {
        key: ServiceKey,
        params: ServiceParams,
    },
    DelService {
        key: ServiceKey,
    },
    NewDest {
        service: ServiceKey,
        dest: DestKey,
        params: Dest,
    },
    SetDest {
        service: ServiceKey,
        dest: DestKey,
        params: Dest,
    },
    DelDest {
        service: ServiceKey,
        dest: DestKey,
    },
}

impl Command {
    /// The service the command is about.
    pub fn service(&self) -> &ServiceKey {
        match self {
            Command::NewService { key, .. }
            | Command::SetService { key, .. }
            | Command::DelService { key } => key,
            Command::NewDest { service, .. }
            | Command::SetDest { service, .. }
            | Command::DelDest { service, .. } => service,
        }
    }
}

/// What the command does, naming its service and destination (used in every error).
impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::NewService { key, .. } => write!(f, "add service {key}"),
            Command::SetService { key, .. } => write!(f, "edit service {key}"),
            Command::DelService { key } => write!(f, "delete service {key}"),
            Command::NewDest { service, dest, .. } => {
                write!(f, "add destination {dest} to service {service}")
            }
            Command::SetDest { service, dest, .. } => {
                write!(f, "edit destination {dest} of service {service}")
            }
            Command::DelDest { service, dest } => {
                write!(f, "delete destination {dest} from service {service}")
            }
        }
    }
}

/// The commands that turn `kernel` into `desired`, deleting only undesired services that are
/// in `managed`.
pub fn plan(desired: &Table, kernel: &Table, managed: &BTreeSet<ServiceKey>) -> Vec<Command> {
    let mut adds = Vec::new();
    let mut dels = Vec::new();
    for (key, want) in &desired.services {
        let params = ServiceParams::of(want);
        let Some(have) = kernel.services.get(key) else {
            adds.push(Command::NewService { key: *key, params });
            for (dk, d) in &want.destinations {
                adds.push(Command::NewDest {
                    service: *key,
                    dest: *dk,
                    params: *d,
                });
            }
            continue;
        };
        if ServiceParams::of(have) != params {
            adds.push(Command::SetService { key: *key, params });
        }
        for (dk, d) in &want.destinations {
            match have.destinations.get(dk) {
                None => adds.push(Command::NewDest {
                    service: *key,
                    dest: *dk,
                    params: *d,
                }),
                Some(h) if h != d => adds.push(Command::SetDest {
                    service: *key,
                    dest: *dk,
                    params: *d,
                }),
                Some(_) => {}
            }
        }
        for dk in have.destinations.keys() {
            if !want.destinations.contains_key(dk) {
                dels.push(Command::DelDest {
                    service: *key,
                    dest: *dk,
                });
            }
        }
    }
    for key in kernel.services.keys() {
        if !desired.services.contains_key(key) && managed.contains(key) {
            dels.push(Command::DelService { key: *key });
        }
    }
    adds.extend(dels);
    adds
}

/// Apply `cmds` to `table` as the kernel would (used to check plans and to keep a record of
/// what the kernel holds after a successful apply).
pub fn simulate(table: &mut Table, cmds: &[Command]) {
    for c in cmds {
        match c {
            Command::NewService { key, params } | Command::SetService { key, params } => {
                let s = table.services.entry(*key).or_insert_with(|| Service {
                    scheduler: String::new(),
                    flags: Flags::default(),
                    timeout: 0,
                    netmask: 0,
                    pe_name: None,
                    destinations: Default::default(),
                });
                s.scheduler = params.scheduler.clone();
                s.flags = Flags(params.flags.0 | Flags::HASHED);
                s.timeout = params.timeout;
                s.netmask = params.netmask;
                s.pe_name = params.pe_name.clone();
            }
            Command::DelService { key } => {
                table.services.remove(key);
            }
            Command::NewDest {
                service,
                dest,
                params,
            }
            | Command::SetDest {
                service,
                dest,
                params,
            } => {
                if let Some(s) = table.services.get_mut(service) {
                    s.destinations.insert(*dest, *params);
                }
            }
            Command::DelDest { service, dest } => {
                if let Some(s) = table.services.get_mut(service) {
                    s.destinations.remove(dest);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::net::IpAddr;

    use super::*;
    use crate::ipvs::desired::{Family, Fwd, Protocol, TunCsum, TunType};

    fn skey(i: u8) -> ServiceKey {
        if i.is_multiple_of(2) {
            ServiceKey::Addr {
                protocol: Protocol::Tcp,
                addr: IpAddr::from([10, 0, 0, i]),
                port: 80,
            }
        } else {
            ServiceKey::Fwmark {
                family: Family::Inet6,
                mark: u32::from(i),
            }
        }
    }

    fn dkey(i: u8) -> DestKey {
        DestKey {
            addr: IpAddr::from([192, 168, 0, i]),
            port: 8080,
        }
    }

    fn dest(v: u8) -> Dest {
        match v {
            1 => Dest {
                fwd: Fwd::Masq,
                weight: 1,
                u_threshold: 0,
                l_threshold: 0,
            },
            _ => Dest {
                fwd: Fwd::Tunnel {
                    tun_type: TunType::Gue,
                    port: 6080,
                    csum: TunCsum::Csum,
                },
                weight: 3,
                u_threshold: 10,
                l_threshold: 2,
            },
        }
    }

    fn service(v: u8, dests: BTreeMap<DestKey, Dest>) -> Service {
        Service {
            scheduler: if v == 1 { "wlc".into() } else { "mh".into() },
            flags: Flags(if v == 1 {
                0
            } else {
                Flags::PERSISTENT | Flags::MH_PORT
            }),
            timeout: if v == 1 { 0 } else { 300 },
            netmask: u32::MAX,
            pe_name: None,
            destinations: dests,
        }
    }

    /// Every table over 2 services × (absent | 2 parameter sets × each of 2 destinations
    /// absent / variant 1 / variant 2): 19² = 361 tables.
    fn universe() -> Vec<Table> {
        let mut per_service: Vec<Option<(u8, BTreeMap<DestKey, Dest>)>> = vec![None];
        for p in 1..=2 {
            for a in 0..3u8 {
                for b in 0..3u8 {
                    let mut m = BTreeMap::new();
                    if a > 0 {
                        m.insert(dkey(1), dest(a));
                    }
                    if b > 0 {
                        m.insert(dkey(2), dest(b));
                    }
                    per_service.push(Some((p, m)));
                }
            }
        }
        let mut out = Vec::new();
        for s0 in &per_service {
            for s1 in &per_service {
                let mut t = Table::default();
                for (i, s) in [s0, s1].into_iter().enumerate() {
                    if let Some((p, m)) = s {
                        let mut svc = service(*p, m.clone());
                        svc.flags.0 |= Flags::HASHED; // as the kernel reports it
                        t.services.insert(skey(i as u8), svc);
                    }
                }
                out.push(t);
            }
        }
        out
    }

    /// The number of objects that differ: each needs one command, so no plan can be shorter.
    fn lower_bound(desired: &Table, kernel: &Table, managed: &BTreeSet<ServiceKey>) -> usize {
        let mut n = 0;
        for (k, w) in &desired.services {
            match kernel.services.get(k) {
                None => n += 1 + w.destinations.len(),
                Some(h) => {
                    n += usize::from(ServiceParams::of(h) != ServiceParams::of(w));
                    for (dk, d) in &w.destinations {
                        n += usize::from(h.destinations.get(dk) != Some(d));
                    }
                    n += h
                        .destinations
                        .keys()
                        .filter(|dk| !w.destinations.contains_key(dk))
                        .count();
                }
            }
        }
        n + kernel
            .services
            .keys()
            .filter(|k| !desired.services.contains_key(k) && managed.contains(k))
            .count()
    }

    #[test]
    fn plan_reaches_desired_with_minimal_commands_for_every_pair_of_tables() {
        let u = universe();
        let all: BTreeSet<ServiceKey> = [skey(0), skey(1)].into();
        let none = BTreeSet::new();
        let mut checked = 0;
        for desired in &u {
            // The desired table never carries HASHED; the planner must ignore it either way.
            for kernel in &u {
                for managed in [&all, &none] {
                    let cmds = plan(desired, kernel, managed);
                    assert_eq!(cmds.len(), lower_bound(desired, kernel, managed));
                    // Order: a destination command only once its service exists, removals last.
                    let mut exists: BTreeSet<ServiceKey> =
                        kernel.services.keys().copied().collect();
                    let mut removing = false;
                    for c in &cmds {
                        match c {
                            Command::NewService { key, .. } => {
                                assert!(!removing && exists.insert(*key), "{cmds:?}");
                            }
                            Command::DelService { key } => {
                                removing = true;
                                assert!(exists.remove(key), "{cmds:?}");
                            }
                            Command::DelDest { service, .. } => {
                                removing = true;
                                assert!(exists.contains(service), "{cmds:?}");
                            }
                            other => {
                                assert!(!removing && exists.contains(other.service()), "{cmds:?}")
                            }
                        }
                    }
                    let mut after = kernel.clone();
                    simulate(&mut after, &cmds);
                    for (k, w) in &desired.services {
                        let h = &after.services[k];
                        assert_eq!(ServiceParams::of(h), ServiceParams::of(w));
                        assert_eq!(h.destinations, w.destinations);
                    }
                    for k in kernel.services.keys() {
                        if !desired.services.contains_key(k) {
                            assert_eq!(after.services.contains_key(k), !managed.contains(k));
                        }
                    }
                    // A second plan finds nothing to do.
                    assert!(plan(desired, &after, managed).is_empty());
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 361 * 361 * 2);
    }

    #[test]
    fn hashed_flag_is_never_a_difference() {
        let mut d = Table::default();
        d.services.insert(skey(0), service(1, BTreeMap::new()));
        let mut k = d.clone();
        k.services.get_mut(&skey(0)).unwrap().flags.0 |= Flags::HASHED;
        assert!(plan(&d, &k, &BTreeSet::new()).is_empty());
    }

    #[test]
    fn commands_name_their_service_and_destination() {
        let c = Command::SetDest {
            service: skey(0),
            dest: dkey(1),
            params: dest(1),
        };
        assert_eq!(
            c.to_string(),
            "edit destination 192.168.0.1:8080 of service TCP 10.0.0.0:80"
        );
        assert_eq!(
            Command::DelService { key: skey(1) }.to_string(),
            "delete service FWM 1 IPv6"
        );
    }
}
