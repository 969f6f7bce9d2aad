//! The actix layer: one actor per realm, one per session (WebSocket or RawSocket).
//!
//! Actors here are pumps. A [`session::Session`] decodes frames, asks its
//! `SessionGate` what they mean and forwards them to its realm; a
//! [`realm_actor::RealmActor`] feeds them to the sans-IO `Realm` and delivers
//! whatever it outputs. Neither decides anything about WAMP itself.

mod admin;
mod authenticator;
mod cluster_bridge;
mod config;
mod directory;
mod drain;
mod gatekeeper;
mod handover;
mod http;
mod metrics;
mod outbound;
mod placement;
mod rawsocket;
mod realm_actor;
mod session;
mod websocket;

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{web, HttpRequest, HttpResponse};
use switchboard_cluster::{ClusterNode, MemberChange, ProposeError};
use switchboard_core::cluster::RegistryCommand;

pub use admin::{AdminToken, AdminTokenTooShort, MIN_ADMIN_TOKEN_LEN};
pub use config::{RawSocketConfig, ServerConfig};
use directory::RealmDirectory;
use session::{ConnectionCounter, SessionDeps};

/// A router that is accepting connections.
pub struct RunningServer {
    local_addr: SocketAddr,
    handle: ServerHandle,
    realms: Arc<RealmDirectory>,
    connections: ConnectionCounter,
    server: actix_web::dev::Server,
    cluster: Option<Arc<ClusterNode>>,
    drain_timeout: Duration,
    rawsocket: Option<Arc<rawsocket::Listeners>>,
}

impl RunningServer {
    /// The address the listener is bound to (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address RawSocket over TCP is bound to, if it is served.
    pub fn rawsocket_addr(&self) -> Option<SocketAddr> {
        self.rawsocket.as_ref().and_then(|r| r.tcp_addr())
    }

    /// The Unix socket RawSocket is served on, if it is.
    pub fn rawsocket_path(&self) -> Option<&std::path::Path> {
        self.rawsocket.as_ref().and_then(|r| r.unix_path())
    }

