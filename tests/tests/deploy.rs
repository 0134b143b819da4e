//! deploy/: the files are checked with the tools made for them. The systemd unit passes
//! `systemd-analyze verify` and rates "OK" or better in `systemd-analyze security
//! --offline=true`; its example environment file names only variables airlock-server reads.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use airlock_e2e::{bin, ok, skip, workspace_root};
use std::process::Command;

fn unit_text() -> String {
    std::fs::read_to_string(workspace_root().join("deploy/systemd/airlock-server.service"))
        .expect("deploy/systemd/airlock-server.service")
}

/// The unit as installed, its binary path pointing at the binary built here (verify checks
/// that every command exists).
fn installed_unit(dir: &std::path::Path) -> std::path::PathBuf {
    let text = unit_text().replace(
        "/usr/local/bin/airlock-server",
        &bin("airlock-server").display().to_string(),
    );
    let path = dir.join("airlock-server.service");
    std::fs::write(&path, text).unwrap();
    path
}

fn systemd_analyze() -> bool {
    let found = Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        skip(
            "deploy: systemd unit checks",
            "systemd-analyze is missing (Debian package systemd)",
        );
    }
    found
}

#[test]
fn the_systemd_unit_verifies_and_is_hardened() {
    if !systemd_analyze() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let unit = installed_unit(dir.path());
    // --man=no: the Documentation= man page exists once `airlock-server man` installed it.
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&unit)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "systemd-analyze verify: {stderr}"
    );
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&unit)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no exposure level in:\n{text}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words
        .iter()
        .position(|w| w.ends_with(".service:"))
        .expect("the unit's name");
    let (score, level) = (words[at + 1], words[at + 2]);
    let score: f64 = score.parse().unwrap();
    assert!(
        matches!(level, "SAFE" | "OK") && score <= 2.0,
        "exposure {score} {level}: harden the unit\n{text}"
    );
}

#[test]
fn the_environment_file_names_only_variables_the_server_reads() {
    let env = std::fs::read_to_string(workspace_root().join("deploy/systemd/airlock-server.env"))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let help = ok(dir.path(), "airlock-server", &["serve", "--help"]);
    let mut names: Vec<&str> = env
        .lines()
        .map(|l| l.trim_start_matches('#').trim())
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
        .filter(|k| k.starts_with("AIRLOCK_") || k.starts_with("AWS_"))
        .collect();
    // and the ones the unit sets
    let unit = unit_text();
    names.extend(
        unit.lines()
            .filter_map(|l| l.strip_prefix("Environment="))
            .filter_map(|l| l.split_once('=').map(|(k, _)| k)),
    );
    assert!(names.len() >= 8, "{names:?}");
    for name in names {
        assert!(
            help.contains(&format!("env: {name}")) || help.contains(&format!("env: {name}=")),
            "{name} is not a variable of airlock-server serve"
        );
    }
}

// ---- deploy/docker and deploy/kubernetes -------------------------------------------------
//
// Checked with the tools made for each, from .venv-deploy (scripts/test makes it):
// kubernetes-validate (every manifest, and the rendered base and overlay), checkov (the
// Dockerfile, the kustomize base and overlay, and a secrets scan of deploy/; one run),
// check-jsonschema with the Compose Specification's schema it ships (compose.yaml), and
// `haproxy -c` (the balancer's configuration). `kubectl kustomize` renders the overlay.

/// A tool of .venv-deploy (kubernetes-validate, checkov, check-jsonschema, python), or a loud
/// skip naming what makes it.
fn deploy_tool(test: &str, name: &str) -> Option<std::path::PathBuf> {
    let path = workspace_root().join(".venv-deploy/bin").join(name);
    if path.is_file() {
        return Some(path);
    }
    skip(
        test,
        &format!(
            "{} is missing (scripts/test makes .venv-deploy from tests/deploy-requirements.txt)",
            path.display()
        ),
    );
    None
}

fn output_text(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
}

