//! Thin binary for the `seed_repro` experiment: `cargo run --release --bin seed_repro -- [--out DIR] [--quick] [--threads N]`.
fn main() -> std::process::ExitCode {
    gradlab::cli::experiment_main("seed_repro")
}
