//! HTTP machinery shared by the JSON API and the admin site.

pub mod connections;
pub mod request_log;

/// The client's IP address: the peer's, or behind a trusted proxy the last
/// `X-Forwarded-For` entry (the one that proxy added).
pub fn client_ip(req: &actix_web::HttpRequest, trust_proxy: bool) -> Option<String> {
    if trust_proxy {
        let forwarded = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .last()
            .and_then(|s| s.parse::<std::net::IpAddr>().ok());
        if let Some(ip) = forwarded {
            return Some(ip.to_string());
        }
    }
    req.peer_addr().map(|a| a.ip().to_string())
}

/// The security headers of every response. The admin pages use no script,
/// no frames and nothing from other sites but https avatars.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'self'; img-src 'self' https: data:; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