/// YAML documents as JSON, read by PyYAML (in .venv-deploy: checkov needs it anyway).
fn yaml_documents(python: &std::path::Path, text: &str) -> Vec<serde_json::Value> {
    use std::io::Write;
    let mut child = Command::new(python)
        .args([
            "-c",
            "import sys, json, yaml; print(json.dumps([d for d in yaml.safe_load_all(sys.stdin) if d is not None]))",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "PyYAML could not read the YAML");
    serde_json::from_slice(&out.stdout).unwrap()
}

fn kustomize(dir: &str) -> String {
    let out = Command::new("kubectl")
        .args(["kustomize"])
        .arg(workspace_root().join(dir))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubectl kustomize {dir}: {}",
        output_text(&out)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn kubectl_found(test: &str) -> bool {
    let found = Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        skip(
            test,
            "kubectl is missing (it renders the kustomize overlay; Debian/apt package kubectl)",
        );
    }
    found
}

/// The cargo command's selection of packages and features: what decides which binaries are
/// built and with which features. The subcommand and its output flags (`--no-run`), the
/// profile (`--release`), `--locked`, `--bins` and the pass-through `"$@"` do not change that.
fn cargo_selection(line: &str) -> Vec<String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words
        .iter()
        .position(|w| *w == "cargo")
        .unwrap_or_else(|| panic!("no cargo in {line:?}"));
    let mut selection: Vec<String> = words[at + 2..]
        .iter()
        .take_while(|w| !matches!(**w, "&&" | "\\" | "||" | ";"))
        .filter(|w| {
            !matches!(
                **w,
                "--no-run" | "--release" | "--locked" | "--bins" | "\"$@\""
            )
        })
        .map(|w| w.to_string())
        .collect();
    selection.sort();
    selection
}

#[test]
fn the_image_is_built_as_ci_builds() {
    let dockerfile =
        std::fs::read_to_string(workspace_root().join("deploy/docker/Dockerfile")).unwrap();
    let script = std::fs::read_to_string(workspace_root().join("scripts/test")).unwrap();
    let image_build: Vec<&str> = dockerfile
        .lines()
        .filter(|l| l.trim_start().starts_with("RUN cargo "))
        .collect();
    let ci_build: Vec<&str> = script
        .lines()
        .filter(|l| {
            l.trim_start()
                .starts_with("cargo test --workspace --no-run")
        })
        .collect();
    assert_eq!(image_build.len(), 1, "one cargo build in the Dockerfile");
    assert_eq!(ci_build.len(), 1, "one build step in scripts/test");
    assert!(image_build[0].contains("--release") && image_build[0].contains("--locked"));
    assert_eq!(
        cargo_selection(image_build[0]),
        cargo_selection(ci_build[0]),
        "the Dockerfile builds other packages or features than CI tests:\n  {}\n  {}",
        image_build[0],
        ci_build[0]
    );
    // the build stage's toolchain is the one CI uses
    let rustc = Command::new("rustc").arg("--version").output().unwrap();
    let version = String::from_utf8_lossy(&rustc.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string();
    let from = dockerfile
        .lines()
        .find(|l| l.starts_with("FROM rust:"))
        .expect("a build stage from the official rust image");
    assert!(
        from.starts_with(&format!("FROM rust:{version}-")),
        "{from}: CI builds with rustc {version}"
    );
    // every runtime stage runs as a numeric non-root user; the server's has a health check
    // that needs no shell (`airlock-server healthcheck`) and no migrations at start
    let stages: Vec<&str> = dockerfile.split("\nFROM ").skip(1).collect();
    for stage in stages.iter().filter(|s| !s.contains(" AS build")) {
        let user = stage
            .lines()
            .filter_map(|l| l.strip_prefix("USER "))
            .next_back()
            .unwrap_or_else(|| panic!("no USER in stage {}", stage.lines().next().unwrap()));
        let uid: u32 = user
            .split(':')
            .next()
            .unwrap()
            .parse()
            .expect("numeric uid");
        assert!(uid >= 10000, "uid {uid}");
    }
    let server = stages.iter().find(|s| s.contains(" AS server")).unwrap();
    assert!(server.contains("CMD [\"/usr/local/bin/airlock-server\", \"healthcheck\""));
    assert!(server.contains("CMD [\"serve\", \"--no-migrate\"]"));
}

#[test]
fn the_healthcheck_command_answers_as_docker_expects() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, "airlock-server", &["init", "--data", "srv"]);
    let server = airlock_e2e::Server::start(dir);
    let healthz = format!("{}/healthz", server.url);
    ok(dir, "airlock-server", &["healthcheck", "--url", &healthz]);
    // Docker reads 1 as unhealthy (other codes are reserved there): a 404 and a closed port
    for url in [
        format!("{}/no-such-page", server.url),
        format!("http://127.0.0.1:{}/healthz", airlock_e2e::free_port()),
    ] {
        let out = airlock_e2e::run(dir, "airlock-server", &["healthcheck", "--url", &url]);
        assert_eq!(out.status.code(), Some(1), "{url}: {}", output_text(&out));
        assert!(output_text(&out).contains("unhealthy"));
    }
}

