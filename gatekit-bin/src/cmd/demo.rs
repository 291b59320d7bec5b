//! `gatekit demo`: a throwaway PostgreSQL seeded with a `shop` database full of personal
//! data, the gateway in front of it with the example policy and a masking profile, and a
//! token to connect with. SIGINT or SIGTERM stops the gateway and PostgreSQL and removes
//! the demo's directory.

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use gatekit_core::identity::{Hs256Secret, KeySet, MintClaims, mint_hs256};

use crate::config::resolve::{ServeResources, TargetResources};
use crate::config::{Config, Secret};
use crate::demo::cluster::{Cluster, RunAs, find_bin_dir};
use crate::demo::config::{self as demo_config, Addresses};
use crate::demo::seed;
use crate::jwks::JwksSource;

/// Arguments of `gatekit demo`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Needs the PostgreSQL server programs (initdb, pg_ctl) on PATH or under
/usr/lib/postgresql/N/bin; as root they run as the `postgres` user. Everything listens on
127.0.0.1 only. Ctrl-C stops it all and removes the demo's directory (unless --keep).

Example:
  gatekit demo
  gatekit demo --port 6432 --json")]
pub struct DemoArgs {
    /// The gateway's port on 127.0.0.1 (a free one when left out).
    #[arg(long)]
    pub port: Option<u16>,
    /// Keep the demo's directory (config, audit trail, database files) after stopping.
    #[arg(long)]
    pub keep: bool,
    /// Print the connection details as one JSON object on stdout, for scripts.
    #[arg(long)]
    pub json: bool,
}

/// The demo user's login and groups.
const DEV_USER: &str = "dev";
/// The reviewer who can approve held statements.
const DBA_USER: &str = "dba";
/// How long the demo's tokens are valid.
const TOKEN_TTL: &str = "8h";

/// Runs `gatekit demo` until SIGINT or SIGTERM.
pub fn run(args: &DemoArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        // Signals are caught from here on, so a Ctrl-C during the set-up still cleans up.
        let stop = StopSignals::install()?;
        let dir = DemoDir::create(args.keep)?;
        let bin = find_bin_dir()?;
        let run_as = RunAs::detect()?;
        run_as.give(dir.path())?;
        let mut cluster = Cluster::start(bin, run_as, dir.path(), free_port()?)
            .context("starting the demo PostgreSQL")?;
        let db_password = random_hex(16)?;
        let upstream_user = demo_config::UPSTREAM_USER;
        cluster.psql(
            "postgres",
            &format!("CREATE ROLE {upstream_user} LOGIN PASSWORD '{db_password}';"),
        )?;
        cluster.psql(
            "postgres",
            &format!("CREATE DATABASE shop OWNER {upstream_user};"),
        )?;
        cluster
            .psql("shop", &seed::shop_sql(upstream_user))
            .context("seeding the shop database")?;
        let addrs = Addresses {
            gateway: SocketAddr::from(([127, 0, 0, 1], args.port.unwrap_or(0))),
            api: SocketAddr::from(([127, 0, 0, 1], free_port()?)),
            upstream: SocketAddr::from(([127, 0, 0, 1], cluster.port())),
        };
        let config_path = dir.path().join("gatekit.toml");
        std::fs::write(&config_path, demo_config::render(&addrs))
            .with_context(|| format!("writing {}", config_path.display()))?;
        let config = Config::load(&config_path)?;

        let secret_text = random_hex(32)?;
        let secret = Hs256Secret::new(secret_text.as_bytes().to_vec())?;
        let mint = |sub: &str, group: &str| -> anyhow::Result<String> {
            let ttl = gatekit_core::policy::parse_duration(TOKEN_TTL)?;
            let groups = [group.to_owned()];
            let claims = MintClaims {
                groups_claim: &config.identity.groups_claim,
                groups: &groups,
                ..MintClaims::new(&config.identity.issuer, &config.identity.audience, sub)
            };
            Ok(mint_hs256(&claims, &secret, jiff::Timestamp::now(), ttl)?)
        };
        let info = Info {
            dir: dir.path().to_owned(),
            config: config_path.clone(),
            dev_token: mint(DEV_USER, "dev")?,
            dba_token: mint(DBA_USER, "dba")?,
            secret: secret_text.clone(),
            api: addrs.api,
            postgres_port: cluster.port(),
            postgres_pid: cluster.pid(),
        };
        // The secrets the config names, resolved here instead of from the environment.
        let resources = ServeResources {
            hs256_secret: Some(Secret::new(secret_text.into_bytes())),
            audit_key: None,
            revoked: None,
            state_password: None,
            notify_urls: Vec::new(),
            targets: vec![TargetResources {
                name: demo_config::TARGET.to_owned(),
                credential: Some(Secret::new(db_password.into_bytes())),
                files: Vec::new(),
            }],
            mask_keys: vec![None],
            detector_terms: Vec::new(),
        };
        let keys = JwksSource::fixed(KeySet::empty()).with_hs256_secret(secret.clone());
        let json = args.json;
        crate::cmd::serve::serve(
            &config,
            &config_path,
            &resources,
            keys,
            None,
            |bound| match bound.first() {
                Some(gateway) if json => println!("{}", info.json(*gateway)),
                Some(gateway) => print!("{}", info.guide(*gateway, args.keep)),
                None => tracing::error!("the demo gateway has no listener"),
            },
            stop.wait(),
        )
        .await?;
        cluster.stop().context("stopping the demo PostgreSQL")?;
        drop(cluster);
        drop(dir);
        Ok(ExitCode::SUCCESS)
    })
}

