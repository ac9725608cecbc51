//! Differential test of `keepalived -t` (config test) against the real keepalived 2.2.7.
//!
//! Needs root, `ip` and /usr/sbin/keepalived. Without them the tests print
//! `skipped: ...` and pass, unless `KEEPALIVED_RS_PRIVILEGED=1` is set, in which case
//! they fail. Run with:
//!
//! ```text
//! cargo test --test differential_t -- --nocapture
//! ```
//!
//! # `differential_config_test_exit_codes`
//!
//! Every config below is run as `keepalived -t -f FILE` by both the real keepalived and
//! ours (`CARGO_BIN_EXE_keepalived`), each inside the same throw-away network namespace
//! that has `lo` + veth `eth0`..`eth3` (tests/support/netns.rs):
//!
//! * the keepalived doc samples in `../shared/corpus/keepalived-samples/` (relative to
//!   the crate root), recursively, except files that are not keepalived configs:
//!   `SOURCES.md`, `*.auth_hmac.conf` (a systemd drop-in) and `tools/template*` (Jinja);
//!   if the directory is absent that part is skipped with a note;
//! * `samples/*.conf` (top level only; `samples/include/*.inc` are include fragments);
//! * `tests/invalid/*.conf`, and `tests/invalid/*.conf.in` templates, which are expanded
//!   into a temporary directory first (`@@REPEAT(TEXT,N)@@`, see support::expand_template;
//!   templates must not use relative includes);
//! * generated cases (`generated:NAME`), e.g. a config path that does not exist.
//!
//! Checks, all collected and reported together in one assertion at the end:
//! 1. our exit code == keepalived's exit code, unless the file is listed in
//!    `tests/known-differences.txt` (`path<TAB>ours<TAB>keepalived<TAB># reason`), in which
//!    case ours must equal the listed `ours` and keepalived the listed `keepalived`;
//! 2. keepalived's exit code == the file's `# expect: N` header, when it has one (all of
//!    tests/invalid and samples do: the files are the spec, keepalived 2.2.7 decides the
//!    number); a signal death is written as 128 + signal (139 = SIGSEGV);
//! 3. ours finished within the timeout (20 s, `KEEPALIVED_RS_TEST_TIMEOUT` seconds
//!    overrides) and was not killed by a signal.
//!
//! # `robustness_hostile_inputs`
//!
//! Ours only (keepalived itself hangs on some of these): hostile inputs generated at
//! runtime into a temp dir must make ours exit with 0, 2, 4, 5 or 6 within the timeout —
//! no signal (panic=abort, stack overflow), no hang. Failing inputs are copied to
//! `$CARGO_TARGET_TMPDIR/robustness-failures/` for reproduction.

mod support;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use support::netns::{self, Need, NetNs};
use support::process::{Outcome, RunResult, run_with_timeout};

const OURS: &str = env!("CARGO_BIN_EXE_keepalived");

fn ours_timeout() -> Duration {
    let secs = std::env::var("KEEPALIVED_RS_TEST_TIMEOUT")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(20.0);
    Duration::from_secs_f64(secs)
}

/// keepalived itself is given longer; it only times out if something is badly wrong.
const KEEPALIVED_TIMEOUT: Duration = Duration::from_secs(60);

/// Parallel runs (keepalived -t and ours -t are independent processes; they share the
/// namespace, which they only read).
const MAX_THREADS: usize = 8;

#[derive(Debug)]
struct Case {
    /// Stable name: path relative to the crate root, or `generated:NAME`.
    name: String,
    /// The file given to `-f` (for templates: the expanded copy).
    run_path: PathBuf,
    /// `# expect:` of the source file, if any.
    expect: Option<i32>,
}

fn corpus_dir() -> PathBuf {
    support::manifest_dir().join("../shared/corpus/keepalived-samples")
}

/// Files of the shared corpus that are not keepalived configs.
fn corpus_skip(rel: &Path) -> bool {
    let s = rel.to_string_lossy();
    let file = rel
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    file == "SOURCES.md" || file.ends_with(".auth_hmac.conf") || s.starts_with("tools/template")
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out);
        } else if p.is_file() {
            out.push(p);
        }
    }
}