    /// A handle that can stop the server from elsewhere.
    pub fn handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            handle: self.handle.clone(),
            realms: self.realms.clone(),
            connections: self.connections.clone(),
            cluster: self.cluster.clone(),
            drain_timeout: self.drain_timeout,
            rawsocket: self.rawsocket.clone(),
        }
    }

    /// Runs until the server is stopped through a [`ShutdownHandle`].
    pub async fn run(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// Stops a running server cleanly.
#[derive(Clone)]
pub struct ShutdownHandle {
    handle: ServerHandle,
    realms: Arc<RealmDirectory>,
    connections: ConnectionCounter,
    cluster: Option<Arc<ClusterNode>>,
    drain_timeout: Duration,
    rawsocket: Option<Arc<rawsocket::Listeners>>,
}

impl ShutdownHandle {
    /// Leaves gracefully (see `drain.rs`): refuses new sessions, lets the
    /// calls served here finish while the cluster routes new ones elsewhere,
    /// says GOODBYE (`wamp.close.system_shutdown`) to every session, gives them
    /// `grace` to answer and close, waits for their removal to commit, hands
    /// over Raft leadership, then stops accepting and closes what is left.
    pub async fn shutdown(&self, grace: Duration) {
        drain::drain(&self.realms, self.drain_timeout).await;
        self.realms.shutdown_all().await;
        let deadline = tokio::time::Instant::now() + grace;
        while self.connections.open() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if let Some(node) = &self.cluster {
            drain::leave(&self.realms, node, grace).await;
        }
        self.handle.stop(true).await;
        if let Some(rawsocket) = &self.rawsocket {
            rawsocket.stop();
        }
    }
}

/// Runs the router on `listener` until `shutdown` resolves, then says GOODBYE to
/// every session and returns. Blocks the calling thread (it owns the actix system).
/// `ready` is called once clients can be served (in a cluster: once the node has
/// joined and caught up), with the server, to tell where it listens.
pub fn serve(
    config: ServerConfig,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + 'static,
    ready: impl FnOnce(&RunningServer),
) -> std::io::Result<()> {
    actix_web::rt::System::new().block_on(async move {
        let grace = config.goodbye_timeout;
        let server = start(config, listener).await?;
        ready(&server);
        let handle = server.handle();
        let running = actix_web::rt::spawn(server.run());
        shutdown.await;
        tracing::info!("shutting down: saying goodbye to every session");
        handle.shutdown(grace).await;
        running.await.map_err(std::io::Error::other)?
    })
}

/// How much longer than a realm's stall timeout the kernel lets unread data
/// wait before it closes a connection (`TCP_USER_TIMEOUT`).
const KERNEL_STALL_MARGIN: Duration = Duration::from_secs(5);

/// How long a cluster node may take to find a leader and catch up at start.
const CLUSTER_READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Starts the router on `listener`. Must be called inside an actix `System`
/// (for example under `#[actix_web::main]`); the returned server is driven by
/// awaiting [`RunningServer::run`]. In a cluster, returns once the node has
/// joined, caught up, and cleared what a previous run of it left registered.
pub async fn start(config: ServerConfig, listener: TcpListener) -> std::io::Result<RunningServer> {
    let local_addr = listener.local_addr()?;
    let node_id = config.cluster.as_ref().map(|c| c.node_id);
    let metrics = Arc::new(metrics::Metrics::new());
    let realms = Arc::new(RealmDirectory::start(&config.realms, node_id, &metrics));
    let gatekeeper = Arc::new(gatekeeper::Gatekeeper::new(
        metrics.clone(),
        start_authenticators(&config.realms, &realms),
        config.workers,
    ));
    let cluster = match &config.cluster {
        Some(cluster_config) => Some(join_cluster(cluster_config.clone(), &realms, &config).await?),
        None => None,
    };
    let node = cluster.clone();
    let drain_timeout = config.drain_timeout;
    let config = Arc::new(config);
    let connections = ConnectionCounter::default();
    let app_realms = realms.clone();
    let app_config = config.clone();
    let deps = SessionDeps {
        config: config.clone(),
        realms: realms.clone(),
        connections: connections.clone(),
        gatekeeper: gatekeeper.clone(),
    };
    // Later than the realms' own check, which sees what waits in the router and
    // counts what it closes; the kernel's catches what waits in the kernel.
    let stall = config
        .realms
        .iter()
        .map(|r| r.outbound.stall)
        .max()
        .unwrap_or_default()
        + KERNEL_STALL_MARGIN;
    // Bound before the WebSocket listener starts, so a RawSocket address that
    // cannot be had fails the start with nothing left running.
    let rawsocket = rawsocket::Listeners::start(&config.rawsocket, deps.clone(), stall)
        .await?
        .map(Arc::new);
    let port = http::ClientPort {
        tls: config.tls.clone(),
        workers: config.workers,
        stall,
        shutdown_timeout: config.goodbye_timeout,
        deps,
    };
    let routes = move |routes: &mut web::ServiceConfig| {
        routes
            .app_data(web::Data::from(app_realms.clone()))
            .app_data(web::Data::from(app_config.clone()))
            .app_data(web::Data::new(cluster.clone()))
            .app_data(web::Data::from(metrics.clone()))
            .route(&app_config.path, web::get().to(not_an_upgrade))
            .route(
                "/health/live",
                web::get().to(|| async { HttpResponse::Ok().body("alive") }),
            )
            .route("/health/ready", web::get().to(ready))
            .route("/metrics", web::get().to(render_metrics))
            .route("/cluster/status", web::get().to(cluster_status))
            .route("/cluster/members/{id}", web::post().to(add_member))
            .route("/cluster/members/{id}", web::delete().to(remove_member));
    };
    let server = http::serve(listener, routes, port)?;
    Ok(RunningServer {
        local_addr,
        handle: server.handle(),
        realms,
        connections,
        server,
        cluster: node,
        drain_timeout,
        rawsocket,
    })
}

/// Starts the router's own session in each realm where a dynamic
/// authenticator is registered (once per realm, however many realms use it).
fn start_authenticators(
    realms: &[switchboard_core::RealmConfig],
    directory: &RealmDirectory,
) -> std::collections::HashMap<String, actix::Addr<authenticator::AuthenticatorClient>> {
    use actix::Actor;
    let mut clients = std::collections::HashMap::new();
    for config in realms {
        let Some(authenticator) = &config.security.authenticator else {
            continue;
        };
        let name = &authenticator.realm;
        if clients.contains_key(name) {
            continue;
        }
        match directory.get(name) {
            Some(realm) => {
                let client =
                    authenticator::AuthenticatorClient::new(name.clone(), realm.clone()).start();
                clients.insert(name.clone(), client);
            }
            None => tracing::error!(
                realm = %config.name,
                authenticator_realm = %name,
                "the authenticator's realm is not served here: dynamic authentication will fail"
            ),
        }
    }
    clients
}

/// Starts this node's part of the cluster and connects the realms to it.
async fn join_cluster(
    mut cluster_config: switchboard_cluster::ClusterConfig,
    realms: &Arc<RealmDirectory>,
    config: &ServerConfig,
) -> std::io::Result<Arc<ClusterNode>> {
    let me = cluster_config.node_id;
    let bridge = Arc::new(cluster_bridge::ClusterBridge {
        realms: realms.actors(),
    });
    if cluster_config.link_runtime.is_none() {
        cluster_config.link_runtime = realms.first_realm_runtime().await;
    }
    let node = ClusterNode::start(cluster_config, bridge)
        .await
        .map_err(std::io::Error::other)?;
    realms.attach_cluster(&node).await;
    if !node.wait_ready(CLUSTER_READY_TIMEOUT).await {
        return Err(std::io::Error::other(
            "no cluster leader within 60 s: are the other members up?",
        ));
    }
    // A previous run of this node may have left sessions (and their registrations)
    // behind if it died faster than the others noticed: clear them before serving.
    // Proposed again until it commits (applying it twice changes nothing): a
    // leader elected while the cluster starts makes a first attempt give up.
    let mut last = 0;
    let deadline = tokio::time::Instant::now() + CLUSTER_READY_TIMEOUT;
    for realm in &config.realms {
        last = loop {
            match node
                .propose(&realm.name, RegistryCommand::NodeDown { node: me })
                .await
            {
                Ok(index) => break index,
                Err(error) if tokio::time::Instant::now() >= deadline => {
                    return Err(std::io::Error::other(error));
                }
                Err(error) => {
                    tracing::debug!(%error, "clearing this node's old sessions: trying again");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        };
    }
    // Serve only once everything committed before our own entries is applied here,
    // so a client never sees a registry that lags the cluster's.
    if !node.wait_applied(last, CLUSTER_READY_TIMEOUT).await {
        return Err(std::io::Error::other(
            "this node did not catch up with the cluster's log",
        ));
    }
    tracing::info!(node = me, status = ?node.status(), "joined the cluster");
    Ok(node)
}

/// A plain GET of the WebSocket path: only an upgrade is served there.
async fn not_an_upgrade() -> HttpResponse {
    HttpResponse::BadRequest().body("this is a WAMP WebSocket endpoint: connect with a WAMP client")
}

/// `GET /cluster/status`: members, leader, term and log positions (or the
/// single-node mode), as JSON.
async fn cluster_status(cluster: web::Data<Option<Arc<ClusterNode>>>) -> HttpResponse {
    match cluster.get_ref() {
        Some(node) => HttpResponse::Ok().json(node.status()),
        None => HttpResponse::Ok().json(serde_json::json!({ "mode": "single-node" })),
    }
}

/// Applies a membership change through this node (and so through any member).
async fn change_members(cluster: &Option<Arc<ClusterNode>>, change: MemberChange) -> HttpResponse {
    let Some(node) = cluster else {
        return HttpResponse::Conflict().body("this router is a single node, not a cluster member");
    };
    match node.change_members(change).await {
        Ok(()) => HttpResponse::Ok().json(node.status()),
        Err(error @ ProposeError::NotAVoter(_)) => HttpResponse::NotFound().body(error.to_string()),
        Err(error) => HttpResponse::ServiceUnavailable().body(error.to_string()),
    }
}

/// `POST /cluster/members/{id}` with the new node's peer address as the body:
/// the node joins (as a learner until it has caught up, then as a voter). Needs
/// the admin token, as every membership change does.
async fn add_member(
    request: HttpRequest,
    config: web::Data<ServerConfig>,
    cluster: web::Data<Option<Arc<ClusterNode>>>,
    id: web::Path<u64>,
    addr: String,
) -> HttpResponse {
    if let Some(refused) = admin::refusal(&request, config.admin_token.as_ref()) {
        return refused;
    }
    let addr = addr.trim().to_owned();
    if addr.is_empty() {
        return HttpResponse::BadRequest()
            .body("the body must be the new node's peer address, host:port");
    }
    change_members(
        cluster.get_ref(),
        MemberChange::Add {
            node: id.into_inner(),
            addr,
        },
    )
    .await
}

/// `DELETE /cluster/members/{id}`: the node stops being a voter.
async fn remove_member(
    request: HttpRequest,
    config: web::Data<ServerConfig>,
    cluster: web::Data<Option<Arc<ClusterNode>>>,
    id: web::Path<u64>,
) -> HttpResponse {
    if let Some(refused) = admin::refusal(&request, config.admin_token.as_ref()) {
        return refused;
    }
    change_members(
        cluster.get_ref(),
        MemberChange::Remove {
            node: id.into_inner(),
        },
    )
    .await
}

/// `GET /health/ready`: 200 once this router can serve: always for a single node;
/// in a cluster, while a leader is known and this node has applied entries.
async fn ready(
    cluster: web::Data<Option<Arc<ClusterNode>>>,
    realms: web::Data<RealmDirectory>,
) -> HttpResponse {
    if realms.is_draining() {
        return HttpResponse::ServiceUnavailable().body("draining: this node is shutting down");
    }
    match cluster.get_ref() {
        None => HttpResponse::Ok().body("ready"),
        Some(node) => {
            let status = node.status();
            if status.leader.is_some() && status.last_applied.is_some() {
                HttpResponse::Ok().json(status)
            } else {
                HttpResponse::ServiceUnavailable().json(status)
            }
        }
    }
}

/// `GET /metrics`: Prometheus text exposition.
async fn render_metrics(
    metrics: web::Data<metrics::Metrics>,
    cluster: web::Data<Option<Arc<ClusterNode>>>,
) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(metrics.render(cluster.get_ref().as_deref()))
}
