//! The `[[realm]]` tables of the config file: each realm's call timeouts, URI
//! rules, and security (authentication methods, principals, roles).
//!
//! A realm without `authmethods` is an open realm, as before security existed:
//! `anonymous = true` (the default) admits anyone with every right. A realm with
//! `authmethods` is secured: only those methods, and each session may do what
//! its role's permissions allow, nothing more. Every mistake is an error that
//! names the key, so a typo can never open a realm by accident.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use serde::Deserialize;
use switchboard_core::auth::{
    AuthMethod, AuthenticatorRef, CraKey, Principal, Principals, PublicKey, RealmSecurity, Ticket,
};
use switchboard_core::broker::{HistoryRule, MAX_HISTORY_LIMIT};
use switchboard_core::matching::MatchPolicy;
use switchboard_core::outbound::OutboundLimits;
use switchboard_core::permissions::{Action, Permission, Permissions, Role};
use switchboard_core::RealmConfig;
use switchboard_proto::uri::UriCheck;

/// One `[[realm]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileRealm {
    name: String,
    /// Open realms only: admit anonymous sessions (with every right).
    anonymous: Option<bool>,
    #[serde(default)]
    uri_check: FileUriCheck,
    default_call_timeout_ms: Option<u64>,
    max_call_timeout_ms: Option<u64>,
    #[serde(default = "yes")]
    disclose_caller: bool,
    #[serde(default)]
    disclose_publisher: bool,
    /// This realm's own outbound budget (else the server's).
    outbound_soft_limit: Option<usize>,
    outbound_hard_limit: Option<usize>,
    write_stall_timeout_ms: Option<u64>,
    /// The methods a secured realm accepts.
    authmethods: Option<Vec<String>>,
    /// The role of anonymous sessions on a secured realm.
    anonymous_role: Option<String>,
    /// The dynamic authenticator's procedure.
    authenticator: Option<String>,
    /// The realm it is registered in (default: this realm).
    authenticator_realm: Option<String>,
    /// More principals, from a file of `[[principal]]` tables (a Kubernetes
    /// Secret mounted as a file, say).
    principals_file: Option<PathBuf>,
    #[serde(default)]
    principal: Vec<FilePrincipal>,
    #[serde(default)]
    role: Vec<FileRole>,
    /// Topic patterns whose events are kept (event history).
    #[serde(default)]
    history: Vec<FileHistory>,
}

/// One `[[realm.history]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileHistory {
    uri: String,
    /// `exact` (the default), `prefix` or `wildcard`.
    #[serde(rename = "match")]
    policy: Option<String>,
    /// How many of the latest events are kept.
    limit: usize,
}

