//! The command line: every keepalived 2.2 and 2.4 flag, parsed the way keepalived's
//! `getopt_long()` loop parses them, plus `--signum`, `-v`, `-h`, `-t` and `-d`.
//!
//! The options are defined once, as a clap [`clap::Command`] ([`definitions`]). clap's own
//! parser cannot reproduce getopt exactly (optional arguments that attach only with `=` or
//! directly to a short option, unique-prefix long options, argument permutation, bad options
//! reported one by one while parsing goes on, `-v`/`-h`/`--signum` acting where they appear),
//! so a small getopt_long-compatible walker ([`Getopt`]) reads the option table from the clap
//! definitions and drives the parse. `-h` prints keepalived's help layout from the same table.

use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::io::{IsTerminal as _, Write as _};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::OnceLock;

use clap::{Arg, ArgAction};

use crate::config;

/// keepalived's compiled-in default configuration file.
pub const DEFAULT_CONFIG_FILE: &str = "/etc/keepalived/keepalived.conf";

/// The keepalived release whose command line and behaviour this crate follows.
pub const KEEPALIVED_VERSION: &str = "2.2.7";

/// `KEEPALIVED_EXIT_FATAL`: bad command line, failures before running.
pub const EXIT_FATAL: u8 = 1;

/// `KEEPALIVED_EXIT_NO_CONFIG`: the configuration file cannot be found or read.
pub const EXIT_NO_CONFIG: u8 = 6;

/// Long names of the options keepalived-rs acts on (or, for `-P`/`-C`/`-n`, records for the
/// daemon). Every other option is accepted and reported as not supported yet.
const SUPPORTED: &[&str] = &[
    "use-file",
    "vrrp",
    "check",
    "log-console",
    "log-detail",
    "dont-fork",
    "dump-conf",
    "all-config",
    "config-id",
    "signum",
    "config-test",
    "version",
    "help",
    "convert-lvs-cf",
    // Daemon mode (src/daemon): pid files, syslog facility, keeping VIPs at exit.
    "pid",
    "vrrp_pid",
    "no-syslog",
    "log-facility",
    "dont-release-vrrp",
    "dont-release-ipvs",
    "ignore-sigint",
    // Supervision, the checkers' pid file, network namespaces (src/daemon).
    "dont-respawn",
    "checkers_pid",
    "namespace",
    // Process settings (src/daemon/mod.rs `process_settings`).
    "umask",
    "core-dump",
];

/// Options whose optional argument keepalived's `-h` shows as `=VALUE` rather than `[=VALUE]`.
const HELP_PLAIN_OPTIONAL: &[&str] = &["log-file", "core-dump-pattern"];

/// Options whose argument keepalived's `-h` shows after a space rather than `=`.
const HELP_SPACE_VALUE: &[&str] = &["config-id"];

fn flag(short: char, long: &'static str, help: &'static str) -> Arg {
    Arg::new(long)
        .short(short)
        .long(long)
        .action(ArgAction::SetTrue)
        .help(help)
}

fn long_flag(long: &'static str, help: &'static str) -> Arg {
    Arg::new(long)
        .long(long)
        .action(ArgAction::SetTrue)
        .help(help)
}

/// An option with a required argument (`-f FILE`, `-fFILE`, `--use-file FILE`, `--use-file=FILE`).
fn required(
    short: Option<char>,
    long: &'static str,
    value: &'static str,
    help: &'static str,
) -> Arg {
    let arg = Arg::new(long)
        .long(long)
        .action(ArgAction::Append)
        .num_args(1)
        .allow_hyphen_values(true)
        .value_name(value)
        .help(help);
    match short {
        Some(c) => arg.short(c),
        None => arg,
    }
}

/// An option with an optional argument: attached only as `--long=ARG` or `-cARG`.
fn optional(
    short: Option<char>,
    long: &'static str,
    value: &'static str,
    help: &'static str,
) -> Arg {
    let arg = Arg::new(long)
        .long(long)
        .action(ArgAction::Append)
        .num_args(0..=1)
        .require_equals(true)
        .value_name(value)
        .help(help);
    match short {
        Some(c) => arg.short(c),
        None => arg,
    }
}

/// Every option of keepalived 2.2.7 and 2.4 (whatever keepalived's build options) and
/// `--convert-lvs-cf`, in `keepalived -h` order. Help continuation lines are indented relative
/// to the help column, as keepalived prints them.
pub fn definitions() -> clap::Command {
    clap::Command::new("keepalived")
        .disable_help_flag(true)
        .disable_version_flag(true)
        .args_override_self(true)
        .args(vec![
            required(
                Some('f'),
                "use-file",
                "FILE",
                "Use the specified configuration file\n default '/etc/keepalived/keepalived.conf'",
            ),
            flag('P', "vrrp", "Only run with VRRP subsystem"),
            flag('C', "check", "Only run with Health-checker subsystem"),
            flag('B', "no_bfd", "Don't run BFD subsystem"),
            long_flag(
                "all",
                "Force all child processes to run, even if have no configuration",
            ),
            flag('l', "log-console", "Log messages to local console"),
            Arg::new("log-detail")
                .short('D')
                .long("log-detail")
                .action(ArgAction::Count)
                .help("Detailed log messages"),
            required(
                Some('S'),
                "log-facility",
                "([0-7]|local[0-7]|user|daemon)",
                "Set syslog facility to LOG_LOCAL[0-7], user or daemon (default)",
            ),
            optional(
                Some('g'),
                "log-file",
                "FILE",
                "Also log to FILE (default /tmp/keepalived.log)",
            ),
            long_flag("flush-log-file", "Flush log file on write"),
            flag('G', "no-syslog", "Don't log via syslog"),
            required(
                Some('u'),
                "umask",
                "MASK",
                "umask for file creation (in numeric form)",
            ),
            flag('X', "release-vips", "Drop VIP on transition from signal."),
            flag(
                'V',
                "dont-release-vrrp",
                "Don't remove VRRP VIPs and VROUTEs on daemon stop",
            ),
            flag(
                'I',
                "dont-release-ipvs",
                "Don't remove IPVS topology on daemon stop",
            ),
            flag('R', "dont-respawn", "Don't respawn child processes"),
            flag('n', "dont-fork", "Don't fork the daemon process"),
            flag('d', "dump-conf", "Dump the configuration data"),
            required(
                Some('p'),
                "pid",
                "FILE",
                "Use specified pidfile for parent process",
            ),
            required(
                Some('r'),
                "vrrp_pid",
                "FILE",
                "Use specified pidfile for VRRP child process",
            ),
            flag(
                'T',
                "genhash",
                "Enter into genhash utility mode (this should be the first option used).",
            ),
            required(
                Some('c'),
                "checkers_pid",
                "FILE",
                "Use specified pidfile for checkers child process",
            ),
            flag(
                'a',
                "address-monitoring",
                "Report all address additions/deletions notified via netlink",
            ),
            required(
                Some('b'),
                "bfd_pid",
                "FILE",
                "Use specified pidfile for BFD child process",
            ),
            flag('x', "snmp", "Enable SNMP subsystem"),
            required(
                Some('A'),
                "snmp-agent-socket",
                "FILE",
                "Use the specified socket for master agent",
            ),
            required(
                Some('s'),
                "namespace",
                "NAME",
                "Run in network namespace NAME (overrides config)",
            ),
            flag('m', "core-dump", "Produce core dump if terminate abnormally"),
            optional(
                Some('M'),
                "core-dump-pattern",
                "PATN",
                "Also set /proc/sys/kernel/core_pattern to PATN (default 'core')",
            ),
            long_flag("no-mem-check", "disable malloc() etc mem-checks"),
            flag('L', "mem-check-log", "Log malloc/frees to syslog"),
            flag(
                'O',
                "openssl-mem-check",
                "Enable OpenSSL malloc() etc mem-checks",
            ),
            flag(
                'e',
                "all-config",
                "Error if any configuration file missing (same as includet)",
            ),
            required(
                Some('i'),
                "config-id",
                "id",
                "Skip any configuration lines beginning '@' that don't match id\n \
                 or any lines beginning @^ that do match.\n \
                 The config-id defaults to the node name if option not used",
            ),
            long_flag(
                "ignore-sigint",
                "ignore SIGINT (default means terminate) - used for debugging with GDB",
            ),
            required(
                None,
                "signum",
                "SIGFUNC",
                "Return signal number for STOP, RELOAD, DATA, STATS, STATS_CLEAR, JSON",
            ),
            optional(
                Some('t'),
                "config-test",
                "LOG_FILE",
                "Check the configuration for obvious errors, output to\n stderr by default",
            ),
            required(
                None,
                "config-fd",
                "fd_num",
                "File descriptor to write consolidated config to",
            )
            .hide(true),
            optional(
                None,
                "perf",
                "PERF_TYPE",
                "Collect perf data, PERF_TYPE=all, run(default) or end",
            ),
            optional(
                None,
                "debug",
                "...",
                "Enable debug options. p, b, c, v specify parent, bfd, checker and vrrp processes\n \
                 If no process(es) specified, the option will apply to all processes\n  \
                 Example --debug=TpMEvcp",
            ),
            required(
                None,
                "convert-lvs-cf",
                "FILE",
                "Convert a piranha lvs.cf FILE to keepalived.conf format",
            ),
            flag('v', "version", "Display the version number"),
            flag('h', "help", "Display this help message"),
        ])
}

