//! keepalived's macro layer and line reader, as a pull iterator of logical lines.
//!
//! What keepalived's `read_line()` does, in its order, for each physical line:
//! 1. comments: `#` or `!` outside double quotes end the line; `\#`, `\!` are literal;
//! 2. `@ID line` / `@^ID line`: keep the line only if the config id (`-i`, default the short host
//!    name) matches (`@^`: does not match);
//! 3. `$NAME=value` defines (a trailing `\` continues the value on the next lines);
//! 4. `~SEQ(var,start,step,end)`, `~SEQx(...)`, `~LST(vars,values...)` repeat the rest of the line;
//! 5. `$NAME` / `${NAME}` are replaced (again and again while something changes);
//! 6. `include GLOB` (and `includer/m/w/b/a`) reads other files, relative to the including file;
//! 7. the line is cut at every `{` and `}` outside double quotes: each brace is a line of its own.
//!
//! Each [`Line`] keeps the file, line and column it came from. The reader streams: memory does not
//! grow with the size of the configuration.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};

use super::LoadOptions;
use super::diag::{Diagnostics, ErrorClass, Loc};
use super::syntax::{Token, tokenize_flat};
use std::sync::Arc;

/// One logical line as keepalived's `read_line()` hands it on: a brace alone, or the words
/// between braces. Lines share the text of the batch they were lexed in (no allocation per line).
#[derive(Debug, Clone)]
pub struct Line {
    batch: Arc<Batch>,
    /// Byte range of this line's text in the batch.
    raw: (u32, u32),
    /// Range of this line's words in the batch.
    span: (u32, u32),
    pub loc: Loc,
}

/// The text of a batch of expanded lines and the words of all of them.
#[derive(Debug)]
struct Batch {
    buf: String,
    words: Vec<Word>,
}

/// A word of a [`Line`]: its text is a span of the batch (inside the quotes if quoted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Word {
    start: u32,
    len: u32,
    pub col: u32,
    pub quoted: bool,
}

impl Line {
    fn is_brace(&self, b: &str) -> bool {
        let w = self.words();
        w.len() == 1 && !w[0].quoted && self.text(&w[0]) == b
    }
    pub fn is_open(&self) -> bool {
        self.is_brace("{")
    }
    pub fn is_close(&self) -> bool {
        self.is_brace("}")
    }
    /// The words of this line.
    pub fn words(&self) -> &[Word] {
        self.batch
            .words
            .get(self.span.0 as usize..self.span.1 as usize)
            .unwrap_or(&[])
    }
    /// The text of this logical line (after macros), for keywords that re-split their raw text
    /// (scripts: keepalived re-reads them with shell-like quoting).
    pub fn raw(&self) -> &str {
        self.batch
            .buf
            .get(self.raw.0 as usize..self.raw.1 as usize)
            .unwrap_or("")
    }
    /// The text of one of this line's words.
    pub fn text(&self, w: &Word) -> &str {
        let (s, e) = (w.start as usize, w.start as usize + w.len as usize);
        self.batch.buf.get(s..e).unwrap_or("")
    }
    pub fn word(&self, i: usize) -> Option<&str> {
        self.words().get(i).map(|w| self.text(w))
    }
    /// Every word's text.
    pub fn texts(&self) -> impl Iterator<Item = &str> + '_ {
        self.words().iter().map(|w| self.text(w))
    }
    /// The location of word `i` (or of the line if there is no such word).
    pub fn loc_of(&self, i: usize) -> Loc {
        match self.words().get(i) {
            Some(w) => Loc {
                col: w.col,
                ..self.loc
            },
            None => self.loc,
        }
    }
}

/// Limits that keep hostile input bounded.
const MAX_INCLUDE_DEPTH: usize = 32;
const MAX_LINE_LEN: usize = 1 << 20;
const MAX_EXPANSIONS_PER_LINE: usize = 1000;
const MAX_SEQ_ITEMS: i64 = 1_000_000;
const MAX_FILE_SIZE: u64 = 512 << 20;
/// Lines (or bytes) lexed by one pest parse.
const BATCH_LINES: usize = 512;
const BATCH_BYTES: usize = 256 << 10;

/// Bits of keepalived's include strictness (`include_check`, `-e`, `includer` ...).
mod inc {
    pub const R: u8 = 1; // unreadable file
    pub const M: u8 = 2; // missing file
    pub const W: u8 = 4; // wildcard matched nothing
    pub const B: u8 = 8; // brace alternative missing
}

/// An open configuration file, read a line at a time (memory does not grow with its size).
struct OpenFile {
    input: std::io::BufReader<std::fs::File>,
    buf: Vec<u8>,
    line_no: u32,
    file: u32,
    dir: PathBuf,
}

struct Definition {
    value: String,
    multiline: bool,
}

/// A `~SEQ`/`~LST` in progress: values still to bind, and the text to repeat.
struct Repeat {
    vars: Vec<String>,
    values: VecDeque<Vec<String>>,
    text: String,
    loc: Loc,
    col: usize,
}

pub struct Reader<'d> {
    diags: &'d mut Diagnostics,
    config_id: String,
    include_check: u8,
    files: Vec<OpenFile>,
    defs: HashMap<String, Definition>,
    /// Logical lines ready to hand out.
    ready: VecDeque<Line>,
    /// Physical lines produced by macro expansion, to be processed before reading on.
    pending: VecDeque<(String, Loc, usize)>,
    repeats: Vec<Repeat>,
    /// Multi-line definition being collected.
    collecting: Option<String>,
    /// Splits of one physical line so far (guards runaway expansion).
    expansions: usize,
    /// Lines produced by ~SEQ/~LST for the current physical line.
    repeat_lines: u64,
    /// Expanded lines waiting for the lexer: their text ("\n" after each) and, per line, its
    /// start in that text, location and column offset.
    batch_buf: String,
    batch_lines: Vec<(usize, Loc, usize)>,
    random_state: u64,
}

