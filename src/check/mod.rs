//! Health checkers: keepalived's checker process (HTTP_GET, SSL_GET, TCP_CHECK, MISC_CHECK,
//! SMTP_CHECK, DNS_CHECK, UDP_CHECK, PING_CHECK, FILE_CHECK) and the real-server /
//! virtual-server logic that turns their results into the IPVS destinations to install.
//!
//! - [`proto`]  — the sans-IO cores: checker timing, the server pool, protocol evaluation;
//! - [`plan`]   — configuration → distinct probes (identical checks run once) + pool;
//! - [`io`]     — the probes' socket and process I/O, bounded in time and memory;
//! - [`engine`] — the tokio driver;
//! - [`snapshot`] — the live state the status dump (`keepalived_check.data`) reads.
//!
//! Entry point for the daemon: [`run`] (see [`engine::run`]). It publishes a
//! [`HealthTable`] — per virtual server, the destinations with their weights — on a
//! `tokio::sync::watch` channel whenever it changes, until its shutdown future completes.

pub mod engine;
pub mod io;
pub mod plan;
pub mod proto;
pub mod snapshot;

pub use engine::{
    HealthTable, Options, Stats, Trace, run, run_desired, run_reloadable, run_with, to_desired,
};
