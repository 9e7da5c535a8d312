//! Who is acting: built once per request by the extractor, and the one place
//! that answers role questions (may, sees, reads). A new role, or a service
//! account narrowed by scopes, changes this file and the policy table only.

use super::policy::{self, Permission};
use crate::domain::{OrganisationId, Role, UserId};
use crate::incidents::IncidentRow;
use crate::incidents::vocabulary::Status;

/// The signed-in caller, checked against the database on every request so that
/// deactivation, password changes, role changes and sign-outs take effect at once.
#[derive(Clone, Debug)]
pub struct Actor {
    pub id: UserId,
    pub role: Role,
    pub organisation_id: OrganisationId,
    /// This request's id, for the audit rows written on the actor's behalf.
    pub request_id: Option<String>,
    pub kind: ActorKind,
}

/// What kind of client acts. Today only people sign in; a service account
/// (a partner's system, narrowed by its scopes) is the next variant, and
/// `Actor::may` the place where its scopes will narrow the role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActorKind {
    Person,
    /// A partner system (`service_accounts`). Its token's scopes narrow the role
    /// per operation in the extractor (`auth::client`), before any handler runs.
    ServiceAccount,
}

/// Which incidents an actor may see, for the SQL of lists and exports
/// (`incidents::queries::visible`) and for single rows (`Actor::sees`).
/// Nobody sees another's draft.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Visibility {
    /// Every non-draft incident, and their own drafts.
    All,
    /// Their organisation's non-draft incidents, and their own drafts.
    OwnOrganisation,
    /// Only what they reported.
    Own,
}

/// The parts of an incident a viewer reads, besides its structured content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sight {
    /// The narrative.
    pub narrative: bool,
    /// Who reported it and who acted on it (other people's ids).
    pub people: bool,
    /// Reviewers' comments in the history and the override reason.
    pub review_notes: bool,
}

impl Actor {
    /// A person acting with their role.
    pub fn person(id: UserId, role: Role, organisation_id: OrganisationId) -> Self {
        Self {
            id,
            role,
            organisation_id,
            request_id: None,
            kind: ActorKind::Person,
        }
    }

    pub fn may(&self, permission: Permission) -> bool {
        match self.kind {
            ActorKind::Person | ActorKind::ServiceAccount => policy::allows(self.role, permission),
        }
    }

    pub fn is(&self, user_id: &str) -> bool {
        self.id.as_str() == user_id
    }

    pub fn visibility(&self) -> Visibility {
        match self.role {
            Role::Reviewer | Role::Analyst | Role::Admin => Visibility::All,
            Role::Partner => Visibility::OwnOrganisation,
            Role::Monitor => Visibility::Own,
        }
    }

    /// Whether the actor may see this incident; `visibility` is the same rule in SQL.
    pub fn sees(&self, row: &IncidentRow) -> bool {
        if self.is(&row.reporter_id) {
            return true;
        }
        if row.status == Status::Draft.as_str() {
            return false;
        }
        match self.visibility() {
            Visibility::All => true,
            Visibility::OwnOrganisation => row.organisation_id == self.organisation_id.as_str(),
            Visibility::Own => false,
        }
    }

    /// Whether the actor may add attachments to an incident they see: its
    /// reporter while they may edit it (a draft, or sent back for more
    /// information), or a reviewer (or admin) of it, who may not be its reporter.
    pub fn attaches_to(&self, row: &IncidentRow) -> bool {
        let Some(status) = Status::parse(&row.status) else {
            return false;
        };
        if self.is(&row.reporter_id) {
            return crate::incidents::workflow::editable(status);
        }
        self.reviews(row)
    }

    /// Whether the actor reviews this incident (someone else's, seen, not a draft).
    fn reviews(&self, row: &IncidentRow) -> bool {
        self.may(Permission::ReviewIncidents)
            && !self.is(&row.reporter_id)
            && row.status != Status::Draft.as_str()
            && self.sees(row)
    }

    /// How the actor may remove an attachment: `Some(false)` without a reason
    /// (the reporter, from a draft), `Some(true)` with one (a reviewer), `None`: not at all.
    pub fn removes_attachments(&self, row: &IncidentRow) -> Option<bool> {
        if self.is(&row.reporter_id) && row.status == Status::Draft.as_str() {
            Some(false)
        } else if self.reviews(row) {
            Some(true)
        } else {
            None
        }
    }

    /// Whether the actor may download an incident's attachments: whoever reads
    /// its narrative (partners: only their own reports').
    pub fn reads_attachments(&self, row: &IncidentRow) -> bool {
        self.sees(row) && self.sight(&row.reporter_id).narrative
    }

    /// What the actor reads of an incident they see, reported by `reporter_id`.
    /// Partners read their organisation's incidents without the people behind
    /// them or the reviewers' notes, and the narratives only of their own
    /// reports; everyone else who may see an incident reads all of it
    /// (monitors see only their own reports).
    pub fn sight(&self, reporter_id: &str) -> Sight {
        let own = self.is(reporter_id);
        match self.role {
            Role::Partner => Sight {
                narrative: own,
                people: false,
                review_notes: false,
            },
            Role::Monitor => Sight {
                narrative: own,
                people: true,
                review_notes: true,
            },
            Role::Reviewer | Role::Analyst | Role::Admin => Sight {
                narrative: true,
                people: true,
                review_notes: true,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn actor(role: Role, id: &str) -> Actor {
        Actor::person(
            UserId::from_db(id.to_owned()),
            role,
            OrganisationId::from_db("org".to_owned()),
        )
    }

    #[test]
    fn partners_never_read_people_or_review_notes() {
        for reporter in ["me", "colleague"] {
            let sight = actor(Role::Partner, "me").sight(reporter);
            assert!(!sight.people && !sight.review_notes, "{reporter}");
            assert_eq!(sight.narrative, reporter == "me");
        }
        for role in [Role::Reviewer, Role::Analyst, Role::Admin] {
            let sight = actor(role, "me").sight("someone");
            assert!(sight.people && sight.review_notes && sight.narrative);
        }
        let monitor = actor(Role::Monitor, "me").sight("me");
        assert!(monitor.people && monitor.review_notes && monitor.narrative);
    }
}
