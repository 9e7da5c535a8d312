//! Who may do what: one table, read top to bottom.

use crate::domain::Role;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    /// Organisations, user accounts, reference data, the audit log.
    Administer,
    /// Report incidents.
    ReportIncidents,
    /// Move others' incidents through review, override their assessment.
    ReviewIncidents,
    /// Reopen a closed incident.
    ReopenIncidents,
    /// Aggregates and analyses (partners' always suppressed).
    ReadAggregates,
    /// Exact aggregates and analyses of every organisation, not only the
    /// partner release (and one's own organisation).
    ReadExactAggregates,
    /// Row-level exports (partners': their organisation's, no narratives).
    ExportIncidents,
    /// Narratives in exports.
    ExportNarratives,
}

pub fn allows(role: Role, permission: Permission) -> bool {
    use Role::*;
    match permission {
        Permission::Administer | Permission::ReopenIncidents => role == Admin,
        Permission::ReportIncidents => matches!(role, Monitor | Reviewer | Admin | Partner),
        Permission::ReviewIncidents => matches!(role, Reviewer | Admin),
        Permission::ReadAggregates | Permission::ExportIncidents => {
            matches!(role, Analyst | Admin | Partner)
        }
        Permission::ReadExactAggregates | Permission::ExportNarratives => {
            matches!(role, Analyst | Admin)
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
            (Permission::Administer, vec![Admin]),
            (
                Permission::ReportIncidents,
                vec![Admin, Reviewer, Monitor, Partner],
            ),
            (Permission::ReviewIncidents, vec![Admin, Reviewer]),
            (Permission::ReopenIncidents, vec![Admin]),
            (Permission::ReadAggregates, vec![Admin, Analyst, Partner]),
            (Permission::ReadExactAggregates, vec![Admin, Analyst]),
            (Permission::ExportIncidents, vec![Admin, Analyst, Partner]),
            (Permission::ExportNarratives, vec![Admin, Analyst]),
        ];
        for (permission, allowed) in table {
            for role in Role::ALL {
                assert_eq!(
                    allows(role, permission),
                    allowed.contains(&role),
                    "{role} {permission:?}"
                );
            }
        }
    }
}
