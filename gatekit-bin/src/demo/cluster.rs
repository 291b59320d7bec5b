//! A throwaway PostgreSQL cluster in a directory: `initdb`, `pg_ctl start`, SQL through `psql`
//! over the cluster's Unix socket, and `pg_ctl stop` on drop. As root, every server program
//! runs as the `postgres` user, which then owns the directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

/// Where Debian and Ubuntu install the server programs, one directory per major version.
const DEBIAN_ROOT: &str = "/usr/lib/postgresql";

/// The directory holding `initdb`, `pg_ctl`, `postgres` and `psql`: from `PATH` when
/// `initdb` is there, else the newest `/usr/lib/postgresql/N/bin`.
pub fn find_bin_dir() -> anyhow::Result<PathBuf> {
    let from_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file());
    if let Some(dir) = from_path {
        return Ok(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(DEBIAN_ROOT)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("pg_ctl").is_file()).then_some((major, bin))
        })
        .collect();
    versions.sort();
    match versions.pop() {
        Some((_, bin)) => Ok(bin),
        None => bail!(
            "PostgreSQL server programs not found: no `initdb` on PATH nor under {DEBIAN_ROOT}/*/bin \
             (Debian/Ubuntu: apt-get install postgresql; elsewhere put initdb and pg_ctl on PATH)"
        ),
    }
}

/// The account the server programs run as: `postgres` when we are root (they refuse to run
/// as root), else ourselves.
#[derive(Clone, Copy, Debug)]
pub struct RunAs {
    ids: Option<(u32, u32)>,
}

impl RunAs {
    /// `postgres` when running as root.
    pub fn detect() -> anyhow::Result<RunAs> {
        if id(&["-u"])? != 0 {
            return Ok(RunAs { ids: None });
        }
        let uid = id(&["-u", "postgres"])
            .context("running as root, and there is no `postgres` user to run PostgreSQL as")?;
        let gid = id(&["-g", "postgres"])?;
        Ok(RunAs {
            ids: Some((uid, gid)),
        })
    }

    /// Hands `path` to the server's account.
    pub fn give(&self, path: &Path) -> anyhow::Result<()> {
        if let Some((uid, gid)) = self.ids {
            std::os::unix::fs::chown(path, Some(uid), Some(gid))
                .with_context(|| format!("chown postgres {}", path.display()))?;
        }
        Ok(())
    }

    /// A command running `program` as the server's account.
    fn command(&self, program: &Path) -> Command {
        match self.ids {
            Some((uid, gid)) => {
                let mut c = Command::new("setpriv");
                c.arg(format!("--reuid={uid}"))
                    .arg(format!("--regid={gid}"))
                    .args(["--init-groups", "--"])
                    .arg(program);
                c
            }
            None => Command::new(program),
        }
    }
}

fn id(args: &[&str]) -> anyhow::Result<u32> {
    let out = Command::new("id")
        .args(args)
        .output()
        .context("running `id`")?;
    if !out.status.success() {
        bail!(
            "`id {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .with_context(|| format!("`id {}` printed no number", args.join(" ")))
}

/// A running cluster; stopped (fast shutdown) when dropped.
#[derive(Debug)]
pub struct Cluster {
    bin: PathBuf,
    run_as: RunAs,
    dir: PathBuf,
    data: PathBuf,
    port: u16,
    running: bool,
}

impl Cluster {
    /// Initialises a cluster under `dir/data` (trust for the local superuser over the
    /// socket in `dir`, SCRAM over TCP) and starts it on `127.0.0.1:port`.
    pub fn start(bin: PathBuf, run_as: RunAs, dir: &Path, port: u16) -> anyhow::Result<Cluster> {
        let data = dir.join("data");
        let mut cluster = Cluster {
            bin,
            run_as,
            dir: dir.to_owned(),
            data,
            port,
            running: false,
        };
        cluster.run(
            cluster
                .server("initdb")
                .arg("-D")
                .arg(&cluster.data)
                .args([
                    "-U",
                    "postgres",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                ])
                .args(["-E", "UTF8", "--locale=C", "--no-sync"]),
        )?;
        let conf = format!(
            "\nlisten_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{}'\n\
             password_encryption = 'scram-sha-256'\nfsync = off\n",
            cluster.dir.display()
        );
        let conf_path = cluster.data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf_path)
            .with_context(|| format!("reading {}", conf_path.display()))?;
        text.push_str(&conf);
        std::fs::write(&conf_path, text)
            .with_context(|| format!("writing {}", conf_path.display()))?;
        cluster.running = true;
        let log = cluster.dir.join("postgres.log");
        cluster.run(
            cluster
                .server("pg_ctl")
                .arg("-D")
                .arg(&cluster.data)
                .arg("-l")
                .arg(&log)
                .args(["-w", "-t", "60", "start"]),
        )?;
        Ok(cluster)
    }

    /// The port the server listens on (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The postmaster's process id, from `postmaster.pid`.
    pub fn pid(&self) -> Option<u32> {
        let text = std::fs::read_to_string(self.data.join("postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }

    /// Runs SQL as the superuser in `database`, stopping at the first error.
    pub fn psql(&self, database: &str, sql: &str) -> anyhow::Result<String> {
        let mut c = self.server("psql");
        c.arg("-h")
            .arg(&self.dir)
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                database,
            ])
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-f", "-"]);
        self.run_with_stdin(&mut c, sql)
    }

    /// Stops the server (fast shutdown: sessions are ended, nothing is left running).
    pub fn stop(&mut self) -> anyhow::Result<()> {
        if !self.running {
            return Ok(());
        }
        self.running = false;
        self.run(
            self.server("pg_ctl")
                .arg("-D")
                .arg(&self.data)
                .args(["-m", "fast", "-w", "stop"]),
        )
        .map(drop)
    }

    /// `program` from the server's directory, or from `PATH` when it is not there (a
    /// `PATH` holding only `initdb` and `pg_ctl` links, and `psql` elsewhere).
    fn server(&self, program: &str) -> Command {
        let in_bin = self.bin.join(program);
        let path = if in_bin.is_file() {
            in_bin
        } else {
            PathBuf::from(program)
        };
        let mut c = self.run_as.command(&path);
        // The server's account may not be able to enter our working directory.
        c.current_dir(&self.dir);
        c
    }

    fn run(&self, c: &mut Command) -> anyhow::Result<String> {
        self.run_with_stdin(c, "")
    }

    fn run_with_stdin(&self, c: &mut Command, stdin: &str) -> anyhow::Result<String> {
        use std::io::Write;
        let what = format!("{c:?}");
        let mut child = c
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {what}"))?;
        if let Some(mut input) = child.stdin.take() {
            input
                .write_all(stdin.as_bytes())
                .with_context(|| format!("writing to {what}"))?;
        }
        let out = child
            .wait_with_output()
            .with_context(|| format!("running {what}"))?;
        if !out.status.success() {
            bail!(
                "{what} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            tracing::warn!(error = %e, "stopping the demo PostgreSQL");
        }
    }
}
