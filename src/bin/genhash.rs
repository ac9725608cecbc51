//! genhash: fetch a URL the way HTTP_GET / SSL_GET do and print the MD5 digest of the body, to
//! paste into a `url { digest ... }` block. Command line and output as keepalived's genhash
//! (keepalived/check/check_genhash.c): `-s server -p port -u url [-S] [-I] [-V vhost] [-v]
//! [-m fwmark] [-P 1.0|1.0C|1.1] [-t timeout] [-h]`.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use keepalived_rs::check::io::http::fetch;
use keepalived_rs::check::io::{ProbeError, TlsCache};
use keepalived_rs::check::plan::TlsSpec;
use keepalived_rs::check::proto::http::{HttpProtocol, Limits, Mode, UrlCheck, hex};
use keepalived_rs::config::model::CheckerBind;

const DELIM_BEGIN: &str = "-----------------------[";
const DELIM_END: &str = "]-----------------------\n";

/// Default time bound when `-t` is not given (keepalived waits forever).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

fn usage(prog: &str) {
    eprint!(
        "Usage: {prog} COMMAND [OPTIONS]\n\
         Commands:\n   -s server-address -p port -u url\n   -S -s server-address -p port -u url\n   -h\n\n"
    );
    eprint!(
        "Options:\n\
         Either long or short options are allowed.\n   \
         --use-ssl         -S       Use SSL connection to remote server.\n   \
         --use-sni         -I       Use SNI during SSL handshake (uses virtualhost setting; see -V).\n   \
         --server          -s       Use the specified remote server address.\n   \
         --port            -p       Use the specified remote server port.\n   \
         --url             -u       Use the specified remote server url.\n   \
         --use-virtualhost -V       Use the specified virtualhost in GET query.\n   \
         --verbose         -v       Use verbose mode output.\n   \
         --help            -h       Display this short inlined help screen.\n   \
         --fwmark          -m       Use the specified FW mark.\n   \
         --protocol        -P       Use the specified HTTP protocol - '1.0', 1.0c', '1.1'.\n                                \
         1.0c means 1.0 with 'Connection: close'\n   \
         --timeout         -t       Timeout in seconds\n"
    );
}

#[derive(Debug, Default)]
struct Args {
    ssl: bool,
    sni: bool,
    server: Option<IpAddr>,
    port: Option<u16>,
    url: Option<String>,
    vhost: Option<String>,
    verbose: bool,
    fwmark: Option<u32>,
    protocol: HttpProtocol,
    timeout: Option<u64>,
}

/// getopt_long-style parsing of keepalived's options; `Err(())` prints the usage.
fn parse(argv: &[String]) -> Result<Args, ()> {
    if argv.len() <= 2 {
        return Err(());
    }
    let mut a = Args::default();
    let mut it = argv[1..].iter();
    let mut bad = false;
    while let Some(arg) = it.next() {
        let (opt, inline): (&str, Option<String>) = if let Some(long) = arg.strip_prefix("--") {
            let (name, val) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            let short = match name {
                "help" => "h",
                "verbose" => "v",
                "use-ssl" => "S",
                "use-sni" => "I",
                "server" => "s",
                "use-virtualhost" => "V",
                "port" => "p",
                "url" => "u",
                "fwmark" => "m",
                "protocol" => "P",
                "timeout" => "t",
                _ => {
                    eprintln!("Unknown option {arg}");
                    bad = true;
                    continue;
                }
            };
            (short, val)
        } else if let Some(short) = arg.strip_prefix('-').filter(|s| !s.is_empty()) {
            let (c, rest) = short.split_at(1);
            (c, (!rest.is_empty()).then(|| rest.to_string()))
        } else {
            eprintln!("Unexpected argument(s): {arg}");
            return Err(());
        };
        let needs_value = matches!(opt, "s" | "V" | "p" | "u" | "m" | "P" | "t");
        let value = if needs_value {
            match inline.or_else(|| it.next().cloned()) {
                Some(v) => v,
                None => {
                    eprintln!("Missing parameter for option -{opt}");
                    bad = true;
                    continue;
                }
            }
        } else {
            String::new()
        };
        match opt {
            "h" => bad = true,
            "v" => a.verbose = true,
            "S" => a.ssl = true,
            "I" => a.sni = true,
            "s" => match value.parse() {
                Ok(ip) => a.server = Some(ip),
                Err(_) => {
                    eprintln!("server should be an IP, not {value}");
                    return Err(());
                }
            },
            "V" => a.vhost = Some(value),
            "p" => match value.parse::<u16>() {
                Ok(p) if p > 0 => a.port = Some(p),
                _ => {
                    eprintln!("invalid port number '{value}'");
                    return Err(());
                }
            },
            "u" => a.url = Some(value),
            "m" => match value.trim_start().parse() {
                Ok(m) => a.fwmark = Some(m),
                Err(_) => {
                    eprintln!("invalid fwmark '{value}'");
                    return Err(());
                }
            },
            "P" => match HttpProtocol::parse(&value) {
                Some(p) => a.protocol = p,
                None => {
                    eprintln!("invalid HTTP protocol version '{value}'");
                    return Err(());
                }
            },
            "t" => match value.trim_start().parse() {
                Ok(t) => a.timeout = Some(t),
                Err(_) => {
                    eprintln!("invalid timeout '{value}'");
                    return Err(());
                }
            },
            _ => {
                eprintln!("Unknown option -{opt}");
                bad = true;
            }
        }
    }
    if bad || a.server.is_none() || a.port.is_none() || a.url.is_none() {
        return Err(());
    }
    Ok(a)
}

