//! Caller identification (`rpc_caller_identification.md`): the caller asks with
//! `disclose_me`, the callee with `disclose_caller`, or the realm discloses by
//! configuration.

use switchboard_proto::{Dict, Value};

use super::harness::Harness;
use super::wamp::{invocation, opts};
use crate::{RealmConfig, SessionId};

const P: &str = "com.example.who";

fn realm_disclosing(disclose_caller: bool) -> Harness {
    Harness::with_config(RealmConfig {
        disclose_caller,
        ..RealmConfig::anonymous("com.example.realm")
    })
}

/// Registers `P` with `register_options`, calls it with `call_options`, and
/// returns the INVOCATION's details and the caller's id.
fn invocation_details(
    h: &mut Harness,
    register_options: Dict,
    call_options: Dict,
) -> (Dict, SessionId) {
    let (callee, caller) = (h.join(), h.join());
    h.registered(callee, P, register_options);
    h.call(caller, 1, P, call_options, vec![]);
    (invocation(h.take_one(callee)).details, caller)
}

fn assert_disclosed(details: &Dict, caller: SessionId) {
    assert_eq!(details.get("caller"), Some(&Value::from(caller)));
    assert_eq!(
        details.get("caller_authid"),
        Some(&Value::from(format!("anonymous-{caller}")))
    );
    assert_eq!(
        details.get("caller_authrole"),
        Some(&Value::from("anonymous"))
    );
}

#[test]
fn call_disclose_me_discloses_the_caller_when_the_realm_does_not() {
    let mut h = realm_disclosing(false);
    let disclose_me = opts(&[("disclose_me", true.into())]);
    let (details, caller) = invocation_details(&mut h, Dict::new(), disclose_me);
    assert_disclosed(&details, caller);
}

#[test]
fn register_disclose_caller_discloses_every_caller_when_the_realm_does_not() {
    let mut h = realm_disclosing(false);
    let disclose_caller = opts(&[("disclose_caller", true.into())]);
    let (details, caller) = invocation_details(&mut h, disclose_caller, Dict::new());
    assert_disclosed(&details, caller);
}

#[test]
fn without_a_request_or_realm_setting_the_caller_is_not_disclosed() {
    let mut h = realm_disclosing(false);
    let (details, _) = invocation_details(&mut h, Dict::new(), Dict::new());
    for key in ["caller", "caller_authid", "caller_authrole"] {
        assert_eq!(details.get(key), None, "{key}");
    }
}

#[test]
fn disclose_me_false_does_not_disclose_the_caller() {
    let mut h = realm_disclosing(false);
    let no = opts(&[("disclose_me", false.into())]);
    let (details, _) = invocation_details(&mut h, Dict::new(), no);
    assert_eq!(details.get("caller"), None);
}

#[test]
fn the_default_realm_config_discloses_every_caller() {
    let mut h = Harness::new();
    assert!(h.realm.config().disclose_caller);
    let (details, caller) = invocation_details(&mut h, Dict::new(), Dict::new());
    assert_disclosed(&details, caller);
}
