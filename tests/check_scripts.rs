//! MISC_CHECK and the checker's notify scripts run as keepalived runs them: as the script's
//! own `user`, else `script_user`, else `keepalived_script`, else root; and with
//! `enable_script_security` a script that would run as root from a path a non-root user can
//! write is disabled with keepalived's log line. A disabled MISC_CHECK is dropped from its
//! real server (keepalived frees the checker): the real server is up as if it had no such
//! checker, except with `alpha`, where keepalived already counted the checker as failed and
//! the real server stays down.
//!
//! Root only (set-uid children, root-owned paths): skipped otherwise, a failure with
//! KEEPALIVED_RS_PRIVILEGED=1. Every wait is bounded.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keepalived_rs::check::proto::pool::DestRole;
use keepalived_rs::check::{HealthTable, Options, run_with};
use keepalived_rs::config::model::Config;
use keepalived_rs::config::{self, LoadOptions};
use tokio::sync::{oneshot, watch};

const BOUND: Duration = Duration::from_secs(5);

fn privileged(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    if std::env::var("KEEPALIVED_RS_PRIVILEGED").as_deref() == Ok("1") {
        panic!("{test}: KEEPALIVED_RS_PRIVILEGED=1 but not running as root");
    }
    println!("skipped: {test}: needs root");
    false
}

/// Loads `text`; the configuration's own diagnostics (e.g. keepalived's SECURITY VIOLATION
/// for scripts without `enable_script_security`) are not what these tests are about.
fn load(text: &str) -> Config {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("keepalived.conf");
    std::fs::write(&path, text).expect("write");
    let mut opts = LoadOptions::new(&path);
    opts.check_interfaces = false;
    config::load(&opts).config
}

/// Log lines, captured from a subscriber installed for this (current-thread) test.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("lock")).into_owned()
    }
}

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture() -> (Logs, tracing::subscriber::DefaultGuard) {
    let logs = Logs::default();
    let w = logs.clone();
    let sub = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || w.clone())
        .finish();
    (logs, tracing::subscriber::set_default(sub))
}

struct Running {
    table: watch::Receiver<HealthTable>,
    stop: oneshot::Sender<()>,
    done: tokio::task::JoinHandle<()>,
}

fn start(config: Config) -> Running {
    let (tx, table) = watch::channel(HealthTable::default());
    let (stop, stopped) = oneshot::channel::<()>();
    let opts = Options {
        trace: None,
        stats: None,
        jitter: Some(0),
    };
    let done = tokio::spawn(run_with(
        Arc::new(config),
        tx,
        async move {
            let _ = stopped.await;
        },
        opts,
    ));
    Running { table, stop, done }
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(BOUND, self.done)
            .await
            .expect("engine stops within bound")
            .expect("engine task");
    }
}

/// (role, weight, alive) of virtual server `vs`'s destinations.
fn dests(t: &HealthTable, vs: usize) -> Vec<(DestRole, u32, bool)> {
    t.services
        .get(vs)
        .map(|s| {
            s.dests
                .iter()
                .map(|d| (d.role, d.weight, d.alive))
                .collect()
        })
        .unwrap_or_default()
}

fn write_script(path: &Path, body: &str) {
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).expect("write script");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// A directory with `mode` (tempdir makes 0700).
fn dir_with_mode(mode: u32) -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tmp");
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(mode)).expect("chmod");
    d
}

