//! HTTP checks against a running Odoo: health with retries and a deadline, pages, a
//! JSON-RPC login and a read — judged as Odoo answers them (a wrong password and a
//! missing column are HTTP 200 with an `error` object; health is liveness only).

use std::time::{Duration, Instant};

/// The most of a response body odd reads (a page checked for a text, a JSON-RPC answer):
/// Odoo's login page is tens of KiB; a host answering without end is cut off here.
pub const MAX_BODY: usize = 4 * 1024 * 1024;

use serde::Serialize;
use serde_json::{Value, json};

use crate::command::Secret;
use crate::config::PageCheck;

/// Why a check failed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum CheckError {
    #[error("{url} did not answer healthy within {waited:?} ({attempts} attempts; last: {last})")]
    #[diagnostic(
        code(odd::check::health),
        help("read Odoo's log on the host: the registry may have failed to load")
    )]
    /// The health page did not answer 200 before the deadline.
    Unhealthy {
        /// The health page's URL.
        url: String,
        /// How long odd waited.
        waited: Duration,
        /// Requests made.
        attempts: u32,
        /// The last answer (`HTTP 502`) or the last request error.
        last: String,
    },
    /// A page answered another status than the one expected.
    #[error("{url} answered {status}, expected {expected}")]
    #[diagnostic(code(odd::check::status))]
    Status {
        /// The page's URL.
        url: String,
        /// The status it answered.
        status: u16,
        /// The status expected (`status` of the page check).
        expected: u16,
    },
    /// A page's body does not contain the expected text.
    #[error("{url} does not contain {expected:?}")]
    #[diagnostic(code(odd::check::content))]
    Content {
        /// The page's URL.
        url: String,
        /// The text expected.
        expected: String,
    },
    /// The JSON-RPC login was refused or failed.
    #[error("login as {login} failed: {reason}")]
    #[diagnostic(code(odd::check::login))]
    Login {
        /// The login used.
        login: String,
        /// Why it failed.
        reason: String,
    },
    #[error("reading {model} failed: {reason}")]
    #[diagnostic(
        code(odd::check::read),
        help("a column missing after a deploy means a module was not updated")
    )]
    /// Reading the model after login failed.
    Read {
        /// The model read.
        model: String,
        /// Why it failed (Odoo's error message, when it gave one).
        reason: String,
    },
    /// A request failed (connection, TLS, timeout), or its answer was not JSON-RPC.
    #[error("request to {url} failed: {reason}")]
    #[diagnostic(code(odd::check::request))]
    Request {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
}

/// An HTTP client for one Odoo.
#[derive(Debug, Clone)]
pub struct OdooHttp {
    client: reqwest::Client,
    base: String,
}

/// The result of a successful health wait.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Healthy {
    /// Requests made until the health page answered 200.
    pub attempts: u32,
    /// Milliseconds from the first request to the healthy answer.
    pub waited_ms: u64,
}

/// The result of a successful login and read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoginRead {
    /// The user id the login returned.
    pub uid: i64,
    /// The Odoo version the server reported, when it did.
    pub server_version: Option<String>,
    /// Records the read returned (at most 5).
    pub records: usize,
}

