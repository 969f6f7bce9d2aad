//! The server in-process: a client that stops answering pings is dropped, and
//! what it registered goes with it.

use std::net::TcpListener;
use std::time::Duration;

use switchboard_client::{Arguments, Client, Codec, Dict};
use switchboard_server::{start, ServerConfig};

#[actix_web::test]
async fn a_client_that_stops_answering_pings_is_dropped_with_its_registrations() {
    let config = ServerConfig {
        ping_interval: Duration::from_millis(50),
        ping_timeout: Duration::from_millis(200),
        ..ServerConfig::default()
    };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = start(config, listener).await.unwrap();
    let url = format!("ws://{}/ws", server.local_addr());
    let handle = server.handle();
    actix_web::rt::spawn(server.run());

    // A raw socket that joins, registers, then never reads again, so it never pongs.
    let (mut silent, _) = {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = url.as_str().into_client_request().unwrap();
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", "wamp.2.json".parse().unwrap());
        tokio_tungstenite::connect_async(request).await.unwrap()
    };
    {
        use futures_util::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::Message;
        silent
            .send(Message::Text(r#"[1, "com.example.realm", {}]"#.into()))
            .await
            .unwrap();
        silent.next().await.unwrap().unwrap(); // WELCOME
        silent
            .send(Message::Text(r#"[64, 1, {}, "com.example.silent"]"#.into()))
            .await
            .unwrap();
        silent.next().await.unwrap().unwrap(); // REGISTERED
    }

    let caller = Client::connect(&url, "com.example.realm", Codec::Json)
        .await
        .unwrap();
    let mut outcome = None;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let result = caller.call_with("com.example.silent", Dict::new(), Arguments::none());
        match tokio::time::timeout(Duration::from_millis(500), result).await {
            Ok(Err(e)) if e.wamp_uri() == Some("wamp.error.no_such_procedure") => {
                outcome = Some(());
                break;
            }
            // While the silent session is still considered alive, the call
            // reaches it and, unanswered, is cancelled when it is dropped.
            _ => continue,
        }
    }
    assert!(
        outcome.is_some(),
        "the silent session's registration was never dropped"
    );
    drop(silent);
    handle.shutdown(Duration::from_millis(500)).await;
}
