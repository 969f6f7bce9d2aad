//! The registration table: which sessions answer which procedures.
//!
//! A registration is one object with one router-scope id, keyed by its URI and
//! match policy; callees join it (shared registrations) under one invoke
//! policy. Lookups go through a [`UriIndex`], so finding the registration for a
//! call never scans the table. The table is replicated: it changes only when a
//! committed [`crate::cluster::RegistryCommand`] is applied, and a new
//! registration's id is the command's index, so every node assigns the same id.

use std::collections::{BTreeSet, HashMap};

use rand::Rng;

use crate::cluster::NodeId;
use crate::dealer::invoke_policy::InvokePolicy;
use crate::features::PeerFeatures;
use crate::matching::{MatchPolicy, UriIndex};
use crate::realm::SessionId;

/// A registration's id.
pub type RegistrationId = u64;

/// One session serving a registration, with the options it registered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Callee {
    /// The callee's session.
    pub session: SessionId,
    /// The node that holds the callee's session.
    pub node: NodeId,
    /// What the callee announced (call canceling, progressive calls, ...).
    pub features: PeerFeatures,
    /// `disclose_caller`: tell this callee who calls.
    pub disclose_caller: bool,
    /// `forward_timeout`: this callee enforces call timeouts itself.
    pub forward_timeout: bool,
}

/// One registered procedure (or pattern).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Registration {
    /// Router-scope id, as sent in REGISTERED.
    pub id: RegistrationId,
    /// The procedure URI or pattern.
    pub procedure: String,
    /// How `procedure` matches calls.
    pub match_policy: MatchPolicy,
    /// How a callee is chosen.
    pub invoke: InvokePolicy,
    /// The callees, in registration order.
    pub callees: Vec<Callee>,
    /// When the registration was created (ISO-8601), for the meta API.
    pub created: String,
    /// Round-robin position: this node's own (each node picks callees for
    /// its own callers), so it stays out of snapshots, which must be the same
    /// bytes on every node.
    #[serde(skip)]
    cursor: usize,
}

/// What a REGISTER asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RegisterRequest<'a> {
    pub(crate) procedure: &'a str,
    pub(crate) match_policy: MatchPolicy,
    pub(crate) invoke: InvokePolicy,
    pub(crate) callee: Callee,
}

/// Whether a REGISTER created the registration or joined an existing one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Joined {
    /// First callee: the registration is new.
    Created(RegistrationId),
    /// Another callee of a shared registration.
    Existing(RegistrationId),
}

/// Why a REGISTER was refused; both are `wamp.error.procedure_already_exists`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    /// A `single` registration exists, or `single` was asked for an existing one,
    /// or the session already serves it.
    #[error("procedure {0:?} is already registered")]
    AlreadyExists(String),
    /// A shared registration exists with another invoke policy.
    #[error(
        "procedure {procedure:?} is registered with invoke policy {existing:?}, not {requested:?}"
    )]
    PolicyConflict {
        /// The procedure.
        procedure: String,
        /// The registration's policy.
        existing: &'static str,
        /// The policy asked for.
        requested: &'static str,
    },
}

/// Why an UNREGISTER was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnregisterError {
    /// No registration with that id has this session as a callee.
    #[error("no registration {0} for this session")]
    NoSuchRegistration(RegistrationId),
}

/// Every registration of a realm.
#[derive(Debug, Default)]
pub struct Registry {
    /// Registration id -> registration.
    by_id: HashMap<RegistrationId, Registration>,
    /// (URI or pattern, match policy) -> registration id.
    index: UriIndex<RegistrationId>,
    /// Session -> the registrations it is a callee of (for cleanup when it leaves).
    by_session: HashMap<SessionId, Vec<RegistrationId>>,
}

