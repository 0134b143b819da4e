//! `airlock`: parses the command line and dispatches to the library (one module per group).

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

use airlock_core::release::ReleaseKind;
use airlock_signer::keys::KeyAccess;
use airlock_signer::passphrase::PassphraseSource;
use airlock_signer::pkcs11::TokenUri;
use airlock_signer::rollout::{self, AdminClient};
use airlock_signer::{
    init, product, publish, release, repo::Repo, status, support, DEFAULT_EXPIRY_DAYS,
};

#[derive(Parser)]
#[command(
    name = "airlock",
    version,
    about = "Offline TUF signing for firmware: keys, products, releases, support windows, publishing",
    long_about = "airlock keeps a TUF repository for a vendor's firmware: offline root and targets keys, \
one delegated role per product, firmware targets with signed release metadata, product support \
windows, and publishing to airlock-server.\n\nExit codes: 0 success, 1 error, 2 usage error."
)]
struct Cli {
    /// TOML file of settings (keys are flag names, e.g. `server`, `admin-token-file`).
    #[arg(long, global = true, env = "AIRLOCK_CONFIG")]
    config: Option<PathBuf>,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true, env = "AIRLOCK_JSON")]
    json: bool,
    /// Environment variable that holds the passphrase of encrypted key files (default:
    /// AIRLOCK_KEY_PASSPHRASE; when unset, airlock asks on the terminal). Takes precedence
    /// over --passphrase-file.
    #[arg(long, global = true, value_name = "NAME")]
    passphrase_env: Option<String>,
    /// File whose first line is the passphrase of encrypted key files.
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        env = "AIRLOCK_KEY_PASSPHRASE_FILE"
    )]
    passphrase_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

/// Options of commands that create keys.
#[derive(Args)]
struct NewKeyArgs {
    /// Write the new private key files encrypted with a passphrase (PKCS#8, scrypt +
    /// AES-256-CBC); the passphrase comes from --passphrase-env, --passphrase-file,
    /// AIRLOCK_KEY_PASSPHRASE or the terminal.
    #[arg(long, env = "AIRLOCK_ENCRYPT_KEYS")]
    encrypt_keys: bool,
}

/// A `pkcs11:` URI given on the command line.
fn token_uri(text: &str) -> Result<TokenUri> {
    TokenUri::parse(text)
}

#[derive(Subcommand)]
enum Command {
    /// Create a repository: offline root and targets keys under REPO/keys (0600), signed v1 root
    /// and targets metadata naming the server's online key for snapshot and timestamp.
    Init {
        /// Repository directory (created).
        repo: PathBuf,
        /// The server's online public key (written by `airlock-server init` as online.pub).
        #[arg(long, env = "AIRLOCK_ONLINE_KEY")]
        online_key: PathBuf,
        /// Signatures required on root metadata.
        #[arg(long, default_value_t = 1, env = "AIRLOCK_ROOT_THRESHOLD")]
        root_threshold: u64,
        /// Number of root keys to generate.
        #[arg(long, default_value_t = 1, env = "AIRLOCK_ROOT_KEYS")]
        root_keys: u64,
        /// Signatures required on targets metadata.
        #[arg(long, default_value_t = 1, env = "AIRLOCK_TARGETS_THRESHOLD")]
        targets_threshold: u64,
        /// Number of targets keys to generate.
        #[arg(long, default_value_t = 1, env = "AIRLOCK_TARGETS_KEYS")]
        targets_keys: u64,
        /// Lifetime in days of root, targets and product metadata each time they are signed.
        #[arg(long, default_value_t = DEFAULT_EXPIRY_DAYS, env = "AIRLOCK_EXPIRY_DAYS")]
        expiry_days: i64,
        /// A root key on a PKCS#11 token (pkcs11:token=...;object=...) to use instead of
        /// generating one (repeatable; the rest up to --root-keys are generated). Later
        /// releases keep the repository encrypting new keys.
        #[arg(long = "root-key", value_name = "PKCS11_URI", value_parser = token_uri)]
        root_tokens: Vec<TokenUri>,
        /// A targets key on a PKCS#11 token (repeatable; the rest up to --targets-keys are
        /// generated).
        #[arg(long = "targets-key", value_name = "PKCS11_URI", value_parser = token_uri)]
        targets_tokens: Vec<TokenUri>,
        #[command(flatten)]
        new_keys: NewKeyArgs,
    },
    /// Products (one delegated TUF role each, with a signed support record).
    Product {
        #[command(subcommand)]
        command: ProductCommand,
    },
    /// Firmware releases.
    Release {
        #[command(subcommand)]
        command: ReleaseCommand,
    },
    /// Upload the repository to airlock-server (which verifies it and serves it), or with --out
    /// write a complete static repository for any web server.
    Publish {
        repo: PathBuf,
        /// Base URL of airlock-server.
        #[arg(
            long,
            env = "AIRLOCK_SERVER",
            required_unless_present = "out",
            conflicts_with = "out"
        )]
        server: Option<url::Url>,
        /// File holding the admin token.
        #[arg(
            long,
            env = "AIRLOCK_ADMIN_TOKEN_FILE",
            required_unless_present = "out"
        )]
        admin_token_file: Option<PathBuf>,
        /// Write a static repository (metadata/ and targets/) into this directory instead.
        #[arg(long, requires = "online_key_file")]
        out: Option<PathBuf>,
        /// With --out: the online key (PKCS#8) that signs snapshot and timestamp.
        #[arg(long, env = "AIRLOCK_ONLINE_KEY_FILE")]
        online_key_file: Option<PathBuf>,
        /// With --out: timestamp lifetime in hours.
        #[arg(long, default_value_t = 24 * 7)]
        timestamp_hours: i64,
        /// With --out: snapshot lifetime in hours.
        #[arg(long, default_value_t = 24 * 30)]
        snapshot_hours: i64,
        /// Offer new releases to no device until a rollout of them is started.
        #[arg(long)]
        hold: bool,
    },
    /// Verify a repository like a device would and print each problem: a server URL, a
    /// directory (or file:// URL) of a static TUF repository such as `publish --out` or
    /// `tuftool create` write, or this signer's repository.
    Verify {
        /// URL (http, https, file), static directory or airlock repository.
        source: String,
        /// Trusted root for a URL or directory (default: SOURCE/metadata/1.root.json).
        #[arg(long)]
        trusted_root: Option<PathBuf>,
    },
    /// Roles, keys, versions, expiry dates, products and releases.
    Status {
        repo: PathBuf,
        /// Exit 2 when root, targets or a product role expires within --within (for cron).
        #[arg(long)]
        check: bool,
        /// Horizon of --check: e.g. 30d, 12h.
        #[arg(long, default_value = "30d")]
        within: String,
    },
    /// A product's support record: extend it, raise its security floor, show it.
    Support {
        #[command(subcommand)]
        command: SupportCommand,
    },
    /// Add your signature to a proposal (e.g. from `airlock root propose`).
    Sign {
        proposal: PathBuf,
        /// Your private key: a PKCS#8 file (plain or encrypted) or a pkcs11: URI of a key on
        /// a token.
        #[arg(long, value_name = "FILE|PKCS11_URI")]
        key: String,
    },
    /// Evidence for regulators.
    Compliance {
        #[command(subcommand)]
        command: ComplianceCommand,
    },
    /// Root metadata: key rotation.
    Root {
        #[command(subcommand)]
        command: RootCommand,
    },
    /// The top-level targets role when its keys are held by several people: propose the staged
    /// change, holders sign it with `airlock sign`, apply it once the threshold is met.
    Targets {
        #[command(subcommand)]
        command: TargetsCommand,
    },
    /// Staged rollouts on the server (admin API).
    Rollout {
        #[command(subcommand)]
        command: RolloutCommand,
    },
}

