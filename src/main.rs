//! The `keepalived` binary: everything lives in the library, see `src/lib.rs`.

fn main() -> std::process::ExitCode {
    keepalived_rs::cli::main()
}
