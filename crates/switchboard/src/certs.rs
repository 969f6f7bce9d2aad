//! `switchboard certs`: a development CA and the certificates a router needs,
//! so TLS on both ports can be tried (and tested) without any other tool.
//! Production deployments bring certificates from their own CA.

use std::net::IpAddr;
use std::path::Path;

use anyhow::{bail, Context};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};

/// Writes `ca.pem`/`ca-key.pem`, `server.pem`/`server-key.pem` (the client
/// listener) and `node-<id>.pem`/`node-<id>-key.pem` for each node into `out`.
/// Refuses to overwrite unless `force`.
pub(crate) fn generate(
    out: &Path,
    nodes: &[u64],
    hosts: &[String],
    force: bool,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    if !force && out.join("ca.pem").exists() {
        bail!(
            "{} already holds a CA; pass --force to replace it",
            out.display()
        );
    }
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params.distinguished_name = name("Switchboard development CA");
    let ca_key = KeyPair::generate()?;
    let ca = ca_params.self_signed(&ca_key)?;
    write(out, "ca.pem", &ca.pem())?;
    write_key(out, "ca-key.pem", &ca_key.serialize_pem())?;

    let mut local: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    local.extend(hosts.iter().cloned());
    let leaf = |names: Vec<String>, common: &str| -> anyhow::Result<(String, String)> {
        let mut params = CertificateParams::default();
        params.subject_alt_names = names
            .iter()
            .map(|n| match n.parse::<IpAddr>() {
                Ok(ip) => Ok(SanType::IpAddress(ip)),
                Err(_) => Ok(SanType::DnsName(n.as_str().try_into()?)),
            })
            .collect::<Result<_, rcgen::Error>>()?;
        params.distinguished_name = name(common);
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &ca, &ca_key)?;
        Ok((cert.pem(), key.serialize_pem()))
    };
    let (cert, key) = leaf(local.clone(), "switchboard")?;
    write(out, "server.pem", &cert)?;
    write_key(out, "server-key.pem", &key)?;
    for &node in nodes {
        let node_name = switchboard_cluster::node_name(node);
        let mut names = vec![node_name.clone()];
        names.extend(local.iter().cloned());
        let (cert, key) = leaf(names, &node_name)?;
        write(out, &format!("node-{node}.pem"), &cert)?;
        write_key(out, &format!("node-{node}-key.pem"), &key)?;
    }
    println!(
        "wrote a development CA, server.pem and {} node certificate(s) to {}",
        nodes.len(),
        out.display()
    );
    Ok(())
}

fn name(common: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common);
    name
}

fn write(dir: &Path, file: &str, text: &str) -> anyhow::Result<()> {
    let path = dir.join(file);
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// Keys are readable by their owner only (on Unix).
fn write_key(dir: &Path, file: &str, text: &str) -> anyhow::Result<()> {
    write(dir, file, text)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(file);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot restrict {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_certificates_load_as_listener_and_peer_tls() {
        let dir = tempfile::tempdir().unwrap();
        generate(dir.path(), &[1, 2], &["router.example".into()], false).unwrap();
        let listener = crate::tls_settings::ListenerTls {
            cert: Some(dir.path().join("server.pem")),
            key: Some(dir.path().join("server-key.pem")),
        };
        assert!(listener.load().unwrap().is_some());
        for node in [1, 2] {
            let peer = crate::tls_settings::PeerTlsFiles {
                ca: Some(dir.path().join("ca.pem")),
                cert: Some(dir.path().join(format!("node-{node}.pem"))),
                key: Some(dir.path().join(format!("node-{node}-key.pem"))),
            };
            assert!(peer.load().unwrap().is_some());
        }
        let again = generate(dir.path(), &[1], &[], false).unwrap_err();
        assert!(again.to_string().contains("--force"), "{again}");
    }
}
