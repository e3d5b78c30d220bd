//! SQLite on a full disk: logins answer 503 `unavailable` with
//! `Retry-After`, `/readyz` says not ready until a write succeeds again, and
//! everything recovers without a restart once there is room.
//!
//! The database lives on a small tmpfs that the test mounts, and fills. That
//! needs root (CI runs as root); elsewhere the test is skipped with a notice.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use wxlogin::config::DatabaseUrl;

use crate::common::*;

/// A tmpfs of a few MiB, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount() -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
            .arg(dir.path())
            .output()
            .is_ok_and(|o| o.status.success());
        ok.then_some(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file until the disk is full.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let filler = self.path().join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 4096];
        while file.write_all(&block).is_ok() {}
        let _ = file.sync_all();
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_unavailable_and_recovers() {
    let Some(disk) = SmallDisk::mount() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must be able to mount a tmpfs (run as root)"
        );
        eprintln!("SKIPPED: the disk-full test needs root to mount a tmpfs");
        return;
    };
    let path = disk.path().join("wxlogin.db").display().to_string();
    let app = spawn_app_with(Backend::Sqlite, |s| s.db.url = DatabaseUrl::Sqlite(path)).await;
    app.wechat_answers(code2session_ok("oFULL", "k", None))
        .await;
    let (token, _) = app.login_ok("before").await;

    let filler = disk.fill();
    // Earlier pages of the log may still be reused: log in until a write
    // needs room that is not there.
    let mut refused = None;
    for i in 0..2_000 {
        let response = app
            .post_login(&serde_json::json!({"code": format!("full-{i}")}))
            .await;
        if response.status() != 200 {
            refused = Some(response);
            break;
        }
    }
    let refused = refused.expect("a login failed once the disk was full");
    assert_eq!(refused.headers()["retry-after"], "5");
    let body = assert_error(refused, 503, "unavailable").await.to_string();
    assert!(!body.contains("disk"), "no internals: {body}");
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_error(ready, 503, "unavailable").await;
    // Reads still work.
    assert_eq!(app.get_me(&token).await.status(), 200);

    std::fs::remove_file(filler).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
        if ready.status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "still not ready with room again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.login_ok("after").await;
    drop(app);
}
