//! Test helpers for the IPVS VM: Debian's kernel (which has IPVS, unlike the build kernel)
//! booted under qemu TCG with an initramfs of busybox, ipvsadm, iproute2, keepalived and the
//! test's own files.
//!
//! - [`base`] builds (once, cached under `target/ipvs-vm/`) the kernel + base initramfs with
//!   `tests/vm/build-base.sh`; without qemu or the kernel it returns `None` after printing why,
//!   or panics when `KEEPALIVED_RS_PRIVILEGED=1` (CI must not skip).
//! - [`Guest`] is one boot: a directory that becomes the VM's `/` on top of the base, holding
//!   `guest/run.sh`; [`Guest::run`] boots it with a time limit (`tests/vm/run-guest.sh` kills
//!   qemu when it is exceeded) and returns the serial console.
//! - The guest script marks its output with `@@BEGIN name@@` … `@@END name@@`;
//!   [`GuestRun::section`] extracts one.
//! - [`flatten_config`] turns a keepalived.conf (includes, macros, conditionals) into one flat
//!   file without health checkers, so that keepalived in the VM keeps every real server up.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

pub fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `KEEPALIVED_RS_PRIVILEGED=1`: a missing prerequisite is a failure, not a skip.
pub fn privileged() -> bool {
    std::env::var("KEEPALIVED_RS_PRIVILEGED").as_deref() == Ok("1")
}

fn have(prog: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(prog).is_file()))
}

/// The directory with `vmlinuz` and `base.cpio.gz`, or `None` (skip).
pub fn base() -> Option<PathBuf> {
    static BASE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match BASE.get_or_init(build_base) {
        Ok(p) => Some(p.clone()),
        Err(msg) if privileged() => panic!("IPVS VM unavailable: {msg}"),
        Err(msg) => {
            eprintln!(
                "skipping IPVS VM test: {msg} (set KEEPALIVED_RS_PRIVILEGED=1 to fail instead)"
            );
            None
        }
    }
}

