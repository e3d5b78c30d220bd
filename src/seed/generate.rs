//! The fake users and sessions themselves.

use chrono::{Duration, NaiveDateTime};
use rand::Rng;

use super::data::{GIVEN, LATIN, NICKNAMES, PLACES, SURNAMES, URL_SAFE, USER_AGENTS};
use crate::db::bulk::{BulkAccount, BulkIdentity, BulkSession};
use crate::domain::data_keys::{DataKeys, Purpose};

/// A weighted choice from a list, by cumulative weights.
struct Weighted<T: Copy> {
    items: Vec<(u32, T)>,
    total: u32,
}

impl<T: Copy> Weighted<T> {
    fn new(pairs: impl IntoIterator<Item = (T, u32)>) -> Self {
        let mut total = 0;
        let items = pairs
            .into_iter()
            .map(|(t, w)| {
                total += w;
                (total, t)
            })
            .collect();
        Self { items, total }
    }

    fn pick(&self, rng: &mut impl Rng) -> T {
        let r = rng.random_range(0..self.total);
        let i = self.items.partition_point(|(c, _)| *c <= r);
        self.items[i].1
    }
}

pub struct Generator {
    now: NaiveDateTime,
    openid_prefix: String,
    /// The second app's users share another prefix.
    second_openid_prefix: String,
    unionid_prefix: String,
    provinces: Weighted<usize>,
    cities: Vec<Weighted<&'static str>>,
    surnames: Weighted<&'static str>,
}

pub struct FakeUser {
    openid: String,
    unionid: Option<String>,
    session_key: String,
    /// The openid and session_key in the second app, for those who use it.
    second: Option<(String, String)>,
    nickname: String,
    avatar_url: String,
    gender: i16,
    province: &'static str,
    city: &'static str,
    created_at: NaiveDateTime,
    last_login_at: NaiveDateTime,
    login_count: i64,
}

pub struct FakeSession {
    account_id: i64,
    identity_id: i64,
    token_hash: [u8; 32],
    created_at: NaiveDateTime,
    expires_at: NaiveDateTime,
    last_seen_at: NaiveDateTime,
    client_ip: String,
    user_agent: &'static str,
}

fn random_text(rng: &mut impl Rng, len: usize) -> String {
    (0..len)
        .map(|_| URL_SAFE[rng.random_range(0..URL_SAFE.len())] as char)
        .collect()
}

impl Generator {
    pub fn new(rng: &mut impl Rng, now: NaiveDateTime) -> Self {
        Self {
            now,
            // Every user of one app shares the first characters of the openid.
            openid_prefix: format!("o{}", random_text(rng, 5)),
            second_openid_prefix: format!("o{}", random_text(rng, 5)),
            unionid_prefix: format!("o{}", random_text(rng, 5)),
            provinces: Weighted::new(PLACES.iter().enumerate().map(|(i, p)| (i, p.1))),
            cities: PLACES
                .iter()
                .map(|p| Weighted::new(p.2.iter().copied()))
                .collect(),
            surnames: Weighted::new(SURNAMES.iter().copied()),
        }
    }

    fn nickname(&self, rng: &mut impl Rng) -> String {
        match rng.random_range(0..100) {
            // What WeChat gives for every new profile since late 2022.
            0..=29 => "微信用户".to_owned(),
            30..=34 => String::new(),
            35..=79 => {
                let mut name = self.surnames.pick(rng).to_owned();
                for _ in 0..rng.random_range(1..=2) {
                    name.push_str(GIVEN[rng.random_range(0..GIVEN.len())]);
                }
                name
            }
            80..=91 => {
                let mut name = NICKNAMES[rng.random_range(0..NICKNAMES.len())].to_owned();
                if rng.random_bool(0.3) {
                    name.push_str(&rng.random_range(1..1000).to_string());
                }
                name
            }
            _ => {
                let mut name = LATIN[rng.random_range(0..LATIN.len())].to_owned();
                if rng.random_bool(0.4) {
                    name.push_str(&format!("_{}", rng.random_range(1..100)));
                }
                name
            }
        }
    }

    /// The `n`-th of `total` users: created in order over the two years
    /// before now, more of them recently.
    /// The `n`-th of `total` users; `in_second_app` ones also have an
    /// identity in a second app, linked by a unionid.
    pub fn user(
        &self,
        rng: &mut impl Rng,
        keys: &DataKeys,
        n: u64,
        total: u64,
        in_second_app: bool,
    ) -> FakeUser {
        let span = Duration::days(730).num_seconds() as f64;
        let u = (n as f64 + rng.random::<f64>()) / total as f64;
        // Growth: the share of users created by time t grows like t².
        let age = span * (1.0 - u.sqrt());
        let created_at = self.now - Duration::milliseconds((age * 1000.0) as i64);
        let since = (self.now - created_at).num_seconds().max(1);
        let last_login_at = if rng.random_bool(0.4) {
            // Active users: a login in the last 30 days.
            self.now - Duration::seconds(rng.random_range(0..since.min(30 * 86_400)))
        } else {
            created_at + Duration::seconds(rng.random_range(0..since))
        };
        let (province, city) = if rng.random_bool(0.25) {
            ("", "")
        } else {
            let p = self.provinces.pick(rng);
            (PLACES[p].0, self.cities[p].pick(rng))
        };
        let login_count = 1 + (rng.random::<f64>().powi(3) * 300.0) as i64;
        let openid = format!("{}{}", self.openid_prefix, random_text(rng, 22));
        let unionid = (in_second_app || rng.random_bool(0.7))
            .then(|| format!("{}{}", self.unionid_prefix, random_text(rng, 22)));
        // WeChat's session_key: 16 bytes in base64, kept sealed as a
        // login's is.
        let session_key = keys.seal(Purpose::SessionKey, &format!("{}==", random_text(rng, 22)));
        let second = in_second_app.then(|| {
            (
                format!("{}{}", self.second_openid_prefix, random_text(rng, 22)),
                keys.seal(Purpose::SessionKey, &format!("{}==", random_text(rng, 22))),
            )
        });
        FakeUser {
            openid,
            unionid,
            session_key,
            second,
            nickname: self.nickname(rng),
            avatar_url: if rng.random_bool(0.5) {
                format!(
                    "https://thirdwx.qlogo.cn/mmopen/vi_32/{}/132",
                    random_text(rng, 40)
                )
            } else {
                String::new()
            },
            gender: match rng.random_range(0..10) {
                0..=3 => 0,
                4..=6 => 1,
                _ => 2,
            },
            province,
            city,
            created_at: trunc(created_at),
            last_login_at: trunc(last_login_at.max(created_at)),
            login_count,
        }
    }