fn sorted_files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.retain(|p| {
        p.is_file()
            && p.file_name()
                .is_some_and(|n| n.to_string_lossy().ends_with(suffix))
    });
    v.sort();
    v
}

fn file_case(path: &Path) -> Case {
    let content = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Case {
        name: support::display_path(path),
        run_path: path.to_path_buf(),
        expect: support::parse_expect(&content),
    }
}

fn collect_cases(tmp: &Path, notes: &mut Vec<String>) -> Vec<Case> {
    let root = support::manifest_dir();
    let mut cases = Vec::new();

    let corpus = corpus_dir();
    if corpus.is_dir() {
        let mut files = Vec::new();
        walk(&corpus, &mut files);
        for f in files {
            let rel = f.strip_prefix(&corpus).unwrap_or(&f).to_path_buf();
            if !corpus_skip(&rel) {
                cases.push(file_case(&f));
            }
        }
    } else {
        notes.push(format!(
            "note: corpus directory {} not found - corpus files not compared",
            corpus.display()
        ));
    }

    let samples = sorted_files(&root.join("samples"), ".conf");
    assert!(!samples.is_empty(), "no samples/*.conf found");
    cases.extend(samples.iter().map(|p| file_case(p)));

    let invalid_dir = root.join("tests/invalid");
    let invalid = sorted_files(&invalid_dir, ".conf");
    assert!(!invalid.is_empty(), "no tests/invalid/*.conf found");
    cases.extend(invalid.iter().map(|p| file_case(p)));

    for tpl in sorted_files(&invalid_dir, ".conf.in") {
        let content = std::fs::read(&tpl).unwrap();
        let file_name = tpl
            .file_name()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches(".in")
            .to_string();
        let expanded = tmp.join(&file_name);
        std::fs::write(&expanded, support::expand_template(&content)).unwrap();
        cases.push(Case {
            name: support::display_path(&tpl),
            run_path: expanded,
            expect: support::parse_expect(&content),
        });
    }

    // keepalived 2.2.7 reports "Config files missing '...'" for a missing -f file but
    // does not count it as a config error, so -t exits 0.
    cases.push(Case {
        name: "generated:missing-config-file".into(),
        run_path: tmp.join("this-file-does-not-exist.conf"),
        expect: Some(0),
    });

    cases
}

struct CaseResult {
    keepalived: RunResult,
    ours: RunResult,
}

fn run_t(ns: &NetNs, program: &str, file: &Path, timeout: Duration) -> RunResult {
    let mut cmd = ns.command(program);
    cmd.arg("-t")
        .arg("-f")
        .arg(file)
        .current_dir(support::manifest_dir());
    run_with_timeout(&mut cmd, timeout)
}

