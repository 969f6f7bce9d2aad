//! `wamp.session.add_testament` and `wamp.session.flush_testaments`: checking
//! their arguments. Storing and publishing testaments is `realm/testaments.rs`.

use switchboard_proto::error_uri::{INVALID_ARGUMENT, INVALID_URI};
use switchboard_proto::uri::{is_reserved, Components, UriCheck};
use switchboard_proto::{Arguments, Dict, Value};

use super::MetaReply;
use crate::broker::Audience;
use crate::realm::{Testament, TestamentScope};

/// `add_testament(topic, args, kwargs, publish_options=, scope=)`.
pub(super) fn add(args: &[Value], kwargs: &Dict) -> MetaReply {
    let invalid = |why: &str| MetaReply::Error(INVALID_ARGUMENT, why.into());
    let Some(topic) = args.first().and_then(Value::as_str) else {
        return invalid("add_testament takes a topic URI first");
    };
    if !UriCheck::Loose.is_valid(topic, Components::NonEmpty) || is_reserved(topic) {
        return MetaReply::Error(
            INVALID_URI,
            format!("{topic:?} is not a topic to publish to"),
        );
    }
    let event_args = match args.get(1) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::List(list)) => list.clone(),
        Some(_) => return invalid("the testament's args must be a list"),
    };
    let event_kwargs = match args.get(2) {
        None | Some(Value::Null) => Dict::new(),
        Some(Value::Dict(dict)) => dict.clone(),
        Some(_) => return invalid("the testament's kwargs must be a dict"),
    };
    let options = match kwargs.get("publish_options") {
        None | Some(Value::Null) => Dict::new(),
        Some(Value::Dict(dict)) => dict.clone(),
        Some(_) => return invalid("publish_options must be a dict"),
    };
    // The same checks as a PUBLISH's lists, so a testament never fails later.
    if let Err(why) = Audience::from_options(&options, 0) {
        return MetaReply::Error(INVALID_ARGUMENT, why);
    }
    let scope = match scope(kwargs) {
        Ok(scope) => scope,
        Err(why) => return MetaReply::Error(INVALID_ARGUMENT, why),
    };
    let arguments = if event_kwargs.is_empty() {
        Arguments::list(event_args)
    } else {
        Arguments::with_kwargs(event_args, event_kwargs)
    };
    MetaReply::AddTestament(Testament {
        topic: topic.to_owned(),
        arguments,
        options,
        scope,
    })
}

/// `flush_testaments(scope=)`.
pub(super) fn flush(kwargs: &Dict) -> MetaReply {
    match scope(kwargs) {
        Ok(scope) => MetaReply::FlushTestaments(scope),
        Err(why) => MetaReply::Error(INVALID_ARGUMENT, why),
    }
}

/// The `scope` keyword argument; `destroyed` when absent, as the spec says.
/// Why not, for an invalid one.
fn scope(kwargs: &Dict) -> Result<TestamentScope, String> {
    match kwargs.get("scope") {
        None | Some(Value::Null) => Ok(TestamentScope::Destroyed),
        Some(Value::String(name)) => TestamentScope::from_option(name)
            .ok_or_else(|| format!("scope {name:?} is neither \"destroyed\" nor \"detached\"")),
        Some(_) => Err("scope must be a string".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kw(pairs: &[(&str, Value)]) -> Dict {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn a_testament_takes_its_topic_args_kwargs_options_and_scope() {
        let reply = add(
            &[
                "com.example.gone".into(),
                Value::List(vec![1.into()]),
                Value::Dict(kw(&[("a", 2.into())])),
            ],
            &kw(&[
                ("scope", "detached".into()),
                (
                    "publish_options",
                    Value::Dict(kw(&[("disclose_me", true.into())])),
                ),
            ]),
        );
        let MetaReply::AddTestament(t) = reply else {
            panic!("{reply:?}");
        };
        assert_eq!(t.topic, "com.example.gone");
        assert_eq!(
            t.arguments,
            Arguments::with_kwargs(vec![1.into()], kw(&[("a", 2.into())]))
        );
        assert_eq!(t.scope, TestamentScope::Detached);
        assert_eq!(t.options.get("disclose_me"), Some(&Value::Bool(true)));
    }

    #[test]
    fn the_scope_defaults_to_destroyed() {
        let reply = add(&["t".into()], &Dict::new());
        assert!(
            matches!(&reply, MetaReply::AddTestament(t) if t.scope == TestamentScope::Destroyed),
            "{reply:?}"
        );
        assert_eq!(
            flush(&Dict::new()),
            MetaReply::FlushTestaments(TestamentScope::Destroyed)
        );
    }

    #[test]
    fn bad_arguments_are_refused() {
        let refused = |reply: MetaReply| match reply {
            MetaReply::Error(uri, _) => uri,
            other => panic!("{other:?}"),
        };
        assert_eq!(refused(add(&[], &Dict::new())), INVALID_ARGUMENT);
        assert_eq!(refused(add(&[1.into()], &Dict::new())), INVALID_ARGUMENT);
        assert_eq!(refused(add(&["wamp.x".into()], &Dict::new())), INVALID_URI);
        assert_eq!(
            refused(add(&["t".into(), "not a list".into()], &Dict::new())),
            INVALID_ARGUMENT
        );
        assert_eq!(
            refused(add(&["t".into()], &kw(&[("scope", "forever".into())]))),
            INVALID_ARGUMENT
        );
        assert_eq!(
            refused(flush(&kw(&[("scope", 3.into())]))),
            INVALID_ARGUMENT
        );
    }
}
