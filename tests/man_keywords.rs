//! Every keyword of the keyword table, and every alias, is documented in keepalived.conf(5) as a
//! bold word: `\fBname\fR` (or `\fBname\fP`, or followed by another font change) inside a line, or
//! a `.B name` / `.BR name ...` / `.BI name ...` request line.

use std::collections::BTreeSet;
use std::path::Path;

use keepalived_rs::config::keywords::KEYWORDS;

/// The bold words of a roff text.
fn bold_words(man: &str) -> BTreeSet<String> {
    let mut set = BTreeSet::new();
    for line in man.lines() {
        // `.B word`, `.BR word other`, `.BI word other`: the first argument is bold.
        for req in [".B ", ".BR ", ".BI "] {
            if let Some(first) = line
                .strip_prefix(req)
                .and_then(|rest| roff_args(rest).into_iter().next())
            {
                set.insert(first);
            }
        }
        // `\fBword\fR`: everything between a bold font switch and the next font switch.
        let mut rest = line;
        while let Some(i) = rest.find("\\fB") {
            let after = &rest[i + 3..];
            let end = after.find("\\f").unwrap_or(after.len());
            let text = unescape(&after[..end]);
            for w in text
                .split(|c: char| c.is_whitespace() || c == ',' || c == '|' || c == '[' || c == ']')
            {
                if !w.is_empty() {
                    set.insert(w.to_string());
                }
            }
            rest = &after[end..];
        }
    }
    set
}

/// The arguments of a request line: blank-separated, `"..."` grouping.
fn roff_args(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in s.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            ' ' | '\t' if !quoted => {
                if any {
                    out.push(unescape(&std::mem::take(&mut cur)));
                    any = false;
                }
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(unescape(&cur));
    }
    out
}

/// The roff escapes keyword names use: `\-` (a minus), `\&` and `\:` (nothing).
fn unescape(s: &str) -> String {
    s.replace("\\-", "-")
        .replace("\\&", "")
        .replace("\\:", "")
        .replace("\\e", "\\")
}

#[test]
fn every_keyword_and_alias_is_bold_in_keepalived_conf_5() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("man/keepalived.conf.5");
    let man = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let bold = bold_words(&man);
    let mut missing = BTreeSet::new();
    for k in KEYWORDS {
        for name in std::iter::once(&k.name).chain(k.aliases) {
            if !bold.contains(*name) {
                missing.insert(format!("{name} ({})", k.block.name()));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "{} keyword(s) of config::keywords::KEYWORDS are not bold in man/keepalived.conf.5 \
         (write \\fBname\\fR or a .B name line):\n  {}",
        missing.len(),
        missing.into_iter().collect::<Vec<_>>().join("\n  ")
    );
}

#[test]
fn bold_word_extraction() {
    let b = bold_words(
        ".B global_defs\n\\fBlvs_sched\\fR|\\fBlb_algo\\fR \\fIx\\fR\n.BR sh\\-port \" (8)\"\n\\fBflag-1\\fP\n",
    );
    for w in ["global_defs", "lvs_sched", "lb_algo", "sh-port", "flag-1"] {
        assert!(b.contains(w), "{w} not found in {b:?}");
    }
    assert!(!b.contains("x"));
}
