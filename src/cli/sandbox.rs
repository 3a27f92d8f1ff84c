//! `unified-crm sandbox`: the sandbox CRMs on their own (JobNimbus and Jobber), for trying a
//! client or the OAuth flow by hand.

use adapters::jobber::sandbox::{JobberSandboxConfig, SandboxJobber};
use adapters::jobnimbus::sandbox::{SandboxConfig, SandboxJobNimbus};
use clap::Args;
use secrecy::SecretString;

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
    /// Port of the sandbox Jobber on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8091)]
    jobber_port: u16,
    /// The OAuth client id the sandbox Jobber accepts.
    #[arg(long, default_value = "sandbox-jobber-client")]
    jobber_client_id: String,
    /// The OAuth client secret the sandbox Jobber accepts; a random one when not given.
    #[arg(long, env = "SANDBOX_JOBBER_CLIENT_SECRET", hide_env_values = true)]
    jobber_client_secret: Option<String>,
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

    let client_secret = args
        .jobber_client_secret
        .unwrap_or_else(|| format!("sandbox-{}", uuid::Uuid::new_v4().simple()));
    let mut jobber_config = JobberSandboxConfig::new(
        args.jobber_client_id.clone(),
        SecretString::from(client_secret.clone()),
    );
    jobber_config.port = args.jobber_port;
    let jobber = SandboxJobber::start(jobber_config).await?;

    let base = sandbox.base_url();
    // Sandbox credentials guard generated data only; the person needs them to call the
    // sandboxes.
    println!("sandbox JobNimbus listening on {base}");
    println!("  API key: {api_key}");
    println!("  try: curl -H 'Authorization: Bearer {api_key}' '{base}/jobs?size=2'");
    println!("sandbox Jobber listening on {}", jobber.base_url());
    println!("  authorize: {}", jobber.authorize_url());
    println!("  token:     {}", jobber.token_url());
    println!("  graphql:   {}", jobber.graphql_url());
    println!("  client id: {}", args.jobber_client_id);
    println!("  client secret: {client_secret}");
    println!("  redirect URIs: any http URI on 127.0.0.1, localhost or [::1]; consent is granted");
    println!(
        "  try: curl -i '{}?response_type=code&client_id={}&redirect_uri=http://127.0.0.1:9/cb&state=x'",
        jobber.authorize_url(),
        args.jobber_client_id
    );
    println!("Press Ctrl-C to stop.");
    tokio::signal::ctrl_c().await?;
    sandbox.shutdown().await?;
    jobber.shutdown().await?;
    Ok(())
}