impl FileHistory {
    fn to_rule(&self, key: &str) -> anyhow::Result<HistoryRule> {
        let match_policy = match self.policy.as_deref() {
            None => MatchPolicy::Exact,
            Some(name) => MatchPolicy::from_option(name)
                .ok_or_else(|| anyhow!("{key}.match: {name:?} is not exact, prefix or wildcard"))?,
        };
        if self.uri.is_empty() {
            bail!("{key}.uri: empty");
        }
        if !(1..=MAX_HISTORY_LIMIT).contains(&self.limit) {
            bail!(
                "{key}.limit: {} is not between 1 and {MAX_HISTORY_LIMIT}",
                self.limit
            );
        }
        Ok(HistoryRule {
            uri: self.uri.clone(),
            match_policy,
            limit: self.limit,
        })
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
enum FileUriCheck {
    #[default]
    Loose,
    Strict,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilePrincipal {
    authid: String,
    role: String,
    /// In clear, or a PHC hash (`$argon2id$...`, `$pbkdf2-sha256$...`).
    ticket: Option<String>,
    /// The WAMP-CRA secret; with salt, iterations and keylen, the password the
    /// key is derived from.
    secret: Option<String>,
    salt: Option<String>,
    iterations: Option<u32>,
    keylen: Option<u32>,
    /// Hex Ed25519 public keys, for cryptosign.
    #[serde(default)]
    authorized_keys: Vec<String>,
}

/// A principals file: `[[principal]]` tables only.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PrincipalsFile {
    #[serde(default)]
    principal: Vec<FilePrincipal>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRole {
    name: String,
    #[serde(default)]
    permissions: Vec<FilePermission>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilePermission {
    uri: String,
    /// `exact` (the default), `prefix` or `wildcard`.
    #[serde(rename = "match")]
    policy: Option<String>,
    /// Any of `call`, `register`, `publish`, `subscribe`.
    allow: Vec<String>,
}

/// A realm's own outbound budget, key by key; what it leaves out comes from
/// the server's.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct OutboundOverride {
    soft: Option<usize>,
    hard: Option<usize>,
    stall_ms: Option<u64>,
}

impl OutboundOverride {
    /// The budget with these keys over `default`; an error names the key.
    pub(crate) fn apply(&self, default: OutboundLimits) -> anyhow::Result<OutboundLimits> {
        let limits = OutboundLimits {
            soft: self.soft.unwrap_or(default.soft),
            hard: self.hard.unwrap_or(default.hard),
            stall: self.stall_ms.map_or(default.stall, Duration::from_millis),
        };
        if limits.soft == 0 || limits.hard < limits.soft {
            bail!(
                "outbound_hard_limit: {} must be at least outbound_soft_limit ({}), which must be above 0",
                limits.hard,
                limits.soft
            );
        }
        if limits.stall.is_zero() {
            bail!("write_stall_timeout_ms: must be greater than 0");
        }
        Ok(limits)
    }
}

impl FileRealm {
    /// The realm's name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The outbound budget keys this realm sets.
    pub(crate) fn outbound_override(&self) -> OutboundOverride {
        OutboundOverride {
            soft: self.outbound_soft_limit,
            hard: self.outbound_hard_limit,
            stall_ms: self.write_stall_timeout_ms,
        }
    }

    /// The realm's config; `key` names the table in errors (`realm[0]`), and a
    /// relative `principals_file` is read from `base`.
    pub(crate) fn into_config(self, key: &str, base: &Path) -> anyhow::Result<RealmConfig> {
        let millis = |ms: Option<u64>| ms.filter(|&ms| ms > 0).map(Duration::from_millis);
        let security = self.security(key, base)?;
        Ok(RealmConfig {
            uri_check: match self.uri_check {
                FileUriCheck::Loose => UriCheck::Loose,
                FileUriCheck::Strict => UriCheck::Strict,
            },
            default_call_timeout: millis(self.default_call_timeout_ms),
            max_call_timeout: millis(self.max_call_timeout_ms),
            disclose_caller: self.disclose_caller,
            disclose_publisher: self.disclose_publisher,
            history: (self.history.iter().enumerate())
                .map(|(i, h)| h.to_rule(&format!("{key}.history[{i}]")))
                .collect::<anyhow::Result<_>>()?,
            security: Arc::new(security),
            ..RealmConfig::anonymous(self.name)
        })
    }

    fn security(&self, key: &str, base: &Path) -> anyhow::Result<RealmSecurity> {
        let Some(methods) = &self.authmethods else {
            if let Some(extra) = self.secured_only_key() {
                bail!("{key}.{extra}: needs authmethods (a realm without them is open to anyone)");
            }
            return Ok(RealmSecurity {
                methods: match self.anonymous {
                    Some(false) => Vec::new(),
                    _ => vec![AuthMethod::Anonymous],
                },
                ..RealmSecurity::open()
            });
        };
        if self.anonymous.is_some() {
            bail!("{key}.anonymous: a realm with authmethods takes \"anonymous\" in authmethods instead");
        }
        let methods = methods
            .iter()
            .map(|name| {
                AuthMethod::from_name(name).ok_or_else(|| {
                    anyhow!("{key}.authmethods: unknown method {name:?} (anonymous, ticket, wampcra or cryptosign)")
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let roles = self.roles(key)?;
        let anonymous_role = self
            .anonymous_role
            .clone()
            .unwrap_or_else(|| "anonymous".to_owned());
        if methods.contains(&AuthMethod::Anonymous) && !roles.contains_key(&anonymous_role) {
            bail!("{key}.anonymous_role: no [[realm.role]] named {anonymous_role:?}");
        }
        let principals = self.principals(key, base, &roles)?;
        let authenticator = match (&self.authenticator, &self.authenticator_realm) {
            (Some(procedure), realm) => Some(AuthenticatorRef {
                procedure: procedure.clone(),
                realm: realm.clone().unwrap_or_else(|| self.name.clone()),
            }),
            (None, Some(_)) => bail!("{key}.authenticator_realm: set without authenticator"),
            (None, None) => None,
        };
        Ok(RealmSecurity {
            methods,
            anonymous_role,
            principals,
            authenticator,
            permissions: Permissions::Roles(roles),
        })
    }

    /// A key that only means something on a secured realm, if one is set.
    fn secured_only_key(&self) -> Option<&'static str> {
        [
            ("anonymous_role", self.anonymous_role.is_some()),
            ("authenticator", self.authenticator.is_some()),
            ("authenticator_realm", self.authenticator_realm.is_some()),
            ("principals_file", self.principals_file.is_some()),
            ("principal", !self.principal.is_empty()),
            ("role", !self.role.is_empty()),
        ]
        .into_iter()
        .find_map(|(name, set)| set.then_some(name))
    }

    fn roles(&self, key: &str) -> anyhow::Result<HashMap<String, Role>> {
        let mut roles = HashMap::new();
        for (i, role) in self.role.iter().enumerate() {
            let key = format!("{key}.role[{i}]");
            let permissions = role
                .permissions
                .iter()
                .enumerate()
                .map(|(j, p)| p.to_permission(&format!("{key}.permissions[{j}]")))
                .collect::<anyhow::Result<Vec<_>>>()?;
            if roles
                .insert(role.name.clone(), Role::new(permissions))
                .is_some()
            {
                bail!("{key}.name: role {:?} is defined twice", role.name);
            }
        }
        Ok(roles)
    }

    fn principals(
        &self,
        key: &str,
        base: &Path,
        roles: &HashMap<String, Role>,
    ) -> anyhow::Result<Principals> {
        let mut listed: Vec<(String, &FilePrincipal)> = self
            .principal
            .iter()
            .enumerate()
            .map(|(i, p)| (format!("{key}.principal[{i}]"), p))
            .collect();
        let from_file;
        if let Some(path) = &self.principals_file {
            let path = base.join(path);
            let text = std::fs::read_to_string(&path).with_context(|| {
                format!("{key}.principals_file: cannot read {}", path.display())
            })?;
            from_file = toml::from_str::<PrincipalsFile>(&text)
                .with_context(|| format!("{key}.principals_file: invalid {}", path.display()))?;
            listed.extend(
                from_file
                    .principal
                    .iter()
                    .enumerate()
                    .map(|(i, p)| (format!("{}: principal[{i}]", path.display()), p)),
            );
        }
        let mut principals = Vec::new();
        for (key, p) in listed {
            if !roles.contains_key(&p.role) {
                bail!("{key}.role: no [[realm.role]] named {:?}", p.role);
            }
            principals.push(p.to_principal(&key)?);
        }
        Principals::new(principals).map_err(|e| anyhow!("{key}.principal: {e}"))
    }
}

impl FilePrincipal {
    fn to_principal(&self, key: &str) -> anyhow::Result<Principal> {
        let ticket = self
            .ticket
            .as_deref()
            .map(Ticket::parse)
            .transpose()
            .map_err(|e| anyhow!("{key}.ticket: {e}"))?;
        let wampcra = match &self.secret {
            Some(secret) => Some(
                CraKey::from_parts(secret, self.salt.clone(), self.iterations, self.keylen)
                    .map_err(|e| anyhow!("{key}.secret: {e}"))?,
            ),
            None if self.salt.is_some() || self.iterations.is_some() || self.keylen.is_some() => {
                bail!("{key}.salt: salt, iterations and keylen go with a secret")
            }
            None => None,
        };
        let authorized_keys = self
            .authorized_keys
            .iter()
            .map(|k| PublicKey::from_hex(k).map_err(|e| anyhow!("{key}.authorized_keys: {e}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        if ticket.is_none() && wampcra.is_none() && authorized_keys.is_empty() {
            bail!(
                "{key}: {:?} has no ticket, secret or authorized_keys",
                self.authid
            );
        }
        Ok(Principal {
            authid: self.authid.clone(),
            role: self.role.clone(),
            ticket,
            wampcra,
            authorized_keys,
        })
    }
}

impl FilePermission {
    fn to_permission(&self, key: &str) -> anyhow::Result<Permission> {
        let policy = match self.policy.as_deref() {
            None => MatchPolicy::Exact,
            Some(name) => MatchPolicy::from_option(name)
                .ok_or_else(|| anyhow!("{key}.match: {name:?} is not exact, prefix or wildcard"))?,
        };
        if policy != MatchPolicy::Prefix && self.uri.is_empty() {
            bail!("{key}.uri: empty (only a prefix may be empty, meaning every URI)");
        }
        let allow = self
            .allow
            .iter()
            .map(|name| {
                Action::from_name(name).ok_or_else(|| {
                    anyhow!("{key}.allow: {name:?} is not call, register, publish or subscribe")
                })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Permission {
            uri: self.uri.clone(),
            policy,
            allow,
        })
    }
}

/// Checks what spans realms: each authenticator's realm must be served here.
pub(crate) fn check_authenticators(realms: &[RealmConfig]) -> anyhow::Result<()> {
    for (i, realm) in realms.iter().enumerate() {
        if let Some(authenticator) = &realm.security.authenticator {
            if !realms.iter().any(|r| r.name == authenticator.realm) {
                bail!(
                    "realm[{i}].authenticator_realm: {:?} is not a configured realm",
                    authenticator.realm
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use switchboard_core::permissions::Action;

    use super::*;

    /// The issue's example, verbatim but for a real key.
    const SECURE: &str = r#"
[[realm]]
name = "com.example.secure"
authmethods = ["anonymous", "ticket", "wampcra", "cryptosign"]
anonymous_role = "public"
authenticator = "com.example.authenticate"
authenticator_realm = "com.example.realm"

[[realm.principal]]
authid = "joe"
role = "frontend"
ticket = "secret!!!"

[[realm.principal]]
authid = "peter"
role = "backend"
secret = "prq7+YkJ1/KlW1X0YczMHw=="

[[realm.principal]]
authid = "carol"
role = "backend"
authorized_keys = ["1adfc8bfe1d35616e64dffbd900096f23b066f914c8c2ffbb66f6075b96e116d"]

[[realm.role]]
name = "backend"
permissions = [
  { uri = "com.example.", match = "prefix", allow = ["call", "register", "publish", "subscribe"] },
  { uri = "com.example.secret", match = "exact", allow = [] },
]

[[realm.role]]
name = "frontend"
permissions = [{ uri = "com.example.", match = "prefix", allow = ["call"] }]

[[realm.role]]
name = "public"
"#;

    #[derive(Deserialize)]
    struct File {
        realm: Vec<FileRealm>,
    }

    fn realm(text: &str) -> anyhow::Result<RealmConfig> {
        let file: File = toml::from_str(text)?;
        let mut realms = file.realm.into_iter();
        realms
            .next()
            .expect("one realm")
            .into_config("realm[0]", Path::new("."))
    }

    fn error(text: &str) -> String {
        format!("{:#}", realm(text).unwrap_err())
    }

    #[test]
    fn the_documented_example_loads_with_every_part() {
        let config = realm(SECURE).unwrap();
        let security = &config.security;
        assert_eq!(security.methods.len(), 4);
        assert_eq!(security.anonymous_role, "public");
        assert_eq!(security.principals.len(), 3);
        let authenticator = security.authenticator.as_ref().unwrap();
        assert_eq!(authenticator.realm, "com.example.realm");
        let p = &security.permissions;
        assert!(p.allows("backend", Action::Register, "com.example.add"));
        assert!(!p.allows("backend", Action::Call, "com.example.secret"));
        assert!(!p.allows("frontend", Action::Register, "com.example.add"));
        assert!(!p.allows("public", Action::Call, "com.example.add"));
    }

    #[test]
    fn a_realm_without_authmethods_is_open_unless_anonymous_is_false() {
        let open = realm("[[realm]]\nname = \"a\"\n").unwrap();
        assert_eq!(*open.security, RealmSecurity::open());
        let closed = realm("[[realm]]\nname = \"a\"\nanonymous = false\n").unwrap();
        assert!(closed.security.methods.is_empty());
    }

    #[test]
    fn security_keys_on_an_open_realm_are_refused_by_name() {
        let text = "[[realm]]\nname = \"a\"\n[[realm.role]]\nname = \"r\"\n";
        assert!(
            error(text).starts_with("realm[0].role: needs authmethods"),
            "{}",
            error(text)
        );
        let text = "[[realm]]\nname = \"a\"\nauthmethods = [\"ticket\"]\nanonymous = true\n";
        assert!(
            error(text).starts_with("realm[0].anonymous"),
            "{}",
            error(text)
        );
    }

    #[test]
    fn unknown_keys_methods_actions_and_roles_are_named() {
        let typo = SECURE.replace("authorized_keys", "authorised_keys");
        assert!(error(&typo).contains("authorised_keys"), "{}", error(&typo));
        let method = SECURE.replace("\"cryptosign\"]", "\"kerberos\"]");
        assert!(error(&method).contains("kerberos"), "{}", error(&method));
        let action = SECURE.replace("allow = [\"call\"]", "allow = [\"cal\"]");
        assert!(error(&action).contains("\"cal\""), "{}", error(&action));
        let role = SECURE.replace("role = \"frontend\"", "role = \"frontdoor\"");
        assert!(
            error(&role).starts_with("realm[0].principal[0].role"),
            "{}",
            error(&role)
        );
        let anon = SECURE.replace("anonymous_role = \"public\"", "anonymous_role = \"guest\"");
        assert!(
            error(&anon).starts_with("realm[0].anonymous_role"),
            "{}",
            error(&anon)
        );
    }

    #[test]
    fn bad_credentials_are_named_with_their_principal() {
        let key = SECURE.replace("1adfc8bf", "zzzzzzzz");
        assert!(
            error(&key).starts_with("realm[0].principal[2].authorized_keys"),
            "{}",
            error(&key)
        );
        let salt = SECURE.replace(
            "secret = \"prq7+YkJ1/KlW1X0YczMHw==\"",
            "secret = \"x\"\nsalt = \"s\"",
        );
        assert!(
            error(&salt).starts_with("realm[0].principal[1].secret"),
            "{}",
            error(&salt)
        );
        let none = SECURE.replace("ticket = \"secret!!!\"", "");
        assert!(error(&none).contains("has no ticket"), "{}", error(&none));
        let twice = SECURE.replace("authid = \"peter\"", "authid = \"joe\"");
        assert!(
            error(&twice).contains("configured twice"),
            "{}",
            error(&twice)
        );
    }

    #[test]
    fn principals_may_come_from_a_separate_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("principals.toml"),
            "[[principal]]\nauthid = \"dave\"\nrole = \"backend\"\nticket = \"t\"\n",
        )
        .unwrap();
        let text = SECURE.replace(
            "anonymous_role = \"public\"",
            "anonymous_role = \"public\"\nprincipals_file = \"principals.toml\"",
        );
        let file: File = toml::from_str(&text).unwrap();
        let config = file
            .realm
            .into_iter()
            .next()
            .unwrap()
            .into_config("realm[0]", dir.path())
            .unwrap();
        assert!(config.security.principals.get("dave").is_some());
        assert_eq!(config.security.principals.len(), 4);
    }

    #[test]
    fn an_authenticator_realm_must_be_served_here() {
        let config = realm(SECURE).unwrap();
        let err = check_authenticators(std::slice::from_ref(&config)).unwrap_err();
        assert!(
            err.to_string().starts_with("realm[0].authenticator_realm"),
            "{err}"
        );
        let auth_realm = RealmConfig::anonymous("com.example.realm");
        check_authenticators(&[config, auth_realm]).unwrap();
    }
}
