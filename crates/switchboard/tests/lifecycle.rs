//! Process-level behaviour: shutdown, bad config, bad input.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Raw, Router};
use switchboard_client::{Arguments, Codec, Dict};

#[tokio::test]
async fn sigterm_says_goodbye_to_every_session_and_exits_zero() {
    let mut router = Router::start(&[]);
    let mut raw = Raw::joined_json(&router.url).await;
    let status = tokio::task::spawn_blocking(move || {
        let status = router.terminate(Duration::from_secs(10));
        (router, status)
    });
    let goodbye = raw.recv_json().await.expect("GOODBYE before close");
    assert_eq!(goodbye[0], 6);
    assert_eq!(goodbye[2], "wamp.close.system_shutdown");
    raw.send_text(r#"[6, {}, "wamp.close.goodbye_and_out"]"#)
        .await;
    let (_router, status) = status.await.unwrap();
    assert_eq!(status.expect("exited within 10 s").code(), Some(0));
}

#[test]
fn bad_config_fails_at_start_and_names_the_key() {
    let dir = std::env::temp_dir().join(format!("switchboard-badconfig-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.toml");
    std::fs::write(&file, "[server]\nport = \"eighty\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("--config")
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("port"), "{stderr}");

    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .env("SWITCHBOARD_MAX_MESSAGE_SIZE", "big")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("SWITCHBOARD_MAX_MESSAGE_SIZE"));
    let _ = std::fs::remove_dir_all(dir);
}

/// After each bad input, a well-behaved client must still register and call.
async fn router_still_serves(router: &Router) {
    let callee = router.client(Codec::Json).await;
    let name = format!("com.example.ok{}", callee.session_id());
    callee
        .register(&name, Dict::new(), |_| async {
            Ok(Arguments::list(vec![1.into()]))
        })
        .await
        .unwrap();
    let caller = router.client(Codec::Msgpack).await;
    caller.call(&name, Arguments::none()).await.unwrap();
}

async fn expect_abort(raw: &mut Raw, reason: &str) {
    let abort = raw.recv_json().await.expect("ABORT before close");
    assert_eq!(abort[0], 3, "expected ABORT, got {abort}");
    assert_eq!(abort[2], reason);
    raw.expect_closed().await;
}

#[tokio::test]
async fn malformed_frames_are_aborted_as_protocol_violations_and_the_router_keeps_serving() {
    let router = Router::start(&[]);
    let cases: &[(&str, bool)] = &[
        ("not json", false),
        (r#"{"a": 1}"#, false),
        ("[999, 1]", false),
        (r#"[48, 1, {}, "com.example.add"]"#, false), // CALL before HELLO
        (r#"[1, 5, {}]"#, false),                     // HELLO with a non-string realm
        (r#"[1, "com.example.realm", {}]"#, true),    // a second HELLO in a session
        (r#"[65, 1, 2]"#, true),                      // REGISTERED from a client
    ];
    for (frame, after_join) in cases {
        let mut raw = if *after_join {
            Raw::joined_json(&router.url).await
        } else {
            Raw::connect(&router.url, "wamp.2.json").await
        };
        raw.send_text(frame).await;
        expect_abort(&mut raw, "wamp.error.protocol_violation").await;
        router_still_serves(&router).await;
    }
    // Garbage, and a 5-byte frame whose header claims four billion elements.
    for frame in [vec![0xc1, 0x00, 0xff], vec![0xdd, 0xff, 0xff, 0xff, 0xff]] {
        let mut raw = Raw::connect(&router.url, "wamp.2.msgpack").await;
        raw.send_binary(frame).await;
        expect_abort(&mut raw, "wamp.error.protocol_violation").await;
        router_still_serves(&router).await;
    }
}

#[tokio::test]
async fn invalid_uris_get_an_error_and_the_session_stays_usable() {
    let router = Router::start(&[]);
    let mut raw = Raw::joined_json(&router.url).await;
    raw.send_text(r#"[64, 1, {}, "com..bad"]"#).await;
    let error = raw.recv_json().await.unwrap();
    assert_eq!(
        (error[0].as_u64(), error[1].as_u64(), error[2].as_u64()),
        (Some(8), Some(64), Some(1))
    );
    assert_eq!(error[4], "wamp.error.invalid_uri");
    raw.send_text(r#"[48, 2, {}, "com.with space"]"#).await;
    let error = raw.recv_json().await.unwrap();
    assert_eq!(error[4], "wamp.error.invalid_uri");
    raw.send_text(r#"[64, 3, {}, "com.example.fine"]"#).await;
    assert_eq!(raw.recv_json().await.unwrap()[0], 65);
}

#[tokio::test]
async fn oversized_messages_are_refused_and_the_router_keeps_serving() {
    let router = Router::start(&["--max-message-size", "65536"]);
    let mut raw = Raw::joined_json(&router.url).await;
    let big = "x".repeat(200_000);
    raw.send_text(&format!(r#"[48, 1, {{}}, "com.example.add", ["{big}"]]"#))
        .await;
    expect_abort(&mut raw, "wamp.error.payload_size_exceeded").await;
    router_still_serves(&router).await;
}

#[tokio::test]
async fn a_client_offering_no_known_subprotocol_is_refused_at_the_handshake() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let router = Router::start(&[]);
    let mut request = router.url.as_str().into_client_request().unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "wamp.2.cbor.batched".parse().unwrap(),
    );
    let err = tokio_tungstenite::connect_async(request).await.unwrap_err();
    assert!(err.to_string().contains("400"), "{err}");
    let err = tokio_tungstenite::connect_async(router.url.as_str())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("400"), "{err}");
}

#[tokio::test]
async fn goodbye_is_answered_and_the_transport_can_start_a_new_session() {
    let router = Router::start(&[]);
    let mut raw = Raw::joined_json(&router.url).await;
    raw.send_text(r#"[6, {}, "wamp.close.close_realm"]"#).await;
    let reply = raw.recv_json().await.unwrap();
    assert_eq!(
        (reply[0].as_u64(), reply[2].as_str()),
        (Some(6), Some("wamp.close.goodbye_and_out"))
    );
    raw.send_text(r#"[1, "com.example.realm", {}]"#).await;
    assert_eq!(raw.recv_json().await.unwrap()[0], 2);
}

#[test]
fn probe_exits_zero_for_a_ready_router_and_non_zero_otherwise() {
    let router = Router::start(&[]);
    let http = router.url.replace("ws://", "http://").replace("/ws", "");
    let probe = |path: &str| {
        Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["probe", &format!("{http}{path}")])
            .output()
            .unwrap()
            .status
            .success()
    };
    assert!(probe("/health/live"));
    assert!(probe("/health/ready"));
    assert!(!probe("/no/such/path"));
    assert!(router.http_get("/cluster/status").contains("single-node"));
}

#[test]
fn membership_changes_are_refused_when_no_admin_token_is_configured() {
    let router = Router::start(&[]);
    let any = [("Authorization", "Bearer 0123456789abcdef0123")];
    let (status, body) = router.http_request("DELETE", "/cluster/members/2", "", &any);
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("admin token"), "{body}");
    let (status, _) = router.http_request("POST", "/cluster/members/2", "h:1", &[]);
    assert_eq!(status, 403);
    assert_eq!(
        router.http_request("GET", "/metrics", "", &[]).0,
        200,
        "metrics stay open"
    );
}