#[test]
fn differential_config_test_exit_codes() {
    if !netns::gate(
        "differential_config_test_exit_codes",
        &[Need::Root, Need::Ip, Need::Keepalived, Need::NetnsWorks],
    ) {
        return;
    }
    let known_path = support::manifest_dir().join("tests/known-differences.txt");
    let known = support::load_known_differences(&known_path).unwrap_or_else(|e| panic!("{e}"));

    let tmp = tempfile::tempdir().expect("tempdir");
    let mut notes = Vec::new();
    let cases = collect_cases(tmp.path(), &mut notes);
    let ns = NetNs::with_default_interfaces("diff")
        .unwrap_or_else(|e| panic!("creating the test namespace: {e}"));
    let timeout = ours_timeout();
    println!(
        "namespace {} (lo, {}); ours = {OURS}; {} cases",
        ns.name(),
        netns::DEFAULT_INTERFACES.join(", "),
        cases.len()
    );

    let results: Vec<CaseResult> = support::parallel_map(&cases, MAX_THREADS, |case| CaseResult {
        keepalived: run_t(&ns, netns::KEEPALIVED, &case.run_path, KEEPALIVED_TIMEOUT),
        ours: run_t(&ns, OURS, &case.run_path, timeout),
    });

    let mut problems: Vec<String> = Vec::new();
    let mut known_used: BTreeMap<&str, bool> = known.keys().map(|k| (k.as_str(), false)).collect();
    let (mut same, mut known_ok) = (0, 0);
    for (case, r) in cases.iter().zip(&results) {
        let k = r.keepalived.outcome.shell_code();
        let o = r.ours.outcome.shell_code();
        let mut issues: Vec<String> = Vec::new();

        // 2. the spec (the file's # expect:) still matches the real keepalived
        if let Some(exp) = case.expect.filter(|&exp| k != Some(exp)) {
            issues.push(format!(
                "keepalived -t gave {} but the file says `# expect: {exp}`",
                r.keepalived.outcome
            ));
        }
        // 3. ours must terminate normally
        if matches!(
            r.ours.outcome,
            Outcome::TimedOut(_) | Outcome::Signaled(_) | Outcome::SpawnFailed(_)
        ) {
            issues.push(format!("ours did not exit normally: {}", r.ours.outcome));
        }
        // 1. ours vs keepalived (or vs the known difference)
        let status = if let Some(kd) = known.get(&case.name) {
            known_used.insert(case.name.as_str(), true);
            if o != Some(kd.ours) || k != Some(kd.keepalived) {
                issues.push(format!(
                    "known difference (tests/known-differences.txt:{}: ours {} / keepalived {}, {}) no longer holds: ours {} / keepalived {}",
                    kd.line, kd.ours, kd.keepalived, kd.reason, r.ours.outcome, r.keepalived.outcome
                ));
                "KNOWN-DIFF BROKEN"
            } else {
                known_ok += 1;
                "known difference"
            }
        } else if o.is_some() && o == k {
            same += 1;
            "same"
        } else {
            issues.push(format!(
                "exit codes differ: ours {} vs keepalived {}",
                r.ours.outcome, r.keepalived.outcome
            ));
            "DIFFERENT"
        };
        println!(
            "{:<70} keepalived={:<4} ours={:<4} expect={:<4} {status} ({:.2}s)",
            case.name,
            r.keepalived
                .outcome
                .shell_code()
                .map_or("?".into(), |c| c.to_string()),
            r.ours
                .outcome
                .shell_code()
                .map_or("?".into(), |c| c.to_string()),
            case.expect.map_or("-".into(), |c| c.to_string()),
            r.ours.elapsed.as_secs_f64()
        );

        if !issues.is_empty() {
            let mut msg = format!("{}\n", case.name);
            for i in &issues {
                let _ = writeln!(msg, "    - {i}");
            }
            let _ = writeln!(msg, "    our output (ours = {}):", r.ours.outcome);
            msg.push_str(&support::excerpt(&r.ours.output(), 15, 240, "        | "));
            let _ = writeln!(
                msg,
                "    keepalived output (keepalived = {}):",
                r.keepalived.outcome
            );
            msg.push_str(&support::excerpt(
                &r.keepalived.output(),
                8,
                240,
                "        | ",
            ));
            problems.push(msg);
        }
    }
    for (path, used) in &known_used {
        if !used {
            notes.push(format!(
                "note: tests/known-differences.txt lists {path}, which is not a test case (stale entry?)"
            ));
        }
    }
    drop(ns);

    for n in &notes {
        println!("{n}");
    }
    println!(
        "{} cases: {same} same exit code, {known_ok} known differences as listed, {} with problems",
        cases.len(),
        problems.len()
    );
    assert!(
        problems.is_empty(),
        "{} of {} configs have problems (ours = {OURS}, keepalived = {}):\n\n{}",
        problems.len(),
        cases.len(),
        netns::KEEPALIVED,
        problems.join("\n")
    );
}

// ---------------------------------------------------------------------------------------
// Robustness
// ---------------------------------------------------------------------------------------

