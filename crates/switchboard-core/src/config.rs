//! What a realm allows, as configured by the operator.

use switchboard_proto::uri::UriCheck;

/// One realm's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct RealmConfig {
    /// The realm's URI, as clients name it in HELLO.
    pub name: String,
    /// Whether the realm admits sessions that do not authenticate.
    pub allow_anonymous: bool,
    /// Which URI alphabet REGISTER and CALL must use.
    pub uri_check: UriCheck,
}

impl RealmConfig {
    /// A realm that admits anonymous sessions and checks URIs loosely, which is what
    /// the seed example (`com.example.realm`, authmethod `anonymous`) expects.
    pub fn anonymous(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            allow_anonymous: true,
            uri_check: UriCheck::Loose,
        }
    }
}