/// keepalived `dump_buffer`: 16 bytes a line, decimal offset, hex, then printable ASCII.
fn dump_buffer(buf: &[u8], out: &mut String) {
    use std::fmt::Write as _;
    let padded = buf.len().div_ceil(16) * 16;
    for i in 0..padded {
        if i % 16 == 0 {
            let _ = write!(out, "{:04} ", i & 0xffff);
        }
        match buf.get(i) {
            Some(b) => {
                let _ = write!(out, "{b:3.2x}");
            }
            None => out.push_str("   "),
        }
        if (i + 1) % 8 == 0 {
            if (i + 1) % 16 != 0 {
                out.push_str(" -");
            } else {
                out.push_str("   ");
                for j in i - 15..=i {
                    out.push(match buf.get(j) {
                        Some(&c) if (0x20..=0x7e).contains(&c) => c as char,
                        Some(_) => '.',
                        None => ' ',
                    });
                }
                out.push('\n');
            }
        }
    }
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let prog = argv.first().cloned().unwrap_or_else(|| "genhash".into());
    let Ok(args) = parse(&argv) else {
        usage(&prog);
        return ExitCode::from(1);
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    rt.block_on(genhash(args))
}

async fn genhash(args: Args) -> ExitCode {
    let (Some(server), Some(port), Some(path)) = (args.server, args.port, args.url.clone()) else {
        return ExitCode::from(1);
    };
    let target = SocketAddr::new(server, port);
    let mut url = UrlCheck::new(path.clone());
    url.virtualhost = args.vhost.clone();
    let tls = args.ssl.then(|| TlsSpec {
        sni: if args.sni { args.vhost.clone() } else { None },
        certificate: None,
        key: None,
    });
    let cache = TlsCache::new();
    let bind = args.fwmark.map(|m| CheckerBind {
        fwmark: Some(m),
        ..CheckerBind::default()
    });
    let ct = args.timeout.map_or(DEFAULT_TIMEOUT, Duration::from_secs);
    let verbose = args.verbose;
    let started = Instant::now();

    // Verbose dumps, as check_http.c `http_process_response` prints them.
    let mut head = Vec::new();
    let mut in_body = false;
    let mut observe = |chunk: &[u8]| {
        if !verbose {
            return;
        }
        let mut out = String::new();
        if in_body {
            dump_buffer(chunk, &mut out);
        } else {
            out.push_str(&format!(
                "{DELIM_BEGIN}    HTTP Header Buffer    {DELIM_END}"
            ));
            head.extend_from_slice(chunk);
            if let Some(end) = head
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map(|p| p + 4)
            {
                dump_buffer(&head[..end], &mut out);
                out.push_str(&format!(
                    "{DELIM_BEGIN} HTTP Header Ascii Buffer {DELIM_END}"
                ));
                out.push_str(&String::from_utf8_lossy(&head[..end]));
                out.push('\n');
                let body = &head[end..];
                if !body.is_empty() {
                    out.push_str(&format!(
                        "{DELIM_BEGIN}        HTML Buffer        {DELIM_END}"
                    ));
                    dump_buffer(body, &mut out);
                }
                in_body = true;
                head.clear();
            }
        }
        print!("{out}");
    };
    let limits = Limits {
        max_header: 64 * 1024,
        max_body: u64::MAX,
        max_regex_window: 0,
    };
    let result = fetch(
        target,
        bind.as_ref(),
        tls.as_ref().map(|t| (t, &cache)),
        args.protocol,
        &url,
        ct,
        limits,
        Mode::Genhash,
        &mut observe,
    )
    .await;
    match result {
        Ok(v) => match v.digest {
            Some(d) => {
                if verbose {
                    let mut out = String::new();
                    out.push('\n');
                    out.push_str(&format!(
                        "{DELIM_BEGIN}    HTML hash resulting    {DELIM_END}"
                    ));
                    dump_buffer(&d, &mut out);
                    out.push_str(&format!(
                        "{DELIM_BEGIN} HTML hash final resulting {DELIM_END}"
                    ));
                    print!("{out}");
                }
                println!("{}", hex(&d));
            }
            None => eprintln!("no data received from remote webserver"),
        },
        // keepalived's genhash prints the checker's message and exits 0.
        Err(e) => println!("{}", message(&e)),
    }
    if verbose {
        println!(
            "\nGlobal response time for [{path}] = {} usecs",
            started.elapsed().as_micros()
        );
    }
    ExitCode::SUCCESS
}

/// The messages keepalived's checker prints in genhash mode (check_http.c `timeout_epilog`).
fn message(e: &ProbeError) -> String {
    match e {
        ProbeError::ConnectTimeout => "Timeout connecting".into(),
        ProbeError::Connect(_) => "Error connecting".into(),
        ProbeError::Timeout => "Timeout HTTP read".into(),
        ProbeError::Tls(_) => "SSL handshake/communication error connecting to".into(),
        ProbeError::Io(_) => "Read error with".into(),
        other => other.to_string(),
    }
}