/// What the demo prints once the gateway listens.
struct Info {
    dir: PathBuf,
    config: PathBuf,
    dev_token: String,
    dba_token: String,
    secret: String,
    api: SocketAddr,
    postgres_port: u16,
    postgres_pid: Option<u32>,
}

impl Info {
    fn psql(&self, gateway: SocketAddr) -> String {
        format!(
            "PGPASSWORD={} psql \"host={} port={} user={DEV_USER} dbname=shop sslmode=disable\"",
            self.dev_token,
            gateway.ip(),
            gateway.port()
        )
    }

    fn json(&self, gateway: SocketAddr) -> serde_json::Value {
        serde_json::json!({
            "host": gateway.ip().to_string(),
            "port": gateway.port(),
            "user": DEV_USER,
            "dbname": "shop",
            "token": self.dev_token,
            "psql": self.psql(gateway),
            "dba_token": self.dba_token,
            "api": format!("http://{}", self.api),
            "config": self.config,
            "secret_env": demo_config::SECRET_ENV,
            "secret": self.secret,
            "dir": self.dir,
            "postgres_port": self.postgres_port,
            "postgres_pid": self.postgres_pid,
        })
    }

    fn guide(&self, gateway: SocketAddr, keep: bool) -> String {
        let config = self.config.display();
        let leaves = if keep {
            format!("keeps {}", self.dir.display())
        } else {
            format!("removes {}", self.dir.display())
        };
        format!(
            "\
gatekit demo: PostgreSQL with a `shop` database of customers (cards, e-mails, SSNs, phones)
behind gatekit on {gateway}, as user `{DEV_USER}` (group dev; token valid {TOKEN_TTL}).

Connect:
  {psql}

Then try:
  1. A masked read (the `pii` profile masks cards, SSNs, e-mails and phones for group dev):
       SELECT name, email, phone, ssn, card_number FROM customers LIMIT 5;
  2. A bulk delete, refused by rule `no-bulk-writes`:
       DELETE FROM customers;
  3. A schema change, held for a DBA's approval (rule `risky-needs-review`); the notice
     names its id. Release it from another terminal:
       GATEKIT_TOKEN={dba} gatekit approvals approve <id> --api http://{api}

More tokens: {env}={secret} gatekit token --config {config} --sub NAME --group dev
Audit trail: {env}={secret} gatekit audit tail --config {config}
Ctrl-C stops the gateway and PostgreSQL and {leaves}.
",
            psql = self.psql(gateway),
            dba = self.dba_token,
            api = self.api,
            env = demo_config::SECRET_ENV,
            secret = self.secret,
        )
    }
}

/// SIGINT and SIGTERM, caught from the moment they are installed.
struct StopSignals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn install() -> anyhow::Result<StopSignals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(StopSignals {
            interrupt: signal(SignalKind::interrupt()).context("catching SIGINT")?,
            terminate: signal(SignalKind::terminate()).context("catching SIGTERM")?,
        })
    }

    async fn wait(mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

/// The demo's private directory under the system temp dir; removed on drop unless kept.
struct DemoDir {
    path: PathBuf,
    keep: bool,
}

impl DemoDir {
    fn create(keep: bool) -> anyhow::Result<DemoDir> {
        use std::os::unix::fs::PermissionsExt;
        let path = std::env::temp_dir().join(format!("gatekit-demo-{}", random_hex(6)?));
        std::fs::create_dir(&path).with_context(|| format!("creating {}", path.display()))?;
        let dir = DemoDir { path, keep };
        std::fs::set_permissions(&dir.path, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("chmod 700 {}", dir.path.display()))?;
        Ok(dir)
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for DemoDir {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        if let Err(e) = std::fs::remove_dir_all(&self.path) {
            tracing::warn!(dir = %self.path.display(), error = %e, "removing the demo directory");
        }
    }
}

/// `n` random bytes, hex-encoded.
fn random_hex(n: usize) -> anyhow::Result<String> {
    let mut bytes = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("reading /dev/urandom")?;
    Ok(hex::encode(bytes))
}

/// A port on 127.0.0.1 that nothing listens on right now.
fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(l.local_addr()?.port())
}