impl OdooHttp {
    /// A client for the Odoo at `base_url` (no trailing slash needed).
    pub fn new(base_url: &str, request_timeout: Duration) -> Result<Self, CheckError> {
        // reqwest is built without a default crypto provider (no C to compile); install
        // ring's once per process. A second install fails harmlessly.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| CheckError::Request {
                url: base_url.to_owned(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            client,
            base: base_url.trim_end_matches('/').to_owned(),
        })
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with('/') {
            format!("{}{path}", self.base)
        } else {
            format!("{}/{path}", self.base)
        }
    }

    /// Polls `path` until it answers 200, every `interval`, for at most `deadline`.
    pub async fn wait_healthy(
        &self,
        path: &str,
        deadline: Duration,
        interval: Duration,
    ) -> Result<Healthy, CheckError> {
        let url = self.url(path);
        let start = Instant::now();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let last = match self.client.get(&url).send().await {
                Ok(resp) if resp.status().as_u16() == 200 => {
                    return Ok(Healthy {
                        attempts,
                        waited_ms: u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
                    });
                }
                Ok(resp) => format!("HTTP {}", resp.status().as_u16()),
                Err(e) => describe(&e),
            };
            if start.elapsed() + interval > deadline {
                return Err(CheckError::Unhealthy {
                    url,
                    waited: start.elapsed(),
                    attempts,
                    last,
                });
            }
            tokio::time::sleep(interval).await;
        }
    }

    /// Checks one page: its status and, when asked, that it contains a text.
    pub async fn page(&self, check: &PageCheck) -> Result<(), CheckError> {
        let url = self.url(&check.path);
        let resp = self
            .client
            .get(&url)
            .send()
            .await
            .map_err(|e| CheckError::Request {
                url: url.clone(),
                reason: describe(&e),
            })?;
        let status = resp.status().as_u16();
        if status != check.status {
            return Err(CheckError::Status {
                url,
                status,
                expected: check.status,
            });
        }
        if let Some(expected) = &check.contains {
            let body = read_capped(resp, MAX_BODY)
                .await
                .map_err(|reason| CheckError::Request {
                    url: url.clone(),
                    reason,
                })?;
            let body = String::from_utf8_lossy(&body);
            if !body.contains(expected.as_str()) {
                return Err(CheckError::Content {
                    url,
                    expected: expected.clone(),
                });
            }
        }
        Ok(())
    }

    async fn json_rpc(&self, path: &str, params: Value) -> Result<Value, (String, CheckError)> {
        let url = self.url(path);
        let body = json!({"jsonrpc": "2.0", "method": "call", "id": 1, "params": params});
        let fail = |reason: String| {
            (
                reason.clone(),
                CheckError::Request {
                    url: url.clone(),
                    reason,
                },
            )
        };
        let resp = self
            .client
            .post(&url)
            .json(&body)
            .send()
            .await
            .map_err(|e| fail(describe(&e)))?;
        let status = resp.status().as_u16();
        let body = read_capped(resp, MAX_BODY)
            .await
            .map_err(|e| fail(format!("HTTP {status}: {e}")))?;
        let value: Value = serde_json::from_slice(&body)
            .map_err(|e| fail(format!("HTTP {status}, not JSON-RPC: {e}")))?;
        if let Some(error) = value.get("error") {
            // Odoo answers HTTP 200 with an error object: the exception's name tells.
            let name = error
                .pointer("/data/name")
                .and_then(Value::as_str)
                .unwrap_or("error");
            let message = error
                .pointer("/data/message")
                .or_else(|| error.get("message"))
                .and_then(Value::as_str)
                .unwrap_or("");
            let reason = format!("{name}: {message}");
            return Err((reason.clone(), CheckError::Request { url, reason }));
        }
        if status != 200 {
            return Err(fail(format!("HTTP {status}")));
        }
        Ok(value.get("result").cloned().unwrap_or(Value::Null))
    }

    /// `common.version` over `/jsonrpc`: Odoo's `server_serie` (e.g. `18.0`).
    pub async fn server_serie(&self) -> Result<String, CheckError> {
        let result = self
            .json_rpc(
                "/jsonrpc",
                json!({"service": "common", "method": "version", "args": []}),
            )
            .await
            .map_err(|(_, e)| e)?;
        result
            .get("server_serie")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| CheckError::Request {
                url: self.url("/jsonrpc"),
                reason: "no server_serie in common.version".to_owned(),
            })
    }

    /// Logs in with `/web/session/authenticate`, then reads a few records of `model` with
    /// `object.execute_kw` (`search_read`) over `/jsonrpc`.
    pub async fn login_and_read(
        &self,
        db: &str,
        login: &str,
        password: &Secret,
        model: &str,
    ) -> Result<LoginRead, CheckError> {
        let password = String::from_utf8_lossy(password.expose()).into_owned();
        let auth = self
            .json_rpc(
                "/web/session/authenticate",
                json!({"db": db, "login": login, "password": password}),
            )
            .await
            .map_err(|(reason, _)| CheckError::Login {
                login: login.to_owned(),
                reason,
            })?;
        let uid = auth
            .get("uid")
            .and_then(Value::as_i64)
            .ok_or_else(|| CheckError::Login {
                login: login.to_owned(),
                reason: "no uid in the answer".to_owned(),
            })?;
        let server_version = auth
            .get("server_version")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let records = self
            .json_rpc(
                "/jsonrpc",
                json!({
                    "service": "object",
                    "method": "execute_kw",
                    "args": [db, uid, password, model, "search_read", [[]], {"limit": 5}],
                }),
            )
            .await
            .map_err(|(reason, _)| CheckError::Read {
                model: model.to_owned(),
                reason,
            })?;
        let records = records.as_array().map_or(0, Vec::len);
        Ok(LoginRead {
            uid,
            server_version,
            records,
        })
    }
}

