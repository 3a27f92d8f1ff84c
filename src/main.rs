use std::process::ExitCode;

use clap::Parser;
use unified_crm::cli::Cli;

#[tokio::main]
async fn main() -> ExitCode {
    // A missing .env is normal; a malformed one is reported by the settings it breaks.
    let _ = dotenvy::dotenv();
    Cli::parse().run().await
}
