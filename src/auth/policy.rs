//! Who may do what: one table, read top to bottom.

use crate::domain::Role;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Organisations and user accounts.
    ManageAccounts,
}

pub fn allows(role: Role, action: Action) -> bool {
    match action {
        Action::ManageAccounts => role == Role::Admin,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_admins_manage_accounts() {
        for role in Role::ALL {
            assert_eq!(
                allows(role, Action::ManageAccounts),
                role == Role::Admin,
                "{role}"
            );
        }
    }
}
