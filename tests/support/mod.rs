//! Helpers shared by the integration tests (`mod support;` in each test file).
//!
//! * [`netns`]: throw-away network namespaces with veth interfaces, and the
//!   prerequisite gate for tests that need root + `ip` + the real keepalived.
//! * [`process`]: run a command with a timeout, capturing (bounded) output.
//! * [`vrrp_lab`]: a bridged LAN of namespaces with VRRP routers (ours or keepalived) and a
//!   client, for the interop tests.
//! * this file: small utilities for the config corpora (`# expect:` headers,
//!   `.conf.in` templates, the known-differences list) and a tiny parallel map.

#![allow(dead_code)]

pub mod netns;
pub mod process;
pub mod vrrp_lab;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Root of the crate (where Cargo.toml is).
pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `path` relative to the crate root when it is inside it (or next to it, as `../x`),
/// else the path unchanged. Used as the stable name of a case in reports and in
/// `tests/known-differences.txt`.
pub fn display_path(path: &Path) -> String {
    let root = manifest_dir();
    if let Ok(rel) = path.strip_prefix(&root) {
        return rel.display().to_string();
    }
    if let Some(rel) = root
        .parent()
        .and_then(|parent| path.strip_prefix(parent).ok())
    {
        return Path::new("..").join(rel).display().to_string();
    }
    path.display().to_string()
}

/// The exit code recorded in a config's leading comment block as `# expect: N`.
///
/// Only the comments before the first non-comment line are searched; the first
/// whitespace-separated token after `expect:` must be an integer (codes >= 128 mean
/// "killed by signal code-128", as a shell would print them). Works on raw bytes, so
/// files that are not UTF-8 or contain NULs are fine.
pub fn parse_expect(content: &[u8]) -> Option<i32> {
    for line in content.split(|&b| b == b'\n') {
        let line = String::from_utf8_lossy(line);
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        if !trimmed.starts_with('#') {
            return None;
        }
        let body = trimmed.trim_start_matches('#').trim_start();
        if let Some(rest) = body.strip_prefix("expect:") {
            return rest.split_whitespace().next().and_then(|t| t.parse().ok());
        }
    }
    None
}

/// Expand a `.conf.in` template: every `@@REPEAT(TEXT,N)@@` (N a decimal number) becomes
/// TEXT repeated N times; TEXT is everything up to the last comma. Anything else that
/// merely looks like a placeholder (e.g. `@@REPEAT(TEXT,N)@@` in a comment) is kept as is.
/// Used to keep huge inputs out of git.
pub fn expand_template(content: &[u8]) -> Vec<u8> {
    const OPEN: &[u8] = b"@@REPEAT(";
    const CLOSE: &[u8] = b")@@";
    let mut out = Vec::with_capacity(content.len());
    let mut rest = content;
    while let Some(start) = find(rest, OPEN) {
        let after = &rest[start + OPEN.len()..];
        let parsed = find(after, CLOSE).and_then(|end| {
            let inner = &after[..end];
            let comma = inner.iter().rposition(|&b| b == b',')?;
            let count: usize = std::str::from_utf8(&inner[comma + 1..])
                .ok()?
                .trim()
                .parse()
                .ok()?;
            Some((inner[..comma].repeat(count), end + CLOSE.len()))
        });
        match parsed {
            Some((expansion, used)) => {
                out.extend_from_slice(&rest[..start]);
                out.extend_from_slice(&expansion);
                rest = &after[used..];
            }
            None => {
                out.extend_from_slice(&rest[..start + OPEN.len()]);
                rest = after;
            }
        }
    }
    out.extend_from_slice(rest);
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// One line of `tests/known-differences.txt`.
#[derive(Debug, Clone)]
pub struct KnownDifference {
    pub ours: i32,
    pub keepalived: i32,
    pub reason: String,
    pub line: usize,
}

/// Parse `tests/known-differences.txt`: `path<TAB>ours<TAB>keepalived<TAB># reason`,
/// `#` comment lines and blank lines ignored. `path` is as printed by the differential
/// test (relative to the crate root, e.g. `tests/invalid/40-x.conf`,
/// `../shared/corpus/keepalived-samples/keepalived.conf.fwmark`, `generated:NAME`).
pub fn load_known_differences(file: &Path) -> Result<BTreeMap<String, KnownDifference>, String> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(format!("{}: {e}", file.display())),
    };
    let mut map = BTreeMap::new();
    for (idx, raw) in text.lines().enumerate() {
        let line = raw.trim_end();
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.splitn(4, '\t').collect();
        let bad = || {
            format!(
                "{}:{}: expected `path<TAB>ours<TAB>keepalived<TAB># reason`, got {raw:?}",
                file.display(),
                idx + 1
            )
        };
        if fields.len() < 3 {
            return Err(bad());
        }
        let ours = fields[1].trim().parse().map_err(|_| bad())?;
        let keepalived = fields[2].trim().parse().map_err(|_| bad())?;
        let reason = fields
            .get(3)
            .map(|r| r.trim().trim_start_matches('#').trim().to_string())
            .unwrap_or_default();
        if map
            .insert(
                fields[0].trim().to_string(),
                KnownDifference {
                    ours,
                    keepalived,
                    reason,
                    line: idx + 1,
                },
            )
            .is_some()
        {
            return Err(format!(
                "{}:{}: duplicate entry for {}",
                file.display(),
                idx + 1,
                fields[0]
            ));
        }
    }
    Ok(map)
}

/// Map `f` over `items` on up to `max_threads` threads, keeping the order of results.
pub fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    max_threads: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(max_threads)
        .max(1);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..threads.min(items.len().max(1)) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= items.len() {
                        break;
                    }
                    let r = f(&items[i]);
                    results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|r| r.expect("every item is processed"))
        .collect()
}

/// The first `max_lines` lines of `bytes` (each cut to `max_cols` chars), indented, for
/// failure reports.
pub fn excerpt(bytes: &[u8], max_lines: usize, max_cols: usize, indent: &str) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::new();
    for line in lines.iter().take(max_lines) {
        let cut: String = line.chars().take(max_cols).collect();
        let more = if line.chars().count() > max_cols {
            " [...]"
        } else {
            ""
        };
        out.push_str(&format!("{indent}{cut}{more}\n"));
    }
    if lines.len() > max_lines {
        out.push_str(&format!(
            "{indent}[... {} more lines]\n",
            lines.len() - max_lines
        ));
    }
    if out.is_empty() {
        out.push_str(&format!("{indent}(no output)\n"));
    }
    out
}