/// Whether an option takes an argument (getopt's `has_arg`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HasArg {
    No,
    Required,
    Optional,
}

/// One option as the getopt walker sees it, read from [`definitions`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptSpec {
    pub short: Option<char>,
    pub long: String,
    pub has_arg: HasArg,
    pub value_name: String,
    pub help: String,
    pub hidden: bool,
}

impl OptSpec {
    /// Whether keepalived-rs acts on this option.
    pub fn supported(&self) -> bool {
        SUPPORTED.contains(&self.long.as_str())
    }
}

/// The option table, derived once from the clap definitions.
pub fn specs() -> &'static [OptSpec] {
    static SPECS: OnceLock<Vec<OptSpec>> = OnceLock::new();
    SPECS.get_or_init(|| {
        definitions()
            .get_arguments()
            .filter_map(|arg| {
                let long = arg.get_long()?.to_string();
                let has_arg = if !arg.get_action().takes_values() {
                    HasArg::No
                } else if arg.get_num_args().is_some_and(|n| n.min_values() == 0) {
                    HasArg::Optional
                } else {
                    HasArg::Required
                };
                let value_name = arg
                    .get_value_names()
                    .and_then(|v| v.first())
                    .map(ToString::to_string)
                    .unwrap_or_default();
                Some(OptSpec {
                    short: arg.get_short(),
                    long,
                    has_arg,
                    value_name,
                    help: arg.get_help().map(ToString::to_string).unwrap_or_default(),
                    hidden: arg.is_hide_set(),
                })
            })
            .collect()
    })
}

/// One step of the `getopt_long` walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<'a> {
    /// A recognised option; `long` tells whether it was spelt `--name`.
    Opt {
        spec: &'a OptSpec,
        arg: Option<OsString>,
        long: bool,
    },
    /// getopt's `'?'`, with keepalived's message.
    Unknown(String),
    /// getopt's `':'` (and keepalived's empty `--long=` check), with keepalived's message.
    MissingArg(String),
}

/// A `getopt_long` walker with glibc's behaviour for an option string starting with `:`:
/// argument permutation (unless `POSIXLY_CORRECT`), `--` ends the options, `-` is an operand,
/// short options combine (`-DlnP`), a required argument is the rest of the word or the next
/// word (whatever it looks like), an optional one only the rest of the word or after `=`, and
/// a long option may be abbreviated to a unique prefix.
pub struct Getopt<'a> {
    args: &'a [OsString],
    specs: &'a [OptSpec],
    optind: usize,
    /// Inside a word of combined short options: (word index, byte offset of the next one).
    cluster: Option<(usize, usize)>,
    operands: Vec<OsString>,
    posixly_correct: bool,
}

impl<'a> Getopt<'a> {
    /// Walks `args[1..]` (`args[0]` is the program name).
    pub fn new(args: &'a [OsString], specs: &'a [OptSpec], posixly_correct: bool) -> Self {
        Getopt {
            args,
            specs,
            optind: 1,
            cluster: None,
            operands: Vec::new(),
            posixly_correct,
        }
    }

    /// The non-option words, in order; complete once the walk has ended.
    pub fn operands(&self) -> &[OsString] {
        &self.operands
    }

    fn finish(&mut self) {
        if self.optind < self.args.len() {
            self.operands.extend_from_slice(&self.args[self.optind..]);
        }
        self.optind = self.args.len();
    }

    fn short(&mut self, word: usize, pos: usize) -> Event<'a> {
        let bytes = self.args[word].as_bytes();
        let c = bytes[pos];
        let rest = &bytes[pos + 1..];
        self.cluster = if rest.is_empty() {
            None
        } else {
            Some((word, pos + 1))
        };
        let spec = if c.is_ascii() && c != b':' {
            self.specs.iter().find(|s| s.short == Some(char::from(c)))
        } else {
            None
        };
        let Some(spec) = spec else {
            return Event::Unknown(format!("Unknown option -{}", String::from_utf8_lossy(&[c])));
        };
        let arg = match spec.has_arg {
            HasArg::No => None,
            HasArg::Optional => {
                self.cluster = None;
                (!rest.is_empty()).then(|| OsStr::from_bytes(rest).to_os_string())
            }
            HasArg::Required => {
                self.cluster = None;
                if !rest.is_empty() {
                    Some(OsStr::from_bytes(rest).to_os_string())
                } else if self.optind < self.args.len() {
                    self.optind += 1;
                    Some(self.args[self.optind - 1].clone())
                } else {
                    return Event::MissingArg(format!(
                        "Missing parameter for option -{}",
                        char::from(c)
                    ));
                }
            }
        };
        Event::Opt {
            spec,
            arg,
            long: false,
        }
    }

    fn long(&mut self, word: usize) -> Event<'a> {
        let whole = self.args[word].as_bytes();
        let body = &whole[2..];
        let (name, value) = match body.iter().position(|&b| b == b'=') {
            Some(eq) => (&body[..eq], Some(&body[eq + 1..])),
            None => (body, None),
        };
        let unknown =
            || Event::Unknown(format!("Unknown option {}", String::from_utf8_lossy(whole)));
        // An exact name, else a unique prefix (every option here differs from the others).
        let spec = if let Some(s) = self.specs.iter().find(|s| s.long.as_bytes() == name) {
            s
        } else {
            let mut candidates = self
                .specs
                .iter()
                .filter(|s| s.long.as_bytes().starts_with(name));
            match (candidates.next(), candidates.next()) {
                (Some(s), None) => s,
                _ => return unknown(),
            }
        };
        let missing = || Event::MissingArg(format!("Missing parameter for option --{}", spec.long));
        let arg = match spec.has_arg {
            HasArg::No if value.is_some() => return unknown(),
            HasArg::No => None,
            HasArg::Optional => value.map(|v| OsStr::from_bytes(v).to_os_string()),
            HasArg::Required => {
                let arg = match value {
                    Some(v) => OsStr::from_bytes(v).to_os_string(),
                    None if self.optind < self.args.len() => {
                        self.optind += 1;
                        self.args[self.optind - 1].clone()
                    }
                    None => return missing(),
                };
                // keepalived rejects an empty argument to a long option (`--use-file=`).
                if arg.is_empty() {
                    return missing();
                }
                Some(arg)
            }
        };
        Event::Opt {
            spec,
            arg,
            long: true,
        }
    }
}

impl<'a> Iterator for Getopt<'a> {
    type Item = Event<'a>;

