//! The HTTP side of a WebSocket connection: subprotocol negotiation and upgrade.

use std::sync::Arc;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use actix_web_actors::ws;
use switchboard_proto::Codec;

use crate::config::ServerConfig;
use crate::directory::RealmDirectory;
use crate::gatekeeper::Gatekeeper;
use crate::outbound::{CountingBody, OutboundGauge};
use crate::session::{ConnectionCounter, WsSession};

/// Picks the codec: the first WAMP subprotocol in the client's list that we speak.
fn negotiate(req: &HttpRequest) -> Option<Codec> {
    req.headers()
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .find_map(|name| Codec::from_subprotocol(name.trim()))
}

/// `GET /ws`: upgrade to a WAMP session, or refuse a client that speaks no
/// subprotocol we know (the spec requires one; guessing would garble frames).
pub(crate) async fn upgrade(
    req: HttpRequest,
    stream: web::Payload,
    config: web::Data<ServerConfig>,
    realms: web::Data<RealmDirectory>,
    connections: web::Data<ConnectionCounter>,
    gatekeeper: web::Data<Gatekeeper>,
) -> actix_web::Result<HttpResponse> {
    let Some(codec) = negotiate(&req) else {
        let offered: Vec<&str> = Codec::ALL.iter().map(|c| c.subprotocol()).collect();
        return Ok(HttpResponse::BadRequest().body(format!(
            "no supported WAMP subprotocol requested; this router speaks {}",
            offered.join(", ")
        )));
    };
    if realms.is_draining() {
        return Ok(HttpResponse::ServiceUnavailable()
            .insert_header((header::RETRY_AFTER, "1"))
            .body("this node is shutting down: connect to another node"));
    }
    if let Some(max) = config.max_connections {
        if connections.open() >= max {
            return Ok(HttpResponse::ServiceUnavailable()
                .insert_header((header::RETRY_AFTER, "1"))
                .body(format!("this router serves at most {max} connections")));
        }
    }
    let gauge = Arc::new(OutboundGauge::new());
    let session = WsSession::new(
        codec,
        config.clone().into_inner(),
        realms.clone().into_inner(),
        connections.get_ref().clone(),
        gatekeeper.into_inner(),
        req.peer_addr(),
        gauge.clone(),
    );
    let protocols = [codec.subprotocol()];
    let mut response = ws::handshake_with_protocols(&req, &protocols)?;
    let frames = ws::WebsocketContext::with_codec(
        session,
        stream,
        actix_http::ws::Codec::new().max_size(config.max_message_size),
    );
    Ok(response.streaming(CountingBody::new(Box::pin(frames), gauge)))
}
