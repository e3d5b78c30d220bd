//! The overview's charts, drawn on the server as inline SVG (the admin
//! site runs no script).

use chrono::NaiveDate;

use super::charts::{daily_columns, labelled_bars, DayValue};
use super::i18n::Tr;
use super::words::gender_key;
use crate::service::overview_charts::{Daily, OverviewCharts, SHORT_DAYS};

/// The charts of the overview, each an `<svg>` element.
pub struct ChartsView {
    pub new_accounts_30: String,
    pub new_accounts_90: String,
    pub logins_30: String,
    pub logins_90: String,
    pub phone_exchanges_30: String,
    pub genders: String,
    pub provinces: String,
    /// When the gender and province totals were counted; `None`: not yet.
    pub totals_at: Option<String>,
}

fn columns(title: &str, days: &[(NaiveDate, u64)]) -> String {
    let days: Vec<DayValue> = days
        .iter()
        .map(|&(day, value)| DayValue { day, value })
        .collect();
    daily_columns(title, &days)
}

fn last(days: &Daily, n: u64) -> &[(NaiveDate, u64)] {
    &days[days.len().saturating_sub(n as usize)..]
}

impl ChartsView {
    pub fn new(t: &Tr, charts: &OverviewCharts) -> Self {
        let profiles = &charts.profiles;
        let genders: Vec<(String, u64)> = profiles
            .genders
            .iter()
            .map(|(g, n)| (t.get(gender_key(g.parse().unwrap_or(0))), *n as u64))
            .collect();
        let provinces: Vec<(String, u64)> = profiles
            .provinces
            .iter()
            .map(|(p, n)| {
                let label = if p.is_empty() {
                    "—".to_owned()
                } else {
                    p.clone()
                };
                (label, *n as u64)
            })
            .collect();
        Self {
            new_accounts_30: columns(
                &t.get("chart-new-users-30"),
                last(&charts.new_accounts, SHORT_DAYS),
            ),
            new_accounts_90: columns(&t.get("chart-new-users-90"), &charts.new_accounts),
            logins_30: columns(&t.get("chart-logins-30"), last(&charts.logins, SHORT_DAYS)),
            logins_90: columns(&t.get("chart-logins-90"), &charts.logins),
            phone_exchanges_30: columns(&t.get("chart-phones-30"), &charts.phone_exchanges),
            genders: labelled_bars(&t.get("chart-by-gender"), &genders),
            provinces: labelled_bars(&t.get("chart-by-province"), &provinces),
            totals_at: profiles.computed_at.map(|at| t.time(at)),
        }
    }
}