    fn next(&mut self) -> Option<Event<'a>> {
        if let Some((word, pos)) = self.cluster {
            return Some(self.short(word, pos));
        }
        loop {
            let word = self.optind;
            let bytes = self.args.get(word)?.as_bytes();
            if bytes == b"--" {
                self.optind += 1;
                self.finish();
                return None;
            }
            if bytes.len() < 2 || bytes[0] != b'-' {
                if self.posixly_correct {
                    self.finish();
                    return None;
                }
                self.operands.push(self.args[word].clone());
                self.optind += 1;
                continue;
            }
            self.optind += 1;
            return Some(if bytes[1] == b'-' {
                self.long(word)
            } else {
                self.short(word, 1)
            });
        }
    }
}

/// A syslog facility given with `-S`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFacility {
    /// `0`-`7` or `local0`-`local7`.
    Local(u8),
    User,
    Daemon,
}

impl LogFacility {
    /// keepalived's `-S` syntax: `[0-7]`, `local[0-7]`, `user` or `daemon`.
    pub fn parse(s: &str) -> Option<LogFacility> {
        let digit = |d: &str| {
            (!d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
                .then(|| d.parse::<u8>().ok())
                .flatten()
                .filter(|&n| n <= 7)
        };
        match s {
            "user" => Some(LogFacility::User),
            "daemon" => Some(LogFacility::Daemon),
            _ => digit(s)
                .or_else(|| s.strip_prefix("local").and_then(digit))
                .map(LogFacility::Local),
        }
    }
}

/// `--perf` start point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PerfRun {
    All,
    Run,
    End,
}

/// Every flag of the command line, typed. Defaults are keepalived's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// `-f`: configuration file (glob pattern); `None` = [`DEFAULT_CONFIG_FILE`].
    pub config_file: Option<PathBuf>,
    /// Cleared by `-C`, set by `--all`.
    pub run_vrrp: bool,
    /// Cleared by `-P`, set by `--all`.
    pub run_checkers: bool,
    /// Cleared by `-B`, set by `--all`.
    pub run_bfd: bool,
    /// `--all`: start children even without configuration.
    pub run_all_children: bool,
    /// `-l`.
    pub log_console: bool,
    /// `-D` count (1 detail, 2 extra detail).
    pub log_detail: u8,
    /// `-S`.
    pub log_facility: Option<LogFacility>,
    /// `-g[FILE]` (`keepalived.log` when no FILE).
    pub log_file: Option<PathBuf>,
    /// `--flush-log-file`.
    pub flush_log_file: bool,
    /// `-G` (also implied by `-t`).
    pub no_syslog: bool,
    /// `-u`.
    pub umask: Option<u32>,
    /// `-X`.
    pub release_vips: bool,
    /// `-V`.
    pub dont_release_vrrp: bool,
    /// `-I`.
    pub dont_release_ipvs: bool,
    /// `-R` (also implied by `-t`).
    pub dont_respawn: bool,
    /// `-n` (also implied by `-t`).
    pub dont_fork: bool,
    /// `-d`.
    pub dump_conf: bool,
    /// `-p`.
    pub pid_file: Option<PathBuf>,
    /// `-r`.
    pub vrrp_pid_file: Option<PathBuf>,
    /// `-c`.
    pub checkers_pid_file: Option<PathBuf>,
    /// `-b`.
    pub bfd_pid_file: Option<PathBuf>,
    /// `-a`.
    pub address_monitoring: bool,
    /// `-x`.
    pub snmp: bool,
    /// `-A`.
    pub snmp_agent_socket: Option<String>,
    /// `-s`.
    pub namespace: Option<String>,
    /// `-m` (also set by `-M`).
    pub core_dump: bool,
    /// `-M[PATN]` (`core` when no PATN).
    pub core_dump_pattern: Option<String>,
    /// `-e`.
    pub all_config: bool,
    /// `-i`; `None` = the short host name, see [`Options::effective_config_id`].
    pub config_id: Option<String>,
    /// `-t`.
    pub config_test: bool,
    /// `-t LOG_FILE`: where `-t` writes its messages instead of stderr.
    pub config_test_log: Option<PathBuf>,
    /// `--config-fd` (internal to keepalived; `atoi` of the argument).
    pub config_fd: Option<i32>,
    /// `--perf`.
    pub perf: Option<PerfRun>,
    /// `--debug[=opts]` (empty = all).
    pub debug: Option<String>,
    /// `--no-mem-check`.
    pub no_mem_check: bool,
    /// `-L`.
    pub mem_check_log: bool,
    /// `-O`.
    pub openssl_mem_check: bool,
    /// `--ignore-sigint`.
    pub ignore_sigint: bool,
    /// `--convert-lvs-cf` (keepalived-rs only).
    pub convert_lvs_cf: Option<PathBuf>,
    /// Non-option words, which keepalived reports and otherwise ignores.
    pub operands: Vec<OsString>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            config_file: None,
            run_vrrp: true,
            run_checkers: true,
            run_bfd: true,
            run_all_children: false,
            log_console: false,
            log_detail: 0,
            log_facility: None,
            log_file: None,
            flush_log_file: false,
            no_syslog: false,
            umask: None,
            release_vips: false,
            dont_release_vrrp: false,
            dont_release_ipvs: false,
            dont_respawn: false,
            dont_fork: false,
            dump_conf: false,
            pid_file: None,
            vrrp_pid_file: None,
            checkers_pid_file: None,
            bfd_pid_file: None,
            address_monitoring: false,
            snmp: false,
            snmp_agent_socket: None,
            namespace: None,
            core_dump: false,
            core_dump_pattern: None,
            all_config: false,
            config_id: None,
            config_test: false,
            config_test_log: None,
            config_fd: None,
            perf: None,
            debug: None,
            no_mem_check: false,
            mem_check_log: false,
            openssl_mem_check: false,
            ignore_sigint: false,
            convert_lvs_cf: None,
            operands: Vec::new(),
        }
    }
}

/// What a run does with the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `-t`.
    ConfigTest,
    /// `-d` (without `-t`).
    DumpConf,
    /// Neither.
    Daemon,
}

impl Options {
    /// The configuration file: `-f` or [`DEFAULT_CONFIG_FILE`].
    pub fn config_file(&self) -> &Path {
        self.config_file
            .as_deref()
            .unwrap_or(Path::new(DEFAULT_CONFIG_FILE))
    }

    /// `-i`, else the host name up to its first `.`, as keepalived.
    pub fn effective_config_id(&self) -> Option<String> {
        self.config_id.clone().or_else(short_hostname)
    }

    pub fn mode(&self) -> Mode {
        if self.config_test {
            Mode::ConfigTest
        } else if self.dump_conf {
            Mode::DumpConf
        } else {
            Mode::Daemon
        }
    }

    /// How to read the configuration for these options.
    pub fn load_options(&self) -> config::LoadOptions {
        let mut load = config::LoadOptions::new(self.config_file());
        load.config_id = self.effective_config_id();
        load.all_config = self.all_config;
        load
    }
}

/// The host name up to its first `.` (keepalived's default config-id).
pub fn short_hostname() -> Option<String> {
    let name = nix::unistd::gethostname().ok()?.into_string().ok()?;
    name.split('.').next().map(str::to_string)
}

/// Something to print while (or after) parsing, in command-line order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A line keepalived prints on stderr (`Unknown option -Z`, `Invalid log facility 'x'`).
    Stderr(String),
    /// keepalived's `Unexpected argument(s): ...` line, which goes to stdout.
    Stdout(String),
    /// An option keepalived-rs accepts but does not implement yet (its long name).
    Unsupported(String),
}

impl Notice {
    /// Print the notice; an unsupported option is also logged with `tracing::warn!`.
    pub fn emit(&self) {
        match self {
            Notice::Stderr(line) => eprintln_lossy(line),
            Notice::Stdout(line) => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
            Notice::Unsupported(name) => {
                eprintln_lossy(&format!(
                    "keepalived: option --{name} is not supported yet, ignored"
                ));
                tracing::warn!("option --{name} is not supported yet, ignored");
            }
        }
    }
}

