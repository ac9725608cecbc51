//! VRRP (RFC 3768 v2, RFC 5798/9568 v3).
//!
//! Sans-IO core:
//! - `packet.rs` — advertisement encode/decode and validation, with a typed discard reason each;
//! - `auth.rs`   — PASS and IPsec AH (HMAC-MD5-96) authentication as keepalived does it;
//! - `fsm.rs`    — the sans-IO state machine of one instance: `handle(now, event) -> actions`;
//! - `sync.rs`   — trackers (interfaces, scripts, files) and vrrp_sync_group coordination;
//! - `timer.rs`  — protocol time: `Now`, Skew_Time, Master_Down_Interval in integer µs.
//!
//! Linux I/O:
//! - `socket.rs` — raw IP protocol 112/51 sockets (multicast joins, `SO_BINDTODEVICE`);
//! - `garp.rs`   — gratuitous ARP / unsolicited NA frames and their packet-socket sender;
//! - `notify.rs` — notify scripts, `vrrp_script` runs, notify FIFOs, script security;
//! - `engine.rs` — the tokio driver: sockets, timers, tracking and actions for all instances;
//! - `snapshot.rs` — plain copies of the engine's instances for the dumps.
pub mod auth;
pub mod engine;
pub mod fsm;
pub mod garp;
pub mod notify;
pub mod packet;
pub mod snapshot;
pub mod socket;
pub mod sync;
pub mod timer;
