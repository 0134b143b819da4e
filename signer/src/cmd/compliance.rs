//! `airlock compliance report|verify|statement`: signed evidence for regulators.

use anyhow::{Context, Result};
use clap::Subcommand;
use std::path::{Path, PathBuf};

use airlock_signer::compliance;
use airlock_signer::publish::read_token;
use airlock_signer::repo::Repo;

use super::PassphraseArgs;

#[derive(Subcommand)]
pub enum Command {
    /// A signed report for one product: support statement and history, update mechanism,
    /// release ledger, fleet figures, automated test verdicts, and the crosswalk of
    /// requirements to behaviour and tests.
    Report {
        /// The product id (as given to `airlock product add`).
        product: String,
        /// The repository.
        #[arg(long, env = "AIRLOCK_REPO", default_value = ".")]
        repo: PathBuf,
        /// md, html, json or pdf.
        #[arg(long, default_value = "md", env = "AIRLOCK_COMPLIANCE_REPORT_FORMAT")]
        format: String,
        /// uk, au, us, sg, eu or all.
        #[arg(long, default_value = "all", env = "AIRLOCK_JURISDICTION")]
        jurisdiction: String,
        /// Fetch fleet figures and rollout outcomes from this airlock-server (needs
        /// --admin-token-file with the read scope); without it the report says they were not
        /// requested.
        #[arg(long, env = "AIRLOCK_SERVER")]
        server: Option<url::Url>,
        /// File holding an admin token with the read scope (with --server).
        #[arg(long, env = "AIRLOCK_ADMIN_TOKEN_FILE")]
        admin_token_file: Option<PathBuf>,
        /// Directory of automated test results: `airlock-sim attack --all --json` outputs
        /// (*.json) and scripts/conformance logs (their `conformance: ...` line).
        /// A file counts only with a detached signature FILE.sig by a targets key of the
        /// repository (`airlock compliance sign-evidence FILE`); an unsigned one is listed as
        /// UNVERIFIED and evidences nothing.
        #[arg(long, value_name = "DIR", env = "AIRLOCK_EVIDENCE")]
        evidence: Option<PathBuf>,
        /// Run the attack drills now (`airlock-sim attack --all --json`) and put their captured
        /// output in the report, bound by its sha256.
        #[arg(long, env = "AIRLOCK_RUN_DRILLS")]
        run_drills: bool,
        /// The airlock-sim program for --run-drills (default: the one beside airlock, else on
        /// PATH).
        #[arg(
            long,
            value_name = "PATH",
            requires = "run_drills",
            env = "AIRLOCK_SIM_BIN"
        )]
        sim_bin: Option<PathBuf>,
        /// Write the report here and its detached signature to FILE.sig (default: stdout,
        /// unsigned).
        #[arg(long, env = "AIRLOCK_COMPLIANCE_REPORT_OUT")]
        out: Option<PathBuf>,
        #[command(flatten)]
        passphrase: PassphraseArgs,
    },
    /// Signs test results (an `airlock-sim attack --json` output, a scripts/conformance log)
    /// with the first targets key, writing FILE.sig beside each: a signed result counts as
    /// evidence in `compliance report --evidence DIR`.
    SignEvidence {
        /// The result files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The repository.
        #[arg(long, env = "AIRLOCK_REPO", default_value = ".")]
        repo: PathBuf,
        #[command(flatten)]
        passphrase: PassphraseArgs,
    },
    /// Checks a report's or statement's detached signature (FILE.sig) against the targets keys
    /// of a root.json.
    Verify {
        /// The report or statement; its detached signature is FILE.sig beside it.
        file: PathBuf,
        /// The repository's root.json (any version that lists the signing targets key).
        #[arg(long, env = "AIRLOCK_COMPLIANCE_VERIFY_ROOT")]
        root: PathBuf,
        /// The signature file (default: FILE.sig).
        #[arg(long, env = "AIRLOCK_COMPLIANCE_VERIFY_SIG")]
        sig: Option<PathBuf>,
    },
    /// A signed statement of compliance for one product: UK (PSTI) or Australia (smart
    /// devices rules): product, batch, manufacturer and address, defined support period from
    /// the signed record, the declarations, signatory, place and date.
    Statement(StatementArgs),
}