fn eprintln_lossy(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `-v`.
    Version,
    /// `-h`; `prog` is `argv[0]` for the usage line.
    Help { prog: String },
    /// `--signum=NAME`: print this number.
    Signum(i32),
    /// `-T`, or invoked as `genhash`.
    Genhash,
    /// `--convert-lvs-cf=FILE`.
    ConvertLvsCf(PathBuf),
    /// Config test, dump or daemon, per [`Options::mode`].
    Run(Box<Options>),
}

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub action: Action,
    /// Messages to print before acting, in order.
    pub notices: Vec<Notice>,
}

/// A command line keepalived refuses (it exits 1 for all of these).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CliError {
    /// Unknown options or missing arguments; each message is in `notices`.
    #[error("invalid command line options")]
    BadOptions { notices: Vec<Notice> },
    /// `--signum` with a name keepalived 2.2.7 (Debian build) does not know.
    #[error("Unknown sigfunc {name}")]
    UnknownSigfunc { name: String, notices: Vec<Notice> },
}

impl CliError {
    /// Messages to print before the error's own.
    pub fn notices(&self) -> &[Notice] {
        match self {
            CliError::BadOptions { notices } | CliError::UnknownSigfunc { notices, .. } => notices,
        }
    }

    pub fn exit_code(&self) -> u8 {
        EXIT_FATAL
    }
}

/// keepalived's `get_signum()` as built by Debian for 2.2.7: with JSON, without THREAD_DUMP
/// (so `TDUMP` is unknown). Real-time signals are computed from this libc's SIGRTMIN/SIGRTMAX.
pub fn signum(name: &str) -> Option<i32> {
    match name {
        "STOP" => Some(libc::SIGTERM),
        "RELOAD" => Some(libc::SIGHUP),
        "DATA" => Some(libc::SIGUSR1),
        "STATS" => Some(libc::SIGUSR2),
        "STATS_CLEAR" => Some(libc::SIGRTMAX() - 1),
        "JSON" => Some(libc::SIGRTMIN() + 2),
        _ => None,
    }
}

/// `strtoll(s, &end, 0)` over the whole string, as keepalived's `set_umask()`; only
/// permission bits are allowed.
fn parse_umask(s: &str) -> Option<u32> {
    let (digits, radix) = if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (hex, 16)
    } else if s.len() > 1 && s.starts_with('0') {
        (&s[1..], 8)
    } else {
        (s, 10)
    };
    let value = if digits.is_empty() && radix == 10 {
        0
    } else {
        u32::from_str_radix(digits, radix).ok()?
    };
    (value & !0o777 == 0).then_some(value)
}

/// C `atoi()`: leading blanks, optional sign, digits; anything else ends the number.
fn atoi(s: &str) -> i32 {
    let s = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut n: i64 = 0;
    for b in digits.bytes().take_while(u8::is_ascii_digit) {
        n = (n * 10 + i64::from(b - b'0')).min(i64::from(i32::MAX) + 1);
    }
    let n = if neg { -n } else { n };
    i32::try_from(n).unwrap_or(if neg { i32::MIN } else { i32::MAX })
}

fn lossy(s: &OsStr) -> String {
    s.to_string_lossy().into_owned()
}

/// Parse `argv` (program name first) as keepalived does; reads `POSIXLY_CORRECT`.
///
/// # Errors
///
/// [`CliError`] for what keepalived exits 1 on: unknown options, missing arguments (reported
/// once the whole line is read) and an unknown `--signum` name.
pub fn parse_args<I: IntoIterator<Item = OsString>>(args: I) -> Result<Command, CliError> {
    parse_args_with(args, std::env::var_os("POSIXLY_CORRECT").is_some())
}

/// [`parse_args`] with getopt's `POSIXLY_CORRECT` mode given explicitly.
pub fn parse_args_with<I: IntoIterator<Item = OsString>>(
    args: I,
    posixly_correct: bool,
) -> Result<Command, CliError> {
    let args: Vec<OsString> = args.into_iter().collect();
    let prog = args
        .first()
        .map_or_else(|| "keepalived".to_string(), |a| lossy(a));
    let mut notices = Vec::new();

    // keepalived runs as genhash when invoked under that name.
    if Path::new(&prog).file_name() == Some(OsStr::new("genhash")) {
        return Ok(Command {
            action: Action::Genhash,
            notices,
        });
    }

    let mut opts = Options::default();
    let mut bad_option = false;
    let mut first_option = true;
    let mut walker = Getopt::new(&args, specs(), posixly_correct);

    for event in walker.by_ref() {
        let was_first = std::mem::replace(&mut first_option, false);
        let (spec, arg, long) = match event {
            Event::Opt { spec, arg, long } => (spec, arg, long),
            Event::Unknown(msg) | Event::MissingArg(msg) => {
                notices.push(Notice::Stderr(msg));
                bad_option = true;
                continue;
            }
        };
        if !spec.supported()
            && spec.long != "genhash"
            && !notices.contains(&Notice::Unsupported(spec.long.clone()))
        {
            notices.push(Notice::Unsupported(spec.long.clone()));
        }
        let text = arg.as_deref().map(lossy);
        let path = arg.as_ref().map(PathBuf::from);
        // An optional argument counts only when non-empty (`--config-test=` is no argument).
        let nonempty = text.clone().filter(|t| !t.is_empty());
        match spec.long.as_str() {
            "version" => {
                return Ok(Command {
                    action: Action::Version,
                    notices,
                });
            }
            "help" => {
                return Ok(Command {
                    action: Action::Help { prog },
                    notices,
                });
            }
            "signum" => {
                let name = text.unwrap_or_default();
                return match signum(&name) {
                    Some(n) => Ok(Command {
                        action: Action::Signum(n),
                        notices,
                    }),
                    None => Err(CliError::UnknownSigfunc { name, notices }),
                };
            }
            "genhash" => {
                if !was_first {
                    let name = if long { "genhash" } else { "-T" };
                    notices.push(Notice::Stderr(format!(
                        "Warning -- `{name}` not used as first option, previous options ignored"
                    )));
                }
                return Ok(Command {
                    action: Action::Genhash,
                    notices,
                });
            }
            "use-file" => opts.config_file = path,
            "vrrp" => opts.run_checkers = false,
            "check" => opts.run_vrrp = false,
            "no_bfd" => opts.run_bfd = false,
            "all" => {
                opts.run_all_children = true;
                opts.run_vrrp = true;
                opts.run_checkers = true;
                opts.run_bfd = true;
            }
            "log-console" => opts.log_console = true,
            "log-detail" => opts.log_detail = (opts.log_detail + 1).min(2),
            "log-facility" => {
                let value = text.unwrap_or_default();
                match LogFacility::parse(&value) {
                    Some(f) => opts.log_facility = Some(f),
                    None => notices.push(Notice::Stderr(format!("Invalid log facility '{value}'"))),
                }
            }
            "log-file" => {
                opts.log_file = Some(
                    nonempty
                        .map(PathBuf::from)
                        .unwrap_or_else(|| PathBuf::from("keepalived.log")),
                );
            }
            "flush-log-file" => opts.flush_log_file = true,
            "no-syslog" => opts.no_syslog = true,
            "umask" => {
                let value = text.unwrap_or_default();
                match parse_umask(&value) {
                    Some(mask) => opts.umask = Some(mask),
                    None => notices.push(Notice::Stderr(format!("Invalid --umask option {value}"))),
                }
            }
            "release-vips" => opts.release_vips = true,
            "dont-release-vrrp" => opts.dont_release_vrrp = true,
            "dont-release-ipvs" => opts.dont_release_ipvs = true,
            "dont-respawn" => opts.dont_respawn = true,
            "dont-fork" => opts.dont_fork = true,
            "dump-conf" => opts.dump_conf = true,
            "pid" => opts.pid_file = path,
            "vrrp_pid" => opts.vrrp_pid_file = path,
            "checkers_pid" => opts.checkers_pid_file = path,
            "bfd_pid" => opts.bfd_pid_file = path,
            "address-monitoring" => opts.address_monitoring = true,
            "snmp" => opts.snmp = true,
            "snmp-agent-socket" => opts.snmp_agent_socket = text,
            "namespace" => opts.namespace = text,
            "core-dump" => opts.core_dump = true,
            "core-dump-pattern" => {
                opts.core_dump = true;
                opts.core_dump_pattern = Some(nonempty.unwrap_or_else(|| "core".to_string()));
            }
            "all-config" => opts.all_config = true,
            "config-id" => opts.config_id = text,
            "config-test" => {
                opts.config_test = true;
                opts.dont_respawn = true;
                opts.dont_fork = true;
                opts.no_syslog = true;
                if let Some(log) = nonempty {
                    opts.config_test_log = Some(PathBuf::from(log));
                }
            }
            "config-fd" => opts.config_fd = Some(atoi(&text.unwrap_or_default())),
            "perf" => match nonempty.as_deref() {
                None | Some("run") => opts.perf = Some(PerfRun::Run),
                Some("all") => opts.perf = Some(PerfRun::All),
                Some("end") => opts.perf = Some(PerfRun::End),
                Some(other) => {
                    notices.push(Notice::Stderr(format!("Unknown perf start point {other}")));
                }
            },
            "debug" => opts.debug = Some(nonempty.unwrap_or_default()),
            "no-mem-check" => opts.no_mem_check = true,
            "mem-check-log" => opts.mem_check_log = true,
            "openssl-mem-check" => opts.openssl_mem_check = true,
            "ignore-sigint" => opts.ignore_sigint = true,
            "convert-lvs-cf" => opts.convert_lvs_cf = path,
            other => {
                // Unreachable while the table and this match agree (a unit test checks).
                notices.push(Notice::Stderr(format!("Unknown option --{other}")));
                bad_option = true;
            }
        }
    }

    opts.operands = walker.operands().to_vec();
    if !opts.operands.is_empty() {
        let mut line = String::from("Unexpected argument(s): ");
        for word in &opts.operands {
            line.push_str(&lossy(word));
            line.push(' ');
        }
        notices.push(Notice::Stdout(line));
    }
    if bad_option {
        return Err(CliError::BadOptions { notices });
    }
    let action = match opts.convert_lvs_cf.take() {
        Some(file) => Action::ConvertLvsCf(file),
        None => Action::Run(Box::new(opts)),
    };
    Ok(Command { action, notices })
}

