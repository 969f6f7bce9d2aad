//! The client port: HTTP/1.1 (plain or TLS) on actix-server's workers.
//!
//! Requests go to the actix-web routes (health, metrics, cluster admin);
//! WebSocket upgrades go to [`websocket::upgrade`], which takes the
//! connection away from HTTP altogether. That is why this is assembled from
//! actix-http and actix-server rather than with actix-web's `HttpServer`,
//! which keeps every connection, upgraded or not, in its HTTP dispatcher on
//! the worker that accepted it: two 8 KiB buffers per idle session, and a
//! thread crossing for every message between a session and its realm.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use actix_codec::Framed;
use actix_http::error::DispatchError;
use actix_http::{h1, HttpService, Protocol, Request};
use actix_server::Server;
use actix_service::{
    fn_service, map_config, IntoServiceFactory, ServiceFactory, ServiceFactoryExt,
};
use actix_web::dev::AppConfig;
use actix_web::rt::net::TcpStream;
use actix_web::{web, App};

use crate::handover::{Movable, MovableTcp};
use crate::outbound::limit_unacknowledged;
use crate::session::SessionDeps;
use crate::websocket::upgrade;

/// How long a client may take over its TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);

/// How the client port is served.
pub(crate) struct ClientPort {
    pub(crate) tls: Option<Arc<rustls::ServerConfig>>,
    pub(crate) workers: usize,
    /// `TCP_USER_TIMEOUT` for every connection (see `outbound.rs`).
    pub(crate) stall: Duration,
    /// How long stopping waits for HTTP requests in progress.
    pub(crate) shutdown_timeout: Duration,
    pub(crate) deps: SessionDeps,
}

/// Serves `routes` (actix-web routes and their app data, set on a fresh
/// `App` per worker) and WebSocket upgrades on `listener`; the server runs
/// once awaited (or its handle stops it).
pub(crate) fn serve<R>(
    listener: std::net::TcpListener,
    routes: R,
    port: ClientPort,
) -> io::Result<Server>
where
    R: Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
{
    let ClientPort {
        tls,
        workers,
        stall,
        shutdown_timeout,
        deps,
    } = port;
    let builder = Server::build()
        .workers(workers)
        .disable_signals()
        .shutdown_timeout(shutdown_timeout.as_secs().max(1));
    let name = "switchboard-client-port";
    let builder = match tls {
        None => builder.listen(name, listener, move || {
            fn_service(move |io: TcpStream| async move {
                prepare(&io, stall);
                let peer = io.peer_addr().ok();
                Ok((MovableTcp::new(io), Protocol::Http1, peer))
            })
            .and_then(http(&routes, &deps))
        })?,
        Some(config) => {
            let acceptor = tokio_rustls::TlsAcceptor::from(with_http1_alpn(&config));
            builder.listen(name, listener, move || {
                let acceptor = acceptor.clone();
                fn_service(move |io: TcpStream| {
                    let acceptor = acceptor.clone();
                    async move {
                        prepare(&io, stall);
                        let peer = io.peer_addr().ok();
                        let handshake = acceptor.accept(MovableTcp::new(io));
                        match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, handshake).await {
                            Ok(Ok(tls)) => Ok((tls, Protocol::Http1, peer)),
                            Ok(Err(error)) => Err(DispatchError::Io(error)),
                            Err(_) => Err(DispatchError::Io(io::ErrorKind::TimedOut.into())),
                        }
                    }
                })
                .and_then(http(&routes, &deps))
            })?
        }
    };
    Ok(builder.run())
}

/// HTTP/1.1 over `T`: upgrades to WebSocket handed to [`upgrade::answer`],
/// every other request to `routes`.
fn http<T, R>(
    routes: &R,
    deps: &SessionDeps,
) -> impl ServiceFactory<
    (T, Protocol, Option<std::net::SocketAddr>),
    Config = (),
    Response = (),
    Error = DispatchError,
    InitError = (),
>
where
    T: Movable,
    R: Fn(&mut web::ServiceConfig) + Clone + 'static,
{
    let deps = deps.clone();
    let app = App::new()
        .configure(routes.clone())
        .into_factory()
        .map_err(|error| error.error_response());
    HttpService::build()
        // RFC 6455: once the close handshake is done the server closes TCP
        // at once; the same for a refused upgrade.
        .client_disconnect_timeout(Duration::ZERO)
        .upgrade(fn_service(
            move |(request, framed): (Request, Framed<T, h1::Codec>)| {
                upgrade::answer(request, framed, deps.clone())
            },
        ))
        .finish(map_config(app, |_| AppConfig::default()))
}

/// Socket options for every accepted connection: no Nagle (WAMP messages are
/// small frames, often pipelined; with Nagle a frame waits for the ACK of the
/// one before it), and the kernel closes a connection whose peer leaves data
/// unread past the longest stall timeout of any realm, plus a margin.
fn prepare(io: &TcpStream, stall: Duration) {
    let _ = io.set_nodelay(true);
    limit_unacknowledged(io, stall);
}

/// The TLS settings with HTTP/1.1 offered over ALPN (the only HTTP served).
fn with_http1_alpn(config: &Arc<rustls::ServerConfig>) -> Arc<rustls::ServerConfig> {
    let http1 = b"http/1.1".to_vec();
    if config.alpn_protocols.contains(&http1) {
        return config.clone();
    }
    let mut config = (**config).clone();
    config.alpn_protocols.insert(0, http1);
    Arc::new(config)
}