#[derive(clap::Args)]
pub struct StatementArgs {
    /// The product id (as given to `airlock product add`).
    product: String,
    /// The repository.
    #[arg(long, env = "AIRLOCK_REPO", default_value = ".")]
    repo: PathBuf,
    /// uk or au.
    #[arg(long, env = "AIRLOCK_REGIME")]
    regime: String,
    /// The manufacturer's name.
    #[arg(long, env = "AIRLOCK_MANUFACTURER")]
    manufacturer: String,
    /// The manufacturer's postal address.
    #[arg(long, env = "AIRLOCK_MANUFACTURER_ADDRESS")]
    address: String,
    /// Product batch or other identification (default: every unit of the product).
    #[arg(long, env = "AIRLOCK_BATCH")]
    batch: Option<String>,
    /// Name of the person who signs the statement.
    #[arg(long, env = "AIRLOCK_SIGNATORY")]
    signatory: String,
    /// The signatory's function (e.g. "Head of Product Security").
    #[arg(long, env = "AIRLOCK_SIGNATORY_FUNCTION")]
    signatory_function: String,
    /// Place of issue.
    #[arg(long, env = "AIRLOCK_PLACE_OF_ISSUE")]
    place: String,
    /// Date of issue (default: today, UTC).
    #[arg(long, env = "AIRLOCK_DATE_OF_ISSUE")]
    date: Option<jiff::civil::Date>,
    /// md, html, json or pdf.
    #[arg(
        long,
        default_value = "md",
        env = "AIRLOCK_COMPLIANCE_STATEMENT_FORMAT"
    )]
    format: String,
    /// Write the statement here and its detached signature to FILE.sig (default: stdout,
    /// unsigned).
    #[arg(long, env = "AIRLOCK_COMPLIANCE_STATEMENT_OUT")]
    out: Option<PathBuf>,
    /// Render a statement whose signed record leaves gaps as a statement to issue, not a
    /// draft (the gaps are still listed, and the statement says it was issued with them).
    #[arg(long, env = "AIRLOCK_COMPLIANCE_STATEMENT_FORCE")]
    force: bool,
    #[command(flatten)]
    passphrase: PassphraseArgs,
}

pub async fn run(command: Command) -> Result<()> {
    match command {
        Command::Report {
            product,
            repo,
            format,
            jurisdiction,
            server,
            admin_token_file,
            evidence,
            run_drills,
            sim_bin,
            out,
            passphrase,
        } => {
            use compliance::{evidence, fleet};
            check_format(&format)?;
            compliance::check_jurisdiction(&jurisdiction)?;
            let repo = passphrase.open(&repo)?;
            let fleet = match (server, admin_token_file) {
                (Some(server), Some(token_file)) => {
                    let token = read_token(&token_file)?;
                    let figures = fleet::fetch(&server, &token, &product).await?;
                    fleet::FleetFigures::FromServer {
                        server: server.to_string(),
                        figures,
                    }
                }
                (Some(_), None) => {
                    anyhow::bail!("--server needs --admin-token-file (a token with the read scope)")
                }
                (None, _) => fleet::FleetFigures::NotRequested,
            };
            let now = jiff::Timestamp::now();
            let root_json = std::fs::read(repo.metadata_dir().join("root.json"))
                .context("reading the repository's root.json")?;
            let mut verdicts = match evidence.as_deref() {
                Some(dir) => Some(evidence::read_dir(dir, &root_json)?),
                None => None,
            };
            if run_drills {
                eprintln!("running the attack drills (airlock-sim attack --all --json) ...");
                let sim = evidence::sim_program(sim_bin.as_deref());
                let run = evidence::run_drills(&sim, now)?;
                verdicts.get_or_insert_with(Vec::new).insert(0, run);
            }
            for v in verdicts.iter().flatten() {
                if let evidence::Provenance::Unverified { reason } = &v.provenance {
                    eprintln!(
                        "warning: {} is unverified ({reason}): listed, but evidences nothing; sign it with `airlock compliance sign-evidence`",
                        v.file
                    );
                }
            }
            let report = compliance::build(
                &repo,
                &product,
                compliance::Sources {
                    jurisdiction,
                    fleet,
                    evidence: verdicts,
                    now,
                },
            )?;
            let bytes = match format.as_str() {
                "md" => compliance::markdown(&report).into_bytes(),
                "html" => compliance::html(&report).into_bytes(),
                "pdf" => compliance::pdf(&report)?,
                _ => (serde_json::to_string_pretty(&report)? + "\n").into_bytes(),
            };
            write_signed(&repo, out.as_deref(), &bytes, format == "pdf")
        }
        Command::SignEvidence {
            files,
            repo,
            passphrase,
        } => {
            let repo = passphrase.open(&repo)?;
            for file in files {
                let bytes =
                    std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
                let mut sig = file.clone().into_os_string();
                sig.push(".sig");
                let sig = PathBuf::from(sig);
                airlock_signer::durable::write_atomic(
                    &sig,
                    compliance::sign(&repo, &bytes)?.as_bytes(),
                )?;
                println!("signed {} ({})", file.display(), sig.display());
            }
            Ok(())
        }
        Command::Verify { file, root, sig } => {
            let sig = sig.unwrap_or_else(|| {
                let mut name = file.clone().into_os_string();
                name.push(".sig");
                PathBuf::from(name)
            });
            let read =
                |p: &PathBuf| std::fs::read(p).with_context(|| format!("reading {}", p.display()));
            let keyid = compliance::verify(&read(&root)?, &read(&file)?, &read(&sig)?)
                .with_context(|| format!("verifying {}", file.display()))?;
            println!(
                "{}: signature by targets key {keyid} verified",
                file.display()
            );
            Ok(())
        }
        Command::Statement(args) => statement(args),
    }
}