/// The left column of a `-h` line: `  -f, --use-file=FILE`.
fn help_left(spec: &OptSpec) -> String {
    let mut left = match spec.short {
        Some(c) => format!("  -{c}, --{}", spec.long),
        None => format!("      --{}", spec.long),
    };
    let name = spec.long.as_str();
    match spec.has_arg {
        HasArg::No => {}
        HasArg::Required if HELP_SPACE_VALUE.contains(&name) => {
            let _ = write!(left, " {}", spec.value_name);
        }
        HasArg::Required => {
            let _ = write!(left, "={}", spec.value_name);
        }
        HasArg::Optional if HELP_PLAIN_OPTIONAL.contains(&name) => {
            let _ = write!(left, "={}", spec.value_name);
        }
        HasArg::Optional => {
            let _ = write!(left, "[={}]", spec.value_name);
        }
    }
    left
}

/// `keepalived -h`: keepalived's layout (help text from column 31, continuation lines indented
/// under it) for every option in [`definitions`] except hidden ones.
pub fn help_text(prog: &str) -> String {
    const COLUMN: usize = 31;
    let mut out = format!("Usage: {prog} [OPTION...]\n");
    for spec in specs().iter().filter(|s| !s.hidden) {
        let left = help_left(spec);
        let mut lines = spec.help.lines();
        let first = lines.next().unwrap_or_default();
        if left.len() < COLUMN {
            let _ = writeln!(out, "{left:<width$} {first}", width = COLUMN - 1);
        } else {
            let _ = writeln!(out, "{left}\n{:COLUMN$}{first}", "");
        }
        for line in lines {
            let _ = writeln!(out, "{:COLUMN$}{line}", "");
        }
    }
    out
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim_end().to_string())
}

/// `PRETTY_NAME` from /etc/os-release, as keepalived's `report_distro()`.
fn distro() -> Option<String> {
    let text = std::fs::read_to_string("/etc/os-release").ok()?;
    let value = text.lines().find_map(|l| l.strip_prefix("PRETTY_NAME="))?;
    let value = value.strip_prefix('"').unwrap_or(value);
    Some(value.strip_suffix('"').unwrap_or(value).to_string())
}

/// `keepalived -v`: keepalived's banner shape, saying that this is keepalived-rs.
pub fn version_text() -> String {
    let version = env!("CARGO_PKG_VERSION");
    let mut out = format!("Keepalived v{KEEPALIVED_VERSION} (keepalived-rs {version})\n\n");
    let _ = writeln!(
        out,
        "keepalived-rs {version}: {}\n\
         Command line and configuration compatible with Keepalived v{KEEPALIVED_VERSION} \
         (Alexandre Cassen et al.);\n\
         an independent implementation, licensed {}.\n",
        env!("CARGO_PKG_DESCRIPTION"),
        env!("CARGO_PKG_LICENSE"),
    );
    if let (Some(os), Some(release), Some(kversion)) = (
        read_trimmed("/proc/sys/kernel/ostype"),
        read_trimmed("/proc/sys/kernel/osrelease"),
        read_trimmed("/proc/sys/kernel/version"),
    ) {
        let _ = writeln!(out, "Running on {os} {release} {kversion}");
    }
    if let Some(d) = distro() {
        let _ = writeln!(out, "Distro: {d}");
    }
    out.push('\n');
    out.push_str("Implemented: --config-test, --dump-conf, --signum, VRRP daemon (-P); checkers and IPVS in progress\n");
    #[cfg(feature = "fault-injection")]
    out.push_str("Test build: fault injection enabled (KEEPALIVED_RS_FAULT)\n");
    out
}

/// Logging to stderr: warnings by default, `-l` adds info, each `-D` one more level.
/// `RUST_LOG` overrides.
fn init_logging(opts: Option<&Options>) {
    // Daemon mode installs keepalived-style logging (syslog, `-l` console) itself.
    if opts.is_some_and(|o| o.mode() == Mode::Daemon) {
        return;
    }
    let verbosity = opts.map_or(0, |o| u8::from(o.log_console) + o.log_detail);
    let level = match verbosity {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}

/// `-t LOG_FILE`: append everything written to stderr to LOG_FILE (created 0644, not through a
/// symlink), as keepalived does. On failure, keepalived's message.
fn redirect_stderr(path: &Path) -> Result<(), String> {
    let file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path);
    let result = file.and_then(|f| nix::unistd::dup2_stderr(&f).map_err(std::io::Error::from));
    result.map_err(|e| {
        let errno = e.raw_os_error().unwrap_or(0);
        let desc = nix::errno::Errno::from_raw(errno).desc();
        format!(
            "Unable to open config-test log file {} {errno} - {desc}",
            path.display()
        )
    })
}

/// keepalived's `check_conf_file()`: the pattern matches at least one file, and every match is
/// a readable regular file.
fn config_file_readable(pattern: &Path) -> bool {
    let text = pattern.to_string_lossy();
    let matches: Vec<PathBuf> = match glob::glob(&text) {
        Ok(paths) => paths.filter_map(Result::ok).collect(),
        Err(_) => vec![pattern.to_path_buf()],
    };
    !matches.is_empty()
        && matches
            .iter()
            .all(|p| p.is_file() && std::fs::File::open(p).is_ok())
}

fn exit_code(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(EXIT_FATAL))
}

fn print_stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

