//! keepalived-rs: a memory-safe, keepalived-compatible drop-in.
//!
//! Where things live:
//! - `cli`: the command line (every keepalived 2.2/2.4 flag), `--signum`, `-t`, `-d`.
//! - `config`: keepalived.conf front end: macro layer (`config::reader`), pest lexer
//!   (`grammar/keepalived.pest`, `config::syntax`), the keyword table (`config::keywords`),
//!   the typed model (`config::model`), lowering (`config::lower`), cross-object checks
//!   (`config::validate`) and `-d` (`config::dump`).
//! - `lvs_cf`: piranha's lvs.cf front end and converter.
//! - `vrrp`: the VRRP protocol core (`vrrp::fsm`, `vrrp::packet`, `vrrp::sync`) and engine.
//! - `check`: the health checkers; `ipvs`: IPVS over generic netlink; `netlink`: rtnetlink.
//! - `daemon`: process lifecycle, signals, supervision, dumps; `alert`: smtp_alert mail;
//!   `clock`: local-time formatting.
#![forbid(unsafe_code)]

pub mod alert;
pub mod check;
pub mod cli;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod ipvs;
pub mod lvs_cf;
pub mod netlink;
pub mod vrrp;