/// Each setting the deploy files give airlock-server (the TOML files, AIRLOCK_* and AWS_*
/// variables, the commands) is one it reads: the config file is applied before anything runs,
/// so `healthcheck` against a closed port fails with 1 (unhealthy), not with a config error.
#[test]
fn the_deploy_files_give_the_server_only_settings_it_reads() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let closed = format!("http://127.0.0.1:{}/healthz", airlock_e2e::free_port());
    for toml in [
        "deploy/kubernetes/base/server.toml",
        "deploy/kubernetes/overlays/example/server.toml",
    ] {
        let out = Command::new(bin("airlock-server"))
            .args(["--config"])
            .arg(workspace_root().join(toml))
            .args(["healthcheck", "--url", &closed])
            .current_dir(dir)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{toml}: {}", output_text(&out));
        assert!(
            output_text(&out).contains("unhealthy"),
            "{toml}: {}",
            output_text(&out)
        );
        // and `serve` parses every value (a malformed one is a usage error, exit 2); it then
        // stops at the missing online key, before any store is opened
        let out = Command::new(bin("airlock-server"))
            .args(["--config"])
            .arg(workspace_root().join(toml))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--online-key-dir",
                "no-keys",
            ])
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            !out.status.success() && output_text(&out).contains("holds no online key"),
            "{toml}: {}",
            output_text(&out)
        );
    }
    let mut help = String::new();
    for sub in ["serve", "init", "healthcheck"] {
        help += &ok(dir, "airlock-server", &[sub, "--help"]);
    }
    help += &ok(dir, "airlock-sim", &["soak", "--help"]);
    let mut text = String::new();
    for file in [
        "deploy/docker/compose.yaml",
        "deploy/docker/Dockerfile",
        "deploy/kubernetes/base/deployment.yaml",
        "deploy/kubernetes/base/migrate-job.yaml",
    ] {
        text += &std::fs::read_to_string(workspace_root().join(file)).unwrap();
    }
    let names: std::collections::BTreeSet<&str> = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("AIRLOCK_") || w.starts_with("AWS_"))
        // (the compose file's own substitutions, from deploy/docker/.env)
        .filter(|w| {
            !w.starts_with("AIRLOCK_S3_ACCESS_KEY") && !w.starts_with("AIRLOCK_S3_SECRET_KEY")
        })
        .collect();
    assert!(names.len() >= 10, "{names:?}");
    for name in names {
        assert!(
            help.contains(&format!("env: {name}"))
                || help.contains(&format!("env: {name}="))
                || matches!(
                    name,
                    "AIRLOCK_LOG_FORMAT" | "AWS_ACCESS_KEY_ID" | "AWS_SECRET_ACCESS_KEY"
                ),
            "{name} is not a variable airlock-server or airlock-sim reads"
        );
    }
}

/// The replicas (Compose, Kubernetes, the image's default command) run `serve --no-migrate`,
/// and one step runs `airlock-server migrate` before them: both exist.
#[test]
fn the_migrations_step_and_the_replicas_use_commands_that_exist() {
    let tmp = tempfile::tempdir().unwrap();
    ok(tmp.path(), "airlock-server", &["migrate", "--help"]);
    let help = ok(tmp.path(), "airlock-server", &["serve", "--help"]);
    assert!(help.contains("--no-migrate"), "{help}");
}