async fn wait_file(p: &Path, within: Duration) -> Option<String> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Ok(s) = std::fs::read_to_string(p)
            && !s.is_empty()
        {
            return Some(s.trim().to_string());
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn insecure_config(script: &Path, security: bool) -> String {
    format!(
        r#"
global_defs {{
    {sec}
}}
virtual_server 203.0.113.41 80 {{
    delay_loop 0.2
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 127.0.0.1 1001 {{
        weight 1
        MISC_CHECK {{
            misc_path "{s}"
            user root
        }}
    }}
    real_server 127.0.0.1 1002 {{
        weight 1
        alpha
        MISC_CHECK {{
            misc_path "{s}"
            user root
        }}
    }}
}}
"#,
        sec = if security {
            "enable_script_security"
        } else {
            ""
        },
        s = script.display()
    )
}

#[tokio::test(flavor = "current_thread")]
async fn insecure_misc_script_is_disabled_with_keepalived_log_line() {
    if !privileged("insecure_misc_script_is_disabled_with_keepalived_log_line") {
        return;
    }
    let (logs, _guard) = capture();
    // World-writable, no sticky bit: anyone could replace the script root would run.
    let dir = dir_with_mode(0o777);
    let script = dir.path().join("check.sh");
    let ran = dir.path().join("ran");
    write_script(&script, &format!("touch {}\nexit 1", ran.display()));
    let mut e = start(load(&insecure_config(&script, true)));
    // Real server 0 (non-alpha) goes in as if it had no checker; real server 1 (alpha)
    // keeps the failure keepalived counted before freeing the checker.
    tokio::time::timeout(
        BOUND,
        e.table
            .wait_for(|t| dests(t, 0).contains(&(DestRole::Real(0), 1, true))),
    )
    .await
    .expect("real server 0 in within bound")
    .expect("watch");
    // Several delay_loops: the script never runs and nothing changes.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let t = e.table.borrow().clone();
    assert!(
        dests(&t, 0).contains(&(DestRole::Real(0), 1, true)),
        "{:?}",
        dests(&t, 0)
    );
    assert!(
        !dests(&t, 0).iter().any(|d| d.0 == DestRole::Real(1) && d.2),
        "the alpha real server stays down: {:?}",
        dests(&t, 0)
    );
    assert!(!ran.exists(), "a disabled script never runs");
    let text = logs.text();
    let line = format!(
        "Unsafe permissions found for script '{}' - disabling.",
        script.display()
    );
    assert!(text.contains(&line), "missing {line:?} in:\n{text}");
    assert!(
        text.contains(&format!(
            "Disabling misc script {} due to insecure",
            script.display()
        )),
        "{text}"
    );
    e.stop().await;
}

#[tokio::test(flavor = "current_thread")]
async fn without_script_security_the_insecure_script_runs_with_a_warning() {
    if !privileged("without_script_security_the_insecure_script_runs_with_a_warning") {
        return;
    }
    let (logs, _guard) = capture();
    let dir = dir_with_mode(0o777);
    let script = dir.path().join("check.sh");
    let ran = dir.path().join("ran");
    write_script(&script, &format!("echo x > {}\nexit 0", ran.display()));
    let e = start(load(&insecure_config(&script, false)));
    assert!(
        wait_file(&ran, BOUND).await.is_some(),
        "the script ran within bound"
    );
    let text = logs.text();
    let line = format!(
        "Unsafe permissions found for script '{}'.",
        script.display()
    );
    assert!(text.contains(&line), "missing {line:?} in:\n{text}");
    assert!(!text.contains("- disabling"), "{text}");
    e.stop().await;
}

/// A system user made for the test (removed on drop), or `nobody` without `useradd`.
struct TestUser {
    name: String,
    created: bool,
}

impl TestUser {
    fn new() -> TestUser {
        let name = format!("karst{}", std::process::id() % 100_000);
        if Path::new("/usr/sbin/useradd").exists() {
            let ok = std::process::Command::new("/usr/sbin/useradd")
                .args([
                    "--system",
                    "--no-create-home",
                    "--shell",
                    "/usr/sbin/nologin",
                ])
                .arg(&name)
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if ok {
                return TestUser {
                    name,
                    created: true,
                };
            }
        }
        TestUser {
            name: "nobody".into(),
            created: false,
        }
    }

    fn uid(&self) -> u32 {
        nix::unistd::User::from_name(&self.name)
            .ok()
            .flatten()
            .expect("test user exists")
            .uid
            .as_raw()
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        if self.created {
            let _ = std::process::Command::new("/usr/sbin/userdel")
                .arg(&self.name)
                .status();
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn scripts_run_as_their_user_else_script_user() {
    if !privileged("scripts_run_as_their_user_else_script_user") {
        return;
    }
    let user = TestUser::new();
    // The explicit `user` differs from script_user: daemon if it exists.
    let other = ["daemon", "nobody"]
        .into_iter()
        .find(|u| *u != user.name && nix::unistd::User::from_name(u).ok().flatten().is_some())
        .expect("daemon or nobody exists");
    let other_uid = nix::unistd::User::from_name(other)
        .ok()
        .flatten()
        .expect("user")
        .uid
        .as_raw();
    // Scripts in a root-owned 0755 directory; output where the users can write.
    let sdir = dir_with_mode(0o755);
    let out = dir_with_mode(0o777);
    let id = sdir.path().join("id.sh");
    write_script(&id, "id -u > \"$1\"");
    let o = |n: &str| -> PathBuf { out.path().join(n) };
    let conf = format!(
        r#"
global_defs {{
    enable_script_security
    script_user {u}
}}
virtual_server 203.0.113.42 80 {{
    delay_loop 0.2
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 127.0.0.1 1003 {{
        weight 1
        alpha
        notify_up "{id} {nu}"
        MISC_CHECK {{
            misc_path "{id} {md}"
        }}
    }}
    real_server 127.0.0.1 1004 {{
        weight 1
        MISC_CHECK {{
            misc_path "{id} {mu}"
            user {other}
        }}
    }}
}}
"#,
        u = user.name,
        id = id.display(),
        nu = o("notify-up").display(),
        md = o("misc-default").display(),
        mu = o("misc-user").display(),
    );
    let e = start(load(&conf));
    let uid = user.uid().to_string();
    assert_eq!(
        wait_file(&o("misc-default"), BOUND).await.as_deref(),
        Some(uid.as_str()),
        "MISC_CHECK without user runs as script_user"
    );
    assert_eq!(
        wait_file(&o("misc-user"), BOUND).await.as_deref(),
        Some(other_uid.to_string().as_str()),
        "MISC_CHECK user overrides script_user"
    );
    assert_eq!(
        wait_file(&o("notify-up"), BOUND).await.as_deref(),
        Some(uid.as_str()),
        "notify_up runs as script_user"
    );
    e.stop().await;
    drop(user);
}