/// Read the whole configuration into logical lines (convenience for tests and small files; the
/// lowering pulls lines one at a time through [`Reader`]).
pub fn read_all(opts: &LoadOptions, diags: &mut Diagnostics) -> Vec<Line> {
    let mut r = Reader::open(opts, diags);
    let mut v = Vec::new();
    while let Some(l) = r.next_line() {
        v.push(l);
    }
    v
}

/// The short host name, keepalived's default config id.
pub fn default_config_id() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .map(|h| h.split('.').next().unwrap_or("").to_string())
        .unwrap_or_default()
}

impl<'d> Reader<'d> {
    pub fn open(opts: &LoadOptions, diags: &'d mut Diagnostics) -> Self {
        let mut r = Reader {
            diags,
            config_id: opts.config_id.clone().unwrap_or_else(default_config_id),
            include_check: if opts.all_config {
                inc::R | inc::M | inc::W | inc::B
            } else {
                0
            },
            files: Vec::new(),
            defs: HashMap::new(),
            ready: VecDeque::new(),
            pending: VecDeque::new(),
            repeats: Vec::new(),
            collecting: None,
            expansions: 0,
            repeat_lines: 0,
            batch_buf: String::new(),
            batch_lines: Vec::new(),
            random_state: 0x9e37_79b9_7f4a_7c15,
        };
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        let path = opts.path.to_string_lossy().into_owned();
        r.include(&path, 0, &cwd, None);
        r
    }

    /// The diagnostics this reader reports into (shared with the lowering).
    pub fn diags(&mut self) -> &mut Diagnostics {
        self.diags
    }

    /// Up to `max` lines at once (for the reading thread of [`super::load`]).
    pub fn next_chunk(&mut self, max: usize) -> Option<Vec<Line>> {
        let mut v = Vec::with_capacity(max);
        while v.len() < max {
            match self.next_line() {
                Some(l) => v.push(l),
                None => break,
            }
        }
        (!v.is_empty()).then_some(v)
    }

    /// Give a line back: it is the next one returned.
    pub fn push_back(&mut self, line: Line) {
        self.ready.push_front(line);
    }

    /// The next logical line, or `None` at the end of the configuration.
    pub fn next_line(&mut self) -> Option<Line> {
        loop {
            if let Some(l) = self.ready.pop_front() {
                return Some(l);
            }
            if self.batch_lines.len() >= BATCH_LINES || self.batch_buf.len() >= BATCH_BYTES {
                self.flush_batch();
                continue;
            }
            if let Some((text, loc, col)) = self.pending.pop_front() {
                self.process(text, loc, col);
                continue;
            }
            if self.next_repeat() {
                continue;
            }
            // Expand lines until a batch is full (or the input ends), then lex the batch.
            let Some((text, loc)) = self.next_physical() else {
                if self.batch_lines.is_empty() {
                    return None;
                }
                self.flush_batch();
                continue;
            };
            self.expansions = 0;
            self.repeat_lines = 0;
            self.process_physical(text, loc);
        }
    }

    fn report(&mut self, class: ErrorClass, loc: Loc, msg: String) {
        if class.severity() == super::Severity::Warning || class == ErrorClass::Logged {
            self.diags.warn(class, loc, msg);
        } else {
            self.diags.error(class, loc, msg);
        }
    }

    // ----- files -----