/// The body of `resp`, refused once it passes `limit` bytes.
async fn read_capped(mut resp: reqwest::Response, limit: usize) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| describe(&e))? {
        if body.len() + chunk.len() > limit {
            return Err(format!("the answer is longer than {limit} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// POSTs `body` as JSON to the webhook `url` and returns the HTTP status. Redirects are
/// not followed and no `Referer` is sent: the URL often carries a token, which must go
/// to that one place only. The error never contains the URL.
///
/// # Errors
/// A sentence without the URL.
pub async fn post_webhook(url: &Secret, body: &Value, timeout: Duration) -> Result<u16, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let url = String::from_utf8_lossy(url.expose()).into_owned();
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .referer(false)
        .build()
        .map_err(|_| "no HTTP client".to_owned())?;
    match client.post(&url).json(body).send().await {
        Ok(resp) => Ok(resp.status().as_u16()),
        // reqwest's text names the URL (and its token).
        Err(_) => Err("the request failed".to_owned()),
    }
}

fn describe(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use std::io::{Read as _, Write as _};
    use std::net::TcpListener;

    use super::*;

    /// A one-request HTTP server on 127.0.0.1: answers with `response`, returns the
    /// request it read.
    fn serve_once(response: String) -> (String, std::thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let handle = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().expect("accept");
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            // Headers, then the body its Content-Length announces.
            loop {
                let n = stream.read(&mut buf).expect("read");
                request.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&request);
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if request.len() >= end + 4 + length || n == 0 {
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            stream.write_all(response.as_bytes()).expect("write");
            String::from_utf8_lossy(&request).into_owned()
        });
        (format!("http://{addr}"), handle)
    }

    #[tokio::test]
    async fn a_webhook_answering_307_is_not_followed_and_gets_no_referer() {
        // Where the redirect points: it must never be asked anything.
        let elsewhere = TcpListener::bind("127.0.0.1:0").expect("bind");
        elsewhere.set_nonblocking(true).expect("nonblocking");
        let target = format!("http://{}/steal", elsewhere.local_addr().expect("addr"));
        let (base, server) = serve_once(format!(
            "HTTP/1.1 307 Temporary Redirect\r\nLocation: {target}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        ));
        let url = Secret::new(format!("{base}/hooks/odd?token=S3cret"));
        let status = post_webhook(
            &url,
            &json!({"outcome": "succeeded"}),
            Duration::from_secs(10),
        )
        .await
        .expect("an answer");
        assert_eq!(status, 307, "the redirect is the answer, not followed");
        let request = server.join().expect("server");
        assert!(
            request.starts_with("POST /hooks/odd?token=S3cret "),
            "{request}"
        );
        assert!(
            !request.to_ascii_lowercase().contains("referer"),
            "{request}"
        );
        assert!(
            matches!(elsewhere.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "the redirect target was contacted"
        );
    }

    #[tokio::test]
    async fn a_page_longer_than_the_cap_is_refused() {
        let body = "x".repeat(MAX_BODY + 1);
        let (base, server) = serve_once(format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ));
        let http = OdooHttp::new(&base, Duration::from_secs(30)).expect("client");
        let check = PageCheck {
            path: "/web/login".to_owned(),
            status: 200,
            contains: Some("Log in".to_owned()),
        };
        let err = http.page(&check).await.expect_err("refused");
        assert!(err.to_string().contains("longer than"), "{err}");
        let _ = server.join();
    }
}