impl Registry {
    /// Adds `request.callee` to the registration for the procedure and policy,
    /// creating it if needed.
    pub(crate) fn register(
        &mut self,
        new_id: RegistrationId,
        request: RegisterRequest<'_>,
        created: impl FnOnce() -> String,
    ) -> Result<Joined, RegisterError> {
        let session = request.callee.session;
        if let Some(&id) = self.index.get(request.procedure, request.match_policy) {
            let registration = self
                .by_id
                .get_mut(&id)
                .expect("indexed registrations exist");
            let already_exists = || RegisterError::AlreadyExists(request.procedure.to_owned());
            if registration.invoke == InvokePolicy::Single || request.invoke == InvokePolicy::Single
            {
                return Err(already_exists());
            }
            if registration.invoke != request.invoke {
                return Err(RegisterError::PolicyConflict {
                    procedure: request.procedure.to_owned(),
                    existing: registration.invoke.as_str(),
                    requested: request.invoke.as_str(),
                });
            }
            if registration.callees.iter().any(|c| c.session == session) {
                return Err(already_exists());
            }
            registration.callees.push(request.callee);
            self.by_session.entry(session).or_default().push(id);
            return Ok(Joined::Existing(id));
        }
        let id = new_id;
        self.index
            .insert(request.procedure, request.match_policy, id);
        self.by_id.insert(
            id,
            Registration {
                id,
                procedure: request.procedure.to_owned(),
                match_policy: request.match_policy,
                invoke: request.invoke,
                callees: vec![request.callee],
                created: created(),
                cursor: 0,
            },
        );
        self.by_session.entry(session).or_default().push(id);
        Ok(Joined::Created(id))
    }

    /// Removes `session` from registration `id`. Returns whether the
    /// registration was deleted (its last callee left).
    pub(crate) fn unregister(
        &mut self,
        session: SessionId,
        id: RegistrationId,
    ) -> Result<bool, UnregisterError> {
        let owned = self.by_session.get_mut(&session).and_then(|regs| {
            let at = regs.iter().position(|&r| r == id)?;
            regs.swap_remove(at);
            Some(())
        });
        if owned.is_none() {
            return Err(UnregisterError::NoSuchRegistration(id));
        }
        Ok(self.remove_callee(session, id))
    }

    /// Removes `session` from every registration; returns each id it was in and
    /// whether that registration was deleted.
    pub(crate) fn remove_session(&mut self, session: SessionId) -> Vec<(RegistrationId, bool)> {
        let regs = self.by_session.remove(&session).unwrap_or_default();
        regs.into_iter()
            .map(|id| (id, self.remove_callee(session, id)))
            .collect()
    }

    fn remove_callee(&mut self, session: SessionId, id: RegistrationId) -> bool {
        let Some(registration) = self.by_id.get_mut(&id) else {
            return false;
        };
        if let Some(at) = registration
            .callees
            .iter()
            .position(|c| c.session == session)
        {
            registration.callees.remove(at);
            InvokePolicy::callee_removed(&mut registration.cursor, at, registration.callees.len());
        }
        if !registration.callees.is_empty() {
            return false;
        }
        if let Some(gone) = self.by_id.remove(&id) {
            self.index.remove(&gone.procedure, gone.match_policy);
        }
        true
    }

    /// The registration a call to `procedure` goes to, under the spec's precedence.
    pub fn match_procedure(&self, procedure: &str) -> Option<&Registration> {
        self.index
            .best_match(procedure)
            .and_then(|id| self.by_id.get(id))
    }

    /// Picks the callee for the next call to registration `id` under its policy,
    /// among callees whose node is not known to be down (their removal may not
    /// be committed yet, but nobody there can answer), that have not `declined`
    /// this call (re-routing treats them as not registered) and, while any
    /// other is left, not leaving either (a draining node finishes its calls,
    /// and new ones go elsewhere).
    pub(crate) fn choose_callee(
        &mut self,
        id: RegistrationId,
        unreachable: &BTreeSet<NodeId>,
        draining: &BTreeSet<NodeId>,
        declined: &[SessionId],
        rng: &mut impl Rng,
    ) -> Option<Callee> {
        let registration = self.by_id.get_mut(&id)?;
        // Runs on every call: count and index the eligible callees in place
        // rather than collecting them.
        let live = |c: &&Callee| !unreachable.contains(&c.node);
        let staying = |c: &&Callee| live(c) && !draining.contains(&c.node);
        let eligible: &dyn Fn(&&Callee) -> bool =
            if draining.is_empty() || !registration.callees.iter().any(|c| staying(&c)) {
                &live
            } else {
                &staying
            };
        let invoke = registration.invoke;
        let willing = |c: &&Callee| eligible(c) && !declined.contains(&c.session);
        if invoke == InvokePolicy::RoundRobin {
            // Round-robin walks the queue: a callee that declined is passed
            // over by moving the cursor on, so the call goes to the one after it.
            let count = registration.callees.iter().filter(eligible).count();
            for _ in 0..count {
                let at = invoke.choose(count, &mut registration.cursor, rng);
                let callee = registration.callees.iter().filter(eligible).nth(at);
                if let Some(callee) = callee.filter(|c| willing(c)) {
                    return Some(*callee);
                }
            }
            return None;
        }
        let count = registration.callees.iter().filter(willing).count();
        if count == 0 {
            return None;
        }
        let at = invoke.choose(count, &mut registration.cursor, rng);
        registration.callees.iter().filter(willing).nth(at).copied()
    }