    /// Open every file matching `pattern` (relative to `dir`), as keepalived's `include`.
    fn include(&mut self, pattern: &str, kind: u8, dir: &Path, at: Option<Loc>) {
        let loc = at.unwrap_or_default();
        if self.files.len() >= MAX_INCLUDE_DEPTH {
            // keepalived runs out of file descriptors here and skips the file ("open problem").
            self.report(
                ErrorClass::Logged,
                loc,
                format!("include '{pattern}' nested more than {MAX_INCLUDE_DEPTH} deep (an include loop?) - not read"),
            );
            return;
        }
        let strict = self.include_check | kind;
        let full = if Path::new(pattern).is_absolute() {
            PathBuf::from(pattern)
        } else {
            dir.join(pattern)
        };
        let full_s = full.to_string_lossy().into_owned();
        let mut paths = Vec::new();
        let mut any_missing = false;
        let has_wild = pattern.contains(['*', '?', '[']);
        for alt in expand_braces(&full_s) {
            if alt.contains(['*', '?', '[']) {
                match glob::glob(&alt) {
                    Ok(it) => {
                        let mut v: Vec<PathBuf> = it.filter_map(Result::ok).collect();
                        v.sort();
                        paths.extend(v);
                    }
                    Err(e) => {
                        self.report(
                            ErrorClass::Logged,
                            loc,
                            format!("bad include pattern '{pattern}': {e}"),
                        );
                    }
                }
            } else if Path::new(&alt).exists() {
                paths.push(PathBuf::from(alt));
            } else {
                any_missing = true;
            }
        }
        if paths.is_empty() {
            let (bit, msg) = if any_missing {
                (inc::M, format!("Config files missing '{pattern}'."))
            } else if has_wild {
                (inc::W, format!("No config files matched '{pattern}'."))
            } else {
                (inc::M, format!("Config files missing '{pattern}'."))
            };
            let class = if strict & bit != 0 {
                ErrorClass::FileNotFound
            } else {
                ErrorClass::Logged
            };
            if class == ErrorClass::FileNotFound && at.is_some() {
                self.diags.config_file_error = true;
            }
            self.report(class, loc, msg);
            return;
        }
        if any_missing {
            let class = if strict & inc::B != 0 {
                ErrorClass::FileNotFound
            } else {
                ErrorClass::Logged
            };
            self.report(
                class,
                loc,
                format!("Some config files missing: \"{pattern}\"."),
            );
            if strict & inc::B != 0 {
                return;
            }
        }
        // Files are pushed in reverse so the first match is read first.
        for p in paths.into_iter().rev() {
            let class = if strict & inc::R != 0 {
                ErrorClass::FileNotFound
            } else {
                ErrorClass::Logged
            };
            let meta = match std::fs::metadata(&p) {
                Ok(m) => m,
                Err(e) => {
                    self.report(
                        class,
                        loc,
                        format!(
                            "Configuration file '{}' open problem ({e}) - skipping",
                            p.display()
                        ),
                    );
                    continue;
                }
            };
            use std::os::unix::fs::PermissionsExt;
            if !meta.is_file() || meta.permissions().mode() & 0o111 != 0 {
                self.report(
                    class,
                    loc,
                    format!(
                        "Configuration file '{}' is not a regular non-executable file - skipping",
                        p.display()
                    ),
                );
                continue;
            }
            if meta.len() > MAX_FILE_SIZE {
                self.report(
                    ErrorClass::Fatal,
                    loc,
                    format!(
                        "Configuration file '{}' is larger than 512 MiB",
                        p.display()
                    ),
                );
                continue;
            }
            let input = match std::fs::File::open(&p) {
                Ok(f) => std::io::BufReader::with_capacity(64 << 10, f),
                Err(e) => {
                    self.report(
                        class,
                        loc,
                        format!(
                            "Configuration file '{}' open problem ({e}) - skipping",
                            p.display()
                        ),
                    );
                    continue;
                }
            };
            let file = self.diags.add_file(&p.to_string_lossy());
            let dir = p
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| dir.to_path_buf());
            self.files.push(OpenFile {
                input,
                buf: Vec::new(),
                line_no: 0,
                file,
                dir,
            });
        }
    }

    /// The next physical line of the innermost open file, with trailing CR/LF removed.
    fn next_physical(&mut self) -> Option<(String, Loc)> {
        loop {
            let f = self.files.last_mut()?;
            f.buf.clear();
            let read = {
                use std::io::BufRead;
                // At most one byte past the longest line we accept: longer lines are cut here
                // (and reported below) instead of being held in memory whole.
                let limit = (MAX_LINE_LEN + 2) as u64;
                std::io::Read::take(&mut f.input, limit).read_until(b'\n', &mut f.buf)
            };
            match read {
                Ok(0) => {
                    self.files.pop();
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    let loc = Loc {
                        file: f.file,
                        line: f.line_no + 1,
                        col: 1,
                    };
                    self.files.pop();
                    self.report(
                        ErrorClass::Logged,
                        loc,
                        format!("read error ({e}) - rest of the file ignored"),
                    );
                    continue;
                }
            }
            f.line_no += 1;
            // The line's bytes become its String without a copy; the next line starts in a
            // buffer of a likely size (no regrowth on the way).
            let next = Vec::with_capacity(f.buf.len().max(64));
            let mut buf = std::mem::replace(&mut f.buf, next);
            if buf.last() == Some(&b'\n') {
                buf.pop();
            } else if buf.len() > MAX_LINE_LEN {
                // The line goes on: skip to its end.
                use std::io::BufRead;
                let mut sink = Vec::new();
                loop {
                    sink.clear();
                    match std::io::Read::take(&mut f.input, 1 << 16).read_until(b'\n', &mut sink) {
                        Ok(0) | Err(_) => break,
                        Ok(_) if sink.last() == Some(&b'\n') => break,
                        Ok(_) => {}
                    }
                }
            }
            while buf.last() == Some(&b'\r') {
                buf.pop();
            }
            let loc = Loc {
                file: f.file,
                line: f.line_no,
                col: 1,
            };
            if buf.len() > MAX_LINE_LEN {
                self.report(
                    ErrorClass::General,
                    loc,
                    format!("line longer than {MAX_LINE_LEN} bytes - ignored"),
                );
                continue;
            }
            let text = match String::from_utf8(buf) {
                Ok(s) => s,
                Err(e) => {
                    self.report(
                        ErrorClass::Logged,
                        loc,
                        "line is not valid UTF-8; invalid bytes replaced by U+FFFD".to_string(),
                    );
                    String::from_utf8_lossy(e.as_bytes()).into_owned()
                }
            };
            if text.contains('\0') {
                // keepalived reads lines with fgets(): the text ends at a NUL byte.
                let cut = text.split('\0').next().unwrap_or("").to_string();
                self.report(
                    ErrorClass::Logged,
                    loc,
                    "NUL byte in line: the rest of the line is ignored".to_string(),
                );
                return Some((cut, loc));
            }
            return Some((text, loc));
        }
    }

    // ----- macro layer -----

    fn process_physical(&mut self, text: String, loc: Loc) {
        if text.is_empty() {
            if let Some(def) = self.collecting.take() {
                self.finish_multiline(def);
            }
            return;
        }
        let (body, lead, cont) = decomment_owned(text);
        if let Some(q) = body.unterminated_quote {
            self.report(
                ErrorClass::General,
                Loc {
                    col: (lead + q + 1) as u32,
                    ..loc
                },
                format!("Unterminated quote '{}'", body.text),
            );
        }
        if let Some(name) = self.collecting.take() {
            // A continuation line of a multi-line definition.
            let piece = body.text.trim_end().to_string();
            if let Some(d) = self.defs.get_mut(&name)
                && (!piece.is_empty() || !cont)
            {
                if !d.value.is_empty() {
                    d.value.push('\n');
                }
                d.value.push_str(&piece);
            }
            if cont {
                self.collecting = Some(name);
            } else {
                self.finish_multiline(name);
            }
            return;
        }
        let mut t = body.text;
        if cont {
            t.push('\\');
        }
        self.process(t, loc, lead);
    }

    fn finish_multiline(&mut self, name: String) {
        if let Some(d) = self.defs.get_mut(&name) {
            d.multiline = d.value.contains('\n');
        }
    }

    /// Steps 2-7 for one line of text (`col` = byte offset of the text in its physical line).
    fn process(&mut self, mut text: String, loc: Loc, mut col: usize) {
        self.expansions += 1;
        if self.expansions > MAX_EXPANSIONS_PER_LINE * 10 {
            if self.expansions == MAX_EXPANSIONS_PER_LINE * 10 + 1 {
                self.report(
                    ErrorClass::General,
                    loc,
                    "macro expansion of this line does not end - stopped".into(),
                );
            }
            return;
        }
        let mut rounds = 0;
        loop {
            rounds += 1;
            if rounds > MAX_EXPANSIONS_PER_LINE {
                self.report(
                    ErrorClass::General,
                    loc,
                    "recursive $definition - expansion stopped".into(),
                );
                return;
            }
            // 2. conditionals
            if let Some(rest) = text.strip_prefix('@') {
                let (neg, rest) = match rest.strip_prefix('^') {
                    Some(r) => (true, r),
                    None => (false, rest),
                };
                let Some(sp) = rest.find([' ', '\t']) else {
                    return;
                };
                let id = &rest[..sp];
                if (id == self.config_id) == neg {
                    return;
                }
                let after = rest[sp..].trim_start_matches([' ', '\t']);
                col += text.len() - after.len();
                text = after.to_string();
            }
            // 3. definitions
            if text.starts_with('$')
                && let Some((name, value)) = parse_definition(&text)
            {
                let (value, multi) = match value.strip_suffix('\\') {
                    Some(v) => (v.trim_end().to_string(), true),
                    None => (value.to_string(), false),
                };
                self.defs.insert(
                    name.to_string(),
                    Definition {
                        value,
                        multiline: false,
                    },
                );
                if multi {
                    self.collecting = Some(name.to_string());
                }
                return;
            }
            // 4. ~SEQ / ~LST
            if text.starts_with("~SEQ") || text.starts_with("~LST") {
                let r = if text.starts_with("~SEQ") {
                    self.parse_seq(&text, loc)
                } else {
                    self.parse_lst(&text, loc)
                };
                if let Some(mut rep) = r {
                    rep.col = col;
                    self.repeats.push(rep);
                }
                return;
            }
            if text.starts_with('~') {
                break;
            }
            // 5. substitution
            if !self.defs.is_empty() && text.contains('$') {
                match self.substitute(&text) {
                    Some((new, extra)) => {
                        let (b, _, cont) = decomment(&new);
                        text = b.text;
                        if cont {
                            text.push('\\');
                        }
                        // Lines after the first of a multi-line definition follow this one.
                        for (i, l) in extra.into_iter().enumerate() {
                            self.pending.insert(i, (l, loc, col));
                        }
                        if text.starts_with('@') || text.contains('$') {
                            continue;
                        }
                    }
                    None => break,
                }
            }
            break;
        }
        if text.is_empty() {
            return;
        }
        // 6. include
        if let Some((kind, pattern)) = parse_include(&text) {
            let dir = self
                .files
                .last()
                .map(|f| f.dir.clone())
                .unwrap_or_else(|| PathBuf::from("/"));
            self.include(pattern.trim(), kind, &dir, Some(loc));
            return;
        }
        // 7. split into logical lines at braces
        self.split(text, loc, col);
    }

    /// Queue one expanded line for the lexer; lines are lexed in batches (one pest parse for
    /// many lines) and cut at braces into logical lines.
    fn split(&mut self, text: String, loc: Loc, col: usize) {
        self.batch_lines.push((self.batch_buf.len(), loc, col));
        self.batch_buf.push_str(&text);
        self.batch_buf.push('\n');
    }

    /// Lex the queued lines and hand their logical lines to `ready`.
    fn flush_batch(&mut self) {
        if self.batch_lines.is_empty() {
            return;
        }
        let buf = std::mem::take(&mut self.batch_buf);
        let metas = std::mem::take(&mut self.batch_lines);
        let mut words: Vec<Word> = Vec::with_capacity(metas.len() * 3);
        // (raw start, raw end, first word, end word, loc)
        let mut lines: Vec<(u32, u32, u32, u32, Loc)> = Vec::with_capacity(metas.len() * 2);
        let mut unmatched: Vec<(Loc, String)> = Vec::new();
        {
            let toks = tokenize_flat(&buf);
            let mut t = 0;
            for (i, &(start, loc, col)) in metas.iter().enumerate() {
                let end = metas.get(i + 1).map_or(buf.len(), |m| m.0) - 1; // before the "\n"
                let mk = |off: usize| (col + off - start + 1) as u32;
                // The logical line being built: (raw start, first word index).
                let mut cur: Option<(usize, usize)> = None;
                let mut cur_end = start;
                let close = |cur: &mut Option<(usize, usize)>,
                             cur_end: usize,
                             words: &Vec<Word>,
                             lines: &mut Vec<_>| {
                    if let Some((rs, w0)) = cur.take() {
                        lines.push((
                            rs as u32,
                            cur_end as u32,
                            w0 as u32,
                            words.len() as u32,
                            Loc { col: mk(rs), ..loc },
                        ));
                    }
                };
                while let Some(&(off, ref tok)) = toks.get(t) {
                    if off >= end {
                        break;
                    }
                    t += 1;
                    match *tok {
                        Token::Open | Token::Close => {
                            close(&mut cur, cur_end, &words, &mut lines);
                            words.push(Word {
                                start: off as u32,
                                len: 1,
                                col: mk(off),
                                quoted: false,
                            });
                            let n = words.len() as u32;
                            lines.push((
                                off as u32,
                                off as u32 + 1,
                                n - 1,
                                n,
                                Loc {
                                    col: mk(off),
                                    ..loc
                                },
                            ));
                        }
                        Token::Word { text, quoted } => {
                            // A quoted word's span is its inside: one past the opening quote.
                            let o = if quoted { off + 1 } else { off };
                            if cur.is_none() {
                                cur = Some((off, words.len()));
                            }
                            words.push(Word {
                                start: o as u32,
                                len: text.len() as u32,
                                col: mk(off),
                                quoted,
                            });
                            cur_end = o + text.len() + usize::from(quoted);
                        }
                        Token::Unterminated(_) => {
                            // keepalived stops reading the line's words at an unmatched quote.
                            let line_text = buf.get(start..end).unwrap_or("");
                            unmatched.push((
                                Loc {
                                    col: mk(off),
                                    ..loc
                                },
                                format!("Unmatched quote: '{}'", line_text.trim()),
                            ));
                            if cur.is_none() {
                                cur = Some((off, words.len()));
                            }
                            cur_end = end;
                            // Skip whatever else the lexer found on this line.
                            while toks.get(t).is_some_and(|&(o, _)| o < end) {
                                t += 1;
                            }
                            break;
                        }
                    }
                }
                close(&mut cur, cur_end, &words, &mut lines);
            }
        }
        for (loc, msg) in unmatched {
            self.report(ErrorClass::UnmatchedQuote, loc, msg);
        }
        let batch = Arc::new(Batch { buf, words });
        for (rs, re, w0, w1, loc) in lines {
            self.ready.push_back(Line {
                batch: Arc::clone(&batch),
                raw: (rs, re),
                span: (w0, w1),
                loc,
            });
        }
    }

    /// Replace `$NAME`/`${NAME}` once across the line. Returns the new text and, for a
    /// multi-line definition, its further lines; `None` if nothing was replaced.
    fn substitute(&mut self, text: &str) -> Option<(String, Vec<String>)> {
        let mut out = String::with_capacity(text.len());
        let mut extra = Vec::new();
        let mut changed = false;
        let mut rest = text;
        while let Some(p) = rest.find('$') {
            out.push_str(&rest[..p]);
            let after = &rest[p + 1..];
            match self.lookup(after) {
                Some((consumed, value, more)) => {
                    changed = true;
                    out.push_str(&value);
                    if !more.is_empty() && extra.is_empty() {
                        extra = more;
                    }
                    rest = &after[consumed..];
                    if value.trim_start().starts_with('~') {
                        out.push_str(rest);
                        rest = "";
                        break;
                    }
                }
                None => {
                    out.push('$');
                    rest = after;
                }
            }
            if out.len() > MAX_LINE_LEN {
                return None;
            }
        }
        out.push_str(rest);
        changed.then_some((out, extra))
    }

    /// The definition named at the start of `s` (after `$`): bytes consumed, first line of the
    /// value and further lines.
    fn lookup(&mut self, s: &str) -> Option<(usize, String, Vec<String>)> {
        let braces = s.starts_with('{');
        let name_start = usize::from(braces);
        let body = &s[name_start..];
        let first = body.chars().next()?;
        if !(first.is_ascii_alphabetic() || first == '_') {
            return None;
        }
        let name_len = body
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(body.len());
        let name = &body[..name_len];
        let mut after = &body[name_len..];
        let mut params: Vec<&str> = Vec::new();
        if braces {
            // ${NAME [digits...]}
            let close = after.find('}')?;
            let inner = &after[..close];
            if !inner
                .chars()
                .all(|c| c == ' ' || c.is_ascii_digit() || (name == "_ENV" && c != '}'))
            {
                return None;
            }
            params = inner.split_whitespace().collect();
            after = &after[close + 1..];
        } else if !(after.is_empty() || after.starts_with([' ', '\t', ',', ')'])) {
            return None;
        }
        let consumed = s.len() - after.len();
        let whole_line = after.trim().is_empty();
        let value = match name {
            "_PWD" if !self.defs.contains_key(name) => self
                .files
                .last()
                .map(|f| f.dir.to_string_lossy().into_owned())
                .unwrap_or_default(),
            "_INSTANCE" if !self.defs.contains_key(name) => String::new(),
            "_HASH" if !self.defs.contains_key(name) => "#".into(),
            "_BANG" if !self.defs.contains_key(name) => "!".into(),
            "_ENV" if !self.defs.contains_key(name) => params
                .first()
                .and_then(|v| std::env::var(v).ok())
                .unwrap_or_default(),
            "_RANDOM" if !self.defs.contains_key(name) => {
                let min: u64 = params.first().and_then(|p| p.parse().ok()).unwrap_or(0);
                let max: u64 = params
                    .get(1)
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(u64::from(u32::MAX >> 1));
                self.random_state = self
                    .random_state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let span = max.saturating_sub(min).saturating_add(1);
                (min + (self.random_state >> 33) % span.max(1)).to_string()
            }
            _ => {
                let d = self.defs.get(name)?;
                if !params.is_empty() {
                    return None;
                }
                if d.multiline && whole_line {
                    let mut it = d.value.split('\n');
                    let first = it.next().unwrap_or("").to_string();
                    return Some((consumed, first, it.map(str::to_string).collect()));
                }
                if d.multiline {
                    return None;
                }
                d.value.clone()
            }
        };
        Some((consumed, value, Vec::new()))
    }

    fn parse_seq(&mut self, text: &str, loc: Loc) -> Option<Repeat> {
        let bad = |r: &mut Self, m: &str| {
            r.report(ErrorClass::General, loc, format!("{m} '{text}'"));
            None
        };
        let mut p = &text[4..];
        let hex = p.starts_with('x');
        if hex {
            p = &p[1..];
        }
        let p = p.trim_start();
        let Some(p) = p.strip_prefix('(') else {
            return bad(self, "Invalid ~SEQ specification");
        };
        let Some(close) = p.find(')') else {
            return bad(self, "Invalid ~SEQ definition");
        };
        let inner = &p[..close];
        let rest = p[close + 1..].trim_start().to_string();
        let mut parts = inner.splitn(2, ',');
        let var = parts.next().unwrap_or("").trim();
        let Some(nums) = parts.next() else {
            return bad(self, "Invalid ~SEQ definition");
        };
        if var.is_empty() {
            return bad(self, "Invalid ~SEQ definition");
        }
        let nums = match self.substitute(nums) {
            Some((s, _)) => s,
            None => nums.to_string(),
        };
        let mut vals = Vec::new();
        for n in nums.split(',') {
            match parse_c_long(n.trim()) {
                Some(v) => vals.push(v),
                None => return bad(self, "Invalid ~SEQ definition"),
            }
        }
        let (start, step, end) = match vals[..] {
            [end] => (
                if end < 0 { -1 } else { 1 },
                if end < 1 { -1 } else { 1 },
                end,
            ),
            [start, end] => (start, if start <= end { 1 } else { -1 }, end),
            [start, step, end] => {
                if step == 0 || (start < end && step < 0) || (start > end && step > 0) {
                    return bad(self, "Invalid ~SEQ values");
                }
                (start, step, end)
            }
            _ => return bad(self, "Invalid ~SEQ definition"),
        };
        if hex && (start < 0 || end < 0) {
            return bad(self, "~SEQx is only valid for positive numbers");
        }
        let count = (end.saturating_sub(start) / step).saturating_add(1);
        if count > MAX_SEQ_ITEMS {
            return bad(
                self,
                &format!("~SEQ would produce {count} lines (more than {MAX_SEQ_ITEMS}) - ignored"),
            );
        }
        let mut values = VecDeque::new();
        let mut v = start;
        loop {
            values.push_back(vec![if hex { format!("{v:x}") } else { v.to_string() }]);
            let Some(n) = v.checked_add(step) else { break };
            if (step > 0 && n > end) || (step < 0 && n < end) {
                break;
            }
            v = n;
        }
        Some(Repeat {
            vars: vec![var.to_string()],
            values,
            text: rest,
            loc,
            col: 0,
        })
    }

    fn parse_lst(&mut self, text: &str, loc: Loc) -> Option<Repeat> {
        let bad = |r: &mut Self| {
            r.report(
                ErrorClass::General,
                loc,
                format!("Invalid ~LST specification '{text}'"),
            );
            None
        };
        let p = text[4..].trim_start();
        let Some(p) = p.strip_prefix('(') else {
            return bad(self);
        };
        // Find the closing ')' of the ~LST(...) at depth 0 of {}.
        let mut depth = 0i32;
        let mut close = None;
        for (i, c) in p.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ')' if depth == 0 => {
                    close = Some(i);
                    break;
                }
                _ => {}
            }
        }
        let Some(close) = close else { return bad(self) };
        let inner = &p[..close];
        let rest = p[close + 1..].trim_start().to_string();
        let groups = split_groups(inner);
        let Some((vars, sets)) = groups.split_first() else {
            return bad(self);
        };
        if vars.is_empty() || vars.iter().any(|v| v.is_empty()) || sets.is_empty() {
            return bad(self);
        }
        let mut values = VecDeque::new();
        for s in sets {
            if s.len() > vars.len() {
                self.report(
                    ErrorClass::General,
                    loc,
                    format!("~LST specification has too many values '{text}'"),
                );
                return None;
            }
            let mut s = s.clone();
            s.resize(vars.len(), String::new());
            values.push_back(s);
        }
        Some(Repeat {
            vars: vars.clone(),
            values,
            text: rest,
            loc,
            col: 0,
        })
    }

    /// Emit the next repetition of the innermost `~SEQ`/`~LST`, if any.
    fn next_repeat(&mut self) -> bool {
        let Some(r) = self.repeats.last_mut() else {
            return false;
        };
        let Some(vals) = r.values.pop_front() else {
            self.repeats.pop();
            return true;
        };
        let (text, loc, col) = (r.text.clone(), r.loc, r.col);
        for (var, val) in r.vars.clone().into_iter().zip(vals) {
            self.defs.insert(
                var,
                Definition {
                    value: val,
                    multiline: false,
                },
            );
        }
        // Nested ~SEQ multiply: bound the lines one physical line may produce.
        self.repeat_lines += 1;
        if self.repeat_lines > MAX_SEQ_ITEMS as u64 {
            self.report(
                ErrorClass::General,
                loc,
                format!("~SEQ/~LST on this line would produce more than {MAX_SEQ_ITEMS} lines - the rest is ignored"),
            );
            self.repeats.clear();
            return true;
        }
        self.expansions = 0;
        self.process(text, loc, col);
        true
    }
}

