//! A throwaway PostgreSQL cluster (15 on this machine) for the test binary: initdb'd in a
//! temp dir (as the `postgres` user when run as root), listening on a free loopback port,
//! with SCRAM, MD5 and trust accounts, TLS on, and stopped (`pg_ctl stop -m immediate`) on
//! drop.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The server binaries: the newest `/usr/lib/postgresql/N/bin` (Debian's layout).
pub fn bin() -> PathBuf {
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    dirs.sort();
    dirs.pop()
        .map(|(_, b)| b)
        .expect("PostgreSQL server binaries under /usr/lib/postgresql/N/bin (Debian: postgresql)")
}
pub const SCRAM_USER: &str = "app_scram";
pub const SCRAM_PASSWORD: &str = "scram-pw-123";
pub const MD5_USER: &str = "app_md5";
pub const MD5_PASSWORD: &str = "md5-pw-456";
pub const TRUST_USER: &str = "app_trust";

pub struct Cluster {
    _dir: tempfile::TempDir,
    data: PathBuf,
    pub port: u16,
    /// PEM of the CA that signed the server's certificate.
    pub ca_pem: String,
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs a server program as the `postgres` user (initdb and postgres refuse root).
fn as_postgres(program: &str) -> Command {
    let path = bin().join(program);
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(path);
        c
    } else {
        Command::new(path)
    }
}

fn is_root() -> bool {
    let out = run(Command::new("id").arg("-u"));
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

fn postgres_ids() -> (u32, u32) {
    let id = |flag| {
        let out = run(Command::new("id").args([flag, "postgres"]));
        String::from_utf8(out.stdout)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    (id("-u"), id("-g"))
}

fn chown(path: &Path, ids: (u32, u32)) {
    std::os::unix::fs::chown(path, Some(ids.0), Some(ids.1)).unwrap();
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A certificate for `127.0.0.1` signed by a fresh CA: (CA PEM, cert PEM, key PEM).
pub fn certificates() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "gatekit test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    (ca_cert.pem(), cert.pem(), key.serialize_pem())
}

impl Cluster {
    pub fn start() -> Cluster {
        // As root the server runs as `postgres`, which must own its files.
        let owner = is_root().then(postgres_ids);
        let dir = tempfile::Builder::new()
            .prefix("gatekit-pg-")
            .tempdir()
            .unwrap();
        if let Some(ids) = owner {
            chown(dir.path(), ids);
        }
        let data = dir.path().join("data");
        run(as_postgres("initdb").arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
            "--locale=C",
        ]));
        let (ca_pem, cert, key) = certificates();
        for (name, body) in [("server.crt", &cert), ("server.key", &key)] {
            let p = data.join(name);
            std::fs::write(&p, body).unwrap();
            if let Some(ids) = owner {
                chown(&p, ids);
            }
            std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .unwrap();
        }
        let port = free_port();
        let conf = format!(
            "listen_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{}'\n\
             ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n\
             max_connections = 200\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\n",
            dir.path().display()
        );
        let mut pc = std::fs::read_to_string(data.join("postgresql.conf")).unwrap();
        pc.push_str(&conf);
        std::fs::write(data.join("postgresql.conf"), pc).unwrap();
        let hba = format!(
            "local all all trust\n\
             host all {SCRAM_USER} 127.0.0.1/32 scram-sha-256\n\
             host all {MD5_USER} 127.0.0.1/32 md5\n\
             host all {TRUST_USER} 127.0.0.1/32 trust\n\
             host all postgres 127.0.0.1/32 trust\n"
        );
        std::fs::write(data.join("pg_hba.conf"), hba).unwrap();
        let cluster = Cluster {
            _dir: dir,
            data,
            port,
            ca_pem,
        };
        run(as_postgres("pg_ctl")
            .arg("-D")
            .arg(&cluster.data)
            .arg("-l")
            .arg(cluster.data.join("log"))
            .args(["-w", "start"]));
        cluster.setup();
        cluster
    }

    fn socket_dir(&self) -> PathBuf {
        self.data.parent().unwrap().to_owned()
    }

    /// Runs SQL as the superuser over the Unix socket.
    pub fn psql_admin(&self, db: &str, sql: &str) -> String {
        let out = run(as_postgres("psql")
            .arg("-h")
            .arg(self.socket_dir())
            .args(["-p", &self.port.to_string(), "-U", "postgres", "-d", db])
            .args(["-v", "ON_ERROR_STOP=1", "-Atc", sql]));
        String::from_utf8(out.stdout).unwrap()
    }

    fn setup(&self) {
        self.psql_admin(
            "postgres",
            &format!(
                "SET password_encryption = 'scram-sha-256';
                 CREATE ROLE {SCRAM_USER} LOGIN PASSWORD '{SCRAM_PASSWORD}';
                 SET password_encryption = 'md5';
                 CREATE ROLE {MD5_USER} LOGIN PASSWORD '{MD5_PASSWORD}';
                 CREATE ROLE {TRUST_USER} LOGIN;
                 CREATE ROLE shop_readonly;
                 GRANT shop_readonly TO {SCRAM_USER}, {MD5_USER}, {TRUST_USER};"
            ),
        );
        self.psql_admin("postgres", "CREATE DATABASE shop");
        run(as_postgres("pgbench")
            .arg("-h")
            .arg(self.socket_dir())
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-i",
                "-q",
                "-s",
                "1",
                "shop",
            ]));
        self.psql_admin(
            "shop",
            "GRANT SELECT ON ALL TABLES IN SCHEMA public TO shop_readonly;
             CREATE TABLE customers (id int PRIMARY KEY, email text, ssn text, card_no bigint, card text);
             INSERT INTO customers
                 SELECT g, 'user' || g || '@example.com',
                        '234-56-' || lpad(g::text, 4, '0'), 4111111111111111, '4111 1111 1111 1111'
                 FROM generate_series(1, 1000) g;
             GRANT SELECT ON customers TO shop_readonly;
             CREATE VIEW customer_contacts AS SELECT id, email, ssn FROM customers;
             GRANT SELECT ON customer_contacts TO shop_readonly;
             CREATE TABLE contacts (email text UNIQUE);
             INSERT INTO contacts VALUES ('jane@example.com');
             GRANT SELECT, INSERT ON contacts TO shop_readonly;
             CREATE TABLE imports (id int, note text);
             GRANT SELECT, INSERT ON imports TO shop_readonly;",
        );
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = as_postgres("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "stop"])
            .output();
    }
}
