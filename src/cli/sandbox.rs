//! `unified-crm sandbox`: the sandbox JobNimbus on its own, for trying a client by hand.

use adapters::jobnimbus::sandbox::{SandboxConfig, SandboxJobNimbus};
use clap::Args;

#[derive(Args, Debug)]
pub struct SandboxArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8090)]
    port: u16,
    /// Seed of the generated data: the same seed gives the same records.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[arg(long, default_value_t = 500)]
    jobs: usize,
    #[arg(long, default_value_t = 200)]
    contacts: usize,
    /// The API key the sandbox accepts; a random one when not given.
    #[arg(long, env = "SANDBOX_JOBNIMBUS_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
}

pub async fn run(args: SandboxArgs) -> Result<(), Box<dyn std::error::Error>> {
    let api_key = args
        .api_key
        .unwrap_or_else(|| format!("sandbox-{}", uuid::Uuid::new_v4().simple()));
    let mut config = SandboxConfig::new(api_key.clone(), args.seed);
    config.port = args.port;
    config.jobs = args.jobs;
    config.contacts = args.contacts;
    let sandbox = SandboxJobNimbus::start(config).await?;
    let base = sandbox.base_url();
    // A sandbox key guards generated data only; the person needs it to call the sandbox.
    println!("sandbox JobNimbus listening on {base}");
    println!("  API key: {api_key}");
    println!("  try: curl -H 'Authorization: Bearer {api_key}' '{base}/jobs?size=2'");
    println!("Press Ctrl-C to stop.");
    tokio::signal::ctrl_c().await?;
    sandbox.shutdown().await?;
    Ok(())
}
