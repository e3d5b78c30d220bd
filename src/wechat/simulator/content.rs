//! The simulator's content checks: its verdicts by trigger words, and the
//! message push by which an image's verdict reaches the server, signed and
//! encrypted as WeChat's would be.

use rand::TryRngCore;

use super::super::{push, CheckResult, Suggest, WechatError};

/// The message-push Token of the simulator's apps.
pub const DEV_PUSH_TOKEN: &str = "wxlogindevpush";
/// The message-push EncodingAESKey of the simulator's apps.
pub const DEV_PUSH_AES_KEY: &str = "wxloginDevPushAesKeyForTheSimulator00000000";

/// The verdict the simulator gives content that holds these words.
pub(super) fn verdict_of(content: &[u8]) -> Result<CheckResult, WechatError> {
    let holds = |words: &[&str]| {
        words.iter().any(|w| {
            content
                .windows(w.len())
                .any(|window| window == w.as_bytes())
        })
    };
    if holds(&["超时", "timeout"]) {
        return Err(WechatError::Timeout);
    }
    Ok(if holds(&["违禁", "risky"]) {
        CheckResult {
            suggest: Suggest::Risky,
            label: 20006,
        }
    } else if holds(&["待审", "review"]) {
        CheckResult {
            suggest: Suggest::Review,
            label: 21000,
        }
    } else {
        CheckResult {
            suggest: Suggest::Pass,
            label: 100,
        }
    })
}

/// The pauses before each retry of a push that was not answered with
/// success.
const PUSH_RETRY_PAUSES: [std::time::Duration; 3] = [
    std::time::Duration::from_millis(500),
    std::time::Duration::from_secs(1),
    std::time::Duration::from_secs(2),
];

/// Fetches the image as WeChat would, judges it, and pushes the verdict
/// under `trace_id` to the server, signed and encrypted with the dev
/// push keys. A fetch that fails sends nothing, as WeChat would not.
pub(super) async fn push_image_verdict(
    appid: String,
    openid: String,
    push_base: String,
    media_url: String,
    trace_id: String,
) {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build();
    let Ok(client) = client else { return };
    let image = match client.get(&media_url).send().await {
        Ok(r) if r.status().is_success() => r.bytes().await.ok(),
        _ => None,
    };
    let Some(image) = image else {
        tracing::warn!(%trace_id, "simulator: the image could not be fetched; no push is sent");
        return;
    };
    let result = verdict_of(&image).unwrap_or(CheckResult {
        suggest: Suggest::Review,
        label: 21000,
    });
    let suggest = match result.suggest {
        Suggest::Pass => "pass",
        Suggest::Review => "review",
        Suggest::Risky => "risky",
    };
    let message = serde_json::json!({
        "ToUserName": "gh_wxlogin_dev",
        "FromUserName": openid,
        "CreateTime": crate::clock::unix_now(),
        "MsgType": "event",
        "Event": "wxa_media_check",
        "appid": appid,
        "trace_id": trace_id,
        "version": 2,
        "errcode": 0,
        "errmsg": "ok",
        "result": {"suggest": suggest, "label": result.label},
    })
    .to_string();
    let Ok(keys) = push::PushKeys::new(DEV_PUSH_TOKEN, Some(DEV_PUSH_AES_KEY)) else {
        return;
    };
    let mut random = [0u8; 16];
    let mut nonce = [0u8; 8];
    if rand::rngs::OsRng.try_fill_bytes(&mut random).is_err()
        || rand::rngs::OsRng.try_fill_bytes(&mut nonce).is_err()
    {
        return;
    }
    let Ok(encrypt) = push::seal(&keys, &appid, &message, random) else {
        return;
    };
    let timestamp = crate::clock::unix_now().to_string();
    let nonce = hex::encode(nonce);
    let signature = push::signature(DEV_PUSH_TOKEN, &[&timestamp, &nonce]);
    let msg_signature = push::signature(DEV_PUSH_TOKEN, &[&timestamp, &nonce, &encrypt]);
    let query = [
        ("signature", signature.as_str()),
        ("timestamp", &timestamp),
        ("nonce", &nonce),
        ("encrypt_type", "aes"),
        ("msg_signature", &msg_signature),
    ];
    let body = serde_json::json!({"ToUserName": "gh_wxlogin_dev", "Encrypt": encrypt});
    // WeChat sends a push again, up to three more times, until it is
    // answered with success. The verdict can come before the server has
    // stored the trace id it answered the submission with; the server
    // refuses that push, and a later try finds the check.
    for (attempt, pause) in std::iter::once(None)
        .chain(PUSH_RETRY_PAUSES.iter().map(Some))
        .enumerate()
    {
        if let Some(pause) = pause {
            tokio::time::sleep(*pause).await;
        }
        let sent = client
            .post(format!("{push_base}/wechat/push/{appid}"))
            .query(&query)
            .json(&body)
            .send()
            .await;
        match sent {
            Ok(answer) if answer.status().is_success() => return,
            Ok(answer) => {
                tracing::debug!(%trace_id, attempt, status = %answer.status(), "simulator: the push was refused");
            }
            Err(e) => {
                tracing::warn!(%trace_id, attempt, error = %e.without_url(), "simulator: the push could not be sent");
            }
        }
    }
    tracing::warn!(%trace_id, "simulator: the push was refused every time; the server will ask again");
}
