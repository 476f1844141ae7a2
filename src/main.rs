//! The `sigmo` command.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Fast, proven CPU building blocks for neural networks.
#[derive(Parser)]
#[command(name = "sigmo", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show the kernel tier this CPU runs (honouring SIGMO_ISA) and what is available.
    Info,
}

fn main() -> ExitCode {
    // Before anything else: get OpenBLAS's right kernels (may re-execute this program once).
    sigmo::openblas::ensure_kernels();
    let cli = Cli::parse();
    match cli.command {
        Command::Info => match sigmo::info::Info::detect() {
            Ok(info) => {
                println!("{info}");
                if info.gemm_check.iter().any(|(_, r)| r.is_err()) {
                    ExitCode::FAILURE
                } else {
                    ExitCode::SUCCESS
                }
            }
            Err(e) => {
                eprintln!("sigmo: {e}");
                ExitCode::FAILURE
            }
        },
    }
}
