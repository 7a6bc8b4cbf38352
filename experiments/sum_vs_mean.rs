//! Thin binary for the `sum_vs_mean` experiment: `cargo run --release --bin sum_vs_mean -- [--out DIR] [--quick] [--threads N]`.
fn main() -> std::process::ExitCode {
    gradlab::cli::experiment_main("sum_vs_mean")
}
