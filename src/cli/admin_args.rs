//! The admin site's command-line: `wxlogin admin …`, and `serve`'s
//! admin-site flags.

use std::time::Duration;

use chrono_tz::Tz;
use clap::{Args, Subcommand};

use super::args::DbArgs;
use super::values::parse_retention;
use crate::config::AdminPolicy;
use crate::domain::admin_role::AdminRole;
use crate::domain::display_time;

fn parse_role(s: &str) -> Result<AdminRole, String> {
    s.parse()
        .map_err(|e: crate::domain::admin_role::UnknownRole| e.to_string())
}

fn parse_lifetime(s: &str) -> Result<Duration, String> {
    parse_retention(s)?
        .0
        .ok_or_else(|| "a session cannot last forever; write e.g. 8h or 1d".to_owned())
}

/// `serve`'s flags for the admin site.
#[derive(Debug, Clone, Args)]
pub struct AdminSiteArgs {
    /// An admin's session ends after this long without a request, e.g.
    /// `8h`, `30m` (at least a minute).
    #[arg(long, env = "WXLOGIN_ADMIN_IDLE_TIMEOUT", default_value = "8h", value_parser = parse_lifetime)]
    pub admin_idle_timeout: Duration,

    /// An admin's session ends this long after sign-in, however busy, e.g.
    /// `24h`, `7d`.
    #[arg(long, env = "WXLOGIN_ADMIN_SESSION_LIFETIME", default_value = "24h", value_parser = parse_lifetime)]
    pub admin_session_lifetime: Duration,

    /// Put whole phone numbers in the admin site's CSV export (operators and
    /// owners). Without it, exported numbers are masked (138****0000).
    #[arg(long, env = "WXLOGIN_EXPORT_PHONE", value_parser = clap::builder::BoolishValueParser::new())]
    pub export_phone: bool,

    /// Every admin must sign in with a second factor (TOTP). An admin who
    /// has none is sent to set it up before anything else.
    #[arg(long = "admin-require-2fa", env = "WXLOGIN_ADMIN_REQUIRE_2FA", value_parser = clap::builder::BoolishValueParser::new())]
    pub admin_require_second_factor: bool,

    /// The time zone of the admin site, an IANA name such as `Asia/Shanghai`
    /// or `UTC`: every time on its pages is shown in it (with its offset),
    /// and the user table's date filters are days in it. Storage and the CSV
    /// stay in UTC.
    #[arg(long, env = "WXLOGIN_ADMIN_TIMEZONE", value_name = "ZONE", default_value = "Asia/Shanghai", value_parser = display_time::parse_zone)]
    pub admin_timezone: Tz,
}

impl AdminSiteArgs {
    pub fn policy(&self) -> AdminPolicy {
        AdminPolicy {
            idle_timeout: self.admin_idle_timeout,
            session_lifetime: self.admin_session_lifetime,
            export_phone: self.export_phone,
            require_second_factor: self.admin_require_second_factor,
            timezone: self.admin_timezone,
        }
    }
}

#[derive(Debug, Args)]
pub struct AdminArgs {
    #[command(subcommand)]
    pub command: AdminCommand,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an admin. The password (at least 10 characters) is read from standard input.
    Create {
        /// The admin's user name.
        name: String,
        /// viewer (browse, phone numbers masked, no export), operator (also
        /// revoke sessions, edit and delete accounts, export) or owner (also
        /// manage admins and roles). Default: owner for the first admin,
        /// viewer for any other.
        #[arg(long, value_parser = parse_role)]
        role: Option<AdminRole>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Change an admin's password, read from standard input.
    Passwd {
        name: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Give an admin another role: viewer, operator or owner. Their
    /// signed-in sessions have the new role at their next request.
    Role {
        name: String,
        #[arg(value_parser = parse_role)]
        role: AdminRole,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Turn off an admin's two-factor sign-in (a lost phone and lost
    /// recovery codes). They set it up again after signing in.
    #[command(name = "reset-2fa")]
    ResetSecondFactor {
        name: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List the admins.
    List {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Delete an admin. Their signed-in sessions end at their next request.
    Delete {
        name: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

impl AdminCommand {
    pub fn db(&self) -> &DbArgs {
        match self {
            Self::Create { db, .. }
            | Self::Passwd { db, .. }
            | Self::Role { db, .. }
            | Self::ResetSecondFactor { db, .. }
            | Self::List { db }
            | Self::Delete { db, .. } => db,
        }
    }
}
