use std::process::ExitCode;

use clap::Parser;
use unified_crm::cli::Cli;

/// A sync moves hundreds of thousands of short-lived JSON values through many threads;
/// glibc's allocator spent a third of the sync benchmark's CPU consolidating and unlinking
/// chunks (perf), mimalloc's per-thread pages do not.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    // A missing .env is normal; a malformed one is reported by the settings it breaks.
    let _ = dotenvy::dotenv();
    Cli::parse().run().await
}
