//! Pattern-based registrations (`rpc_pattern_based_registration.md`): what prefix
//! and wildcard patterns match, which registration wins, and which patterns are
//! refused.

use switchboard_proto::error_uri::{INVALID_URI, NO_SUCH_PROCEDURE};
use switchboard_proto::{code, Dict, Message, Value};

use super::harness::Harness;
use super::wamp::{error_of, invocation, opts, result};
use crate::SessionId;

fn matching(policy: &str) -> Dict {
    opts(&[("match", policy.into())])
}

/// Calls `uri` and returns which of `callees` got the INVOCATION, and its
/// `details.procedure`. Fails unless exactly one callee was invoked.
fn invoked_by(
    h: &mut Harness,
    caller: SessionId,
    uri: &str,
    callees: &[SessionId],
) -> (SessionId, Option<Value>) {
    h.call(caller, 1, uri, Dict::new(), vec![]);
    let mut hits = Vec::new();
    for &callee in callees {
        for message in h.take(callee) {
            let inv = invocation(message);
            hits.push((callee, inv.details.get("procedure").cloned()));
            // Finish the call, so request id 1 is free again.
            h.yield_(callee, inv.request, Dict::new(), vec![]);
            assert_eq!(result(h.take_one(caller)).request, 1);
        }
    }
    assert_eq!(hits.len(), 1, "one invocation for {uri}, got {hits:?}");
    h.assert_quiet();
    hits.remove(0)
}

fn assert_no_such_procedure(h: &mut Harness, caller: SessionId, uri: &str) {
    h.call(caller, 1, uri, Dict::new(), vec![]);
    assert_eq!(
        error_of(h.take_one(caller)),
        (code::CALL, 1, NO_SUCH_PROCEDURE.into()),
        "{uri}"
    );
}

#[test]
fn a_prefix_registration_gets_the_calls_it_matches_with_the_called_uri_in_details() {
    let mut h = Harness::new();
    let (callee, caller) = (h.join(), h.join());
    let id = h.registered(callee, "com.example", matching("prefix"));
    for (request, uri) in (10..).zip(["com.example.user.get", "com.example", "com.example-2.x"]) {
        h.call(caller, request, uri, Dict::new(), vec![]);
        let inv = invocation(h.take_one(callee));
        assert_eq!(inv.registration, id);
        assert_eq!(inv.details.get("procedure"), Some(&Value::from(uri)));
    }
    assert_no_such_procedure(&mut h, caller, "com.exampl");
    assert_no_such_procedure(&mut h, caller, "org.example.user");
}

#[test]
fn a_wildcard_registration_gets_the_calls_it_matches_with_the_called_uri_in_details() {
    let mut h = Harness::new();
    let (callee, caller) = (h.join(), h.join());
    let id = h.registered(callee, "com.example..get", matching("wildcard"));
    h.call(caller, 10, "com.example.user.get", Dict::new(), vec![]);
    let inv = invocation(h.take_one(callee));
    assert_eq!(inv.registration, id);
    assert_eq!(
        inv.details.get("procedure"),
        Some(&Value::from("com.example.user.get"))
    );
    // One whole component, and the lengths must agree.
    assert_no_such_procedure(&mut h, caller, "com.example.a.b.get");
    assert_no_such_procedure(&mut h, caller, "com.example.get");
    assert_no_such_procedure(&mut h, caller, "com.example.user.put");
}

#[test]
fn exact_beats_prefix_beats_wildcard() {
    let mut h = Harness::new();
    let (exact, prefix, wildcard, caller) = (h.join(), h.join(), h.join(), h.join());
    let all = [exact, prefix, wildcard];
    h.registered(exact, "a1.b2.c3", Dict::new());
    let prefix_id = h.registered(prefix, "a1.b2", matching("prefix"));
    h.registered(wildcard, "a1.b2.", matching("wildcard"));
    // All three match: the exact one wins, and gets no details.procedure.
    assert_eq!(invoked_by(&mut h, caller, "a1.b2.c3", &all), (exact, None));
    // Prefix and wildcard match: the prefix wins.
    assert_eq!(
        invoked_by(&mut h, caller, "a1.b2.c4", &all),
        (prefix, Some("a1.b2.c4".into()))
    );
    // Without the prefix registration the wildcard gets it.
    assert!(matches!(
        h.unregister(prefix, 2, prefix_id),
        Message::Unregistered(_)
    ));
    assert_eq!(
        invoked_by(&mut h, caller, "a1.b2.c4", &all),
        (wildcard, Some("a1.b2.c4".into()))
    );
}

#[test]
fn the_longest_prefix_wins() {
    let mut h = Harness::new();
    let (short, long, caller) = (h.join(), h.join(), h.join());
    h.registered(short, "a1.b2", matching("prefix"));
    h.registered(long, "a1.b2.c3", matching("prefix"));
    let both = [short, long];
    assert_eq!(invoked_by(&mut h, caller, "a1.b2.c3.d4", &both).0, long);
    assert_eq!(invoked_by(&mut h, caller, "a1.b2.x", &both).0, short);
}

#[test]
fn the_wildcard_with_the_longer_literal_run_wins() {
    let mut h = Harness::new();
    let (loose, tight, caller) = (h.join(), h.join(), h.join());
    h.registered(loose, "a1...d4", matching("wildcard"));
    h.registered(tight, "a1.b2..d4", matching("wildcard"));
    let both = [loose, tight];
    assert_eq!(invoked_by(&mut h, caller, "a1.b2.c3.d4", &both).0, tight);
    assert_eq!(invoked_by(&mut h, caller, "a1.x.c3.d4", &both).0, loose);
}

#[test]
fn a_pattern_registration_removed_while_a_call_is_pending_still_completes_that_call() {
    let mut h = Harness::new();
    let (callee, caller) = (h.join(), h.join());
    let id = h.registered(callee, "com.example", matching("prefix"));
    let inv = h.call_invoked(caller, 1, "com.example.slow", callee);
    assert!(matches!(h.unregister(callee, 2, id), Message::Unregistered(u) if u.request == 2));
    h.yield_(callee, inv.request, Dict::new(), vec!["still here".into()]);
    let r = result(h.take_one(caller));
    assert_eq!(r.request, 1);
    assert_eq!(h.realm.dealer().pending_calls(), 0);
    assert_no_such_procedure(&mut h, caller, "com.example.slow");
}

#[test]
fn invalid_patterns_are_refused_with_invalid_uri() {
    let mut h = Harness::new();
    let s = h.join();
    let cases = [
        ("prefix", ""),
        ("prefix", "com..example"),
        ("prefix", "com.ex ample"),
        ("prefix", "wamp."),
        ("wildcard", ""),
        ("wildcard", "com.#.get"),
        ("wildcard", "com. .get"),
        ("exact", "com..get"),
    ];
    for (request, (policy, pattern)) in (1..).zip(cases) {
        let reply = h.register(s, request, pattern, matching(policy));
        assert_eq!(
            error_of(reply),
            (code::REGISTER, request, INVALID_URI.into()),
            "{policy} {pattern:?}"
        );
    }
    assert!(h.realm.dealer().registry().is_empty());
}