/// `{a,b},{1,2},...` or `a,1,2` → groups of words.
fn split_groups(s: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('{') {
            let end = r.find('}').unwrap_or(r.len());
            out.push(r[..end].split(',').map(|x| x.trim().to_string()).collect());
            rest = r.get(end + 1..).unwrap_or("").trim_start();
            rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            out.push(vec![rest[..end].trim().to_string()]);
            rest = rest.get(end + 1..).unwrap_or("").trim_start();
        }
    }
    out
}

/// `strtol(s, _, 0)` for a whole string: decimal, `0x` hex or leading-0 octal.
fn parse_c_long(s: &str) -> Option<i64> {
    let (neg, d) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let v = if let Some(h) = d.strip_prefix("0x").or_else(|| d.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()?
    } else if d.len() > 1 && d.starts_with('0') {
        i64::from_str_radix(&d[1..], 8).ok()?
    } else {
        d.parse().ok()?
    };
    Some(if neg { -v } else { v })
}

/// [`decomment`] without a copy for the common line that has no comment, quote or backslash:
/// only its surrounding blanks go.
fn decomment_owned(mut text: String) -> (Decommented, usize, bool) {
    if text
        .bytes()
        .any(|b| matches!(b, b'#' | b'!' | b'"' | b'\\'))
    {
        return decomment(&text);
    }
    let lead = text.len() - text.trim_start_matches([' ', '\t']).len();
    let keep = text.trim_end_matches([' ', '\t']).len();
    text.truncate(keep.max(lead));
    text.drain(..lead);
    (
        Decommented {
            text,
            unterminated_quote: None,
        },
        lead,
        false,
    )
}