fn build_base() -> Result<PathBuf, String> {
    if !have("qemu-system-x86_64") {
        return Err("qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)".into());
    }
    for p in ["busybox", "ipvsadm", "keepalived", "ip", "cpio"] {
        if !have(p) && !Path::new("/usr/sbin").join(p).exists() {
            return Err(format!("{p} is not installed"));
        }
    }
    let dir = manifest().join("target/ipvs-vm");
    // Rebuild when an input changes: the script, /init, and the binaries copied in.
    let mut key = String::new();
    for f in ["tests/vm/build-base.sh", "tests/vm/init"] {
        key.push_str(
            &std::fs::read_to_string(manifest().join(f)).map_err(|e| format!("{f}: {e}"))?,
        );
    }
    for f in [
        "/bin/busybox",
        "/usr/sbin/ipvsadm",
        "/usr/sbin/keepalived",
        "/usr/sbin/ip",
        "/lib/modules",
    ] {
        if let Ok(m) = std::fs::metadata(f) {
            key.push_str(&format!("{f}:{:?}:{}\n", m.modified().ok(), m.len()));
        }
    }
    let stamp = format!("{:016x}", fnv(key.as_bytes()));
    let stamp_file = dir.join("stamp");
    if std::fs::read_to_string(&stamp_file).ok().as_deref() == Some(stamp.as_str())
        && dir.join("vmlinuz").exists()
        && dir.join("base.cpio.gz").exists()
    {
        return Ok(dir);
    }
    let out = Command::new("sh")
        .arg(manifest().join("tests/vm/build-base.sh"))
        .arg(&dir)
        .output()
        .map_err(|e| format!("build-base.sh: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "build-base.sh failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    std::fs::write(&stamp_file, stamp).map_err(|e| e.to_string())?;
    Ok(dir)
}

fn fnv(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &c| {
        (h ^ u64::from(c)).wrapping_mul(0x100_0000_01b3)
    })
}

/// One boot of the VM.
pub struct Guest {
    dir: tempfile::TempDir,
}

impl Guest {
    /// A guest whose `/guest/run.sh` is `script` (busybox sh).
    pub fn new(script: &str) -> Self {
        let g = Guest {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        g.file("guest/run.sh", script.as_bytes(), 0o755);
        g
    }

    /// Put a file at `path` (relative to the guest's `/`).
    pub fn file(&self, path: &str, contents: &[u8], mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        let p = self.dir.path().join(path);
        std::fs::create_dir_all(p.parent().expect("path has a parent")).expect("mkdir");
        std::fs::write(&p, contents).expect("write guest file");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }

    pub fn copy(&self, path: &str, src: &Path, mode: u32) {
        let b = std::fs::read(src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
        self.file(path, &b, mode);
    }

    /// The host binary `src` at `path` in the guest, debug info stripped, with every shared
    /// library `ldd` names that is not in this guest yet, at the same path (most are in the
    /// base already; a second copy of the same file is harmless).
    pub fn copy_binary(&self, path: &str, src: &Path) {
        use std::os::unix::fs::PermissionsExt;
        let dst = self.dir.path().join(path);
        std::fs::create_dir_all(dst.parent().expect("path has a parent")).expect("mkdir");
        let stripped = Command::new("objcopy")
            .arg("--strip-debug")
            .arg(src)
            .arg(&dst)
            .status()
            .is_ok_and(|s| s.success());
        if !stripped {
            std::fs::copy(src, &dst).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
        }
        std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let Ok(out) = Command::new("ldd").arg(src).output() else {
            return;
        };
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)" or "/lib64/ld-linux… (0x…)"
            let lib = match line.split_once("=>") {
                Some((_, rest)) => rest.split_whitespace().next(),
                None => line.split_whitespace().next(),
            };
            let Some(lib) = lib.filter(|l| l.starts_with('/')) else {
                continue;
            };
            let rel = lib.trim_start_matches('/');
            if !self.dir.path().join(rel).exists() {
                self.copy(rel, Path::new(lib), 0o755);
            }
        }
    }

    /// This test binary as `/bin/ipvs-guest` (debug info stripped), so the guest can run its
    /// [`guest_tool`](../fn.guest_tool.html) entry point.
    pub fn with_test_binary(&self) {
        let exe = std::env::current_exe().expect("current_exe");
        let dst = self.dir.path().join("bin/ipvs-guest");
        std::fs::create_dir_all(dst.parent().expect("parent")).expect("mkdir");
        let stripped = Command::new("objcopy")
            .arg("--strip-debug")
            .arg(&exe)
            .arg(&dst)
            .status()
            .is_ok_and(|s| s.success());
        if !stripped {
            std::fs::copy(&exe, &dst).expect("copy test binary");
        }
    }

    /// Boot, run `guest/run.sh`, power off; qemu is killed after `limit`.
    pub fn run(&self, base: &Path, limit: Duration) -> GuestRun {
        let out = Command::new("sh")
            .arg(manifest().join("tests/vm/run-guest.sh"))
            .arg(base)
            .arg(self.dir.path())
            .arg(limit.as_secs().to_string())
            .output()
            .expect("run-guest.sh");
        GuestRun {
            console: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            rc: out.status.code().unwrap_or(-1),
        }
    }
}

/// The serial console of one boot.
pub struct GuestRun {
    pub console: String,
    pub stderr: String,
    /// The guest script's exit status; 124: timed out; 125: never reported.
    pub rc: i32,
}

impl GuestRun {
    /// The lines between `@@BEGIN name@@` and `@@END name@@`.
    pub fn section(&self, name: &str) -> Option<String> {
        let begin = format!("@@BEGIN {name}@@");
        let end = format!("@@END {name}@@");
        let mut out = None::<String>;
        for l in self.console.lines() {
            if l == begin {
                out = Some(String::new());
            } else if l == end {
                return out;
            } else if let Some(o) = &mut out {
                o.push_str(l);
                o.push('\n');
            }
        }
        None
    }

    /// The value of `@@name value@@` lines.
    pub fn values(&self, name: &str) -> Vec<String> {
        let p = format!("@@{name} ");
        self.console
            .lines()
            .filter_map(|l| l.strip_prefix(&p)?.strip_suffix("@@").map(str::to_string))
            .collect()
    }

    /// Panic with the console unless the guest script succeeded.
    pub fn assert_ok(&self) {
        assert_eq!(
            self.rc, 0,
            "guest failed (rc {}):\n{}\n{}",
            self.rc, self.console, self.stderr
        );
    }
}

const CHECKERS: &[&str] = &[
    "HTTP_GET",
    "SSL_GET",
    "TCP_CHECK",
    "MISC_CHECK",
    "SMTP_CHECK",
    "DNS_CHECK",
    "UDP_CHECK",
    "PING_CHECK",
    "FILE_CHECK",
    "BFD_CHECK",
];

/// The configuration at `path` as one flat file (includes, `$MACROS`, `~SEQ` and `@id` lines
/// resolved by our reader with config id `config_id`) with every health checker block removed.
pub fn flatten_config(path: &Path, config_id: &str) -> String {
    use keepalived_rs::config::{Diagnostics, LoadOptions, reader};
    let mut opts = LoadOptions::new(path);
    opts.config_id = Some(config_id.to_string());
    opts.check_interfaces = false;
    let mut d = Diagnostics::default();
    let lines = reader::read_all(&opts, &mut d);
    let mut out: Vec<String> = Vec::new();
    let mut skip_depth: Option<usize> = None;
    let mut depth = 0usize;
    let mut i = 0;
    while i < lines.len() {
        let l = &lines[i];
        i += 1;
        if l.is_open() {
            depth += 1;
            if skip_depth.is_none() {
                match out.last_mut() {
                    Some(prev) => prev.push_str(" {"),
                    None => out.push("{".into()),
                }
            }
            continue;
        }
        if l.is_close() {
            depth = depth.saturating_sub(1);
            if skip_depth == Some(depth) {
                skip_depth = None;
            } else if skip_depth.is_none() {
                out.push("}".into());
            }
            continue;
        }
        if skip_depth.is_some() {
            continue;
        }
        let first = l.word(0).unwrap_or("");
        if CHECKERS.contains(&first) {
            // The block that follows belongs to the checker.
            if lines.get(i).is_some_and(|n| n.is_open()) {
                skip_depth = Some(depth);
            }
            continue;
        }
        let words: Vec<String> = l
            .words()
            .iter()
            .map(|w| {
                let t = l.text(w);
                if w.quoted || t.contains(char::is_whitespace) || t.is_empty() {
                    format!("\"{t}\"")
                } else {
                    t.to_string()
                }
            })
            .collect();
        out.push(words.join(" "));
    }
    let mut s = out.join("\n");
    s.push('\n');
    s
}

/// Every sample and corpus configuration that has virtual servers: (short name, path).
pub fn configs_with_virtual_servers() -> Vec<(String, PathBuf)> {
    let mut v = Vec::new();
    let mut add = |dir: &Path, prefix: &str| {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        let mut files: Vec<PathBuf> = rd
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        for p in files {
            let Ok(text) = std::fs::read_to_string(&p) else {
                continue;
            };
            if !text.contains("virtual_server") {
                continue;
            }
            let name = p
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("")
                .to_string();
            if name.ends_with(".in") || name.ends_with(".md") {
                continue;
            }
            v.push((format!("{prefix}{name}"), p));
        }
    };
    add(&manifest().join("samples"), "");
    add(&manifest().join("tests/vm/configs"), "");
    let corpus = Path::new("/work/shared/corpus/keepalived-samples");
    add(corpus, "corpus-");
    add(&corpus.join("etc"), "corpus-etc-");
    v
}
