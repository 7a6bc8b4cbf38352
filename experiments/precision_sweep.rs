//! Thin binary for the `precision_sweep` experiment: `cargo run --release --bin precision_sweep -- [--out DIR] [--quick] [--threads N]`.
fn main() -> std::process::ExitCode {
    gradlab::cli::experiment_main("precision_sweep")
}