struct Decommented {
    text: String,
    unterminated_quote: Option<usize>,
}

/// keepalived's `decomment()`: strip leading blanks, cut at `#`/`!` outside double quotes,
/// unescape `\#` and `\!` outside quotes, strip trailing blanks. Returns the text, the number of
/// leading bytes removed, and whether the line ended in a continuation `\`.
fn decomment(line: &str) -> (Decommented, usize, bool) {
    let lead = line.len() - line.trim_start_matches([' ', '\t']).len();
    let s = &line[lead..];
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut quote = false;
    let mut quote_at = None;
    let mut cont = false;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                quote = !quote;
                if quote {
                    quote_at = Some(i);
                }
                out.push(b'"');
            }
            b'\\' => {
                if i + 1 >= b.len() {
                    cont = true;
                    break;
                }
                if !quote && (b[i + 1] == b'#' || b[i + 1] == b'!') {
                    out.push(b[i + 1]);
                } else {
                    out.push(b'\\');
                    out.push(b[i + 1]);
                }
                i += 2;
                continue;
            }
            b'#' | b'!' if !quote => {
                // keepalived keeps scanning the comment for a final continuation '\'.
                let mut j = i;
                while j < b.len() {
                    if b[j] == b'\\' {
                        if j + 1 >= b.len() {
                            cont = true;
                        }
                        j += 2;
                    } else {
                        j += 1;
                    }
                }
                break;
            }
            c => out.push(c),
        }
        i += 1;
    }
    while matches!(out.last(), Some(b' ' | b'\t')) {
        out.pop();
    }
    // Only ASCII bytes were removed or kept as whole, so the result is valid UTF-8.
    let text = String::from_utf8(out).unwrap_or_default();
    (
        Decommented {
            text,
            unterminated_quote: if quote { quote_at } else { None },
        },
        lead,
        cont,
    )
}

