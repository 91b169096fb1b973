//! HTTP checks against a running Odoo: health with retries and a deadline, pages, a
//! JSON-RPC login and a read — judged as Odoo answers them (a wrong password and a
//! missing column are HTTP 200 with an `error` object; health is liveness only).

use std::time::{Duration, Instant};

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
    Unhealthy {
        url: String,
        waited: Duration,
        attempts: u32,
        last: String,
    },
    #[error("{url} answered {status}, expected {expected}")]
    #[diagnostic(code(odd::check::status))]
    Status {
        url: String,
        status: u16,
        expected: u16,
    },
    #[error("{url} does not contain {expected:?}")]
    #[diagnostic(code(odd::check::content))]
    Content { url: String, expected: String },
    #[error("login as {login} failed: {reason}")]
    #[diagnostic(code(odd::check::login))]
    Login { login: String, reason: String },
    #[error("reading {model} failed: {reason}")]
    #[diagnostic(
        code(odd::check::read),
        help("a column missing after a deploy means a module was not updated")
    )]
    Read { model: String, reason: String },
    #[error("request to {url} failed: {reason}")]
    #[diagnostic(code(odd::check::request))]
    Request { url: String, reason: String },
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
    pub attempts: u32,
    pub waited_ms: u64,
}

/// The result of a successful login and read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoginRead {
    pub uid: i64,
    pub server_version: Option<String>,
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
            let body = resp.text().await.map_err(|e| CheckError::Request {
                url: url.clone(),
                reason: describe(&e),
            })?;
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
        let value: Value = resp
            .json()
            .await
            .map_err(|e| fail(format!("HTTP {status}, not JSON-RPC: {}", describe(&e))))?;
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
