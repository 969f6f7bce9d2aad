//! URI rules from the spec (`rfc/text/basic/uris.md`, "Relaxed/Loose URIs" and
//! "Strict URIs").
//!
//! A URI is dot-separated components. *Loose* components may hold anything but
//! whitespace, `.` and `#`; *strict* components are `[0-9a-z_]+`. Patterns used
//! by wildcard registrations and subscriptions may have empty components; plain
//! URIs may not. Which rule applies is a realm setting, so the check is a value.

/// Which component alphabet a realm enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UriCheck {
    /// Anything but whitespace, `.` and `#` (the spec's default for routers).
    #[default]
    Loose,
    /// Only lowercase letters, digits and `_`.
    Strict,
}

/// Whether empty components (`a..c`) are allowed: only in wildcard patterns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Components {
    /// Every component must be non-empty.
    NonEmpty,
    /// Empty components are wildcards.
    AllowEmpty,
}

impl UriCheck {
    /// Whether `uri` is valid under this rule.
    pub fn is_valid(self, uri: &str, components: Components) -> bool {
        if uri.is_empty() {
            return false;
        }
        uri.split('.').all(|component| {
            if component.is_empty() {
                return components == Components::AllowEmpty;
            }
            match self {
                UriCheck::Loose => !component.chars().any(|c| c.is_whitespace() || c == '#'),
                UriCheck::Strict => component
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            }
        })
    }
}

/// Whether `uri` is in the `wamp.` namespace the spec reserves for the router.
pub fn is_reserved(uri: &str) -> bool {
    uri.starts_with("wamp.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loose_accepts_mixed_case_and_punctuation_but_not_whitespace_or_hash() {
        let loose = UriCheck::Loose;
        assert!(loose.is_valid("com.Example.add-2", Components::NonEmpty));
        assert!(!loose.is_valid("com.example add", Components::NonEmpty));
        assert!(!loose.is_valid("com.ex#ample", Components::NonEmpty));
        assert!(!loose.is_valid("com.example\t", Components::NonEmpty));
    }

    #[test]
    fn strict_accepts_only_lowercase_digits_underscore() {
        let strict = UriCheck::Strict;
        assert!(strict.is_valid("com.example.add_2", Components::NonEmpty));
        assert!(!strict.is_valid("com.Example.add", Components::NonEmpty));
        assert!(!strict.is_valid("com.example.add-2", Components::NonEmpty));
    }

    #[test]
    fn empty_components_only_in_patterns() {
        for check in [UriCheck::Loose, UriCheck::Strict] {
            assert!(!check.is_valid("com..add", Components::NonEmpty));
            assert!(check.is_valid("com..add", Components::AllowEmpty));
            assert!(!check.is_valid(".com", Components::NonEmpty));
            assert!(!check.is_valid("com.", Components::NonEmpty));
            assert!(!check.is_valid("", Components::AllowEmpty));
        }
    }

    #[test]
    fn wamp_namespace_is_reserved() {
        assert!(is_reserved("wamp.registration.list"));
        assert!(!is_reserved("com.wamp.x"));
    }
}