    /// The registration for exactly this URI and policy (`wamp.registration.lookup`).
    pub fn lookup(&self, procedure: &str, policy: MatchPolicy) -> Option<&Registration> {
        self.index
            .get(procedure, policy)
            .and_then(|id| self.by_id.get(id))
    }

    /// A registration by id.
    pub fn get(&self, id: RegistrationId) -> Option<&Registration> {
        self.by_id.get(&id)
    }

    /// The sessions on `node` that serve any registration (for a node that is gone).
    pub(crate) fn sessions_on(&self, node: NodeId) -> Vec<SessionId> {
        let mut sessions: Vec<SessionId> = self
            .by_id
            .values()
            .flat_map(|r| r.callees.iter())
            .filter(|c| c.node == node)
            .map(|c| c.session)
            .collect();
        sessions.sort_unstable();
        sessions.dedup();
        sessions
    }

    /// Rebuilds the table (and its indexes) from registrations saved with [`Self::iter`].
    pub(crate) fn restore(registrations: impl IntoIterator<Item = Registration>) -> Self {
        let mut registry = Registry::default();
        for registration in registrations {
            registry.index.insert(
                &registration.procedure,
                registration.match_policy,
                registration.id,
            );
            for callee in &registration.callees {
                registry
                    .by_session
                    .entry(callee.session)
                    .or_default()
                    .push(registration.id);
            }
            registry.by_id.insert(registration.id, registration);
        }
        registry
    }

    /// Every registration.
    pub fn iter(&self) -> impl Iterator<Item = &Registration> {
        self.by_id.values()
    }

