//! The authentication handshake, one scenario per method and per way to fail.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ed25519_dalek::{Signer, SigningKey};
use switchboard_proto::error_uri::{
    AUTHENTICATION_DENIED, AUTHENTICATION_FAILED, NO_MATCHING_AUTH_METHOD, NO_SUCH_PRINCIPAL,
    NO_SUCH_ROLE,
};
use switchboard_proto::{Authenticate, Dict, Hello, Message, Value};

use crate::auth::{
    AuthMethod, AuthProvider, AuthenticatorRef, AuthenticatorReply, CraKey, Fresh, Handshake,
    Identity, Principal, Principals, PublicKey, RealmSecurity, Salt, Step, Ticket,
    MAX_SIGNATURE_LEN,
};
use crate::permissions::{Permissions, Role};

const CAROL_SEED: [u8; 32] = [9; 32];

fn carol_key() -> SigningKey {
    SigningKey::from_bytes(&CAROL_SEED)
}

fn public_hex(key: &SigningKey) -> String {
    hex::encode(key.verifying_key().as_bytes())
}

fn security(methods: &[AuthMethod], authenticator: bool) -> Arc<RealmSecurity> {
    let principals = Principals::new(vec![
        Principal {
            authid: "joe".into(),
            role: "frontend".into(),
            ticket: Some(Ticket::parse("secret!!!").unwrap()),
            wampcra: None,
            authorized_keys: vec![],
        },
        Principal {
            authid: "peter".into(),
            role: "backend".into(),
            ticket: None,
            wampcra: Some(
                CraKey::salted(
                    "s33kr1t",
                    Salt {
                        salt: "salt123".into(),
                        iterations: 100,
                        keylen: 32,
                    },
                )
                .unwrap(),
            ),
            authorized_keys: vec![],
        },
        Principal {
            authid: "carol".into(),
            role: "backend".into(),
            ticket: None,
            wampcra: None,
            authorized_keys: vec![PublicKey::from_hex(&public_hex(&carol_key())).unwrap()],
        },
    ])
    .unwrap();
    let roles: HashMap<String, Role> = ["frontend", "backend", "public"]
        .iter()
        .map(|r| ((*r).to_owned(), Role::new(vec![])))
        .collect();
    Arc::new(RealmSecurity {
        methods: methods.to_vec(),
        anonymous_role: "public".into(),
        principals,
        authenticator: authenticator.then(|| AuthenticatorRef {
            procedure: "com.example.authenticate".into(),
            realm: "com.example.auth".into(),
        }),
        permissions: Permissions::Roles(roles),
    })
}

fn all() -> Arc<RealmSecurity> {
    use AuthMethod::*;
    security(&[Anonymous, Ticket, WampCra, Cryptosign], false)
}

fn hello(methods: &[&str], authid: Option<&str>, authextra: Option<Dict>) -> Hello {
    let mut details = Dict::new();
    details.insert(
        "authmethods".into(),
        Value::List(methods.iter().map(|m| Value::from(*m)).collect()),
    );
    if let Some(authid) = authid {
        details.insert("authid".into(), Value::from(authid));
    }
    if let Some(extra) = authextra {
        details.insert("authextra".into(), Value::Dict(extra));
    }
    Hello {
        realm: "com.example.secure".into(),
        details,
    }
}

fn pubkey_extra(key: &SigningKey) -> Dict {
    let mut extra = Dict::new();
    extra.insert("pubkey".into(), Value::from(public_hex(key)));
    extra
}

fn fresh() -> Fresh {
    Fresh {
        random: [0x5a; 32],
        session: 777,
        now: SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600),
    }
}

fn start(security: Arc<RealmSecurity>, hello: Hello) -> (Handshake, Step) {
    Handshake::start(security, hello, Some("tcp4:127.0.0.1:5000".into()), fresh())
}

fn challenge_extra(step: Step) -> Dict {
    match step {
        Step::Challenge(Message::Challenge(c)) => c.extra,
        other => panic!("expected CHALLENGE, got {other:?}"),
    }
}

fn authenticate(handshake: &mut Handshake, signature: &str) -> Step {
    handshake.authenticate(&Authenticate {
        signature: signature.into(),
        extra: Dict::new(),
    })
}

fn admitted(step: Step) -> Identity {
    match step {
        Step::Admit(identity) => identity,
        other => panic!("expected admission, got {other:?}"),
    }
}

