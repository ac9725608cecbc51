//! Diagnostics: every message carries file:line:col, all are collected, and each has the
//! keepalived error class that decides `keepalived -t`'s exit code.

use std::fmt::Write as _;
use std::sync::Arc;

/// keepalived's `config_err_t`, in its order. keepalived keeps the *highest* class reported
/// (lib/parser.c `vreport_config_error`), so a later general error outranks an earlier fatal
/// one; `-t` then maps it to an exit code ([`Diagnostics::test_exit_code`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorClass {
    /// Only logged by keepalived: does not change the exit code.
    Logged,
    FileNotFound,
    BadInterface,
    Fatal,
    MultipleFiles,
    UnknownKeyword,
    UnexpectedBlockStart,
    MissingBlockStart,
    UnexpectedBlockEnd,
    MissingBlockEnd,
    UnmatchedQuote,
    MissingParameter,
    InvalidNumber,
    General,
    Warning,
    Deprecated,
    /// Scripts configured but `enable_script_security` is off while running as root.
    Security,
}

impl ErrorClass {
    pub fn severity(self) -> Severity {
        match self {
            ErrorClass::Logged
            | ErrorClass::Warning
            | ErrorClass::Deprecated
            | ErrorClass::UnknownKeyword => Severity::Warning,
            _ => Severity::Error,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
    Note,
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        })
    }
}

/// A position in a source file. `file` indexes [`Diagnostics::files`]; line and column are 1-based
/// (column in bytes of the physical line, after nothing has been rewritten).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Loc {
    pub file: u32,
    pub line: u32,
    pub col: u32,
}

#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub class: ErrorClass,
    pub severity: Severity,
    pub loc: Option<Loc>,
    pub message: String,
}

/// One file the reader opened. Its text is not kept: the source line under a diagnostic is read
/// again when rendering, so memory does not grow with the configuration.
#[derive(Debug)]
pub struct SourceFile {
    pub path: Arc<str>,
}

#[derive(Debug, Default)]
pub struct Diagnostics {
    pub items: Vec<Diagnostic>,
    pub files: Vec<SourceFile>,
    /// Cap on stored diagnostics so hostile input cannot exhaust memory; the count goes on.
    pub suppressed: usize,
    max_class: Option<ErrorClass>,
    missing_parameter: bool,
    /// A strict include (`includem`, `-e` ...) failed: keepalived stops after reading the
    /// configuration with `KEEPALIVED_EXIT_NO_CONFIG` (6), before `-t` evaluates anything.
    pub config_file_error: bool,
}

const MAX_STORED: usize = 10_000;

impl Diagnostics {
    pub fn add_file(&mut self, path: &str) -> u32 {
        self.files.push(SourceFile {
            path: Arc::from(path),
        });
        (self.files.len() - 1) as u32
    }

    pub fn report(&mut self, class: ErrorClass, loc: Option<Loc>, message: impl Into<String>) {
        self.push(class, class.severity(), loc, message.into());
    }

    /// An error that keepalived reports with `class`.
    pub fn error(&mut self, class: ErrorClass, loc: Loc, message: impl Into<String>) {
        self.push(class, Severity::Error, Some(loc), message.into());
    }

    /// A warning; `class` is what keepalived does with it (often [`ErrorClass::Logged`]).
    pub fn warn(&mut self, class: ErrorClass, loc: Loc, message: impl Into<String>) {
        self.push(class, Severity::Warning, Some(loc), message.into());
    }

    /// Something worth knowing that keepalived is silent about.
    pub fn note(&mut self, loc: Loc, message: impl Into<String>) {
        self.push(
            ErrorClass::Logged,
            Severity::Note,
            Some(loc),
            message.into(),
        );
    }

    fn push(&mut self, class: ErrorClass, severity: Severity, loc: Option<Loc>, message: String) {
        if class == ErrorClass::MissingParameter {
            self.missing_parameter = true;
        }
        if class != ErrorClass::Logged {
            self.max_class = Some(self.max_class.map_or(class, |m| m.max(class)));
        }
        if self.items.len() >= MAX_STORED {
            self.suppressed += 1;
            return;
        }
        self.items.push(Diagnostic {
            class,
            severity,
            loc,
            message,
        });
    }

    /// Append `later`'s diagnostics (reported with this one's file table) after ours.
    pub fn absorb(&mut self, later: Diagnostics) {
        for d in later.items {
            self.push(d.class, d.severity, d.loc, d.message);
        }
        self.suppressed += later.suppressed;
        self.missing_parameter |= later.missing_parameter;
        self.config_file_error |= later.config_file_error;
    }

    /// The highest class reported, as keepalived keeps it.
    pub fn max_class(&self) -> Option<ErrorClass> {
        self.max_class
    }

    pub fn has_errors(&self) -> bool {
        self.max_class.is_some()
    }

    /// keepalived 2.2.7 `config_test_exit()` with its exit numbering (lib/scheduler.h):
    /// 0 ok, 4 (`KEEPALIVED_CHK_EXIT_CONFIG`) for file-not-found/bad-interface/fatal,
    /// 6 for script security, 5 for every other reported error.
    ///
    /// A missing parameter ends keepalived on the spot (`null_strvec()` exits with
    /// `KEEPALIVED_EXIT_CONFIG`, 2); we keep reading to report everything, but exit 2 as well.
    pub fn test_exit_code(&self) -> i32 {
        if self.missing_parameter {
            return 2;
        }
        if self.config_file_error {
            return 6;
        }
        match self.max_class {
            None => 0,
            Some(ErrorClass::FileNotFound | ErrorClass::BadInterface | ErrorClass::Fatal) => 4,
            Some(ErrorClass::Security) => 6,
            Some(_) => 5,
        }
    }

    fn source_line(&self, loc: Loc) -> Option<String> {
        let f = self.files.get(loc.file as usize)?;
        let text = std::fs::read(&*f.path).ok()?;
        let line = text
            .split(|&b| b == b'\n')
            .nth(loc.line.checked_sub(1)? as usize)?;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        // Very long lines are cut for display.
        let shown = &line[..line.len().min(200)];
        Some(String::from_utf8_lossy(shown).into_owned())
    }

    pub fn path_of(&self, loc: Loc) -> &str {
        self.files
            .get(loc.file as usize)
            .map_or("<unknown>", |f| &f.path)
    }

    /// `file:line:col: error|warning: message`, then the source line and a caret.
    pub fn render_one(&self, d: &Diagnostic) -> String {
        let mut out = String::new();
        match d.loc {
            Some(loc) => {
                let _ = writeln!(
                    out,
                    "{}:{}:{}: {}: {}",
                    self.path_of(loc),
                    loc.line,
                    loc.col,
                    d.severity,
                    d.message
                );
                if let Some(src) = self.source_line(loc) {
                    let col = (loc.col as usize).saturating_sub(1);
                    let pad: String = src
                        .chars()
                        .take(col.min(200))
                        .map(|c| if c == '\t' { '\t' } else { ' ' })
                        .collect();
                    let _ = writeln!(out, "    {src}\n    {pad}^");
                }
            }
            None => {
                let _ = writeln!(out, "keepalived: {}: {}", d.severity, d.message);
            }
        }
        out
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        for d in &self.items {
            out.push_str(&self.render_one(d));
        }
        if self.suppressed > 0 {
            let _ = writeln!(
                out,
                "keepalived: note: {} further diagnostics not shown",
                self.suppressed
            );
        }
        out
    }
}
