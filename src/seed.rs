//! `wxlogin seed`: fills a database with realistic fake users, for the
//! benchmarks and for trying the admin site on a big table.
//!
//! The data is made to look like a real mini-program's:
//! - openid and unionid have WeChat's shape: 28 URL-safe characters, `o`
//!   then a prefix shared by every user of the same app (or open-platform
//!   account), then 22 random characters;
//! - nicknames are mostly Chinese: common surnames with given names, the
//!   "微信用户" that WeChat hands out since 2022, nicknames, some Latin ones;
//! - provinces and cities follow population roughly (Guangdong and
//!   Shandong far ahead of Tibet), and many users have none;
//! - sign-ups grow over two years, and ids follow creation time as they do
//!   in a real table; last logins crowd into the recent weeks.
//!
//! Rows go in as multi-row `INSERT`s of [`BATCH_ROWS`], many per transaction.
//! The random generator is seeded, so the same `--seed` gives the same users.

use std::io::Write;
use std::time::Instant;

use anyhow::{bail, Context};
use chrono::{Duration, NaiveDateTime};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::db::schema::{sessions, users};
use crate::db::{self, DbConnection, DbError, WriteTransaction};
use crate::domain::token::SessionToken;
use crate::on_backend;

/// Users per `INSERT`: 14 columns × 1,000 rows stays under both backends'
/// limits on bound parameters (32,766 for SQLite, 65,535 for PostgreSQL).
pub const BATCH_ROWS: usize = 1_000;

/// What a seed run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedReport {
    pub users: u64,
    pub sessions: u64,
    pub seconds: String,
}

/// The seed run's options, without the database.
#[derive(Debug, Clone)]
pub struct SeedOptions {
    pub users: u64,
    pub sessions_per_user: u32,
    pub session_users: Option<u64>,
    pub appid: String,
    pub seed: u64,
    pub dev: bool,
}