fn refused(step: Step) -> String {
    match step {
        Step::Refuse(refusal) => refusal.reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_correct_ticket_admits_the_principal_with_its_role() {
    let (mut h, step) = start(all(), hello(&["ticket"], Some("joe"), None));
    assert!(challenge_extra(step).is_empty());
    let identity = admitted(authenticate(&mut h, "secret!!!"));
    assert_eq!(identity.authid.as_deref(), Some("joe"));
    assert_eq!(identity.authrole, "frontend");
    assert_eq!(identity.authmethod, AuthMethod::Ticket);
    assert_eq!(identity.authprovider, AuthProvider::Static);
    assert_eq!(identity.session, Some(777));
}

#[test]
fn a_wrong_ticket_is_denied_and_an_unknown_authid_is_no_such_principal() {
    let (mut h, _) = start(all(), hello(&["ticket"], Some("joe"), None));
    assert_eq!(
        refused(authenticate(&mut h, "guess")),
        AUTHENTICATION_DENIED
    );
    let (_, step) = start(all(), hello(&["ticket"], Some("mallory"), None));
    assert_eq!(refused(step), NO_SUCH_PRINCIPAL);
    let (_, step) = start(all(), hello(&["ticket"], None, None));
    assert_eq!(refused(step), NO_SUCH_PRINCIPAL);
}

#[test]
fn salted_wampcra_sends_the_salt_and_checks_the_hmac_of_its_own_challenge() {
    let (mut h, step) = start(all(), hello(&["wampcra"], Some("peter"), None));
    let extra = challenge_extra(step);
    assert_eq!(extra.get("salt"), Some(&Value::from("salt123")));
    assert_eq!(extra.get("iterations"), Some(&Value::Int(100)));
    assert_eq!(extra.get("keylen"), Some(&Value::Int(32)));
    let challenge = extra["challenge"].as_str().unwrap().to_owned();
    let fields: serde_json::Value = serde_json::from_str(&challenge).unwrap();
    assert_eq!(fields["authid"], "peter");
    assert_eq!(fields["authrole"], "backend");
    assert_eq!(fields["authmethod"], "wampcra");
    assert_eq!(fields["authprovider"], "static");
    assert_eq!(fields["session"], 777);
    assert_eq!(fields["timestamp"], "2026-01-01T00:00:00.000Z");
    // The client's side, as Autobahn computes it.
    let client_key = CraKey::unsalted(&crate::auth::derive_key("s33kr1t", "salt123", 100, 32));
    let identity = admitted(authenticate(&mut h, &client_key.sign(&challenge)));
    assert_eq!(identity.authmethod, AuthMethod::WampCra);
}

#[test]
fn a_wampcra_signature_with_the_wrong_secret_is_denied() {
    let (mut h, step) = start(all(), hello(&["wampcra"], Some("peter"), None));
    let challenge = challenge_extra(step)["challenge"]
        .as_str()
        .unwrap()
        .to_owned();
    let wrong = CraKey::unsalted("s33kr1t").sign(&challenge);
    assert_eq!(refused(authenticate(&mut h, &wrong)), AUTHENTICATION_DENIED);
}

#[test]
fn cryptosign_accepts_a_signature_of_the_challenge_with_or_without_an_authid() {
    for authid in [Some("carol"), None] {
        let (mut h, step) = start(
            all(),
            hello(&["cryptosign"], authid, Some(pubkey_extra(&carol_key()))),
        );
        let extra = challenge_extra(step);
        assert_eq!(extra.get("channel_binding"), Some(&Value::Null));
        let challenge = hex::decode(extra["challenge"].as_str().unwrap()).unwrap();
        let signature = carol_key().sign(&challenge);
        // As PyNaCl sends it: signature followed by the signed message.
        let signed = format!(
            "{}{}",
            hex::encode(signature.to_bytes()),
            hex::encode(&challenge)
        );
        let identity = admitted(authenticate(&mut h, &signed));
        assert_eq!(identity.authid.as_deref(), Some("carol"));
        assert_eq!(identity.authrole, "backend");
    }
}

#[test]
fn cryptosign_refuses_unknown_keys_and_signatures_by_another_key() {
    let stranger = SigningKey::from_bytes(&[1; 32]);
    let (_, step) = start(
        all(),
        hello(
            &["cryptosign"],
            Some("carol"),
            Some(pubkey_extra(&stranger)),
        ),
    );
    assert_eq!(refused(step), AUTHENTICATION_DENIED);
    let (_, step) = start(
        all(),
        hello(&["cryptosign"], None, Some(pubkey_extra(&stranger))),
    );
    assert_eq!(refused(step), NO_SUCH_PRINCIPAL);
    let (mut h, step) = start(
        all(),
        hello(&["cryptosign"], None, Some(pubkey_extra(&carol_key()))),
    );
    let challenge = hex::decode(challenge_extra(step)["challenge"].as_str().unwrap()).unwrap();
    let forged = hex::encode(stranger.sign(&challenge).to_bytes());
    assert_eq!(
        refused(authenticate(&mut h, &forged)),
        AUTHENTICATION_DENIED
    );
}

#[test]
fn cryptosign_without_a_pubkey_or_asking_for_channel_binding_fails() {
    let (_, step) = start(all(), hello(&["cryptosign"], Some("carol"), None));
    assert_eq!(refused(step), AUTHENTICATION_FAILED);
    let mut extra = pubkey_extra(&carol_key());
    extra.insert("channel_binding".into(), Value::from("tls-unique"));
    let (_, step) = start(all(), hello(&["cryptosign"], Some("carol"), Some(extra)));
    assert_eq!(refused(step), AUTHENTICATION_FAILED);
}

#[test]
fn anonymous_sessions_get_the_realm_anonymous_role_and_need_the_realm_to_accept_them() {
    let (_, step) = start(all(), Hello::default());
    let identity = admitted(step);
    assert_eq!(
        (identity.authid, identity.authrole.as_str()),
        (None, "public")
    );
    let closed = security(&[AuthMethod::Ticket], false);
    let (_, step) = start(closed.clone(), Hello::default());
    assert_eq!(refused(step), NO_MATCHING_AUTH_METHOD);
    let (_, step) = start(closed, hello(&["anonymous"], None, None));
    assert_eq!(refused(step), NO_MATCHING_AUTH_METHOD);
}

#[test]
fn the_first_offered_method_the_principal_can_use_is_chosen() {
    // joe has only a ticket: wampcra, offered first, is skipped.
    let (mut h, step) = start(all(), hello(&["wampcra", "ticket"], Some("joe"), None));
    challenge_extra(step);
    assert_eq!(h.method(), AuthMethod::Ticket);
    assert_eq!(
        admitted(authenticate(&mut h, "secret!!!")).authmethod,
        AuthMethod::Ticket
    );
    let (_, step) = start(all(), hello(&["scram", "kerberos"], Some("joe"), None));
    assert_eq!(refused(step), NO_MATCHING_AUTH_METHOD);
}

#[test]
fn an_oversized_signature_fails_without_being_checked() {
    let (mut h, _) = start(all(), hello(&["ticket"], Some("joe"), None));
    let huge = "x".repeat(MAX_SIGNATURE_LEN + 1);
    assert_eq!(refused(authenticate(&mut h, &huge)), AUTHENTICATION_FAILED);
}

#[test]
fn a_second_authenticate_is_refused() {
    let (mut h, _) = start(all(), hello(&["ticket"], Some("joe"), None));
    admitted(authenticate(&mut h, "secret!!!"));
    assert_eq!(
        refused(authenticate(&mut h, "secret!!!")),
        switchboard_proto::error_uri::PROTOCOL_VIOLATION
    );
}

fn dynamic() -> Arc<RealmSecurity> {
    use AuthMethod::*;
    security(&[Ticket, WampCra, Cryptosign], true)
}

fn answer(value: Value) -> AuthenticatorReply {
    AuthenticatorReply::Result(vec![value], Dict::new())
}

fn ask(step: Step) -> Vec<Value> {
    match step {
        Step::Ask(request) => {
            assert_eq!(request.realm, "com.example.auth");
            assert_eq!(request.procedure, "com.example.authenticate");
            request.args
        }
        other => panic!("expected a call to the authenticator, got {other:?}"),
    }
}

#[test]
fn a_dynamic_ticket_goes_to_the_authenticator_after_authenticate() {
    let (mut h, step) = start(dynamic(), hello(&["ticket"], Some("dora"), None));
    challenge_extra(step);
    let args = ask(authenticate(&mut h, "t0k3n"));
    assert_eq!(args[0], Value::from("com.example.secure"));
    assert_eq!(args[1], Value::from("dora"));
    let details = args[2].as_dict().unwrap();
    assert_eq!(details.get("ticket"), Some(&Value::from("t0k3n")));
    assert_eq!(details.get("authmethod"), Some(&Value::from("ticket")));
    let mut extra = Dict::new();
    extra.insert("tier".into(), Value::from("gold"));
    let mut reply = Dict::new();
    reply.insert("role".into(), Value::from("frontend"));
    reply.insert("authid".into(), Value::from("dora@example.com"));
    reply.insert("extra".into(), Value::Dict(extra.clone()));
    let identity = admitted(h.answer(answer(Value::Dict(reply))));
    assert_eq!(identity.authid.as_deref(), Some("dora@example.com"));
    assert_eq!(identity.authprovider, AuthProvider::Dynamic);
    assert_eq!(identity.authextra, extra);
}

#[test]
fn static_principals_are_not_sent_to_the_authenticator() {
    let (mut h, _) = start(dynamic(), hello(&["ticket"], Some("joe"), None));
    assert_eq!(
        admitted(authenticate(&mut h, "secret!!!")).authprovider,
        AuthProvider::Static
    );
}

#[test]
fn a_dynamic_wampcra_secret_is_asked_for_before_the_challenge() {
    let (mut h, step) = start(dynamic(), hello(&["wampcra"], Some("dora"), None));
    ask(step);
    let mut reply = Dict::new();
    reply.insert("role".into(), Value::from("backend"));
    reply.insert("secret".into(), Value::from("pw"));
    let extra = challenge_extra(h.answer(answer(Value::Dict(reply))));
    let challenge = extra["challenge"].as_str().unwrap().to_owned();
    let fields: serde_json::Value = serde_json::from_str(&challenge).unwrap();
    assert_eq!(fields["authprovider"], "dynamic");
    let identity = admitted(authenticate(
        &mut h,
        &CraKey::unsalted("pw").sign(&challenge),
    ));
    assert_eq!(identity.authrole, "backend");
}

#[test]
fn a_dynamic_cryptosign_key_must_include_the_offered_one() {
    let dora = SigningKey::from_bytes(&[4; 32]);
    let (mut h, step) = start(
        dynamic(),
        hello(&["cryptosign"], None, Some(pubkey_extra(&dora))),
    );
    ask(step);
    let mut reply = Dict::new();
    reply.insert("role".into(), Value::from("backend"));
    reply.insert(
        "pubkey".into(),
        Value::List(vec![Value::from(public_hex(&dora))]),
    );
    let extra = challenge_extra(h.answer(answer(Value::Dict(reply.clone()))));
    let challenge = hex::decode(extra["challenge"].as_str().unwrap()).unwrap();
    let identity = admitted(authenticate(
        &mut h,
        &hex::encode(dora.sign(&challenge).to_bytes()),
    ));
    assert_eq!(
        identity.authid,
        Some(public_hex(&dora)),
        "no authid: the key names it"
    );

    let (mut h, step) = start(
        dynamic(),
        hello(&["cryptosign"], Some("eve"), Some(pubkey_extra(&dora))),
    );
    ask(step);
    reply.insert("pubkey".into(), Value::from(public_hex(&carol_key())));
    assert_eq!(
        refused(h.answer(answer(Value::Dict(reply)))),
        AUTHENTICATION_DENIED
    );
}

#[test]
fn an_authenticator_error_passes_through_and_an_unknown_role_is_no_such_role() {
    let (mut h, _) = start(dynamic(), hello(&["wampcra"], Some("dora"), None));
    let raised = AuthenticatorReply::Error {
        uri: "com.example.no_such_user".into(),
        message: "who?".into(),
    };
    assert_eq!(refused(h.answer(raised)), "com.example.no_such_user");
    let (mut h, _) = start(dynamic(), hello(&["wampcra"], Some("dora"), None));
    let mut reply = Dict::new();
    reply.insert("role".into(), Value::from("admin"));
    reply.insert("secret".into(), Value::from("pw"));
    assert_eq!(refused(h.answer(answer(Value::Dict(reply)))), NO_SUCH_ROLE);
}

/// A ticket stored as a password hash is not checked in the handshake's own
/// step: the step asks for the check (the transport runs it off the realm's
/// thread) and the outcome decides.
#[test]
fn a_hashed_ticket_is_checked_away_from_the_handshake_then_admits_or_denies() {
    use rand::SeedableRng;
    let phc = crate::auth::hash_ticket("secret!!!", &mut rand::rngs::StdRng::seed_from_u64(7));
    let principals = Principals::new(vec![Principal {
        authid: "hazel".into(),
        role: "frontend".into(),
        ticket: Some(Ticket::parse(&phc).unwrap()),
        wampcra: None,
        authorized_keys: vec![],
    }])
    .unwrap();
    let roles = HashMap::from([("frontend".to_owned(), Role::new(vec![]))]);
    let hashed = Arc::new(RealmSecurity {
        methods: vec![AuthMethod::Ticket],
        anonymous_role: "public".into(),
        principals,
        authenticator: None,
        permissions: Permissions::Roles(roles),
    });
    for (offered, admits) in [("secret!!!", true), ("guess", false)] {
        let (mut h, _) = start(hashed.clone(), hello(&["ticket"], Some("hazel"), None));
        let check = match authenticate(&mut h, offered) {
            Step::Check(check) => check,
            other => panic!("expected a password check, got {other:?}"),
        };
        assert!(!format!("{check:?}").contains(offered), "{check:?}");
        let outcome = check.run();
        assert_eq!(outcome, admits);
        let step = h.checked(outcome);
        if admits {
            assert_eq!(admitted(step).authid.as_deref(), Some("hazel"));
        } else {
            assert_eq!(refused(step), AUTHENTICATION_DENIED);
        }
        assert_eq!(
            refused(h.checked(true)),
            AUTHENTICATION_FAILED,
            "asked once only"
        );
    }
}
