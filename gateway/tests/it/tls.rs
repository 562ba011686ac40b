//! https upstreams: the gateway verifies the provider's certificate (rustls) with SNI.
//!
//! A self-signed certificate (made with the `openssl` CLI) fronts the mock upstream through a
//! small TLS terminator; the gateway trusts it only through `server.upstream.ca_file`.

use crate::common::*;
use serde_json::json;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls;

/// A throwaway CA and a leaf certificate for 127.0.0.1 signed by it (webpki refuses a
/// self-signed CA certificate as a server certificate). Returns (ca, leaf cert, leaf key).
fn make_certs(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let p = |name: &str| dir.join(name);
    let openssl = |args: &[&str]| {
        let status = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stderr(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .status()
            .expect("openssl CLI");
        assert!(status.success(), "openssl {args:?}");
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=tollgate-test-ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.csr",
    ]);
    std::fs::write(
        p("leaf.ext"),
        "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "leaf.ext",
        "-out",
        "leaf.pem",
    ]);
    (p("ca.pem"), p("leaf.pem"), p("leaf.key"))
}

/// Terminate TLS on a loopback port and pass the bytes to `target`.
async fn tls_front(target: SocketAddr, cert: &Path, key: &Path) -> SocketAddr {
    // PEM via rustls' own pki-types (rustls-pemfile is unmaintained: RUSTSEC-2025-0134).
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(key).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut upstream) = TcpStream::connect(target).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut upstream).await;
            });
        }
    });
    addr
}

fn providers(front: SocketAddr) -> String {
    format!(
        r#"
  - id: secure
    kind: openai
    base_url: https://{front}/v1
    api_key: upstream-secret
    models:
      - {{ id: gpt-tls, upstream_model: mock-gpt, pricing: {{ prompt: 1, completion: 1 }} }}
"#
    )
}

#[tokio::test]
async fn https_upstream_with_verified_certificate() {
    let dir = temp_path("tollgate-tls", "");
    std::fs::create_dir_all(&dir).unwrap();
    let (ca, cert, key) = make_certs(&dir);
    let mock = Mock::start().await;
    let front = tls_front(mock.addr, &cert, &key).await;

    let mut opts = GatewayOpts::new(providers(front));
    opts.upstream_ca_file = Some(ca.display().to_string());
    let trusting = Gateway::start(opts).await;
    let body = json!({"model": "gpt-tls", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let resp = post_json(
        &trusting.url("/v1/chat/completions"),
        Some(KEY),
        &body,
        &[("x-mock-output-tokens", "4")],
    )
    .await;
    assert_eq!(resp.status(), 200);
    let id = request_id(&resp);
    let _ = resp.text().await.unwrap();
    let up = mock.last();
    assert_eq!(up.header("authorization"), Some("Bearer upstream-secret"));
    assert_eq!(up.header("host"), Some(front.to_string().as_str()));
    assert_eq!(trusting.outcome(&id).await["output_tokens"], 4);

    // Without the CA the certificate must be refused: no request reaches the mock.
    let before = mock.recorder.len();
    let distrusting = Gateway::start(GatewayOpts::new(providers(front))).await;
    let resp = post_json(
        &distrusting.url("/v1/chat/completions"),
        Some(KEY),
        &body,
        &[],
    )
    .await;
    assert_eq!(resp.status(), 502);
    assert_eq!(mock.recorder.len(), before);
    let _ = std::fs::remove_dir_all(dir);
}