    /// How many registrations exist.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether there are no registrations.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    fn request(procedure: &str, invoke: InvokePolicy, session: SessionId) -> RegisterRequest<'_> {
        RegisterRequest {
            procedure,
            match_policy: MatchPolicy::Exact,
            invoke,
            callee: Callee {
                session,
                node: 0,
                features: PeerFeatures::default(),
                disclose_caller: false,
                forward_timeout: false,
            },
        }
    }

    fn now() -> String {
        "2026-01-01T00:00:00.000Z".into()
    }

    #[test]
    fn a_single_registration_refuses_a_second_callee() {
        let (mut reg, mut ids) = (Registry::default(), 0u64..);
        assert!(matches!(
            reg.register(
                ids.next().unwrap(),
                request("p", InvokePolicy::Single, 1),
                now
            ),
            Ok(Joined::Created(_))
        ));
        let err = reg
            .register(
                ids.next().unwrap(),
                request("p", InvokePolicy::Single, 2),
                now,
            )
            .unwrap_err();
        assert_eq!(err, RegisterError::AlreadyExists("p".into()));
    }

    #[test]
    fn shared_registrations_have_one_id_and_refuse_a_different_policy() {
        let (mut reg, mut ids) = (Registry::default(), 0u64..);
        let Ok(Joined::Created(id)) = reg.register(
            ids.next().unwrap(),
            request("p", InvokePolicy::RoundRobin, 1),
            now,
        ) else {
            panic!("created");
        };
        assert_eq!(
            reg.register(
                ids.next().unwrap(),
                request("p", InvokePolicy::RoundRobin, 2),
                now
            ),
            Ok(Joined::Existing(id))
        );
        let err = reg
            .register(
                ids.next().unwrap(),
                request("p", InvokePolicy::Random, 3),
                now,
            )
            .unwrap_err();
        assert!(matches!(
            err,
            RegisterError::PolicyConflict {
                existing: "roundrobin",
                requested: "random",
                ..
            }
        ));
        let err = reg
            .register(
                ids.next().unwrap(),
                request("p", InvokePolicy::RoundRobin, 2),
                now,
            )
            .unwrap_err();
        assert_eq!(
            err,
            RegisterError::AlreadyExists("p".into()),
            "a session joins once"
        );
    }

    #[test]
    fn the_registration_goes_with_its_last_callee() {
        let (mut reg, mut ids) = (Registry::default(), 0u64..);
        reg.register(
            ids.next().unwrap(),
            request("p", InvokePolicy::First, 1),
            now,
        )
        .unwrap();
        let Ok(Joined::Existing(id)) = reg.register(
            ids.next().unwrap(),
            request("p", InvokePolicy::First, 2),
            now,
        ) else {
            panic!("joined");
        };
        assert_eq!(reg.unregister(1, id), Ok(false));
        assert_eq!(
            reg.unregister(1, id),
            Err(UnregisterError::NoSuchRegistration(id))
        );
        assert_eq!(reg.remove_session(2), vec![(id, true)]);
        assert!(reg.match_procedure("p").is_none() && reg.is_empty());
    }

    /// Sessions 1, 2 and 3 (on node 0) sharing `p` under roundrobin.
    fn roundrobin_of_three() -> (Registry, RegistrationId, rand::rngs::StdRng) {
        let mut reg = Registry::default();
        for s in 1..=3 {
            reg.register(s, request("p", InvokePolicy::RoundRobin, s), now)
                .unwrap();
        }
        let id = reg.match_procedure("p").unwrap().id;
        (reg, id, rand::rngs::StdRng::seed_from_u64(3))
    }

    #[test]
    fn roundrobin_rotates_over_the_callees() {
        let (mut reg, id, mut rng) = roundrobin_of_three();
        let picks: Vec<SessionId> = (0..6)
            .map(|_| {
                reg.choose_callee(id, &BTreeSet::new(), &BTreeSet::new(), &[], &mut rng)
                    .unwrap()
                    .session
            })
            .collect();
        assert_eq!(picks, [1, 2, 3, 1, 2, 3]);
    }

    #[test]
    fn a_draining_node_gets_new_calls_only_when_no_other_callee_is_left() {
        let (mut reg, mut ids) = (Registry::default(), 0u64..);
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        // Sessions 1 and 2 on node 0 (see `request`), session 3 on node 7.
        for s in 1..=3 {
            let mut req = request("p", InvokePolicy::RoundRobin, s);
            if s == 3 {
                req.callee.node = 7;
            }
            reg.register(ids.next().unwrap(), req, now).unwrap();
        }
        let id = reg.match_procedure("p").unwrap().id;
        let none = BTreeSet::new();
        let node0 = BTreeSet::from([0]);
        let picks: Vec<SessionId> = (0..4)
            .map(|_| {
                reg.choose_callee(id, &none, &node0, &[], &mut rng)
                    .unwrap()
                    .session
            })
            .collect();
        assert_eq!(picks, [3, 3, 3, 3], "only the callee that stays");
        // Its node is down too: the draining callees still serve.
        let node7 = BTreeSet::from([7]);
        let picks: Vec<SessionId> = (0..4)
            .map(|_| {
                reg.choose_callee(id, &node7, &node0, &[], &mut rng)
                    .unwrap()
                    .session
            })
            .collect();
        assert!(picks.iter().all(|&s| s == 1 || s == 2), "{picks:?}");
    }

    #[test]
    fn the_roundrobin_cursor_stays_out_of_snapshots() {
        let (mut reg, id, mut rng) = roundrobin_of_three();
        let before = rmp_serde::to_vec(reg.get(id).unwrap()).unwrap();
        reg.choose_callee(id, &BTreeSet::new(), &BTreeSet::new(), &[], &mut rng);
        let after = rmp_serde::to_vec(reg.get(id).unwrap()).unwrap();
        assert_eq!(
            before, after,
            "a node that routed a call snapshots the same bytes"
        );
    }
}