/// Fills the database. Refuses when it already holds users, unless `dev`.
/// Writes the plaintext of every token created to `tokens`, one per line.
pub fn seed(
    conn: &mut DbConnection,
    opts: &SeedOptions,
    tokens: &mut dyn Write,
) -> anyhow::Result<SeedReport> {
    let existing = db::users::count(conn)?;
    if existing > 0 && !opts.dev {
        bail!(
            "the database already holds {existing} users; seed fills only an empty database, \
             unless --dev is given (never on a production database)"
        );
    }
    if let DbConnection::Sqlite(c) = conn {
        // A big page cache keeps the indexes in memory while they grow.
        c.batch_execute("PRAGMA cache_size = -262144; PRAGMA temp_store = MEMORY;")
            .map_err(DbError::from)?;
    }
    let started = Instant::now();
    // Users added to a non-empty database (--dev) get other openids than
    // the first run's, even with the same seed.
    let mut rng =
        SmallRng::seed_from_u64(opts.seed ^ (existing as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let gen = Generator::new(&mut rng, crate::clock::now());
    let with_sessions = opts.session_users.unwrap_or(opts.users).min(opts.users);
    // Every `stride`-th user gets sessions.
    let stride = opts.users.checked_div(with_sessions).unwrap_or(u64::MAX);
    let mut sessions_made = 0u64;
    let mut sessions_wanted = with_sessions;
    // One transaction: an interrupted seed leaves the database as it was.
    on_backend!(&mut *conn, |c| c.write_transaction(|c| {
        // Into an empty table, building each index once at the end is many
        // times faster than keeping a dozen indexes sorted row by row.
        let indexes = if existing == 0 {
            drop_indexes(c)?
        } else {
            Vec::new()
        };
        let mut i = 0u64;
        while i < opts.users {
            let batch_end = (i + BATCH_ROWS as u64).min(opts.users);
            let people: Vec<FakeUser> = (i..batch_end)
                .map(|n| gen.user(&mut rng, n, opts.users))
                .collect();
            let rows: Vec<_> = people.iter().map(|p| p.insertable(&opts.appid)).collect();
            let ids: Vec<(i64, String)> = diesel::insert_into(users::table)
                .values(&rows)
                .returning((users::id, users::openid))
                .get_results(c)?;
            let by_openid: std::collections::HashMap<&str, i64> =
                ids.iter().map(|(id, o)| (o.as_str(), *id)).collect();
            let mut new_sessions = Vec::new();
            for (n, p) in (i..batch_end).zip(&people) {
                if opts.sessions_per_user == 0 || sessions_wanted == 0 || n % stride != 0 {
                    continue;
                }
                sessions_wanted -= 1;
                let user_id = by_openid[p.openid.as_str()];
                for _ in 0..opts.sessions_per_user {
                    let token = SessionToken::generate();
                    writeln!(tokens, "{}", token.expose())
                        .context("cannot write the tokens file (--tokens-out)")?;
                    new_sessions.push(gen.session(&mut rng, user_id, p, token.hash().0));
                }
            }
            for chunk in new_sessions.chunks(BATCH_ROWS) {
                let rows: Vec<_> = chunk.iter().map(FakeSession::insertable).collect();
                diesel::insert_into(sessions::table)
                    .values(&rows)
                    .execute(c)?;
            }
            sessions_made += new_sessions.len() as u64;
            i = batch_end;
        }
        for create in &indexes {
            c.batch_execute(create)?;
        }
        Ok::<_, anyhow::Error>(())
    }))?;
    if let DbConnection::Postgres(c) = conn {
        // Fresh statistics, so the planner knows the table's new size at once.
        c.batch_execute("ANALYZE users; ANALYZE sessions;")
            .map_err(DbError::from)?;
    } else if let DbConnection::Sqlite(c) = conn {
        c.batch_execute("PRAGMA optimize; PRAGMA cache_size = -2000;")
            .map_err(DbError::from)?;
    }
    Ok(SeedReport {
        users: opts.users,
        sessions: sessions_made,
        seconds: format!("{:.1}", started.elapsed().as_secs_f64()),
    })
}

#[derive(QueryableByName)]
struct IndexDef {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    def: String,
}

/// Drops the secondary indexes of `users` and returns the statements that
/// make them again.
trait DropIndexes {
    fn drop_indexes(&mut self) -> Result<Vec<String>, DbError>;
}

fn drop_indexes<C: DropIndexes>(c: &mut C) -> Result<Vec<String>, DbError> {
    c.drop_indexes()
}

fn drop_all(c: &mut impl SimpleConnection, defs: Vec<IndexDef>) -> Result<Vec<String>, DbError> {
    for d in &defs {
        c.batch_execute(&format!("DROP INDEX \"{}\"", d.name))?;
    }
    Ok(defs.into_iter().map(|d| d.def).collect())
}

impl DropIndexes for diesel::SqliteConnection {
    fn drop_indexes(&mut self) -> Result<Vec<String>, DbError> {
        let defs: Vec<IndexDef> = diesel::sql_query(
            "SELECT name, sql AS def FROM sqlite_master \
             WHERE type = 'index' AND tbl_name = 'users' AND sql IS NOT NULL",
        )
        .load(self)?;
        drop_all(self, defs)
    }
}

impl DropIndexes for diesel::PgConnection {
    fn drop_indexes(&mut self) -> Result<Vec<String>, DbError> {
        let defs: Vec<IndexDef> = diesel::sql_query(
            "SELECT i.indexname AS name, i.indexdef AS def FROM pg_indexes i \
             WHERE i.schemaname = current_schema() AND i.tablename = 'users' \
             AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conname = i.indexname)",
        )
        .load(self)?;
        // Memory to sort in while the indexes are built again.
        self.batch_execute("SET LOCAL maintenance_work_mem = '256MB'")?;
        drop_all(self, defs)
    }
}

/// Provinces with a rough weight (population in millions) and their
/// biggest cities with a rough share.
type Place = (&'static str, u32, &'static [(&'static str, u32)]);

const PLACES: &[Place] = &[
    (
        "广东",
        126,
        &[
            ("广州", 30),
            ("深圳", 28),
            ("东莞", 12),
            ("佛山", 10),
            ("汕头", 5),
            ("惠州", 5),
            ("珠海", 3),
        ],
    ),
    (
        "山东",
        101,
        &[
            ("济南", 20),
            ("青岛", 22),
            ("烟台", 10),
            ("潍坊", 10),
            ("临沂", 10),
            ("淄博", 6),
        ],
    ),
    (
        "河南",
        99,
        &[
            ("郑州", 30),
            ("洛阳", 12),
            ("南阳", 10),
            ("新乡", 7),
            ("商丘", 7),
        ],
    ),
    (
        "江苏",
        85,
        &[
            ("南京", 25),
            ("苏州", 25),
            ("无锡", 14),
            ("徐州", 10),
            ("常州", 9),
        ],
    ),
    (
        "四川",
        84,
        &[
            ("成都", 50),
            ("绵阳", 6),
            ("南充", 6),
            ("宜宾", 5),
            ("德阳", 4),
        ],
    ),
    (
        "河北",
        75,
        &[
            ("石家庄", 25),
            ("保定", 15),
            ("唐山", 13),
            ("邯郸", 12),
            ("廊坊", 8),
        ],
    ),
    (
        "湖南",
        66,
        &[
            ("长沙", 35),
            ("衡阳", 10),
            ("株洲", 8),
            ("岳阳", 8),
            ("常德", 7),
        ],
    ),
    (
        "浙江",
        65,
        &[
            ("杭州", 35),
            ("宁波", 20),
            ("温州", 15),
            ("金华", 10),
            ("嘉兴", 7),
        ],
    ),
    (
        "安徽",
        61,
        &[("合肥", 35), ("芜湖", 10), ("阜阳", 10), ("蚌埠", 6)],
    ),
    (
        "湖北",
        58,
        &[("武汉", 50), ("宜昌", 8), ("襄阳", 8), ("荆州", 6)],
    ),
    ("广西", 50, &[("南宁", 30), ("柳州", 15), ("桂林", 15)]),
    ("云南", 47, &[("昆明", 45), ("曲靖", 12), ("大理", 8)]),
    ("江西", 45, &[("南昌", 35), ("赣州", 20), ("九江", 10)]),
    ("辽宁", 42, &[("沈阳", 35), ("大连", 30), ("鞍山", 8)]),
    ("福建", 41, &[("福州", 30), ("厦门", 25), ("泉州", 25)]),
    ("陕西", 40, &[("西安", 60), ("宝鸡", 8), ("咸阳", 8)]),
    ("贵州", 39, &[("贵阳", 45), ("遵义", 20)]),
    ("山西", 35, &[("太原", 40), ("大同", 10), ("运城", 10)]),
    ("重庆", 32, &[("重庆", 100)]),
    (
        "黑龙江",
        31,
        &[("哈尔滨", 50), ("大庆", 12), ("齐齐哈尔", 10)],
    ),
    ("新疆", 26, &[("乌鲁木齐", 40), ("喀什", 15)]),
    ("上海", 25, &[("上海", 100)]),
    ("甘肃", 25, &[("兰州", 45), ("天水", 12)]),
    (
        "内蒙古",
        24,
        &[("呼和浩特", 30), ("包头", 25), ("鄂尔多斯", 10)],
    ),
    ("吉林", 24, &[("长春", 50), ("吉林", 20)]),
    ("北京", 22, &[("北京", 100)]),
    ("天津", 14, &[("天津", 100)]),
    ("海南", 10, &[("海口", 45), ("三亚", 25)]),
    ("宁夏", 7, &[("银川", 60)]),
    ("青海", 6, &[("西宁", 70)]),
    ("西藏", 4, &[("拉萨", 60)]),
];

const SURNAMES: &[(&str, u32)] = &[
    ("王", 72),
    ("李", 70),
    ("张", 68),
    ("刘", 55),
    ("陈", 46),
    ("杨", 33),
    ("黄", 25),
    ("赵", 20),
    ("吴", 20),
    ("周", 19),
    ("徐", 15),
    ("孙", 15),
    ("马", 13),
    ("朱", 12),
    ("胡", 11),
    ("郭", 11),
    ("何", 10),
    ("林", 10),
    ("高", 10),
    ("罗", 10),
    ("郑", 9),
    ("梁", 9),
    ("谢", 7),
    ("宋", 7),
    ("唐", 7),
    ("许", 6),
    ("韩", 6),
    ("冯", 6),
    ("邓", 6),
    ("曹", 6),
    ("彭", 5),
    ("曾", 5),
    ("肖", 5),
    ("田", 5),
    ("董", 5),
    ("欧阳", 1),
    ("司马", 1),
];

const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明",
    "超", "秀", "霞", "平", "刚", "桂", "英", "华", "玉", "萍", "红", "鹏", "辉", "建", "文", "斌",
    "宇", "浩", "凯", "佳", "欣", "怡", "梓", "涵", "子", "轩", "晨", "博", "雨", "思", "嘉", "俊",
    "婷", "雪", "琳", "晓", "海", "亮", "飞", "宁", "慧", "颖", "倩", "然",
];

const NICKNAMES: &[&str] = &[
    "小明",
    "小红",
    "阿强",
    "快乐每一天",
    "阳光男孩",
    "追梦人",
    "岁月静好",
    "平安是福",
    "知足常乐",
    "随遇而安",
    "一路向北",
    "海阔天空",
    "向日葵",
    "小猪佩奇",
    "开心果",
    "奋斗",
    "静待花开",
    "清风徐来",
    "简单",
    "淡定",
    "暖阳",
    "星星",
    "月亮船",
    "老王",
    "大刘",
    "宝宝妈妈",
    "兰兰",
    "晴天",
    "🍀幸运草",
    "A小雨",
    "木子李",
    "胖胖",
    "zz",
    "😊",
];

const LATIN: &[&str] = &[
    "Alice", "Kevin", "Lucky", "Tony", "Jason", "Cathy", "Amy", "Leo", "Coco", "Sunny", "Eric",
    "Vivian", "Jack", "Lily", "Mr.Li", "Chris", "Angel", "David", "Zoe", "Ivy",
];

const URL_SAFE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

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

struct Generator {
    now: NaiveDateTime,
    openid_prefix: String,
    unionid_prefix: String,
    provinces: Weighted<usize>,
    cities: Vec<Weighted<&'static str>>,
    surnames: Weighted<&'static str>,
}

struct FakeUser {
    openid: String,
    unionid: Option<String>,
    session_key: String,
    nickname: String,
    avatar_url: String,
    gender: i16,
    province: &'static str,
    city: &'static str,
    created_at: NaiveDateTime,
    last_login_at: NaiveDateTime,
    login_count: i64,
}

struct FakeSession {
    user_id: i64,
    token_hash: [u8; 32],
    created_at: NaiveDateTime,
    expires_at: NaiveDateTime,
    last_seen_at: NaiveDateTime,
    client_ip: String,
    user_agent: &'static str,
}

const USER_AGENTS: &[&str] = &[
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI Language/zh_CN",
    "Mozilla/5.0 (Linux; Android 13; V2219A Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/116.0.0.0 Mobile Safari/537.36 XWEB/1160065 MMWEBSDK/20231202 MicroMessenger/8.0.47.2560(0x28002F35) WeChat/arm64 Weixin NetType/5G Language/zh_CN",
    "Mozilla/5.0 (Linux; Android 12; HarmonyOS; NOH-AN00; HMSCore 6.13.0.302) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/99.0.4844.88 Mobile Safari/537.36 MicroMessenger/8.0.45 Language/zh_CN",
];

fn random_text(rng: &mut impl Rng, len: usize) -> String {
    (0..len)
        .map(|_| URL_SAFE[rng.random_range(0..URL_SAFE.len())] as char)
        .collect()
}

impl Generator {
    fn new(rng: &mut impl Rng, now: NaiveDateTime) -> Self {
        Self {
            now,
            // Every user of one app shares the first characters of the openid.
            openid_prefix: format!("o{}", random_text(rng, 5)),
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
    fn user(&self, rng: &mut impl Rng, n: u64, total: u64) -> FakeUser {
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
        FakeUser {
            openid: format!("{}{}", self.openid_prefix, random_text(rng, 22)),
            unionid: rng
                .random_bool(0.7)
                .then(|| format!("{}{}", self.unionid_prefix, random_text(rng, 22))),
            // WeChat's session_key: 16 bytes in base64.
            session_key: format!("{}==", random_text(rng, 22)),
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

    fn session(
        &self,
        rng: &mut impl Rng,
        user_id: i64,
        user: &FakeUser,
        token_hash: [u8; 32],
    ) -> FakeSession {
        FakeSession {
            user_id,
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

type UserValues<'a> = (
    diesel::dsl::Eq<users::appid, &'a str>,
    diesel::dsl::Eq<users::openid, &'a str>,
    diesel::dsl::Eq<users::unionid, Option<&'a str>>,
    diesel::dsl::Eq<users::session_key, &'a str>,
    diesel::dsl::Eq<users::nickname, &'a str>,
    diesel::dsl::Eq<users::avatar_url, &'a str>,
    diesel::dsl::Eq<users::gender, i16>,
    diesel::dsl::Eq<users::country, &'a str>,
    diesel::dsl::Eq<users::province, &'a str>,
    diesel::dsl::Eq<users::city, &'a str>,
    diesel::dsl::Eq<users::language, &'a str>,
    diesel::dsl::Eq<users::created_at, NaiveDateTime>,
    (
        diesel::dsl::Eq<users::updated_at, NaiveDateTime>,
        diesel::dsl::Eq<users::last_login_at, NaiveDateTime>,
        diesel::dsl::Eq<users::login_count, i64>,
    ),
);

impl FakeUser {
    fn insertable<'a>(&'a self, appid: &'a str) -> UserValues<'a> {
        (
            users::appid.eq(appid),
            users::openid.eq(self.openid.as_str()),
            users::unionid.eq(self.unionid.as_deref()),
            users::session_key.eq(self.session_key.as_str()),
            users::nickname.eq(self.nickname.as_str()),
            users::avatar_url.eq(self.avatar_url.as_str()),
            users::gender.eq(self.gender),
            users::country.eq(if self.province.is_empty() {
                ""
            } else {
                "中国"
            }),
            users::province.eq(self.province),
            users::city.eq(self.city),
            users::language.eq("zh_CN"),
            users::created_at.eq(self.created_at),
            (
                users::updated_at.eq(self.last_login_at),
                users::last_login_at.eq(self.last_login_at),
                users::login_count.eq(self.login_count),
            ),
        )
    }
}

type SessionValues<'a> = (
    diesel::dsl::Eq<sessions::user_id, i64>,
    diesel::dsl::Eq<sessions::token_hash, &'a [u8]>,
    diesel::dsl::Eq<sessions::created_at, NaiveDateTime>,
    diesel::dsl::Eq<sessions::expires_at, NaiveDateTime>,
    diesel::dsl::Eq<sessions::last_seen_at, NaiveDateTime>,
    diesel::dsl::Eq<sessions::client_ip, Option<&'a str>>,
    diesel::dsl::Eq<sessions::user_agent, Option<&'a str>>,
);

impl FakeSession {
    fn insertable(&self) -> SessionValues<'_> {
        (
            sessions::user_id.eq(self.user_id),
            sessions::token_hash.eq(&self.token_hash[..]),
            sessions::created_at.eq(self.created_at),
            sessions::expires_at.eq(self.expires_at),
            sessions::last_seen_at.eq(self.last_seen_at),
            sessions::client_ip.eq(Some(self.client_ip.as_str())),
            sessions::user_agent.eq(Some(self.user_agent)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_look_like_wechat_users() {
        let mut rng = SmallRng::seed_from_u64(7);
        let now = crate::clock::now();
        let gen = Generator::new(&mut rng, now);
        let users: Vec<FakeUser> = (0..2_000).map(|n| gen.user(&mut rng, n, 2_000)).collect();
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
