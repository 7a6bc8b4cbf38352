//! The `gradlab` command line (see `gradlab --help`).
fn main() -> std::process::ExitCode {
    gradlab::lab::cli::main()
}
