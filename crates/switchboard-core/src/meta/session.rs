//! `wamp.session.*`: count, list, get, kill (by id, authid, authrole, or all
//! but the caller), and the testament procedures (`testament.rs`).

use switchboard_proto::error_uri::{CLOSE_KILLED, INVALID_ARGUMENT, INVALID_URI, NO_SUCH_SESSION};
use switchboard_proto::uri::{Components, UriCheck};
use switchboard_proto::{Dict, Value};

use super::{id_arg, result, MetaReply, MetaScope};
use crate::realm::{Directory, SessionId, SessionSummary};

/// SessionDetails: `{session, authid, authrole, authmethod, authprovider, transport}`.
pub(super) fn details(directory: &Directory, id: SessionId) -> Option<Value> {
    let record = directory.get(id)?;
    let mut transport = Dict::new();
    transport.insert("type".into(), Value::from("websocket"));
    let mut d = Dict::new();
    d.insert("session".into(), Value::from(id));
    d.insert("authid".into(), Value::from(record.authid.as_str()));
    d.insert("authrole".into(), Value::from(record.authrole.as_str()));
    d.insert("authmethod".into(), Value::from(record.authmethod.as_str()));
    d.insert("authprovider".into(), Value::from("static"));
    d.insert("transport".into(), Value::Dict(transport));
    Some(Value::Dict(d))
}

/// Sessions whose authrole is in `args[0]` (a list), or all sessions without a filter.
fn filtered<'a>(
    directory: &'a Directory,
    args: &'a [Value],
) -> impl Iterator<Item = SessionId> + 'a {
    let roles: Option<Vec<&str>> = args
        .first()
        .and_then(Value::as_list)
        .map(|l| l.iter().filter_map(Value::as_str).collect());
    directory
        .iter()
        .filter(move |(_, summary)| {
            roles
                .as_ref()
                .is_none_or(|roles| roles.contains(&summary.authrole.as_str()))
        })
        .map(|(id, _)| id)
}

/// Answers `wamp.session.<name>`, or `None` if there is no such procedure.
pub(super) fn call(
    scope: &MetaScope<'_>,
    name: &str,
    args: &[Value],
    kwargs: &Dict,
) -> Option<MetaReply> {
    let sessions = scope.directory;
    Some(match name {
        "count" => result(Value::from(filtered(sessions, args).count() as u64)),
        "list" => result(Value::List(
            filtered(sessions, args).map(Value::from).collect(),
        )),
        "get" => match id_arg(args, 0).and_then(|id| details(sessions, id)) {
            Some(details) => result(details),
            None => MetaReply::Error(NO_SUCH_SESSION, "no session with that id".into()),
        },
        "kill" => {
            let Some(target) = id_arg(args, 0).filter(|&id| sessions.get(id).is_some()) else {
                return Some(MetaReply::Error(
                    NO_SUCH_SESSION,
                    "no session with that id".into(),
                ));
            };
            if target == scope.caller {
                return Some(MetaReply::Error(
                    INVALID_ARGUMENT,
                    "a session cannot kill itself".into(),
                ));
            }
            kill(vec![target], kwargs, false)
        }
        "kill_by_authid" | "kill_by_authrole" => {
            let Some(wanted) = args.first().and_then(Value::as_str) else {
                return Some(MetaReply::Error(
                    INVALID_ARGUMENT,
                    format!("{name} takes a string"),
                ));
            };
            let by_authid = name == "kill_by_authid";
            let targets = others(scope)
                .filter(|(_, summary)| {
                    let field = if by_authid {
                        &summary.authid
                    } else {
                        &summary.authrole
                    };
                    field == wanted
                })
                .map(|(id, _)| id)
                .collect();
            kill(targets, kwargs, true)
        }
        "kill_all" => kill(others(scope).map(|(id, _)| id).collect(), kwargs, true),
        "add_testament" => super::testament::add(args, kwargs),
        "flush_testaments" => super::testament::flush(kwargs),
        _ => return None,
    })
}

/// Every session but the caller: the kill variants never end their caller.
fn others<'a>(
    scope: &'a MetaScope<'_>,
) -> impl Iterator<Item = (SessionId, &'a SessionSummary)> + 'a {
    let caller = scope.caller;
    scope.directory.iter().filter(move |(id, _)| *id != caller)
}

/// Ends `targets` with GOODBYE, its reason and message from the `reason` and
/// `message` keyword arguments; `counted` answers with how many.
fn kill(targets: Vec<SessionId>, kwargs: &Dict, counted: bool) -> MetaReply {
    let reason = match kwargs.get("reason") {
        None | Some(Value::Null) => CLOSE_KILLED,
        Some(reason) => reason.as_str().unwrap_or_default(),
    };
    if !UriCheck::Loose.is_valid(reason, Components::NonEmpty) {
        // The session meta API names `invalid_uri` for a bad reason.
        return MetaReply::Error(INVALID_URI, format!("reason {reason:?} is not a URI"));
    }
    let message = match kwargs.get("message") {
        None | Some(Value::Null) => "killed by the session meta API",
        Some(Value::String(message)) => message,
        Some(_) => {
            return MetaReply::Error(INVALID_ARGUMENT, "message must be a string".into());
        }
    };
    MetaReply::Kill {
        targets,
        reason: reason.to_owned(),
        message: message.to_owned(),
        counted,
    }
}
