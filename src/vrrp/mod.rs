//! VRRP (RFC 3768 v2, RFC 5798/9568 v3).
//!
//! - `packet.rs` — advertisement encode/decode and validation, with a typed discard reason each;
//! - `auth.rs`   — PASS and IPsec AH (HMAC-MD5-96) authentication as keepalived does it;
//! - `fsm.rs`    — the sans-IO state machine of one instance: `handle(now, event) -> actions`;
//! - `sync.rs`   — trackers (interfaces, scripts, files) and vrrp_sync_group coordination;
//! - `timer.rs`  — protocol time: `Now`, Skew_Time, Master_Down_Interval in integer µs.
pub mod auth;
pub mod fsm;
pub mod packet;
pub mod sync;
pub mod timer;
pub mod garp;