/// Knuth's MMIX LCG; deterministic across platforms.
struct Lcg(u64);

impl Lcg {
    fn next_u32(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 32) as u32
    }
    fn below(&mut self, n: u32) -> u32 {
        self.next_u32() % n
    }
}

/// A hostile input: `files` are written into a fresh directory, `main` is given to -f.
struct Hostile {
    name: String,
    files: Vec<(String, Vec<u8>)>,
    main: String,
}

fn one_file(name: impl Into<String>, content: Vec<u8>) -> Hostile {
    let name = name.into();
    Hostile {
        files: vec![("keepalived.conf".into(), content)],
        main: "keepalived.conf".into(),
        name,
    }
}

fn hostile_inputs() -> Vec<Hostile> {
    let mut v = Vec::new();

    // Huge line: 10 MiB router_id, and 10 MiB with no newline at all.
    let mut big = b"global_defs {\n    router_id ".to_vec();
    big.extend(std::iter::repeat_n(b'x', 10 << 20));
    big.extend_from_slice(b"\n}\n");
    v.push(one_file("line-10mib", big));
    v.push(one_file("line-10mib-no-newline", vec![b'a'; 10 << 20]));

    // 100k nested blocks, one per line, and 100k '{' on a single line.
    let depth = 100_000;
    let mut nested = b"vrrp_instance VI_1 {\n".to_vec();
    for _ in 0..depth {
        nested.extend_from_slice(b"virtual_ipaddress {\n");
    }
    for _ in 0..=depth {
        nested.extend_from_slice(b"}\n");
    }
    v.push(one_file("nested-100k-blocks", nested));
    let mut braces = b"global_defs ".to_vec();
    braces.extend(std::iter::repeat_n(b'{', depth));
    braces.push(b'\n');
    v.push(one_file("nested-100k-braces-one-line", braces));
    let mut closes = b"global_defs {\n".to_vec();
    closes.extend(std::iter::repeat_n(b'}', depth));
    closes.push(b'\n');
    v.push(one_file("closing-100k-braces-one-line", closes));

    // Include loops: a file including itself, and a -> b -> a.
    v.push(one_file(
        "include-self",
        b"include keepalived.conf\nglobal_defs {\n    router_id x\n}\n".to_vec(),
    ));
    v.push(Hostile {
        name: "include-cycle-a-b".into(),
        files: vec![
            ("keepalived.conf".into(), b"include b.conf\n".to_vec()),
            (
                "b.conf".into(),
                b"include keepalived.conf\nvrrp_instance VI_1 {\n".to_vec(),
            ),
        ],
        main: "keepalived.conf".into(),
    });
    v.push(one_file("include-glob-self", b"include *.conf\n".to_vec()));
    v.push(one_file(
        "include-dev-zero",
        b"include /dev/zero\n".to_vec(),
    ));

    // NUL bytes.
    v.push(one_file("nul-only-64k", vec![0u8; 64 << 10]));
    v.push(one_file(
        "nul-sprinkled",
        b"global_defs {\0\n\0router_id \0x\n}\0\nvrrp_instance \0VI {\n interface eth0\0\n virtual_router_id 1\n}\n\0"
            .to_vec(),
    ));

    // Invalid UTF-8 everywhere: keywords, values, names, braces.
    v.push(one_file(
        "invalid-utf8",
        b"\xff\xfe global_defs {\n router_id \xc3\x28\xa0\xa1\n \xed\xa0\x80 1\n}\nvrrp_instance \xf0\x28\x8c\x28 {\n interface eth0\n virtual_router_id 9\n virtual_ipaddress {\n 198.51.100.\xe2\x82\n }\n}\n\xc0".to_vec(),
    ));

    // ~SEQ with a huge range: keepalived expands it line by line (~30 s for 1e8 lines of
    // comments); ours must stay bounded.
    v.push(one_file(
        "seq-100-million",
        b"global_defs {\n    router_id lb\n}\nvrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 1\n    virtual_ipaddress {\n~SEQ(x,1,1,100000000) 198.51.100.1/32 label eth0:${x}\n    }\n}\n".to_vec(),
    ));
    v.push(one_file(
        "seq-hex-huge",
        b"~SEQx(x,0,1,0x7fffffffffffffff) router_id ${x}\n".to_vec(),
    ));
    v.push(one_file(
        "seq-nested",
        b"~SEQ(a,1,100000) ~SEQ(b,1,100000) router_id ${a}.${b}\n".to_vec(),
    ));

    // Recursive / exponential macros (keepalived 2.2.7 loops forever on $A=$A).
    v.push(one_file(
        "macro-self-recursive",
        b"$A=$A\nglobal_defs {\n    router_id $A\n}\n".to_vec(),
    ));
    v.push(one_file(
        "macro-self-recursive-braces",
        b"$A=x${A}\nglobal_defs {\n    router_id ${A}\n}\n".to_vec(),
    ));
    v.push(one_file(
        "macro-mutual-recursion",
        b"$A=${B}\n$B=${A}\nglobal_defs {\n    router_id ${A}\n}\n".to_vec(),
    ));
    let mut laughs = b"$L0=lol\n".to_vec();
    for i in 1..=64 {
        laughs.extend_from_slice(format!("$L{i}=${{L{p}}}${{L{p}}}\n", p = i - 1).as_bytes());
    }
    laughs.extend_from_slice(b"global_defs {\n    router_id ${L64}\n}\n");
    v.push(one_file("macro-exponential", laughs));
    v.push(one_file(
        "macro-multiline-self",
        b"$M=x \\\n$M\n$M\n".to_vec(),
    ));

    // Unterminated constructs at EOF.
    v.push(one_file(
        "eof-in-quote",
        b"global_defs {\n    router_id \"abc".to_vec(),
    ));
    v.push(one_file(
        "eof-in-multiline-macro",
        b"$M=a \\\n b \\\n".to_vec(),
    ));
    v.push(one_file(
        "eof-after-block-keyword",
        b"vrrp_instance".to_vec(),
    ));

    // Random bytes: 200 cases from a fixed seed. Even cases: uniform bytes; odd cases:
    // bytes drawn from config-significant characters, to get deeper into the parser.
    let mut rng = Lcg(0x6b65_6570_616c_6976); // "keepaliv"
    const ALPHABET: &[u8] =
        b"{}{}\"\"''\\#!$@~^()_,./:-=   \t\n\n\n\r\0\xff\xc3abcdefxyz0123456789";
    for i in 0..200 {
        let len = rng.below(4096) as usize + 1;
        let bytes: Vec<u8> = if i % 2 == 0 {
            (0..len).map(|_| rng.next_u32() as u8).collect()
        } else {
            (0..len)
                .map(|_| ALPHABET[rng.below(ALPHABET.len() as u32) as usize])
                .collect()
        };
        v.push(one_file(format!("random-{i:03}"), bytes));
    }

    // Token soup: 100 cases of real keywords, numbers, addresses and punctuation.
    const TOKENS: &[&str] = &[
        "global_defs",
        "vrrp_instance",
        "VI_1",
        "virtual_server",
        "real_server",
        "vrrp_sync_group",
        "group",
        "vrrp_script",
        "track_script",
        "track_interface",
        "virtual_ipaddress",
        "virtual_server_group",
        "authentication",
        "auth_type",
        "PASS",
        "auth_pass",
        "interface",
        "eth0",
        "eth1",
        "state",
        "MASTER",
        "BACKUP",
        "priority",
        "virtual_router_id",
        "advert_int",
        "HTTP_GET",
        "url",
        "path",
        "/",
        "TCP_CHECK",
        "MISC_CHECK",
        "misc_path",
        "lb_algo",
        "rr",
        "lb_kind",
        "NAT",
        "DR",
        "fwmark",
        "include",
        "includem",
        "@lb1",
        "@^lb1",
        "$X=",
        "${X}",
        "$X",
        "~SEQ(i,1,3)",
        "~LST(i,a,b)",
        "${i}",
        "198.51.100.1",
        "203.0.113.5/24",
        "2001:db8::1",
        "80",
        "0",
        "255",
        "256",
        "-1",
        "1.5",
        "{",
        "}",
        "{",
        "}",
        "\"",
        "#",
        "!",
        "\\",
        "\n",
        "\n",
        "\n",
        "  ",
        "script",
        "\"/bin/true\"",
        "notify",
        "unicast_peer",
        "weight",
    ];
    for i in 0..100 {
        let n = rng.below(400) as usize + 1;
        let mut s = String::new();
        for _ in 0..n {
            s.push_str(TOKENS[rng.below(TOKENS.len() as u32) as usize]);
            s.push(if rng.below(4) == 0 { '\n' } else { ' ' });
        }
        v.push(one_file(format!("token-soup-{i:03}"), s.into_bytes()));
    }
    v
}