    pub fn session(
        &self,
        rng: &mut impl Rng,
        account_id: i64,
        identity_id: i64,
        user: &FakeUser,
        token_hash: [u8; 32],
    ) -> FakeSession {
        FakeSession {
            account_id,
            identity_id,
            token_hash,
            created_at: user.last_login_at,
            expires_at: trunc(self.now + Duration::days(7)),
            last_seen_at: user.last_login_at,
            client_ip: format!(
                "{}.{}.{}.{}",
                rng.random_range(36..=223),
                rng.random_range(0..=255),
                rng.random_range(0..=255),
                rng.random_range(1..=254)
            ),
            user_agent: USER_AGENTS[rng.random_range(0..USER_AGENTS.len())],
        }
    }
}

/// Microseconds, as stored.
fn trunc(t: NaiveDateTime) -> NaiveDateTime {
    use chrono::SubsecRound;
    t.trunc_subsecs(6)
}

impl FakeUser {
    /// The account row, with id `id`.
    pub fn account(&self, id: i64) -> BulkAccount<'_> {
        BulkAccount {
            id,
            unionid: self.unionid.as_deref(),
            nickname: &self.nickname,
            avatar_url: &self.avatar_url,
            gender: self.gender,
            country: if self.province.is_empty() {
                ""
            } else {
                "中国"
            },
            province: self.province,
            city: self.city,
            language: "zh_CN",
            created_at: self.created_at,
            updated_at: self.last_login_at,
            last_login_at: self.last_login_at,
            login_count: self.login_count,
        }
    }

    /// The identity rows of account `account_id`, with ids from `first_id`
    /// on: one in `appid`, and one in `second_appid` for those who use it.
    pub fn identities<'a>(
        &'a self,
        account_id: i64,
        first_id: i64,
        appid: &'a str,
        second_appid: Option<&'a str>,
    ) -> Vec<BulkIdentity<'a>> {
        let mut rows = vec![BulkIdentity {
            id: first_id,
            account_id,
            appid,
            openid: &self.openid,
            unionid: self.unionid.as_deref(),
            session_key: &self.session_key,
            created_at: self.created_at,
            last_login_at: self.last_login_at,
            login_count: self.login_count,
            session_key_issued_at: self.last_login_at,
        }];
        if let (Some((openid, session_key)), Some(second_appid)) = (&self.second, second_appid) {
            rows.push(BulkIdentity {
                id: first_id + 1,
                account_id,
                appid: second_appid,
                openid,
                unionid: self.unionid.as_deref(),
                session_key,
                created_at: self.last_login_at,
                last_login_at: self.last_login_at,
                login_count: 1,
                session_key_issued_at: self.last_login_at,
            });
        }
        rows
    }
}

impl FakeSession {
    /// The row to insert.
    pub fn row(&self) -> BulkSession<'_> {
        BulkSession {
            account_id: self.account_id,
            identity_id: self.identity_id,
            token_hash: &self.token_hash,
            created_at: self.created_at,
            expires_at: self.expires_at,
            last_seen_at: self.last_seen_at,
            client_ip: Some(&self.client_ip),
            user_agent: Some(self.user_agent),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    #[test]
    fn users_look_like_wechat_users() {
        let mut rng = SmallRng::seed_from_u64(7);
        let keys = DataKeys::new(
            crate::domain::data_keys::DataKey::from_bytes(&[1; 32]),
            vec![],
        );
        let now = crate::clock::now();
        let gen = Generator::new(&mut rng, now);
        let users: Vec<FakeUser> = (0..2_000)
            .map(|n| gen.user(&mut rng, &keys, n, 2_000, n % 5 == 0))
            .collect();
        let shape = |s: &str| {
            s.len() == 28 && s.starts_with('o') && s.bytes().all(|b| URL_SAFE.contains(&b))
        };
        for u in &users {
            assert!(shape(&u.openid), "{}", u.openid);
            assert!(u.unionid.as_deref().is_none_or(shape));
            assert!(u.created_at <= u.last_login_at && u.last_login_at <= now);
            assert!(u.created_at >= now - Duration::days(731));
            assert!((0..=2).contains(&u.gender));
            assert_eq!(u.province.is_empty(), u.city.is_empty());
        }
        // Ids follow creation time.
        assert!(users.windows(2).all(|w| w[0].created_at <= w[1].created_at));
        // A skewed spread: Guangdong well ahead of Tibet.
        let count = |p: &str| users.iter().filter(|u| u.province == p).count();
        assert!(
            count("广东") > 5 * count("西藏").max(1),
            "{}",
            count("广东")
        );
        assert!(users.iter().any(|u| u.nickname == "微信用户"));
        assert!(users.iter().any(|u| u
            .nickname
            .chars()
            .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))));
    }
}
