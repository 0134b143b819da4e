//! The test's own PostgreSQL cluster, so that restarting it disturbs no other test.

use airlock_e2e::{running_as_root, skip};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The test's own PostgreSQL cluster (initdb + pg_ctl, as scripts/postgres starts one), on a
/// free port, stopped on drop.
pub struct Postgres {
    bindir: PathBuf,
    data: PathBuf,
    pub url: String,
    port: u16,
}

impl Postgres {
    pub fn start(test: &str, dir: &Path) -> Option<Postgres> {
        let bindir = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|versions| {
                versions
                    .flatten()
                    .map(|v| v.path().join("bin"))
                    .filter(|b| b.join("initdb").is_file())
                    .max()
            });
        let Some(bindir) = bindir else {
            skip(
                test,
                "no PostgreSQL server binaries (apt-get install -y postgresql)",
            );
            return None;
        };
        let port = airlock_e2e::free_port();
        let home = dir.join("pg");
        std::fs::create_dir_all(&home).unwrap();
        let pg = Postgres {
            bindir,
            data: home.join("data"),
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            port,
        };
        if running_as_root() {
            // PostgreSQL refuses to run as root
            let _ = Command::new("chown")
                .args(["-R", "postgres:", home.to_str().unwrap()])
                .status();
            let _ = Command::new("chmod")
                .args(["755", dir.to_str().unwrap()])
                .status();
        }
        pg.ctl(&[
            "initdb",
            "-D",
            pg.data.to_str().unwrap(),
            "-U",
            "postgres",
            "--auth=trust",
        ]);
        pg.pg_ctl("start");
        Some(pg)
    }

    /// Runs a PostgreSQL binary (as the `postgres` user when we are root).
    fn ctl(&self, args: &[&str]) {
        let (program, rest) = args.split_first().unwrap();
        let program = self.bindir.join(program);
        let mut command = if running_as_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        let out = command.args(rest).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn pg_ctl(&self, action: &str) {
        let options = format!(
            "-h 127.0.0.1 -p {} -k {} -c fsync=off",
            self.port,
            self.data.parent().unwrap().display()
        );
        let log = self.data.parent().unwrap().join("server.log");
        let data = self.data.to_str().unwrap();
        match action {
            "stop" => self.ctl(&["pg_ctl", "-D", data, "-m", "fast", "-w", "stop"]),
            _ => self.ctl(&[
                "pg_ctl",
                "-D",
                data,
                "-l",
                log.to_str().unwrap(),
                "-w",
                "-o",
                &options,
                action,
            ]),
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.data.to_str().unwrap().to_string();
        let program = self.bindir.join("pg_ctl");
        let mut command = if running_as_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        let _ = command
            .args(["-D", &data, "-m", "immediate", "stop"])
            .output();
    }
}
