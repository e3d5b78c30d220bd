//! What an admin may do on the admin site. Three roles, each with
//! everything the one before it has:
//!
//! | role | can |
//! |---|---|
//! | `viewer` | browse, with phone numbers masked; no export |
//! | `operator` | also revoke sessions, edit and delete accounts, decide reviews, export |
//! | `owner` | also manage admins, their roles and sessions |

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AdminRole {
    Viewer,
    Operator,
    Owner,
}

/// One thing an admin may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// See whole phone numbers on a user's page.
    SeePhone,
    /// Revoke users' sessions, merge and unlink, decide reviews, delete accounts.
    EditAccounts,
    /// Download the user CSV.
    Export,
    /// Change roles, end other admins' sessions.
    ManageAdmins,
}

impl Permission {
    /// The least role that has it.
    pub fn least_role(self) -> AdminRole {
        match self {
            Self::SeePhone | Self::EditAccounts | Self::Export => AdminRole::Operator,
            Self::ManageAdmins => AdminRole::Owner,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SeePhone => "see_phone",
            Self::EditAccounts => "edit_accounts",
            Self::Export => "export",
            Self::ManageAdmins => "manage_admins",
        }
    }
}

impl AdminRole {
    pub const ALL: [AdminRole; 3] = [Self::Viewer, Self::Operator, Self::Owner];

    pub fn can(self, permission: Permission) -> bool {
        self >= permission.least_role()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Operator => "operator",
            Self::Owner => "owner",
        }
    }
}

impl fmt::Display for AdminRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is not one of the three.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("there is no role {0:?}; the roles are viewer, operator and owner")]
pub struct UnknownRole(pub String);

impl FromStr for AdminRole {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.chars().take(32).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_has_what_the_one_before_has() {
        use Permission::*;
        let all = [SeePhone, EditAccounts, Export, ManageAdmins];
        assert!(all.iter().all(|&p| !AdminRole::Viewer.can(p)));
        assert!(all.iter().all(|&p| AdminRole::Owner.can(p)));
        assert!(AdminRole::Operator.can(Export) && AdminRole::Operator.can(EditAccounts));
        assert!(!AdminRole::Operator.can(ManageAdmins));
    }

    #[test]
    fn names_parse_back_and_others_are_refused() {
        for role in AdminRole::ALL {
            assert_eq!(role.as_str().parse::<AdminRole>(), Ok(role));
        }
        for bad in ["", "Owner", "admin", "root", " viewer"] {
            assert!(bad.parse::<AdminRole>().is_err(), "{bad}");
        }
    }
}