/// `$NAME=value` (blanks allowed before `=`).
fn parse_definition(text: &str) -> Option<(&str, &str)> {
    let body = &text[1..];
    let first = body.chars().next()?;
    if !(first.is_ascii_alphabetic() || first == '_') {
        return None;
    }
    let name_len = body
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(body.len());
    let name = &body[..name_len];
    let rest = body[name_len..].trim_start_matches([' ', '\t']);
    let value = rest.strip_prefix('=')?;
    Some((name, value.trim_start_matches([' ', '\t'])))
}

/// `include`, `includer`, `includem`, `includew`, `includeb`, `includea` + pattern.
fn parse_include(text: &str) -> Option<(u8, &str)> {
    let rest = text.strip_prefix("include")?;
    let mut chars = rest.chars();
    let c = chars.next()?;
    if c == ' ' || c == '\t' {
        return Some((0, rest.trim_start()));
    }
    let kind = match c {
        'r' => inc::R,
        'm' => inc::R | inc::M,
        'w' => inc::R | inc::M | inc::W,
        'b' => inc::R | inc::B,
        'a' => inc::R | inc::M | inc::B | inc::W,
        _ => return None,
    };
    let after = chars.as_str();
    if after.starts_with([' ', '\t']) {
        Some((kind, after.trim_start()))
    } else {
        None
    }
}