/// `compliance statement`: a statement of compliance, signed as a report is.
fn statement(a: StatementArgs) -> Result<()> {
    use compliance::{document, pdf, statement};
    check_format(&a.format)?;
    let regime: statement::Regime = a.regime.parse()?;
    let repo = a.passphrase.open(&a.repo)?;
    let now = jiff::Timestamp::now();
    let st = statement::build(
        &repo,
        &a.product,
        regime,
        &statement::Declarant {
            manufacturer: a.manufacturer,
            address: a.address,
            batch: a.batch,
            signatory: a.signatory,
            signatory_function: a.signatory_function,
            place: a.place,
            date: a
                .date
                .unwrap_or_else(|| airlock_core::support::utc_date(now)),
        },
        now,
        a.force,
    )?;
    for gap in &st.gaps {
        eprintln!("warning: {gap}");
    }
    if st.draft {
        eprintln!(
            "warning: written as a DRAFT because of the gaps above; resolve them, or pass --force to issue it as it is"
        );
    }
    let doc = statement::document(&st);
    let bytes = match a.format.as_str() {
        "md" => document::markdown(&doc).into_bytes(),
        "html" => document::html(&doc).into_bytes(),
        "pdf" => pdf::render(
            &doc,
            &format!(
                "{}: statement of compliance, {}",
                a.product, st.date_of_issue
            ),
            st.generated_at,
        )?,
        _ => (serde_json::to_string_pretty(&st)? + "\n").into_bytes(),
    };
    write_signed(&repo, a.out.as_deref(), &bytes, a.format == "pdf")
}

/// Refuses a `--format` the compliance documents are not written in.
fn check_format(format: &str) -> Result<()> {
    if !["md", "html", "json", "pdf"].contains(&format) {
        anyhow::bail!("unsupported format {format:?} ({})", compliance::FORMATS);
    }
    Ok(())
}

/// Writes a compliance document to `out` with its detached signature in `out.EXT.sig`, or to
/// stdout unsigned (a PDF only when stdout is not a terminal).
fn write_signed(repo: &Repo, out: Option<&Path>, bytes: &[u8], pdf: bool) -> Result<()> {
    use std::io::{IsTerminal, Write};
    match out {
        Some(path) => {
            airlock_signer::durable::write_atomic(path, bytes)?;
            let sig_path = path.with_extension(format!(
                "{}.sig",
                path.extension()
                    .and_then(|e| e.to_str())
                    .unwrap_or("report")
            ));
            airlock_signer::durable::write_atomic(
                &sig_path,
                compliance::sign(repo, bytes)?.as_bytes(),
            )?;
            println!("wrote {} and {}", path.display(), sig_path.display());
        }
        None => {
            let mut stdout = std::io::stdout();
            if pdf && stdout.is_terminal() {
                anyhow::bail!("a PDF is not written to a terminal: use --out FILE (or redirect)");
            }
            stdout.write_all(bytes).context("writing to stdout")?;
            stdout.flush().context("writing to stdout")?;
        }
    }
    Ok(())
}
