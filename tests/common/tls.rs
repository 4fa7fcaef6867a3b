//! TLS for tests: a throwaway CA with a server and a client certificate (generated, never
//! checked in), and `redis-server`s that speak TLS with them.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

/// PEM files of a test CA and the certificates it signed.
pub struct Certs {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// A CA that signed nothing here (a server checked against it must be refused).
    pub stranger_ca: PathBuf,
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

impl Certs {
    pub fn generate(dir: &Path) -> Self {
        let ca_ = ca("okra-queue test CA");
        let leaf = |names: Vec<String>, cn: &str| {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(names).unwrap();
            params.distinguished_name.push(DnType::CommonName, cn);
            let cert = params.signed_by(&key, &ca_).unwrap();
            (cert.pem(), key.serialize_pem())
        };
        let (server_cert, server_key) =
            leaf(vec!["localhost".into(), "127.0.0.1".into()], "redis-server");
        let (client_cert, client_key) = leaf(vec!["okra-worker".into()], "okra-worker");
        let write = |name: &str, text: &str| {
            let p = dir.join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        Self {
            ca: write("ca.pem", &ca_.pem()),
            server_cert: write("server.pem", &server_cert),
            server_key: write("server.key", &server_key),
            client_cert: write("client.pem", &client_cert),
            client_key: write("client.key", &client_key),
            stranger_ca: write("stranger-ca.pem", &ca("someone else").pem()),
        }
    }

    /// `redis-server` arguments: TLS on `tls_port`, client certificates required.
    pub fn server_args(&self, tls_port: u16) -> Vec<String> {
        let p = |p: &PathBuf| p.display().to_string();
        vec![
            "--tls-port".into(),
            tls_port.to_string(),
            "--tls-cert-file".into(),
            p(&self.server_cert),
            "--tls-key-file".into(),
            p(&self.server_key),
            "--tls-ca-cert-file".into(),
            p(&self.ca),
            "--tls-auth-clients".into(),
            "yes".into(),
        ]
    }

    /// `redis-cli` arguments to talk TLS to the servers.
    pub fn cli_args(&self) -> Vec<String> {
        let p = |p: &PathBuf| p.display().to_string();
        vec![
            "--tls".into(),
            "--cacert".into(),
            p(&self.ca),
            "--cert".into(),
            p(&self.client_cert),
            "--key".into(),
            p(&self.client_key),
        ]
    }
}

/// A 3-master Redis Cluster that speaks only TLS (clients and the cluster bus).
pub struct TlsCluster {
    pub ports: Vec<u16>,
    children: Vec<Child>,
}

impl TlsCluster {
    pub fn start(dir: &Path, certs: &Certs) -> Self {
        let ports: Vec<u16> = (0..3).map(|_| super::free_cluster_port()).collect();
        let mut children = Vec::new();
        for p in &ports {
            let node_dir = dir.join(format!("node-{p}"));
            std::fs::create_dir_all(&node_dir).unwrap();
            let mut args: Vec<String> = vec!["--port".into(), "0".into()];
            args.extend(certs.server_args(*p));
            for a in [
                "--tls-cluster",
                "yes",
                "--bind",
                "127.0.0.1",
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--save",
                "",
                "--appendonly",
                "no",
                "--loglevel",
                "warning",
                "--dir",
            ] {
                args.push(a.into());
            }
            args.push(node_dir.display().to_string());
            children.push(
                Command::new("redis-server")
                    .args(&args)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("redis-server"),
            );
        }
        let cluster = Self { ports, children };
        let options = certs.cli_args();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !cluster
            .ports
            .iter()
            .all(|p| super::redis_cli_with(&options, *p, &["ping"]).contains("PONG"))
        {
            assert!(Instant::now() < deadline, "TLS redis-server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        super::form_cluster(&cluster.ports, &options);
        cluster
    }

    pub fn url(&self) -> String {
        self.ports
            .iter()
            .map(|p| format!("rediss://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl Drop for TlsCluster {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A server certificate that is its own CA, as a one-line `openssl req -x509` makes: PEM of the
/// certificate and of its key, written to `dir`.
pub fn self_signed_server(dir: &Path) -> (PathBuf, PathBuf) {
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "redis-server");
    let cert = params.self_signed(&key).unwrap();
    let (c, k) = (dir.join("self-signed.pem"), dir.join("self-signed.key"));
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    (c, k)
}
