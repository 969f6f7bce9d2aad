//! Who may change the cluster's membership: only a caller that presents the
//! operator's admin token (`Authorization: Bearer <token>`). Without a token
//! configured, nobody may: the endpoints share the client port, which is open
//! to every WAMP client, so an open default would let any client shrink the
//! cluster. Probes and metrics stay readable without a token.

use std::fmt;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use subtle::ConstantTimeEq;

/// The shortest token accepted, in bytes: guessing must stay out of reach.
pub const MIN_ADMIN_TOKEN_LEN: usize = 16;

/// The operator's secret for membership changes. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken(String);

/// Why a configured token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the admin token must be at least {MIN_ADMIN_TOKEN_LEN} bytes (got {0})")]
pub struct AdminTokenTooShort(pub usize);

impl AdminToken {
    /// A token from configuration text (surrounding whitespace, such as a token
    /// file's final newline, is not part of it); `None` for an empty one.
    pub fn new(text: &str) -> Result<Option<Self>, AdminTokenTooShort> {
        let token = text.trim();
        match token.len() {
            0 => Ok(None),
            n if n < MIN_ADMIN_TOKEN_LEN => Err(AdminTokenTooShort(n)),
            _ => Ok(Some(Self(token.to_owned()))),
        }
    }

    /// Whether `presented` is this token, in time that does not depend on
    /// where they differ.
    fn matches(&self, presented: &str) -> bool {
        self.0.as_bytes().ct_eq(presented.as_bytes()).into()
    }
}

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

/// The response that refuses `request`, or `None` if it carries the admin token.
pub(crate) fn refusal(request: &HttpRequest, token: Option<&AdminToken>) -> Option<HttpResponse> {
    let peer = request
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let Some(token) = token else {
        tracing::warn!(%peer, path = %request.path(), "membership change refused: no admin token is configured");
        return Some(HttpResponse::Forbidden().body(
            "membership changes are disabled: configure an admin token \
             (cluster.admin_token, SWITCHBOARD_ADMIN_TOKEN or cluster.admin_token_file)",
        ));
    };
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    match presented {
        Some(presented) if token.matches(presented.trim()) => None,
        _ => {
            tracing::warn!(%peer, path = %request.path(), "membership change refused: missing or wrong admin token");
            Some(
                HttpResponse::Unauthorized()
                    .insert_header((header::WWW_AUTHENTICATE, "Bearer"))
                    .body("a membership change needs Authorization: Bearer <admin token>"),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn token() -> AdminToken {
        AdminToken::new("0123456789abcdef-secret\n")
            .unwrap()
            .unwrap()
    }

    #[test]
    fn empty_tokens_mean_none_and_short_ones_are_refused() {
        assert_eq!(AdminToken::new("  \n"), Ok(None));
        assert_eq!(AdminToken::new("short"), Err(AdminTokenTooShort(5)));
        assert!(!format!("{:?}", token()).contains("secret"));
    }

    #[test]
    fn only_the_configured_bearer_token_is_let_through() {
        let with = |value: &str| {
            TestRequest::default()
                .insert_header((header::AUTHORIZATION, value.to_owned()))
                .to_http_request()
        };
        let token = token();
        let status = |refusal: Option<HttpResponse>| refusal.map(|r| r.status().as_u16());
        let right = with("Bearer 0123456789abcdef-secret");
        assert_eq!(status(refusal(&right, Some(&token))), None);
        let wrong = with("Bearer 0123456789abcdef-secreT");
        assert_eq!(status(refusal(&wrong, Some(&token))), Some(401));
        let basic = with("Basic 0123456789abcdef-secret");
        assert_eq!(status(refusal(&basic, Some(&token))), Some(401));
        let none = TestRequest::default().to_http_request();
        assert_eq!(status(refusal(&none, Some(&token))), Some(401));
        assert_eq!(status(refusal(&right, None)), Some(403));
    }
}
