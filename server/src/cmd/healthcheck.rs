//! `airlock-server healthcheck`: asks a running server's `/healthz` and exits 0 when it answers
//! 200, 1 otherwise. For container images without a shell or curl (deploy/docker's runtime
//! image is distroless): Docker's HEALTHCHECK runs it, and Docker reads exit 1 as unhealthy
//! (other non-zero codes are reserved there, so this command uses no other).

use anyhow::Result;

#[derive(clap::Args)]
pub struct HealthcheckArgs {
    /// The URL to ask; healthy when it answers 200.
    #[arg(
        long,
        env = "AIRLOCK_HEALTHCHECK_URL",
        default_value = "http://127.0.0.1:8080/healthz"
    )]
    pub url: String,
    /// Seconds to wait for the answer.
    #[arg(long, env = "AIRLOCK_HEALTHCHECK_TIMEOUT_SECONDS", default_value_t = 3,
          value_parser = clap::value_parser!(u64).range(1..=300))]
    pub timeout_seconds: u64,
}

/// The exit code: 0 healthy, 1 not (with the reason on stderr).
pub async fn run(args: &HealthcheckArgs) -> Result<u8> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(args.timeout_seconds))
        .build()?;
    match client.get(&args.url).send().await {
        Ok(answer) if answer.status() == reqwest::StatusCode::OK => Ok(0),
        Ok(answer) => {
            eprintln!("unhealthy: {} answered {}", args.url, answer.status());
            Ok(1)
        }
        Err(e) => {
            eprintln!("unhealthy: {}: {e}", args.url);
            Ok(1)
        }
    }
}