#[test]
fn the_compose_file_follows_the_compose_specification() {
    let test = "deploy: compose.yaml against the Compose Specification";
    let (Some(check), Some(python)) = (
        deploy_tool(test, "check-jsonschema"),
        deploy_tool(test, "python"),
    ) else {
        return;
    };
    let compose_path = workspace_root().join("deploy/docker/compose.yaml");
    let out = Command::new(&check)
        .args(["--builtin-schema", "vendor.compose-spec"])
        .arg(&compose_path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    // the schema is not vacuous: a misspelt key is refused
    let text = std::fs::read_to_string(&compose_path).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("compose.yaml");
    std::fs::write(&bad, text.replacen("read_only: true", "readonly: true", 1)).unwrap();
    let out = Command::new(&check)
        .args(["--builtin-schema", "vendor.compose-spec"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success(), "a misspelt key passed");

    // what the file promises (deploy/README.md)
    let compose = &yaml_documents(&python, &text)[0];
    let services = compose["services"].as_object().unwrap();
    let secrets = compose["secrets"].as_object().unwrap();
    for (name, service) in services {
        assert_eq!(
            service["read_only"], true,
            "{name}: read-only root file system"
        );
        if let Some(list) = service["secrets"].as_array() {
            for secret in list {
                let source = secret.as_str().or(secret["source"].as_str()).unwrap();
                assert!(secrets.contains_key(source), "{name}: secret {source}");
            }
        }
        if !matches!(name.as_str(), "bucket" | "migrate" | "publisher" | "fleet") {
            assert!(
                service["healthcheck"]["test"].is_array(),
                "{name}: a healthcheck"
            );
        }
    }
    for replica in ["server-1", "server-2"] {
        let s = &services[replica];
        assert_eq!(s["command"], serde_json::json!(["serve", "--no-migrate"]));
        assert_eq!(
            s["depends_on"]["migrate"]["condition"],
            "service_completed_successfully"
        );
        assert_eq!(
            s["environment"]["AIRLOCK_ONLINE_KEY_DIR"],
            "/run/secrets/airlock"
        );
        assert!(s["environment"]["AIRLOCK_ADMIN_TOKEN_FILE"].is_string());
    }
    assert_eq!(
        services["migrate"]["command"],
        serde_json::json!(["migrate"])
    );
    assert_eq!(
        services["fleet"]["depends_on"]["publisher"]["condition"],
        "service_completed_successfully"
    );
    for needed in ["online_key", "admin_token", "server_config"] {
        assert!(secrets.contains_key(needed), "{needed}");
    }
}

#[test]
fn the_balancer_configuration_is_valid() {
    let test = "deploy: haproxy -c on deploy/docker/haproxy.cfg";
    let found = Command::new("haproxy")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        skip(test, "haproxy is missing (Debian package haproxy)");
        return;
    }
    let out = Command::new("haproxy")
        .args(["-c", "-f"])
        .arg(workspace_root().join("deploy/docker/haproxy.cfg"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    // (the replicas' names resolve only inside Compose's network: warnings about them are fine)
    let text = output_text(&out);
    for line in text.lines().filter(|l| l.contains("[WARNING]")) {
        assert!(
            line.contains("could not resolve address 'server-"),
            "{line}"
        );
    }
}

/// The make-secrets script, with the airlock-server built here: every file the compose file
/// names, the online key one the server accepts, nothing readable outside the directory.
#[test]
fn make_secrets_makes_every_secret_the_compose_file_names() {
    let tmp = tempfile::tempdir().unwrap();
    let docker = tmp.path().join("docker");
    std::fs::create_dir_all(&docker).unwrap();
    std::fs::copy(
        workspace_root().join("deploy/docker/make-secrets"),
        docker.join("make-secrets"),
    )
    .unwrap();
    let out = Command::new("bash")
        .arg(docker.join("make-secrets"))
        .env("AIRLOCK_SERVER_BIN", bin("airlock-server"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    let compose =
        std::fs::read_to_string(workspace_root().join("deploy/docker/compose.yaml")).unwrap();
    let files: Vec<&str> = compose
        .lines()
        .filter_map(|l| l.trim().strip_prefix("file: ./"))
        .collect();
    assert_eq!(files.len(), 6, "{files:?}");
    for file in files {
        let path = docker.join(file);
        assert!(
            path.is_file() && std::fs::metadata(&path).unwrap().len() > 0,
            "{file}"
        );
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(docker.join("secrets"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
    let env = std::fs::read_to_string(docker.join(".env")).unwrap();
    assert!(env.contains("AIRLOCK_S3_SECRET_KEY=") && env.contains("AIRLOCK_S3_ACCESS_KEY="));
    // the key is a real online key: a server serves with it from the key directory
    let keys = tmp.path().join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    for key in ["online.key", "online.pub"] {
        std::fs::copy(docker.join("secrets").join(key), keys.join(key)).unwrap();
    }
    std::fs::create_dir_all(tmp.path().join("srv")).unwrap();
    let server =
        airlock_e2e::Server::start_with(tmp.path(), &["--online-key-dir", keys.to_str().unwrap()]);
    assert_eq!(server.get("/healthz").status(), 200);
    // a second run keeps what exists
    let before = std::fs::read(docker.join("secrets/admin.token")).unwrap();
    let out = Command::new("bash")
        .arg(docker.join("make-secrets"))
        .env("AIRLOCK_SERVER_BIN", bin("airlock-server"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    assert_eq!(
        std::fs::read(docker.join("secrets/admin.token")).unwrap(),
        before
    );
}

/// The demo image's two steps, run here against a real server that requires enrolment (the
/// image only adds the binaries on PATH and /demo): the publisher publishes and makes an
/// enrolment token, and the fleet enrols with it, verifies and installs.
#[test]
fn the_demo_publisher_and_fleet_run_against_a_server() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, "airlock-server", &["init", "--data", "srv"]);
    let server = airlock_e2e::Server::start_with(dir, &["--device-auth", "required"]);
    let demo = dir.join("demo");
    std::fs::create_dir_all(&demo).unwrap();
    let bin_dir = bin("airlock").parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let script = workspace_root().join("deploy/docker/demo.sh");
    let step = |what: &str| {
        let out = Command::new("bash")
            .arg(&script)
            .arg(what)
            .env("PATH", &path)
            .env("AIRLOCK_DEMO_DIR", &demo)
            .env("AIRLOCK_SERVER", &server.url)
            .env("AIRLOCK_ADMIN_TOKEN_FILE", dir.join("admin.token"))
            .env("AIRLOCK_ONLINE_PUB", dir.join("srv/online.pub"))
            .env("AIRLOCK_SIM_DEVICES", "5")
            .env("AIRLOCK_SIM_SECONDS", "4")
            .env("AIRLOCK_SIM_INTERVAL", "2")
            .env("AIRLOCK_SIM_WARM_UP", "1")
            .env("AIRLOCK_SIM_SAMPLE_EVERY", "1")
            .env("AIRLOCK_SIM_MAX_GROWTH", "100000")
            .env_remove("AIRLOCK_JSON")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "demo.sh {what}: {}",
            output_text(&out)
        );
    };
    step("publish");
    assert!(demo.join("enrol.token").is_file());
    step("fleet");
    let fleet: serde_json::Value = reqwest::blocking::Client::new()
        .get(format!("{}/v1/admin/products/acme-cam/fleet", server.url))
        .bearer_auth(airlock_e2e::admin_token(dir))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(fleet["devices"], 5, "{fleet}");
    assert_eq!(fleet["releases"][0]["devices_installed"], 5, "{fleet}");
}

#[test]
fn the_kubernetes_manifests_validate_and_keep_their_promises() {
    let test = "deploy: kubernetes-validate on deploy/kubernetes";
    if !kubectl_found(test) {
        return;
    }
    let (Some(validate), Some(python)) = (
        deploy_tool(test, "kubernetes-validate"),
        deploy_tool(test, "python"),
    ) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("base.yaml");
    let overlay = tmp.path().join("overlay.yaml");
    std::fs::write(&base, kustomize("deploy/kubernetes/base")).unwrap();
    let rendered = kustomize("deploy/kubernetes/overlays/example");
    std::fs::write(&overlay, &rendered).unwrap();
    // every manifest as written, and both as rendered
    let mut files = vec![base.clone(), overlay.clone()];
    for entry in std::fs::read_dir(workspace_root().join("deploy/kubernetes/base")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.ends_with(".yaml") && name != "kustomization.yaml" {
            files.push(path);
        }
    }
    assert!(files.len() >= 9, "{files:?}");
    let out = Command::new(&validate)
        .args(["--strict", "--quiet"])
        .args(&files)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    // strict validation is not vacuous: an unknown field is refused
    let bad = tmp.path().join("bad.yaml");
    std::fs::write(
        &bad,
        rendered.replacen("readOnlyRootFilesystem", "readOnlyRootFileSystem", 1),
    )
    .unwrap();
    let out = Command::new(&validate)
        .args(["--strict", "--quiet"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success(), "a misspelt field passed");

    let docs = yaml_documents(&python, &rendered);
    let find = |kind: &str| -> &serde_json::Value {
        docs.iter()
            .find(|d| d["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} in the overlay"))
    };
    let deployment = find("Deployment");
    assert!(deployment["spec"]["replicas"].as_u64().unwrap() >= 2);
    let pod = &deployment["spec"]["template"]["spec"];
    let job_pod = &find("Job")["spec"]["template"]["spec"];
    for (what, pod) in [("server", pod), ("migrate job", job_pod)] {
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{what}");
        assert_eq!(
            pod["securityContext"]["seccompProfile"]["type"],
            "RuntimeDefault"
        );
        assert_eq!(pod["automountServiceAccountToken"], false, "{what}");
        for c in pod["containers"].as_array().unwrap() {
            let sc = &c["securityContext"];
            assert_eq!(sc["readOnlyRootFilesystem"], true, "{what}");
            assert_eq!(sc["allowPrivilegeEscalation"], false, "{what}");
            assert_eq!(
                sc["capabilities"]["drop"],
                serde_json::json!(["ALL"]),
                "{what}"
            );
            assert!(c["resources"]["requests"]["memory"].is_string(), "{what}");
            assert!(c["resources"]["limits"]["memory"].is_string(), "{what}");
        }
    }
    let server = &pod["containers"][0];
    assert_eq!(server["args"], serde_json::json!(["serve", "--no-migrate"]));
    assert_eq!(server["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(server["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(
        job_pod["containers"][0]["args"],
        serde_json::json!(["migrate"])
    );
    assert!(pod["topologySpreadConstraints"]
        .as_array()
        .is_some_and(|t| !t.is_empty()));
    assert!(
        find("PodDisruptionBudget")["spec"]["minAvailable"]
            .as_u64()
            .unwrap()
            >= 1
    );
    let policy = &find("NetworkPolicy")["spec"];
    assert_eq!(
        policy["policyTypes"],
        serde_json::json!(["Ingress", "Egress"])
    );
    // the example's secrets are placeholders, never keys
    for secret in docs.iter().filter(|d| d["kind"] == "Secret") {
        for (key, value) in secret["data"].as_object().unwrap() {
            let decoded = Command::new(&python)
                .args([
                    "-c",
                    "import sys, base64; print(base64.b64decode(sys.argv[1]).decode())",
                ])
                .arg(value.as_str().unwrap())
                .output()
                .unwrap();
            let decoded = String::from_utf8_lossy(&decoded.stdout).to_string();
            assert!(
                decoded.contains("FAKE"),
                "{key} is not marked FAKE: {decoded}"
            );
        }
    }
}

/// checkov, once over everything (it is slow to start): the Dockerfile, the kustomize base and
/// overlay as rendered, and a secrets scan of deploy/. Every skipped check carries its reason
/// where it is skipped (`checkov.io/skipN: CHECK=reason`).
#[test]
fn checkov_passes_on_the_dockerfile_and_the_manifests() {
    let test = "deploy: checkov on deploy/";
    if !kubectl_found(test) {
        return;
    }
    let Some(checkov) = deploy_tool(test, "checkov") else {
        return;
    };
    let out = Command::new(&checkov)
        // --skip-download: offline (no policy or guideline download from the vendor's API)
        .args([
            "--quiet",
            "--compact",
            "--skip-download",
            "--framework",
            "dockerfile",
            "kustomize",
            "secrets",
            "--skip-path",
            "deploy/docker/secrets",
            "-d",
            "deploy",
        ])
        .current_dir(workspace_root())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "checkov found problems:\n{text}");
    for framework in ["dockerfile", "kustomize"] {
        assert!(
            text.contains(&format!("{framework} scan results")),
            "checkov did not scan {framework}:\n{text}"
        );
    }
    let mut skips = 0;
    for file in ["deployment.yaml", "migrate-job.yaml"] {
        let manifest =
            std::fs::read_to_string(workspace_root().join("deploy/kubernetes/base").join(file))
                .unwrap();
        for line in manifest.lines().filter(|l| l.contains("checkov.io/skip")) {
            let (_, rule) = line.split_once(": ").unwrap();
            let (check, reason) = rule.split_once('=').expect("CHECK=reason");
            assert!(check.starts_with("CKV"), "{line}");
            assert!(
                reason.split_whitespace().count() >= 6,
                "give the reason: {line}"
            );
            skips += 1;
        }
    }
    assert!(skips >= 1);
}
