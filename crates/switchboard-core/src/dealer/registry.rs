//! The registration table: which session answers which procedure.
//!
//! A registration is one object with one router-scope id; its callees are the
//! sessions that registered it. Today every registration is an exact match with
//! a single callee; the table is indexed by id, by exact URI and by session so
//! that pattern indexes and shared callee lists slot in beside `exact` without
//! changing how the dealer asks for a match.

use std::collections::HashMap;

use switchboard_proto::IdGenerator;

use crate::realm::SessionId;

/// A registration's id.
pub type RegistrationId = u64;

/// One registered procedure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// Router-scope id, as sent in REGISTERED.
    pub id: RegistrationId,
    /// The procedure URI.
    pub procedure: String,
    /// The sessions that answer calls, in registration order.
    pub callees: Vec<SessionId>,
}

/// Why a REGISTER was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    /// Another session already registered this procedure.
    #[error("procedure {0:?} is already registered")]
    AlreadyExists(String),
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
    /// Exact procedure URI -> registration id.
    exact: HashMap<String, RegistrationId>,
    /// Session -> the registrations it is a callee of (for cleanup when it leaves).
    by_session: HashMap<SessionId, Vec<RegistrationId>>,
}

impl Registry {
    /// Registers `session` as the callee of `procedure`.
    pub(crate) fn register(
        &mut self,
        ids: &mut IdGenerator,
        session: SessionId,
        procedure: &str,
    ) -> Result<RegistrationId, RegisterError> {
        if self.exact.contains_key(procedure) {
            return Err(RegisterError::AlreadyExists(procedure.to_owned()));
        }
        let id = ids.next_id();
        self.exact.insert(procedure.to_owned(), id);
        self.by_id.insert(
            id,
            Registration {
                id,
                procedure: procedure.to_owned(),
                callees: vec![session],
            },
        );
        self.by_session.entry(session).or_default().push(id);
        Ok(id)
    }

    /// Removes `session` from registration `id`; the registration goes with its last callee.
    pub(crate) fn unregister(
        &mut self,
        ids: &mut IdGenerator,
        session: SessionId,
        id: RegistrationId,
    ) -> Result<(), UnregisterError> {
        let owned = self.by_session.get_mut(&session).and_then(|regs| {
            let at = regs.iter().position(|&r| r == id)?;
            regs.swap_remove(at);
            Some(())
        });
        if owned.is_none() {
            return Err(UnregisterError::NoSuchRegistration(id));
        }
        self.remove_callee(ids, session, id);
        Ok(())
    }

    /// Removes `session` from every registration; returns the ids it was in.
    pub(crate) fn remove_session(
        &mut self,
        ids: &mut IdGenerator,
        session: SessionId,
    ) -> Vec<RegistrationId> {
        let regs = self.by_session.remove(&session).unwrap_or_default();
        for &id in &regs {
            self.remove_callee(ids, session, id);
        }
        regs
    }

    fn remove_callee(&mut self, ids: &mut IdGenerator, session: SessionId, id: RegistrationId) {
        let Some(registration) = self.by_id.get_mut(&id) else {
            return;
        };
        registration.callees.retain(|&c| c != session);
        if registration.callees.is_empty() {
            if let Some(gone) = self.by_id.remove(&id) {
                self.exact.remove(&gone.procedure);
            }
            ids.release(id);
        }
    }

    /// The registration a call to `procedure` goes to, if any.
    pub fn match_procedure(&self, procedure: &str) -> Option<&Registration> {
        self.exact.get(procedure).and_then(|id| self.by_id.get(id))
    }

    /// A registration by id.
    pub fn get(&self, id: RegistrationId) -> Option<&Registration> {
        self.by_id.get(&id)
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
    use super::*;

    #[test]
    fn a_procedure_has_one_callee_and_a_second_register_is_refused() {
        let (mut reg, mut ids) = (Registry::default(), IdGenerator::default());
        let id = reg.register(&mut ids, 1, "com.example.add").unwrap();
        assert_eq!(
            reg.match_procedure("com.example.add").map(|r| r.id),
            Some(id)
        );
        assert_eq!(
            reg.register(&mut ids, 2, "com.example.add"),
            Err(RegisterError::AlreadyExists("com.example.add".into()))
        );
    }

    #[test]
    fn only_a_callee_can_unregister_and_the_procedure_goes_with_it() {
        let (mut reg, mut ids) = (Registry::default(), IdGenerator::default());
        let id = reg.register(&mut ids, 1, "p").unwrap();
        assert_eq!(
            reg.unregister(&mut ids, 2, id),
            Err(UnregisterError::NoSuchRegistration(id))
        );
        reg.unregister(&mut ids, 1, id).unwrap();
        assert!(reg.match_procedure("p").is_none());
        assert_eq!(
            reg.unregister(&mut ids, 1, id),
            Err(UnregisterError::NoSuchRegistration(id))
        );
        assert!(reg.is_empty());
    }

    #[test]
    fn a_leaving_session_takes_all_its_registrations() {
        let (mut reg, mut ids) = (Registry::default(), IdGenerator::default());
        reg.register(&mut ids, 1, "a").unwrap();
        reg.register(&mut ids, 1, "b").unwrap();
        reg.register(&mut ids, 2, "c").unwrap();
        assert_eq!(reg.remove_session(&mut ids, 1).len(), 2);
        assert!(reg.match_procedure("a").is_none() && reg.match_procedure("b").is_none());
        assert!(reg.match_procedure("c").is_some());
    }
}