/// Shell brace expansion (`a{b,c}d` → `abd`, `acd`), as glob(3) with GLOB_BRACE; `\{` is literal.
fn expand_braces(s: &str) -> Vec<String> {
    let b = s.as_bytes();
    let mut depth = 0;
    let mut open = None;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            b'{' => {
                if depth == 0 {
                    open = Some(i);
                }
                depth += 1;
            }
            b'}' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    let Some(o) = open else { break };
                    let (pre, inner, post) = (&s[..o], &s[o + 1..i], &s[i + 1..]);
                    let mut alts = Vec::new();
                    let (mut d, mut start) = (0, 0);
                    let ib = inner.as_bytes();
                    for (j, &c) in ib.iter().enumerate() {
                        match c {
                            b'{' => d += 1,
                            b'}' => d -= 1,
                            b',' if d == 0 => {
                                alts.push(&inner[start..j]);
                                start = j + 1;
                            }
                            _ => {}
                        }
                    }
                    alts.push(&inner[start..]);
                    let mut out = Vec::new();
                    for a in alts {
                        for tail in expand_braces(&format!("{a}{post}")) {
                            out.push(format!("{pre}{tail}"));
                            if out.len() > 4096 {
                                return out;
                            }
                        }
                    }
                    return out;
                }
            }
            _ => {}
        }
        i += 1;
    }
    vec![s.to_string()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn lines_of(text: &str, id: &str) -> (Vec<Vec<String>>, Diagnostics) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k.conf");
        std::fs::File::create(&p)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let mut opts = LoadOptions::new(&p);
        opts.config_id = Some(id.to_string());
        let mut d = Diagnostics::default();
        let v = read_all(&opts, &mut d)
            .into_iter()
            .map(|l| l.texts().map(str::to_string).collect())
            .collect();
        (v, d)
    }

    fn flat(v: &[Vec<String>]) -> Vec<String> {
        v.iter().map(|l| l.join(" ")).collect()
    }

    #[test]
    fn comments_and_braces() {
        let (v, _) = lines_of(
            "vrrp_instance X { # c\n  state MASTER ! x\n a \\# b\n}\n",
            "h",
        );
        assert_eq!(
            flat(&v),
            ["vrrp_instance X", "{", "state MASTER", "a # b", "}"]
        );
    }

    #[test]
    fn one_line_block_is_split_like_keepalived() {
        let (v, _) = lines_of("authentication { auth_type PASS auth_pass x }\n", "h");
        assert_eq!(
            flat(&v),
            ["authentication", "{", "auth_type PASS auth_pass x", "}"]
        );
    }

    #[test]
    fn conditionals() {
        let (v, _) = lines_of("@a one\n@^a two\n@b three\n@a\n", "a");
        assert_eq!(flat(&v), ["one"]);
    }

    #[test]
    fn definitions_and_substitution() {
        let (v, _) = lines_of(
            "$IF=eth0\n$P = 100\ninterface $IF\npriority ${P}\nx $UNDEF\n",
            "h",
        );
        assert_eq!(flat(&v), ["interface eth0", "priority 100", "x $UNDEF"]);
    }

    #[test]
    fn multiline_definition() {
        let (v, _) = lines_of("$B=a 1 \\\n b 2 \\\n c 3\n$B\n", "h");
        assert_eq!(flat(&v), ["a 1", "b 2", "c 3"]);
    }

    #[test]
    fn seq_and_lst() {
        let (v, _) = lines_of(
            "~SEQ(i,1,2,5) x $i\n~SEQx(h,9,11) y ${h}\n~LST({a,b},{1,2},{3,4}) ${a}-${b} $a-$b\n",
            "h",
        );
        assert_eq!(
            flat(&v),
            [
                "x 1", "x 3", "x 5", "y 9", "y a", "y b", "1-2 $a-2", "3-4 $a-4"
            ]
        );
    }

    #[test]
    fn nested_seq() {
        let (v, _) = lines_of("~SEQ(a,1,2) ~SEQ(b,1,2) v ${a}${b}\n", "h");
        assert_eq!(flat(&v), ["v 11", "v 12", "v 21", "v 22"]);
    }

    #[test]
    fn recursive_definition_is_bounded() {
        let (_, d) = lines_of("$A=$A x\nk $A\n", "h");
        assert!(d.has_errors());
    }

    #[test]
    fn include_relative_and_loop_bounded() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(
            dir.path().join("sub/inc.conf"),
            "inner 1\ninclude inc.conf\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("main.conf"),
            "include sub/*.conf\nouter 2\n",
        )
        .unwrap();
        let mut d = Diagnostics::default();
        let v = read_all(&LoadOptions::new(dir.path().join("main.conf")), &mut d);
        assert_eq!(
            v.iter().filter(|l| l.word(0) == Some("inner")).count(),
            MAX_INCLUDE_DEPTH - 1
        );
        assert_eq!(v.last().and_then(|l| l.word(0)), Some("outer"));
        // keepalived skips the file and goes on (exit 0); we say why.
        assert!(!d.has_errors());
        assert!(d.items.iter().any(|i| i.message.contains("include loop")));
    }

    #[test]
    fn locations() {
        let (_, _) = lines_of("", "h");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k.conf");
        std::fs::write(&p, "\n  foo bar {\n").unwrap();
        let mut d = Diagnostics::default();
        let v = read_all(&LoadOptions::new(&p), &mut d);
        assert_eq!((v[0].loc.line, v[0].loc.col), (2, 3));
        assert_eq!(v[0].words()[1].col, 7);
        assert_eq!(v[1].words()[0].col, 11);
    }

    #[test]
    fn brace_expansion() {
        assert_eq!(expand_braces("a{b,c}d"), ["abd", "acd"]);
        assert_eq!(expand_braces("x"), ["x"]);
    }
}