#[derive(Args)]
struct ServerArgs {
    /// Base URL of airlock-server.
    #[arg(long, env = "AIRLOCK_SERVER")]
    server: url::Url,
    /// File holding the admin token.
    #[arg(long, env = "AIRLOCK_ADMIN_TOKEN_FILE")]
    admin_token_file: PathBuf,
    product: String,
    /// The release version.
    version: String,
}

#[derive(Subcommand)]
enum RolloutCommand {
    /// Start a staged rollout of a published release.
    Start {
        #[command(flatten)]
        target: ServerArgs,
        /// Waves: percent of the fleet @ hours after the start.
        #[arg(long, default_value = "1%@0h,10%@24h,50%@48h,100%@72h")]
        waves: String,
        /// Health rule that pauses the rollout by itself, e.g. "failures>=5% after 20 reports".
        #[arg(long)]
        pause_if: Option<String>,
    },
    /// Show a rollout: state, waves reached, reports, failure rate.
    Status {
        #[command(flatten)]
        target: ServerArgs,
    },
    /// Pause: devices not yet updated are offered the previous release again.
    Pause {
        #[command(flatten)]
        target: ServerArgs,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Resume a paused rollout (only an operator can).
    Resume {
        #[command(flatten)]
        target: ServerArgs,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Abort: the release is no longer offered.
    Abort {
        #[command(flatten)]
        target: ServerArgs,
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Subcommand)]
enum ProductCommand {
    /// Add a product: its own key, a delegated role for PRODUCT/*, and PRODUCT/support.json.
    Add(ProductAdd),
    /// Replace the product role's key; the old key is revoked (e.g. after a compromise).
    RotateKey {
        repo: PathBuf,
        product: String,
        /// The new key is this key on a PKCS#11 token instead of a generated one.
        #[arg(long, value_name = "PKCS11_URI", value_parser = token_uri)]
        key: Option<TokenUri>,
        #[command(flatten)]
        new_keys: NewKeyArgs,
        #[command(flatten)]
        stage: StageArgs,
    },
    /// Remove a product: its delegation leaves targets.json; its role, files and keys move to
    /// REPO/removed/. Refused while its security window is open and releases are in the field,
    /// or while a security release is inside its retention period (the server checks the same).
    Remove {
        repo: PathBuf,
        product: String,
        /// Years a security release must stay available (as the server is configured).
        #[arg(long, default_value_t = 10, env = "AIRLOCK_RETENTION_YEARS")]
        retention_years: i16,
        #[command(flatten)]
        stage: StageArgs,
    },
}

#[derive(Subcommand)]
enum TargetsCommand {
    /// Write the staged targets change (from `product add --stage`, `product rotate-key
    /// --stage`; with none staged, the current targets with a new expiry) as a proposal for the
    /// targets key holders, signed already by any targets keys in REPO/keys.
    Propose {
        repo: PathBuf,
        /// The proposal file to write (default: targets-vN.proposal.json here).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Accept a signed proposal once the targets threshold of the current root is met.
    Apply { repo: PathBuf, proposal: PathBuf },
    /// Drop the staged targets change: back to the signed targets.json (staged product
    /// additions leave, a staged key rotation gives back the delegated key).
    Discard { repo: PathBuf },
}

/// Option of commands that change targets.json.
#[derive(Args)]
struct StageArgs {
    /// Stage the change of targets.json for its key holders (`airlock targets propose`, `airlock
    /// sign`, `airlock targets apply`) instead of signing it with the targets keys in REPO/keys.
    /// A change already staged is always joined.
    #[arg(long, env = "AIRLOCK_STAGE_TARGETS")]
    stage: bool,
}

#[derive(Subcommand)]
enum ComplianceCommand {
    /// A signed report for one product: support statement and history, update mechanism,
    /// release ledger, fleet figures, automated test verdicts, and the crosswalk of
    /// requirements to behaviour and tests.
    Report {
        product: String,
        /// The repository.
        #[arg(long, env = "AIRLOCK_REPO", default_value = ".")]
        repo: PathBuf,
        /// md, html, json or pdf.
        #[arg(long, default_value = "md")]
        format: String,
        /// uk, au, us, sg, eu or all.
        #[arg(long, default_value = "all")]
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
        #[arg(long, value_name = "DIR")]
        evidence: Option<PathBuf>,
        /// Write the report here and its detached signature to FILE.sig (default: stdout,
        /// unsigned).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Checks a report's or statement's detached signature (FILE.sig) against the targets keys
    /// of a root.json.
    Verify {
        file: PathBuf,
        /// The repository's root.json (any version that lists the signing targets key).
        #[arg(long)]
        root: PathBuf,
        /// The signature file (default: FILE.sig).
        #[arg(long)]
        sig: Option<PathBuf>,
    },
    /// A signed statement of compliance for one product: UK (PSTI) or Australia (smart
    /// devices rules): product, batch, manufacturer and address, defined support period from
    /// the signed record, the declarations, signatory, place and date.
    Statement {
        product: String,
        /// The repository.
        #[arg(long, env = "AIRLOCK_REPO", default_value = ".")]
        repo: PathBuf,
        /// uk or au.
        #[arg(long)]
        regime: String,
        /// The manufacturer's name.
        #[arg(long, env = "AIRLOCK_MANUFACTURER")]
        manufacturer: String,
        /// The manufacturer's postal address.
        #[arg(long, env = "AIRLOCK_MANUFACTURER_ADDRESS")]
        address: String,
        /// Product batch or other identification (default: every unit of the product).
        #[arg(long)]
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
        #[arg(long)]
        date: Option<jiff::civil::Date>,
        /// md, html, json or pdf.
        #[arg(long, default_value = "md")]
        format: String,
        /// Write the statement here and its detached signature to FILE.sig (default: stdout,
        /// unsigned).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// Writes a compliance document to `out` with its detached signature in `out.EXT.sig`, or to
/// stdout unsigned (a PDF only when stdout is not a terminal).
fn write_signed(repo: &Repo, out: Option<&std::path::Path>, bytes: &[u8], pdf: bool) -> Result<()> {
    use std::io::{IsTerminal, Write};
    match out {
        Some(path) => {
            airlock_signer::fsutil::write_atomic(path, bytes)?;
            let sig_path = path.with_extension(format!(
                "{}.sig",
                path.extension()
                    .and_then(|e| e.to_str())
                    .unwrap_or("report")
            ));
            airlock_signer::fsutil::write_atomic(
                &sig_path,
                airlock_signer::compliance::sign(repo, bytes)?.as_bytes(),
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

#[derive(Subcommand)]
enum RootCommand {
    /// A new root version with new root keys (cross-signed by old and new, TUF 5.3.4); the old
    /// root keys move to keys/retired/.
    Rotate {
        repo: PathBuf,
        /// Number of new root keys.
        #[arg(long, default_value_t = 1)]
        root_keys: u64,
        /// Signatures required on the new root.
        #[arg(long, default_value_t = 1)]
        root_threshold: u64,
        /// Also replace the targets key (and re-sign targets.json with it).
        #[arg(long)]
        rotate_targets: bool,
        /// The server's next online key (online-next.pub from `airlock-server
        /// rotate-online-key`): snapshot and timestamp move to it.
        #[arg(long)]
        online_key: Option<PathBuf>,
        /// A new root key on a PKCS#11 token (repeatable; the rest up to --root-keys are
        /// generated).
        #[arg(long = "root-key", value_name = "PKCS11_URI", value_parser = token_uri)]
        root_tokens: Vec<TokenUri>,
        #[command(flatten)]
        new_keys: NewKeyArgs,
    },
    /// Write an unsigned proposal for the next root (new root keys and threshold) for holders
    /// to sign on their own machines with `airlock sign`.
    Propose {
        repo: PathBuf,
        #[arg(long, default_value_t = 1)]
        root_keys: u64,
        #[arg(long, default_value_t = 1)]
        root_threshold: u64,
        /// The proposal file to write.
        #[arg(long)]
        out: PathBuf,
        /// Where the new holders' private keys are written (default: OUT.keys/).
        #[arg(long)]
        keys_out: Option<PathBuf>,
        #[command(flatten)]
        new_keys: NewKeyArgs,
    },
    /// Accept a signed proposal once the old and the new thresholds are met (TUF 5.3.4).
    Apply { repo: PathBuf, proposal: PathBuf },
}

#[derive(Args)]
struct ProductAdd {
    repo: PathBuf,
    /// Product id (a-z, 0-9, '-'); also the role name and target path prefix.
    product: String,
    /// First day of support (YYYY-MM-DD).
    #[arg(long)]
    support_start: jiff::civil::Date,
    /// Last day of feature updates.
    #[arg(long)]
    feature_until: jiff::civil::Date,
    /// Last day of security updates.
    #[arg(long)]
    security_until: jiff::civil::Date,
    /// Security floor: security versions below it are revoked.
    #[arg(long, default_value_t = 0)]
    min_security_version: u64,
    /// Page that explains the support period and its end.
    #[arg(long)]
    notice_url: Option<String>,
    /// Statement shown to users (default: generated from the dates).
    #[arg(long)]
    statement: Option<String>,
    /// Product that succeeds this one.
    #[arg(long)]
    successor: Option<String>,
    /// Where to report vulnerabilities: mailto: or https:// URI (served as security.txt).
    #[arg(long)]
    security_contact: Option<String>,
    /// Vulnerability disclosure policy (https URL).
    #[arg(long)]
    disclosure_policy: Option<String>,
    /// Number of keys for the product role.
    #[arg(long, default_value_t = 1)]
    keys: u64,
    /// Signatures the product role needs.
    #[arg(long, default_value_t = 1)]
    threshold: u64,
    /// The product cannot be updated (declared in the public statement).
    #[arg(long)]
    not_updatable: bool,
    /// Why security support lasts less than five years (required then; CRA Art. 13(8)).
    #[arg(long)]
    rationale: Option<String>,
    /// A key of the product role on a PKCS#11 token (pkcs11:token=...;object=...) instead of
    /// a generated one (repeatable; the rest up to --keys are generated).
    #[arg(long = "key", value_name = "PKCS11_URI", value_parser = token_uri)]
    tokens: Vec<TokenUri>,
    #[command(flatten)]
    new_keys: NewKeyArgs,
    #[command(flatten)]
    stage: StageArgs,
}

#[derive(Subcommand)]
enum ReleaseCommand {
    /// Add a firmware image as target PRODUCT/FILE with signed release fields.
    Add(ReleaseAdd),
    /// Withdraw a release: it is no longer offered; the signed support history records it.
    Withdraw {
        repo: PathBuf,
        product: String,
        version: semver::Version,
        #[arg(long)]
        reason: Option<String>,
        /// Withdraw a security release inside its retention period (needs --reason).
        #[arg(long)]
        force: bool,
        /// Years a security release must stay available.
        #[arg(long, default_value_t = 10)]
        retention_years: i16,
    },
}

#[derive(Subcommand)]
enum SupportCommand {
    /// Extend the support period (never shorten); recorded with date and reason.
    Extend {
        repo: PathBuf,
        product: String,
        /// New last day of security updates.
        #[arg(long)]
        security_until: jiff::civil::Date,
        /// New last day of feature updates.
        #[arg(long)]
        feature_until: Option<jiff::civil::Date>,
        /// Why (kept in the signed history).
        #[arg(long)]
        reason: String,
    },
    /// Raise the security floor: versions below it are revoked (never lowered).
    SetFloor {
        repo: PathBuf,
        product: String,
        floor: u64,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Show the support record and its history.
    Show { repo: PathBuf, product: String },
}

#[derive(Args)]
struct ReleaseAdd {
    repo: PathBuf,
    product: String,
    /// The firmware image.
    #[arg(required_unless_present = "from_dir")]
    file: Option<PathBuf>,
    /// Add every file in DIR (hidden files skipped) in one signing step; each file's version
    /// comes from its name, NAME-VERSION.EXT (e.g. acme-cam-1.4.0.bin, fw-2.0.0-rc.1.img); the
    /// other release fields apply to all of them.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["file", "version", "name"])]
    from_dir: Option<PathBuf>,
    /// With --from-dir: hard-link the files into the repository instead of copying them
    /// (much faster for many files; the build must not change them in place afterwards).
    #[arg(long, requires = "from_dir")]
    link: bool,
    /// Semantic version of the firmware.
    #[arg(long, required_unless_present = "from_dir")]
    version: Option<semver::Version>,
    /// Anti-rollback counter.
    #[arg(long)]
    security_version: u64,
    /// security, feature or sunset.
    #[arg(long)]
    kind: ReleaseKind,
    /// Lowest installed version this image may be applied over.
    #[arg(long)]
    requires: Option<semver::Version>,
    /// Release time (RFC 3339; default now).
    #[arg(long)]
    released: Option<jiff::Timestamp>,
    /// Target file name (default: the image's file name).
    #[arg(long)]
    name: Option<String>,
    /// A vulnerability this release fixes: ID:SEVERITY:SUMMARY (repeatable), e.g.
    /// "CVE-2026-1234:high:RTSP parser overflow".
    #[arg(long = "advisory")]
    advisories: Vec<airlock_core::release::Advisory>,
}

fn print<T: serde::Serialize>(json: bool, value: &T, text: impl FnOnce() -> String) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        print!("{}", text());
    }
    Ok(())
}

async fn run(cli: Cli) -> Result<()> {
    let json = cli.json;
    let source = match (cli.passphrase_env, cli.passphrase_file) {
        (Some(name), _) => PassphraseSource::Env(name),
        (None, Some(file)) => PassphraseSource::File(file),
        (None, None) => PassphraseSource::Default,
    };
    let access = KeyAccess::new(source, false);
    // Every repository of this command reaches its keys the same way.
    let open = |dir: &std::path::Path| -> Result<Repo> {
        Ok(Repo::open(dir)?.with_key_access(access.clone()))
    };
    let encrypting = |new_keys: &NewKeyArgs| KeyAccess {
        encrypt_new: new_keys.encrypt_keys,
        ..access.clone()
    };
    match cli.command {
        Command::Init {
            repo,
            online_key,
            root_threshold,
            root_keys,
            targets_threshold,
            targets_keys,
            expiry_days,
            root_tokens,
            targets_tokens,
            new_keys,
        } => {
            let report = init::init_with(
                &init::InitOptions {
                    dir: repo,
                    online_key_file: online_key,
                    root_threshold,
                    root_keys,
                    targets_threshold,
                    targets_keys,
                    expiry_days,
                },
                &init::InitKeys {
                    access: encrypting(&new_keys),
                    root_tokens,
                    targets_tokens,
                },
            )
            .await?;
            print(json, &report, || {
                let mut s = format!(
                    "initialised {} (root v1, threshold {}/{}; snapshot+timestamp by online key {})\n",
                    report.repo.display(),
                    report.root_threshold,
                    report.keys.iter().filter(|k| k.role == "root").count(),
                    report.online_key_id
                );
                for k in &report.keys {
                    s += &format!("  {:<8} key {}  {}", k.role, k.key_id, k.path.display());
                    if k.held_in != "file" {
                        s += &format!(" -> {}", k.held_in);
                    }
                    s += "\n";
                }
                s
            })
        }
        Command::Product {
            command: ProductCommand::Add(a),
        } => {
            let repo = open(&a.repo)?.with_key_access(encrypting(&a.new_keys));
            let report = product::add_with_keys(
                &repo,
                &product::ProductOptions {
                    id: a.product,
                    support_start: a.support_start,
                    feature_until: a.feature_until,
                    security_until: a.security_until,
                    min_security_version: a.min_security_version,
                    notice_url: a.notice_url,
                    statement: a.statement,
                    successor: a.successor,
                    security_contact: a.security_contact,
                    disclosure_policy: a.disclosure_policy,
                    updatable: !a.not_updatable,
                    rationale: a.rationale,
                    keys: a.keys,
                    threshold: a.threshold,
                },
                &a.tokens,
                a.stage.stage,
            )
            .await?;
            print(json, &report, || {
                format!(
                    "added product {} (role key {}, {}); features until {}, security until {}\n",
                    report.product,
                    report.key_id,
                    report.key_path.display(),
                    report.support.feature_updates_until,
                    report.support.security_updates_until
                ) + &report.targets.next_step(&repo)
            })
        }
        Command::Release {
            command:
                ReleaseCommand::Withdraw {
                    repo,
                    product,
                    version,
                    reason,
                    force,
                    retention_years,
                },
        } => {
            let repo = open(&repo)?;
            let name = support::withdraw(
                &repo,
                &product,
                &version,
                reason.as_deref(),
                force,
                retention_years,
            )
            .await?;
            print(json, &serde_json::json!({"withdrawn": name}), || {
                format!("withdrew {name}; it is no longer offered once published\n")
            })
        }
        Command::Product {
            command:
                ProductCommand::RotateKey {
                    repo,
                    product,
                    key,
                    new_keys,
                    stage,
                },
        } => {
            let repo = open(&repo)?.with_key_access(encrypting(&new_keys));
            let r = product::rotate_key_to(&repo, &product, key.as_ref(), stage.stage).await?;
            print(json, &r, || {
                format!(
                    "{}: new key {}; revoked {}; targets v{}, role v{}\n",
                    r.product,
                    r.new_key_id,
                    r.revoked_key_ids.join(", "),
                    r.targets_version,
                    r.role_version
                ) + &r.targets.next_step(&repo)
            })
        }
        Command::Product {
            command:
                ProductCommand::Remove {
                    repo,
                    product,
                    retention_years,
                    stage,
                },
        } => {
            let repo = open(&repo)?;
            let r = product::remove(&repo, &product, stage.stage, retention_years).await?;
            print(json, &r, || {
                format!(
                    "{}: removed ({} release(s)); targets v{}{}\n",
                    r.product,
                    r.releases,
                    r.targets_version,
                    r.archived
                        .as_ref()
                        .map(|d| format!("; role, files and keys kept in {}", d.display()))
                        .unwrap_or_default()
                ) + &r.targets.next_step(&repo)
            })
        }
        Command::Targets {
            command: TargetsCommand::Discard { repo },
        } => {
            let repo = open(&repo)?;
            let r = airlock_signer::targets::discard(&repo)?;
            print(json, &r, || {
                let mut s = format!("discarded the staged targets v{}\n", r.discarded_version);
                for c in &r.changes {
                    s += &format!("  {c}\n");
                }
                if !r.dropped_products.is_empty() {
                    s += &format!(
                        "products not added: {} (files and keys kept in {})\n",
                        r.dropped_products.join(", "),
                        repo.dir.join("removed").display()
                    );
                }
                if !r.restored_keys.is_empty() {
                    s += &format!(
                        "delegated keys brought back from keys/retired/: {}\n",
                        r.restored_keys.join(", ")
                    );
                }
                s
            })
        }
        Command::Root {
            command:
                RootCommand::Rotate {
                    repo,
                    root_keys,
                    root_threshold,
                    rotate_targets,
                    online_key,
                    root_tokens,
                    new_keys,
                },
        } => {
            let repo = open(&repo)?.with_key_access(encrypting(&new_keys));
            let r = airlock_signer::root::rotate(
                &repo,
                &airlock_signer::root::RotateOptions {
                    root_keys,
                    root_threshold,
                    rotate_targets,
                    online_key,
                    root_tokens,
                },
            )
            .await?;
            print(json, &r, || {
                format!(
                    "root v{} with {} new key(s), threshold {}; retired {}{}\n",
                    r.root_version,
                    r.root_key_ids.len(),
                    r.root_threshold,
                    r.retired_key_ids.len(),
                    r.targets_version
                        .map(|v| format!("; new targets key, targets v{v}"))
                        .unwrap_or_default()
                )
            })
        }
        Command::Compliance {
            command:
                ComplianceCommand::Report {
                    product,
                    repo,
                    format,
                    jurisdiction,
                    server,
                    admin_token_file,
                    evidence,
                    out,
                },
        } => {
            use airlock_signer::compliance::{self, evidence, fleet};
            if !["md", "html", "json", "pdf"].contains(&format.as_str()) {
                anyhow::bail!("unsupported format {format:?} ({})", compliance::FORMATS);
            }
            compliance::check_jurisdiction(&jurisdiction)?;
            let repo = open(&repo)?;
            let fleet = match (server, admin_token_file) {
                (Some(server), Some(token_file)) => {
                    let token = publish::read_token(&token_file)?;
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
            let evidence = evidence.as_deref().map(evidence::read_dir).transpose()?;
            let report = compliance::build(
                &repo,
                &product,
                compliance::Sources {
                    jurisdiction,
                    fleet,
                    evidence,
                    now: jiff::Timestamp::now(),
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
        Command::Compliance {
            command: ComplianceCommand::Verify { file, root, sig },
        } => {
            let sig = sig.unwrap_or_else(|| {
                let mut name = file.clone().into_os_string();
                name.push(".sig");
                PathBuf::from(name)
            });
            let read =
                |p: &PathBuf| std::fs::read(p).with_context(|| format!("reading {}", p.display()));
            let keyid =
                airlock_signer::compliance::verify(&read(&root)?, &read(&file)?, &read(&sig)?)
                    .with_context(|| format!("verifying {}", file.display()))?;
            println!(
                "{}: signature by targets key {keyid} verified",
                file.display()
            );
            Ok(())
        }
        Command::Compliance {
            command:
                ComplianceCommand::Statement {
                    product,
                    repo,
                    regime,
                    manufacturer,
                    address,
                    batch,
                    signatory,
                    signatory_function,
                    place,
                    date,
                    format,
                    out,
                },
        } => {
            use airlock_signer::compliance::{self, document, pdf, statement};
            if !["md", "html", "json", "pdf"].contains(&format.as_str()) {
                anyhow::bail!("unsupported format {format:?} ({})", compliance::FORMATS);
            }
            let regime: statement::Regime = regime.parse()?;
            let repo = open(&repo)?;
            let now = jiff::Timestamp::now();
            let st = statement::build(
                &repo,
                &product,
                regime,
                &statement::Declarant {
                    manufacturer,
                    address,
                    batch,
                    signatory,
                    signatory_function,
                    place,
                    date: date.unwrap_or_else(|| airlock_core::support::utc_date(now)),
                },
                now,
            )?;
            for gap in &st.gaps {
                eprintln!("warning: {gap}");
            }
            let doc = statement::document(&st);
            let bytes = match format.as_str() {
                "md" => document::markdown(&doc).into_bytes(),
                "html" => document::html(&doc).into_bytes(),
                "pdf" => pdf::render(
                    &doc,
                    &format!("{product}: statement of compliance, {}", st.date_of_issue),
                    st.generated_at,
                )?,
                _ => (serde_json::to_string_pretty(&st)? + "\n").into_bytes(),
            };
            write_signed(&repo, out.as_deref(), &bytes, format == "pdf")
        }
        Command::Root {
            command:
                RootCommand::Propose {
                    repo,
                    root_keys,
                    root_threshold,
                    out,
                    keys_out,
                    new_keys,
                },
        } => {
            let repo = open(&repo)?.with_key_access(encrypting(&new_keys));
            let keys_dir = keys_out.unwrap_or_else(|| out.with_extension("keys"));
            let r = airlock_signer::proposal::propose(
                &repo,
                root_keys,
                root_threshold,
                &out,
                &keys_dir,
            )?;
            print(json, &r, || {
                let mut s = format!(
                    "proposed root v{} (threshold {}) in {}; new holders' keys:\n",
                    r.root_version,
                    r.threshold,
                    r.proposal.display()
                );
                for (id, path) in &r.new_keys {
                    s += &format!("  {id}  {}\n", path.display());
                }
                s
            })
        }
        Command::Root {
            command: RootCommand::Apply { repo, proposal },
        } => {
            let repo = open(&repo)?;
            let v = airlock_signer::proposal::apply(&repo, &proposal)?;
            print(json, &serde_json::json!({"root_version": v}), || {
                format!("root v{v} accepted; publish to send it to the server\n")
            })
        }
        Command::Sign { proposal, key } => {
            let r = airlock_signer::proposal::sign(&proposal, &key, &access)?;
            print(json, &r, || {
                format!(
                    "signed {} ({} v{}) with {} ({} signature(s) now)\n",
                    proposal.display(),
                    r.role,
                    r.version,
                    r.key_id,
                    r.signatures
                )
            })
        }
        Command::Targets {
            command: TargetsCommand::Propose { repo, out },
        } => {
            let repo = open(&repo)?;
            let r = airlock_signer::targets::propose(&repo, out.as_deref())?;
            print(json, &r, || {
                let mut s = format!(
                    "proposed targets v{} (expires {}) in {}; needs {} signature(s) by targets keys, {} so far\n",
                    r.targets_version,
                    r.expires,
                    r.proposal.display(),
                    r.threshold,
                    r.signed_by.len()
                );
                for c in &r.changes {
                    s += &format!("  {c}\n");
                }
                s += &format!(
                    "each holder: airlock sign {} --key TARGETS_KEY; then: airlock targets apply {} {}\n",
                    r.proposal.display(),
                    repo.dir.display(),
                    r.proposal.display()
                );
                s
            })
        }
        Command::Targets {
            command: TargetsCommand::Apply { repo, proposal },
        } => {
            let repo = open(&repo)?;
            let r = airlock_signer::targets::apply(&repo, &proposal)?;
            print(json, &r, || {
                format!(
                    "targets v{} accepted ({} of {} signatures){}; publish to send it to the server\n",
                    r.targets_version,
                    r.valid_signatures,
                    r.threshold,
                    if r.roles.is_empty() {
                        String::new()
                    } else {
                        format!(" with the roles of {}", r.roles.join(", "))
                    }
                ) + &if r.removed.is_empty() {
                    String::new()
                } else {
                    format!("removed products: {} (kept in {})\n", r.removed.join(", "), repo.dir.join("removed").display())
                }
            })
        }
        Command::Support { command } => {
            let record = match command {
                SupportCommand::Extend {
                    repo,
                    product,
                    security_until,
                    feature_until,
                    reason,
                } => {
                    let repo = open(&repo)?;
                    support::extend(&repo, &product, security_until, feature_until, &reason).await?
                }
                SupportCommand::SetFloor {
                    repo,
                    product,
                    floor,
                    reason,
                } => {
                    let repo = open(&repo)?;
                    support::set_floor(&repo, &product, floor, reason.as_deref()).await?
                }
                SupportCommand::Show { repo, product } => {
                    let repo = open(&repo)?;
                    support::show(&repo, &product)?
                }
            };
            print(json, &record, || support::render(&record))
        }
        Command::Release {
            command:
                ReleaseCommand::Add(ReleaseAdd {
                    from_dir: Some(dir),
                    repo,
                    product,
                    security_version,
                    kind,
                    requires,
                    released,
                    advisories,
                    link,
                    ..
                }),
        } => {
            let repo = open(&repo)?;
            let report = airlock_signer::release_dir::add_dir(
                &repo,
                &airlock_signer::release_dir::DirOptions {
                    product,
                    dir,
                    security_version,
                    kind,
                    requires,
                    released,
                    advisories,
                    progress: !json && std::io::IsTerminal::is_terminal(&std::io::stderr()),
                    link,
                },
            )
            .await?;
            print(json, &report, || {
                let mut s = format!(
                    "released {} file(s) of {} ({} bytes); role v{}\n",
                    report.releases.len(),
                    report.product,
                    report.bytes,
                    report.role_version
                );
                for r in report.releases.iter().take(20) {
                    s += &format!(
                        "  {} {} ({} bytes, sha256 {})\n",
                        r.target, r.version, r.length, r.sha256
                    );
                }
                if report.releases.len() > 20 {
                    s += &format!(
                        "  ... and {} more (--json lists all)\n",
                        report.releases.len() - 20
                    );
                }
                s
            })
        }
        Command::Release {
            command: ReleaseCommand::Add(a),
        } => {
            let repo = open(&a.repo)?;
            let report = release::add(
                &repo,
                &release::ReleaseOptions {
                    product: a.product,
                    file: a.file.context("the firmware file is required")?,
                    name: a.name,
                    version: a.version.context("--version is required")?,
                    security_version: a.security_version,
                    kind: a.kind,
                    requires: a.requires,
                    released: a.released,
                    advisories: a.advisories,
                },
            )
            .await?;
            print(json, &report, || {
                format!(
                    "released {} {} ({}, security_version {}, {} bytes, sha256 {}); role v{}\n",
                    report.target,
                    report.info.version,
                    report.info.kind,
                    report.info.security_version,
                    report.length,
                    report.sha256,
                    report.role_version
                )
            })
        }
        Command::Publish {
            repo,
            out: Some(out),
            online_key_file,
            timestamp_hours,
            snapshot_hours,
            ..
        } => {
            let repo = open(&repo)?;
            let online_key_file = online_key_file.context("--out needs --online-key-file")?;
            let report = airlock_signer::export::export(
                &repo,
                &airlock_signer::export::ExportOptions {
                    out,
                    online_key_file,
                    timestamp_lifetime: jiff::SignedDuration::from_hours(timestamp_hours.max(1)),
                    snapshot_lifetime: jiff::SignedDuration::from_hours(snapshot_hours.max(1)),
                },
            )
            .await?;
            print(json, &report, || {
                format!(
                    "wrote {}: root v{}, targets v{}, snapshot v{}, timestamp v{}; {} target(s)\n",
                    report.out.display(),
                    report.root_version,
                    report.targets_version,
                    report.snapshot_version,
                    report.timestamp_version,
                    report.targets
                )
            })
        }
        Command::Verify {
            source,
            trusted_root,
        } => {
            let report = if std::path::Path::new(&source).join("airlock.json").is_file() {
                airlock_signer::verify::verify_local(&Repo::open(std::path::Path::new(&source))?)?
            } else {
                let (url, default_root) = if source.starts_with("http://")
                    || source.starts_with("https://")
                {
                    let mut u =
                        url::Url::parse(&source).with_context(|| format!("parsing {source}"))?;
                    if !u.path().ends_with('/') {
                        u.set_path(&format!("{}/", u.path()));
                    }
                    if !u.path().ends_with("/tuf/") {
                        u = u.join("tuf/").context("building the repository URL")?;
                    }
                    (u, None)
                } else {
                    let dir = match source.strip_prefix("file://") {
                        Some(_) => url::Url::parse(&source)
                            .ok()
                            .and_then(|u| u.to_file_path().ok())
                            .with_context(|| format!("{source} is not a usable file:// URL"))?,
                        None => std::path::absolute(&source)
                            .with_context(|| format!("resolving {source}"))?,
                    };
                    if !dir.join("metadata").is_dir() {
                        anyhow::bail!("{source} is neither an airlock repository, a static repository (metadata/) nor a URL");
                    }
                    let u = url::Url::from_directory_path(&dir)
                        .map_err(|_| anyhow::anyhow!("{source} is not a usable directory path"))?;
                    (u, Some(dir.join("metadata/1.root.json")))
                };
                let root_path = trusted_root
                    .or(default_root)
                    .context("--trusted-root is required for a URL")?;
                let root = std::fs::read(&root_path)
                    .with_context(|| format!("reading the trusted root {}", root_path.display()))?;
                airlock_signer::verify::verify_url(&url, &root).await?
            };
            print(json, &report, || airlock_signer::verify::render(&report))?;
            if !report.problems.is_empty() {
                return Err(ExitWith(1).into());
            }
            Ok(())
        }
        Command::Publish {
            repo,
            server,
            admin_token_file,
            hold,
            ..
        } => {
            let repo = open(&repo)?;
            let server = server.context("--server is required (or --out)")?;
            let admin_token_file =
                admin_token_file.context("--admin-token-file is required with --server")?;
            let token = publish::read_token(&admin_token_file)?;
            let report = publish::publish(
                &repo,
                &publish::PublishOptions {
                    server,
                    admin_token: token,
                    hold,
                    progress: !json && std::io::IsTerminal::is_terminal(&std::io::stderr()),
                },
            )
            .await?;
            print(json, &report, || {
                format!(
                    "published: root v{}, targets v{}, snapshot v{}, timestamp v{}; {} product(s), {} target(s); changed: {}\n",
                    report.root_version,
                    report.targets_version,
                    report.snapshot_version,
                    report.timestamp_version,
                    report.products.len(),
                    report.targets,
                    if report.changed.is_empty() { "nothing".to_string() } else { report.changed.join(", ") }
                ) + &if report.held.is_empty() { String::new() } else { format!("held until a rollout starts: {}\n", report.held.join(", ")) }
            })
        }
        Command::Status {
            repo,
            check,
            within,
        } => {
            let repo = open(&repo)?;
            let s = status::status(&repo)?;
            if !check {
                return print(json, &s, || status::render(&s));
            }
            let horizon = status::parse_horizon(&within)?;
            let soon = status::expiring(&s, jiff::Timestamp::now(), horizon);
            print(
                json,
                &serde_json::json!({"within": within, "expiring": soon}),
                || {
                    if soon.is_empty() {
                        format!("nothing expires within {within}\n")
                    } else {
                        soon.iter()
                            .map(|e| {
                                format!(
                                    "{} v{} expires {}: re-sign it\n",
                                    e.role, e.version, e.expires
                                )
                            })
                            .collect()
                    }
                },
            )?;
            if !soon.is_empty() {
                return Err(ExitWith(2).into());
            }
            Ok(())
        }
        Command::Rollout { command } => {
            let (target, action) = match command {
                RolloutCommand::Start {
                    target,
                    waves,
                    pause_if,
                } => {
                    let client = AdminClient::new(
                        target.server.clone(),
                        publish::read_token(&target.admin_token_file)?,
                    )?;
                    let s = client
                        .start(&airlock_core::api::RolloutRequest {
                            product: target.product,
                            version: target.version,
                            waves,
                            pause_if,
                            id: None,
                        })
                        .await?;
                    return print(json, &s, || rollout::render(&s));
                }
                RolloutCommand::Status { target } => (target, None),
                RolloutCommand::Pause { target, reason } => (target, Some(("pause", reason))),
                RolloutCommand::Resume { target, reason } => (target, Some(("resume", reason))),
                RolloutCommand::Abort { target, reason } => (target, Some(("abort", reason))),
            };
            let client = AdminClient::new(
                target.server.clone(),
                publish::read_token(&target.admin_token_file)?,
            )?;
            let s = match action {
                None => client.status(&target.product, &target.version).await?,
                Some((action, reason)) => {
                    client
                        .act(&target.product, &target.version, action, reason)
                        .await?
                }
            };
            print(json, &s, || rollout::render(&s))
        }
    }
}

/// An error that only sets the exit code (the output was already printed).
#[derive(Debug)]
struct ExitWith(u8);

impl std::fmt::Display for ExitWith {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}", self.0)
    }
}

impl std::error::Error for ExitWith {}

/// See signer/Cargo.toml: measured faster than glibc's allocator for large repositories.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    if let Err(e) = airlock_cli::apply_config_file::<Cli>() {
        eprintln!("error: {e:#}");
        return std::process::ExitCode::FAILURE;
    }
    let cli = Cli::parse();
    airlock_cli::init_logging("warn");
    let runtime = match airlock_cli::runtime(None) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)).context("airlock") {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) if e.chain().any(|c| c.is::<ExitWith>()) => {
            let code = e
                .chain()
                .find_map(|c| c.downcast_ref::<ExitWith>())
                .map(|x| x.0)
                .unwrap_or(1);
            std::process::ExitCode::from(code)
        }
        Err(e) => {
            // One line: what was being done, and why it failed.
            let chain: Vec<String> = e.chain().skip(1).map(|c| c.to_string()).collect();
            eprintln!("error: {}", chain.join(": "));
            std::process::ExitCode::FAILURE
        }
    }
}