#[test]
fn robustness_hostile_inputs() {
    if !netns::gate(
        "robustness_hostile_inputs",
        &[Need::Root, Need::Ip, Need::NetnsWorks],
    ) {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let inputs = hostile_inputs();
    let mut prepared: Vec<(&Hostile, PathBuf)> = Vec::new();
    for h in &inputs {
        let dir = tmp.path().join(&h.name);
        std::fs::create_dir_all(&dir).unwrap();
        for (f, content) in &h.files {
            std::fs::write(dir.join(f), content).unwrap();
        }
        prepared.push((h, dir.join(&h.main)));
    }
    let ns = NetNs::with_default_interfaces("robust")
        .unwrap_or_else(|e| panic!("creating the test namespace: {e}"));
    let timeout = ours_timeout();
    let results: Vec<RunResult> = support::parallel_map(&prepared, MAX_THREADS, |(_, path)| {
        run_t(&ns, OURS, path, timeout)
    });
    drop(ns);

    let failures_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("robustness-failures");
    let mut failures = Vec::new();
    let mut slow = Vec::new();
    for ((h, path), r) in prepared.iter().zip(&results) {
        // 2 is keepalived's own exit for a keyword missing its parameter (null_strvec()).
        let ok = matches!(r.outcome, Outcome::Exited(0 | 2 | 4 | 5 | 6));
        if r.elapsed > Duration::from_secs(2) {
            slow.push(format!(
                "{} took {:.1}s (exit {})",
                h.name,
                r.elapsed.as_secs_f64(),
                r.outcome
            ));
        }
        if (!h.name.starts_with("random-") && !h.name.starts_with("token-soup-")) || !ok {
            println!(
                "{:<36} ours={} ({:.2}s)",
                h.name,
                r.outcome,
                r.elapsed.as_secs_f64()
            );
        }
        if !ok {
            let keep = failures_dir.join(&h.name);
            let _ = std::fs::create_dir_all(&keep);
            for (f, content) in &h.files {
                let _ = std::fs::write(keep.join(f), content);
            }
            let mut msg = format!(
                "{}: ours = {} after {:.2}s (allowed: exit 0, 2, 4, 5 or 6); input kept in {}\n",
                h.name,
                r.outcome,
                r.elapsed.as_secs_f64(),
                keep.join(path.file_name().unwrap()).display()
            );
            msg.push_str(&support::excerpt(&r.output(), 10, 200, "        | "));
            failures.push(msg);
        }
    }
    let random_ok = prepared
        .iter()
        .zip(&results)
        .filter(|((h, _), r)| {
            (h.name.starts_with("random-") || h.name.starts_with("token-soup-"))
                && matches!(r.outcome, Outcome::Exited(0 | 4 | 5 | 6))
        })
        .count();
    println!("random/token-soup cases handled cleanly: {random_ok}");
    for s in &slow {
        println!("slow: {s}");
    }
    assert!(
        failures.is_empty(),
        "{} of {} hostile inputs crashed, hung or exited with an unexpected code:\n\n{}",
        failures.len(),
        inputs.len(),
        failures.join("\n")
    );
}
