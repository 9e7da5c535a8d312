//! Who may do what: one table, read top to bottom.

use crate::domain::Role;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Organisations, user accounts, reference data, the audit log.
    Administer,
    /// Report incidents.
    ReportIncidents,
    /// Move others' incidents through review, override their assessment.
    ReviewIncidents,
    /// Aggregates and analyses (partners' always suppressed).
    ReadAggregates,
    /// Row-level exports (partners': their organisation's, no narratives).
    ExportIncidents,
}

pub fn allows(role: Role, action: Action) -> bool {
    use Role::*;
    match action {
        Action::Administer => role == Admin,
        Action::ReportIncidents => matches!(role, Monitor | Reviewer | Admin | Partner),
        Action::ReviewIncidents => matches!(role, Reviewer | Admin),
        Action::ReadAggregates | Action::ExportIncidents => {
            matches!(role, Analyst | Admin | Partner)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table() {
        use Role::*;
        let table = [
            (Action::Administer, vec![Admin]),
            (
                Action::ReportIncidents,
                vec![Admin, Reviewer, Monitor, Partner],
            ),
            (Action::ReviewIncidents, vec![Admin, Reviewer]),
            (Action::ReadAggregates, vec![Admin, Analyst, Partner]),
            (Action::ExportIncidents, vec![Admin, Analyst, Partner]),
        ];
        for (action, allowed) in table {
            for role in Role::ALL {
                assert_eq!(
                    allows(role, action),
                    allowed.contains(&role),
                    "{role} {action:?}"
                );
            }
        }
    }
}
