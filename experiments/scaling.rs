//! Thin binary for the `scaling` timing experiment: `cargo run --release --bin scaling -- [--out DIR] [--quick]`.
fn main() -> std::process::ExitCode {
    gradlab::cli::experiment_main("scaling")
}
