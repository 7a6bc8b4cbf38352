//! Thin binary for the `bits_sweep` experiment: `cargo run --release --bin bits_sweep -- [--out DIR] [--quick] [--threads N]`.
fn main() -> std::process::ExitCode {
    gradlab::cli::experiment_main("bits_sweep")
}
