//! The review workflow: every legal move, who may make it, and when a comment
//! is required, in one table.

use super::vocabulary::Status;
use crate::auth::{Actor, Permission};

/// Who may make a move.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mover {
    /// The person who reported the incident.
    Reporter,
    /// Reviewers and admins, never on an incident they reported (four eyes).
    Reviewer,
    /// Admins only, never on an incident they reported.
    Admin,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Move {
    pub from: Status,
    pub to: Status,
    pub by: Mover,
    pub comment_required: bool,
}

const fn mv(from: Status, to: Status, by: Mover, comment_required: bool) -> Move {
    Move {
        from,
        to,
        by,
        comment_required,
    }
}

pub const MOVES: &[Move] = &[
    mv(Status::Draft, Status::Submitted, Mover::Reporter, false),
    mv(Status::Submitted, Status::InReview, Mover::Reviewer, false),
    mv(Status::InReview, Status::Verified, Mover::Reviewer, false),
    mv(
        Status::InReview,
        Status::Unsubstantiated,
        Mover::Reviewer,
        true,
    ),
    mv(Status::InReview, Status::NeedsInfo, Mover::Reviewer, true),
    mv(Status::NeedsInfo, Status::Submitted, Mover::Reporter, false),
    mv(Status::Verified, Status::Referred, Mover::Reviewer, true),
    mv(Status::Verified, Status::Closed, Mover::Reviewer, false),
    mv(
        Status::Unsubstantiated,
        Status::Closed,
        Mover::Reviewer,
        false,
    ),
    mv(Status::Referred, Status::Closed, Mover::Reviewer, false),
    mv(Status::Closed, Status::InReview, Mover::Admin, true),
];

#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Not a move the workflow has; lists the moves it has from here.
    Illegal {
        allowed: Vec<Status>,
    },
    /// A legal move, but not this caller's to make.
    NotYours(&'static str),
    /// Reviewers may not review what they reported themselves.
    FourEyes,
    CommentRequired,
}

/// Whether `actor` may move an incident reported by `reporter_id` from `from` to `to`.
pub fn check(
    from: Status,
    to: Status,
    actor: &Actor,
    reporter_id: &str,
    comment: Option<&str>,
) -> Result<&'static Move, Refusal> {
    let is_reporter = actor.is(reporter_id);
    let Some(found) = MOVES.iter().find(|m| m.from == from && m.to == to) else {
        return Err(Refusal::Illegal {
            allowed: allowed_from(from),
        });
    };
    match found.by {
        Mover::Reporter if !is_reporter => {
            return Err(Refusal::NotYours("only the reporter may make this move"));
        }
        Mover::Reviewer if !actor.may(Permission::ReviewIncidents) => {
            return Err(Refusal::NotYours(
                "only reviewers and admins review incidents",
            ));
        }
        Mover::Admin if !actor.may(Permission::ReopenIncidents) => {
            return Err(Refusal::NotYours(
                "only admins may reopen a closed incident",
            ));
        }
        Mover::Reviewer | Mover::Admin if is_reporter => return Err(Refusal::FourEyes),
        _ => {}
    }
    if found.comment_required && comment.is_none_or(|c| c.trim().is_empty()) {
        return Err(Refusal::CommentRequired);
    }
    Ok(found)
}

pub fn allowed_from(from: Status) -> Vec<Status> {
    MOVES
        .iter()
        .filter(|m| m.from == from)
        .map(|m| m.to)
        .collect()
}

/// Reporters may change what they said only before review, or when asked to.
pub fn editable(status: Status) -> bool {
    matches!(status, Status::Draft | Status::NeedsInfo)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{OrganisationId, Role, UserId};

    /// `check` for an actor of `role`, the reporter or not.
    fn check_as(
        from: Status,
        to: Status,
        role: Role,
        is_reporter: bool,
        comment: Option<&str>,
    ) -> Result<&'static Move, Refusal> {
        let actor = Actor::person(
            UserId::from_db("me".into()),
            role,
            OrganisationId::from_db("org".into()),
        );
        let reporter = if is_reporter { "me" } else { "someone" };
        check(from, to, &actor, reporter, comment)
    }

    #[test]
    fn every_move_of_the_table_for_every_role() {
        for m in MOVES {
            for role in Role::ALL {
                for is_reporter in [true, false] {
                    let comment = Some("because");
                    let result = check_as(m.from, m.to, role, is_reporter, comment);
                    let expected = match m.by {
                        Mover::Reporter => is_reporter,
                        Mover::Reviewer => {
                            matches!(role, Role::Reviewer | Role::Admin) && !is_reporter
                        }
                        Mover::Admin => role == Role::Admin && !is_reporter,
                    };
                    assert_eq!(
                        result.is_ok(),
                        expected,
                        "{:?}->{:?} {role} reporter={is_reporter}",
                        m.from,
                        m.to
                    );
                }
            }
        }
    }

    #[test]
    fn illegal_moves_list_what_is_allowed() {
        assert_eq!(
            check_as(
                Status::Submitted,
                Status::Verified,
                Role::Reviewer,
                false,
                None
            ),
            Err(Refusal::Illegal {
                allowed: vec![Status::InReview]
            })
        );
        assert_eq!(
            check_as(Status::InReview, Status::Draft, Role::Admin, false, None),
            Err(Refusal::Illegal {
                allowed: vec![Status::Verified, Status::Unsubstantiated, Status::NeedsInfo]
            })
        );
        let unlisted = Status::ALL
            .iter()
            .flat_map(|from| Status::ALL.iter().map(move |to| (*from, *to)))
            .filter(|(from, to)| !MOVES.iter().any(|m| m.from == *from && m.to == *to));
        for (from, to) in unlisted {
            assert!(matches!(
                check_as(from, to, Role::Admin, false, Some("x")),
                Err(Refusal::Illegal { .. })
            ));
        }
    }

    #[test]
    fn four_eyes_and_comments() {
        assert_eq!(
            check_as(
                Status::Submitted,
                Status::InReview,
                Role::Reviewer,
                true,
                None
            )
            .err(),
            Some(Refusal::FourEyes)
        );
        assert_eq!(
            check_as(
                Status::InReview,
                Status::NeedsInfo,
                Role::Reviewer,
                false,
                Some("  ")
            )
            .err(),
            Some(Refusal::CommentRequired)
        );
        assert!(
            check_as(
                Status::InReview,
                Status::Verified,
                Role::Reviewer,
                false,
                None
            )
            .is_ok()
        );
        assert_eq!(
            check_as(
                Status::Closed,
                Status::InReview,
                Role::Reviewer,
                false,
                Some("x")
            )
            .err(),
            Some(Refusal::NotYours(
                "only admins may reopen a closed incident"
            ))
        );
    }
}
