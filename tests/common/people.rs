//! Fake users to seed.

/// A user to seed.
#[derive(Debug, Clone)]
pub struct Person {
    pub openid: String,
    pub unionid: Option<String>,
    pub nickname: String,
    pub gender: i16,
    pub province: String,
    pub city: String,
    pub created_at: chrono::NaiveDateTime,
    pub last_login_at: chrono::NaiveDateTime,
}

impl Person {
    pub fn new(openid: &str) -> Self {
        let t = chrono::NaiveDate::from_ymd_opt(2026, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        Self {
            openid: openid.to_owned(),
            unionid: None,
            nickname: String::new(),
            gender: 0,
            province: String::new(),
            city: String::new(),
            created_at: t,
            last_login_at: t,
        }
    }
}

/// A deterministic crowd of `n` users with repeated values, so that sorts
/// have ties that only the id can break.
pub fn crowd(n: usize) -> Vec<Person> {
    let places = [
        ("广东", "广州"),
        ("广东", "深圳"),
        ("浙江", "杭州"),
        ("北京", "北京"),
        ("", ""),
    ];
    let names = ["张三", "李四", "alice", "Bob", "王五", ""];
    let base = chrono::NaiveDate::from_ymd_opt(2026, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    (0..n)
        .map(|i| {
            let (province, city) = places[i % places.len()];
            Person {
                openid: format!("oCROWD{:05}{}", (i * 7919) % 100_000, i),
                unionid: (i % 3 != 0).then(|| format!("uCROWD{i:05}")),
                nickname: names[i % names.len()].to_owned(),
                gender: (i % 3) as i16,
                province: province.to_owned(),
                city: city.to_owned(),
                created_at: base + chrono::Duration::days((i % 10) as i64),
                last_login_at: base + chrono::Duration::hours((i % 17) as i64),
            }
        })
        .collect()
}