fn print_stderr(text: &str) {
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// `-s NAME` for the daemon: enter the network namespace before anything reads interfaces
/// or opens a socket (keepalived exits 0 when it cannot; we exit 1).
fn enter_namespace(name: &str) -> Result<(), ExitCode> {
    crate::daemon::namespace::enter(name).map_err(|e| {
        eprintln_lossy(&format!(
            "keepalived: Unable to set network namespace {name} - exiting ({e})"
        ));
        tracing::error!("Unable to set network namespace {name} - exiting ({e})");
        ExitCode::from(EXIT_FATAL)
    })
}

/// `-t`, `-d` or daemon mode.
fn run(opts: &Options) -> ExitCode {
    let load = opts.load_options();
    if let Some(ns) = &opts.namespace {
        if opts.mode() == Mode::Daemon {
            if let Err(code) = enter_namespace(ns) {
                return code;
            }
        } else if let Err(e) = crate::daemon::namespace::enter(ns) {
            // `-t`/`-d` check the namespace's interfaces when they can, the host's otherwise.
            eprintln_lossy(&format!(
                "keepalived: cannot enter network namespace {ns} ({e}); checking here"
            ));
        }
    }
    match opts.mode() {
        Mode::ConfigTest => {
            let loaded = config::load(&load);
            print_stderr(&loaded.diagnostics.render());
            exit_code(loaded.test_exit_code())
        }
        Mode::DumpConf => {
            let readable = config_file_readable(&load.path);
            let loaded = config::load(&load);
            print_stderr(&loaded.diagnostics.render());
            if !readable {
                return ExitCode::from(EXIT_NO_CONFIG);
            }
            print_stdout(&config::dump::dump(&loaded.config));
            ExitCode::SUCCESS
        }
        Mode::Daemon => {
            let readable = config_file_readable(&load.path);
            let mut loaded = config::load(&load);
            // `net_namespace` in the configuration (overridden by -s): enter it, then read
            // the configuration again there, so that its interfaces are the namespace's.
            if opts.namespace.is_none()
                && let Some(ns) = loaded.config.global.net_namespace.clone()
            {
                if let Err(code) = enter_namespace(&ns) {
                    return code;
                }
                loaded = config::load(&load);
            }
            print_stderr(&loaded.diagnostics.render());
            if !readable {
                return ExitCode::from(EXIT_NO_CONFIG);
            }
            crate::daemon::run(opts, loaded)
        }
    }
}

/// The `keepalived` binary.
pub fn main() -> ExitCode {
    let parsed = parse_args(std::env::args_os());
    let options = match &parsed {
        Ok(Command {
            action: Action::Run(opts),
            ..
        }) => Some(&**opts),
        _ => None,
    };
    if let Some(log) = options
        .filter(|o| o.config_test)
        .and_then(|o| o.config_test_log.as_deref())
        && let Err(msg) = redirect_stderr(log)
    {
        eprintln_lossy(&msg);
        return ExitCode::from(EXIT_FATAL);
    }
    init_logging(options);

    let command = match parsed {
        Ok(command) => command,
        Err(err) => {
            for notice in err.notices() {
                notice.emit();
            }
            if let CliError::UnknownSigfunc { .. } = err {
                eprintln_lossy(&err.to_string());
            }
            return ExitCode::from(err.exit_code());
        }
    };
    for notice in &command.notices {
        notice.emit();
    }
    match command.action {
        Action::Version => {
            print_stderr(&version_text());
            ExitCode::SUCCESS
        }
        Action::Help { prog } => {
            print_stderr(&help_text(&prog));
            ExitCode::SUCCESS
        }
        Action::Signum(n) => {
            print_stdout(&format!("{n}\n"));
            ExitCode::SUCCESS
        }
        Action::Genhash => {
            eprintln_lossy("keepalived: genhash mode (-T, --genhash) is not supported yet");
            tracing::warn!("genhash mode is not supported yet");
            ExitCode::from(EXIT_FATAL)
        }
        Action::ConvertLvsCf(file) => match crate::lvs_cf::convert_file(&file) {
            Ok((text, diags)) => {
                print_stderr(&diags.render());
                print_stdout(&text);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln_lossy(&format!(
                    "keepalived: --convert-lvs-cf={}: {e}",
                    file.display()
                ));
                ExitCode::from(EXIT_NO_CONFIG)
            }
        },
        Action::Run(opts) => run(&opts),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(args: &[&str]) -> Vec<OsString> {
        std::iter::once("keepalived")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect()
    }

    fn parse(args: &[&str]) -> Result<Command, CliError> {
        parse_args_with(argv(args), false)
    }

    fn options(args: &[&str]) -> Options {
        match parse(args) {
            Ok(Command {
                action: Action::Run(o),
                ..
            }) => *o,
            other => panic!("{args:?}: not a run: {other:?}"),
        }
    }

    fn events(args: &[&str]) -> (Vec<String>, Vec<OsString>) {
        let argv = argv(args);
        let mut g = Getopt::new(&argv, specs(), false);
        let mut seen = Vec::new();
        for e in g.by_ref() {
            seen.push(match e {
                Event::Opt { spec, arg, .. } => match arg {
                    Some(a) => format!("{}={}", spec.long, a.to_string_lossy()),
                    None => spec.long.clone(),
                },
                Event::Unknown(m) | Event::MissingArg(m) => m,
            });
        }
        (seen, g.operands().to_vec())
    }

    fn bad(args: &[&str]) -> Vec<Notice> {
        match parse(args) {
            Err(CliError::BadOptions { notices }) => notices,
            other => panic!("{args:?}: expected bad options, got {other:?}"),
        }
    }

    #[test]
    fn clap_definitions_are_consistent() {
        definitions().debug_assert();
    }

    #[test]
    fn table_has_every_keepalived_option() {
        let shorts: String = specs().iter().filter_map(|s| s.short).collect();
        let mut sorted: Vec<char> = shorts.chars().collect();
        sorted.sort_unstable();
        // keepalived's "Used short options" plus -L and -O (mem-check builds).
        assert_eq!(
            sorted.into_iter().collect::<String>(),
            "ABCDGILMOPRSTVXabcdefghilmnprstuvx"
        );
        let longs: Vec<&str> = specs().iter().map(|s| s.long.as_str()).collect();
        for name in [
            "use-file",
            "vrrp",
            "check",
            "no_bfd",
            "all",
            "log-console",
            "log-detail",
            "log-facility",
            "log-file",
            "all-config",
            "flush-log-file",
            "no-syslog",
            "umask",
            "release-vips",
            "dont-release-vrrp",
            "dont-release-ipvs",
            "dont-respawn",
            "dont-fork",
            "dump-conf",
            "pid",
            "vrrp_pid",
            "genhash",
            "checkers_pid",
            "address-monitoring",
            "bfd_pid",
            "snmp",
            "snmp-agent-socket",
            "core-dump",
            "core-dump-pattern",
            "no-mem-check",
            "mem-check-log",
            "openssl-mem-check",
            "namespace",
            "config-id",
            "signum",
            "config-test",
            "config-fd",
            "ignore-sigint",
            "perf",
            "debug",
            "version",
            "help",
            "convert-lvs-cf",
        ] {
            assert!(longs.contains(&name), "missing --{name}");
        }
        assert_eq!(longs.len(), 43);
    }

    #[test]
    fn argument_kinds_match_keepalived() {
        let kind = |l: &str| specs().iter().find(|s| s.long == l).map(|s| s.has_arg);
        for l in [
            "log-file",
            "core-dump-pattern",
            "config-test",
            "perf",
            "debug",
        ] {
            assert_eq!(kind(l), Some(HasArg::Optional), "{l}");
        }
        for l in [
            "use-file",
            "log-facility",
            "umask",
            "pid",
            "vrrp_pid",
            "checkers_pid",
            "bfd_pid",
            "snmp-agent-socket",
            "namespace",
            "config-id",
            "signum",
            "config-fd",
            "convert-lvs-cf",
        ] {
            assert_eq!(kind(l), Some(HasArg::Required), "{l}");
        }
        assert_eq!(kind("log-detail"), Some(HasArg::No));
        assert_eq!(kind("all"), Some(HasArg::No));
    }

    #[test]
    fn every_option_is_handled() {
        // Each option must reach its own arm of the parse match, not the fallback.
        for spec in specs() {
            let mut args = vec![format!("--{}", spec.long)];
            if spec.has_arg == HasArg::Required {
                args.push(if spec.long == "signum" { "STOP" } else { "1" }.to_string());
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            if let Err(CliError::BadOptions { notices }) = parse(&args) {
                panic!("--{} rejected: {notices:?}", spec.long);
            }
        }
    }

    #[test]
    fn required_argument_forms() {
        for args in [
            &["-f", "/x"][..],
            &["-f/x"],
            &["--use-file", "/x"],
            &["--use-file=/x"],
            &["--use", "/x"],
            &["--use-f=/x"],
        ] {
            assert_eq!(events(args).0, ["use-file=/x"], "{args:?}");
        }
        // A required argument is the next word, whatever it looks like.
        assert_eq!(events(&["-f", "-P"]).0, ["use-file=-P"]);
        assert_eq!(events(&["--use-file", "--vrrp"]).0, ["use-file=--vrrp"]);
    }

    #[test]
    fn optional_argument_attaches_only_directly() {
        assert_eq!(events(&["-tlog"]).0, ["config-test=log"]);
        assert_eq!(events(&["--config-test=log"]).0, ["config-test=log"]);
        let (ev, ops) = events(&["-t", "log"]);
        assert_eq!(ev, ["config-test"]);
        assert_eq!(ops, [OsString::from("log")]);
        let (ev, ops) = events(&["--config-test", "log"]);
        assert_eq!(ev, ["config-test"]);
        assert_eq!(ops, [OsString::from("log")]);
        assert_eq!(events(&["-M"]).0, ["core-dump-pattern"]);
        assert_eq!(events(&["-Mcore.%p"]).0, ["core-dump-pattern=core.%p"]);
        assert_eq!(events(&["--perf=end"]).0, ["perf=end"]);
    }

    #[test]
    fn combined_short_options() {
        assert_eq!(
            events(&["-DlnP"]).0,
            ["log-detail", "log-console", "dont-fork", "vrrp"]
        );
        // A short option taking an argument ends the cluster.
        assert_eq!(events(&["-nf/x"]).0, ["dont-fork", "use-file=/x"]);
        assert_eq!(events(&["-nf", "/x"]).0, ["dont-fork", "use-file=/x"]);
        assert_eq!(events(&["-ntlog"]).0, ["dont-fork", "config-test=log"]);
        assert_eq!(
            events(&["-lZn"]).0,
            ["log-console", "Unknown option -Z", "dont-fork"]
        );
        let o = options(&["-DDlnP"]);
        assert_eq!(o.log_detail, 2);
        assert!(o.log_console && o.dont_fork && o.run_vrrp && !o.run_checkers);
    }

    #[test]
    fn long_prefixes() {
        assert_eq!(events(&["--vers"]).0, ["version"]);
        assert_eq!(events(&["--dump"]).0, ["dump-conf"]);
        // An exact match wins over a longer option with that prefix.
        assert_eq!(events(&["--vrrp"]).0, ["vrrp"]);
        assert_eq!(events(&["--all"]).0, ["all"]);
        for amb in ["--con", "--config", "--c", "--d", "--al"] {
            assert_eq!(events(&[amb]).0, [format!("Unknown option {amb}")], "{amb}");
        }
    }

    #[test]
    fn bad_options_are_reported_in_order_then_fail() {
        assert_eq!(
            bad(&["--bogus", "-Z", "--help=x", "--vrrp=1"]),
            [
                Notice::Stderr("Unknown option --bogus".into()),
                Notice::Stderr("Unknown option -Z".into()),
                Notice::Stderr("Unknown option --help=x".into()),
                Notice::Stderr("Unknown option --vrrp=1".into()),
            ]
        );
        assert_eq!(
            bad(&["-f"]),
            [Notice::Stderr("Missing parameter for option -f".into())]
        );
        assert_eq!(
            bad(&["--use-file"]),
            [Notice::Stderr(
                "Missing parameter for option --use-file".into()
            )]
        );
        assert_eq!(
            bad(&["--use-file="]),
            [Notice::Stderr(
                "Missing parameter for option --use-file".into()
            )]
        );
        assert_eq!(
            bad(&["--signum="]),
            [Notice::Stderr(
                "Missing parameter for option --signum".into()
            )]
        );
        // An empty argument to a short option is accepted, as by keepalived.
        assert_eq!(options(&["-f", ""]).config_file, Some(PathBuf::new()));
    }

    #[test]
    fn version_help_and_signum_act_where_they_appear() {
        let c = parse(&["--bogus", "-v", "--more-bogus"]).unwrap();
        assert_eq!(c.action, Action::Version);
        assert_eq!(c.notices, [Notice::Stderr("Unknown option --bogus".into())]);
        assert_eq!(
            parse(&["-h", "-v"]).unwrap().action,
            Action::Help {
                prog: "keepalived".into()
            }
        );
        assert_eq!(parse(&["-v", "-h"]).unwrap().action, Action::Version);
        assert_eq!(
            parse(&["--signum=STOP", "--signum=RELOAD"]).unwrap().action,
            Action::Signum(15)
        );
        assert_eq!(
            parse(&["--signum", "RELOAD", "-v"]).unwrap().action,
            Action::Signum(1)
        );
        assert!(matches!(
            parse(&["--signum=TDUMP", "-v"]),
            Err(CliError::UnknownSigfunc { name, .. }) if name == "TDUMP"
        ));
    }

    #[test]
    fn signal_numbers() {
        assert_eq!(signum("STOP"), Some(15));
        assert_eq!(signum("RELOAD"), Some(1));
        assert_eq!(signum("DATA"), Some(10));
        assert_eq!(signum("STATS"), Some(12));
        assert_eq!(signum("STATS_CLEAR"), Some(libc::SIGRTMAX() - 1));
        assert_eq!(signum("JSON"), Some(libc::SIGRTMIN() + 2));
        assert_eq!(signum("TDUMP"), None);
        assert_eq!(signum("stop"), None);
        assert_eq!(signum(""), None);
    }

    #[test]
    fn operands_and_double_dash() {
        let c = parse(&["foo", "-n", "--", "-v", "bar"]).unwrap();
        assert_eq!(
            c.notices,
            [Notice::Stdout("Unexpected argument(s): foo -v bar ".into())]
        );
        let Action::Run(o) = c.action else {
            panic!("not a run")
        };
        assert!(o.dont_fork);
        assert_eq!(o.operands.len(), 3);
        // A lone "-" is an operand.
        assert_eq!(events(&["-", "-n"]).1, [OsString::from("-")]);
        // POSIXLY_CORRECT: the first operand ends the options.
        let argv = argv(&["foo", "-v"]);
        let mut g = Getopt::new(&argv, specs(), true);
        assert_eq!(g.next(), None);
        assert_eq!(g.operands().len(), 2);
    }

    #[test]
    fn subsystem_selection_follows_order() {
        let o = options(&["-P", "-C"]);
        assert!(!o.run_vrrp && !o.run_checkers && o.run_bfd);
        let o = options(&["-P", "--all"]);
        assert!(o.run_vrrp && o.run_checkers && o.run_bfd && o.run_all_children);
        let o = options(&["--all", "-B"]);
        assert!(!o.run_bfd && o.run_all_children);
    }

    #[test]
    fn option_values() {
        let o = options(&[
            "-S",
            "local3",
            "-u",
            "022",
            "-M",
            "-i",
            "lb1",
            "-s",
            "ns",
            "--log-file",
            "--config-fd=7x",
            "--perf",
            "--debug=TpMEvcp",
            "-p/run/a.pid",
        ]);
        assert_eq!(o.log_facility, Some(LogFacility::Local(3)));
        assert_eq!(o.umask, Some(0o22));
        assert!(o.core_dump);
        assert_eq!(o.core_dump_pattern.as_deref(), Some("core"));
        assert_eq!(o.config_id.as_deref(), Some("lb1"));
        assert_eq!(o.namespace.as_deref(), Some("ns"));
        assert_eq!(o.log_file, Some(PathBuf::from("keepalived.log")));
        assert_eq!(o.config_fd, Some(7));
        assert_eq!(o.perf, Some(PerfRun::Run));
        assert_eq!(o.debug.as_deref(), Some("TpMEvcp"));
        assert_eq!(o.pid_file, Some(PathBuf::from("/run/a.pid")));

        let o = options(&["-t/tmp/log", "-d"]);
        assert!(o.config_test && o.dont_fork && o.dont_respawn && o.no_syslog);
        assert_eq!(o.config_test_log, Some(PathBuf::from("/tmp/log")));
        assert_eq!(o.mode(), Mode::ConfigTest);
        assert_eq!(options(&["-d"]).mode(), Mode::DumpConf);
        assert_eq!(options(&[]).mode(), Mode::Daemon);
        assert_eq!(options(&["--config-test="]).config_test_log, None);
    }

    #[test]
    fn invalid_values_warn_but_do_not_fail() {
        let c = parse(&["-S", "local8", "-u", "999", "--perf=x"]).unwrap();
        assert_eq!(
            c.notices,
            [
                Notice::Stderr("Invalid log facility 'local8'".into()),
                Notice::Stderr("Invalid --umask option 999".into()),
                Notice::Unsupported("perf".into()),
                Notice::Stderr("Unknown perf start point x".into()),
            ]
        );
    }

    #[test]
    fn facility_and_umask_syntax() {
        assert_eq!(LogFacility::parse("0"), Some(LogFacility::Local(0)));
        assert_eq!(LogFacility::parse("local7"), Some(LogFacility::Local(7)));
        assert_eq!(LogFacility::parse("user"), Some(LogFacility::User));
        assert_eq!(LogFacility::parse("daemon"), Some(LogFacility::Daemon));
        for bad in ["8", "local", "local8", "-1", "kern", ""] {
            assert_eq!(LogFacility::parse(bad), None, "{bad}");
        }
        assert_eq!(parse_umask("0"), Some(0));
        assert_eq!(parse_umask("077"), Some(0o77));
        assert_eq!(parse_umask("18"), Some(18));
        assert_eq!(parse_umask("0x1ff"), Some(0o777));
        assert_eq!(parse_umask("01000"), None);
        assert_eq!(parse_umask("08"), None);
        assert_eq!(parse_umask("abc"), None);
        assert_eq!(atoi("  -12abc"), -12);
        assert_eq!(atoi("x"), 0);
        assert_eq!(atoi("99999999999"), i32::MAX);
    }

    #[test]
    fn unsupported_options_are_reported_once() {
        let c = parse(&["-x", "--snmp", "-n", "-G", "-X"]).unwrap();
        assert_eq!(
            c.notices,
            [
                Notice::Unsupported("snmp".into()),
                Notice::Unsupported("release-vips".into()),
            ]
        );
    }

    #[test]
    fn genhash_mode() {
        assert_eq!(parse(&["-T", "-s", "x"]).unwrap().action, Action::Genhash);
        let c = parse(&["-n", "--genhash"]).unwrap();
        assert_eq!(c.action, Action::Genhash);
        assert_eq!(
            c.notices,
            [Notice::Stderr(
                "Warning -- `genhash` not used as first option, previous options ignored".into()
            )]
        );
        let argv = vec![OsString::from("/usr/bin/genhash"), OsString::from("-h")];
        assert_eq!(
            parse_args_with(argv, false).unwrap().action,
            Action::Genhash
        );
    }

    #[test]
    fn convert_lvs_cf() {
        assert_eq!(
            parse(&["--convert-lvs-cf=/etc/lvs.cf"]).unwrap().action,
            Action::ConvertLvsCf(PathBuf::from("/etc/lvs.cf"))
        );
    }

    #[test]
    fn non_utf8_arguments() {
        use std::os::unix::ffi::OsStringExt;
        let mut argv = argv(&["-f"]);
        argv.push(OsString::from_vec(b"/tmp/\xff.conf".to_vec()));
        let c = parse_args_with(argv, false).unwrap();
        let Action::Run(o) = c.action else {
            panic!("not a run")
        };
        assert_eq!(
            o.config_file.map(|p| p.into_os_string().into_vec()),
            Some(b"/tmp/\xff.conf".to_vec())
        );
        let argv = vec![
            OsString::from("keepalived"),
            OsString::from_vec(b"-\xff".to_vec()),
        ];
        assert!(matches!(
            parse_args_with(argv, false),
            Err(CliError::BadOptions { .. })
        ));
    }

    #[test]
    fn clap_agrees_on_ordinary_command_lines() {
        // The definitions parse the common forms the same way under clap itself.
        let cmd = definitions();
        let m = cmd
            .clone()
            .try_get_matches_from([
                "keepalived",
                "-DDlnP",
                "-f",
                "/x",
                "--config-test=/l",
                "-i",
                "a",
            ])
            .unwrap();
        assert_eq!(m.get_count("log-detail"), 2);
        assert!(m.get_flag("log-console") && m.get_flag("dont-fork") && m.get_flag("vrrp"));
        assert_eq!(
            m.get_one::<String>("use-file").map(String::as_str),
            Some("/x")
        );
        assert_eq!(
            m.get_one::<String>("config-test").map(String::as_str),
            Some("/l")
        );
        let o = options(&["-DDlnP", "-f", "/x", "--config-test=/l", "-i", "a"]);
        assert_eq!(o.log_detail, 2);
        assert_eq!(o.config_file, Some(PathBuf::from("/x")));
        assert_eq!(o.config_test_log, Some(PathBuf::from("/l")));
        assert_eq!(o.config_id.as_deref(), Some("a"));
    }

    #[test]
    fn help_layout() {
        let help = help_text("/usr/sbin/keepalived");
        let lines: Vec<&str> = help.lines().collect();
        assert_eq!(lines[0], "Usage: /usr/sbin/keepalived [OPTION...]");
        assert_eq!(
            lines[1],
            "  -f, --use-file=FILE          Use the specified configuration file"
        );
        assert_eq!(
            lines[2],
            "                                default '/etc/keepalived/keepalived.conf'"
        );
        for expect in [
            "  -S, --log-facility=([0-7]|local[0-7]|user|daemon)\n                               Set syslog facility to LOG_LOCAL[0-7], user or daemon (default)\n",
            "  -A, --snmp-agent-socket=FILE Use the specified socket for master agent\n",
            "  -M, --core-dump-pattern=PATN Also set /proc/sys/kernel/core_pattern to PATN (default 'core')\n",
            "  -i, --config-id id           Skip any configuration lines beginning '@' that don't match id\n                                or any lines beginning @^ that do match.\n",
            "  -t, --config-test[=LOG_FILE] Check the configuration for obvious errors, output to\n                                stderr by default\n",
            "      --signum=SIGFUNC         Return signal number for STOP, RELOAD, DATA, STATS, STATS_CLEAR, JSON\n",
            "      --convert-lvs-cf=FILE    ",
            "  -h, --help                   Display this help message\n",
        ] {
            assert!(help.contains(expect), "missing {expect:?} in\n{help}");
        }
        assert!(!help.contains("config-fd"));
        assert!(help.ends_with("Display this help message\n"));
    }

    #[test]
    fn version_banner() {
        let v = version_text();
        assert!(v.starts_with(&format!(
            "Keepalived v2.2.7 (keepalived-rs {})\n\n",
            env!("CARGO_PKG_VERSION")
        )));
    }
}
