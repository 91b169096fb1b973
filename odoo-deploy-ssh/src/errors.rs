//! ssh reports failures as text on stderr; this turns the text into typed errors.

use odoo_deploy_core::transport::TransportError;

use crate::config::SshConfig;

/// An error and its sources, joined with `: `.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Classifies a failure to open the master connection.
pub fn classify_connect(config: &SshConfig, e: &openssh::Error) -> TransportError {
    classify_ssh_log(config, &chain(e))
}

/// Classifies the text ssh printed when it could not connect.
pub fn classify_ssh_log(config: &SshConfig, log: &str) -> TransportError {
    let host = config.host.clone();
    if log.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
        || (log.contains("Host key for") && log.contains("has changed"))
    {
        return TransportError::HostKeyMismatch {
            host,
            port: config.port,
            known_hosts_name: config.known_hosts_name(),
        };
    }
    if log.contains("host key is known for")
        || log.contains("Host key verification failed")
        || log.contains("No matching host key")
    {
        return TransportError::UnknownHostKey {
            host,
            port: config.port,
        };
    }
    if log.contains("Permission denied (") || log.contains("Too many authentication failures") {
        return TransportError::AuthRefused {
            host,
            user: config.user.clone().unwrap_or_else(|| "(default)".into()),
        };
    }
    let reason = if log.contains("Connection timed out")
        || log.contains("Operation timed out")
        || log.contains("timed out during banner exchange")
    {
        format!("no answer within {:?}", config.connect_timeout)
    } else if log.contains("Connection refused") {
        format!("connection refused on port {}", config.port)
    } else {
        last_meaningful_line(log)
    };
    TransportError::Connect { host, reason }
}

fn last_meaningful_line(log: &str) -> String {
    log.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty() && !l.starts_with("Warning: Permanently added"))
        .unwrap_or("ssh failed without a message")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> SshConfig {
        SshConfig::new("db1.example").port(2222).user("deploy")
    }

    #[test]
    fn changed_key() {
        let log = "@@@@@@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n\
                   Host key for [db1.example]:2222 has changed and you have requested strict checking.\n\
                   Host key verification failed.";
        match classify_ssh_log(&cfg(), log) {
            TransportError::HostKeyMismatch {
                host,
                port,
                known_hosts_name,
            } => {
                assert_eq!(host, "db1.example");
                assert_eq!(port, 2222);
                assert_eq!(known_hosts_name, "[db1.example]:2222");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_key() {
        let log = "No ED25519 host key is known for [db1.example]:2222 and you have requested strict checking.\r\nHost key verification failed.";
        assert!(matches!(
            classify_ssh_log(&cfg(), log),
            TransportError::UnknownHostKey { port: 2222, .. }
        ));
    }

    #[test]
    fn auth_refused() {
        let log = "deploy@db1.example: Permission denied (publickey).";
        assert!(matches!(
            classify_ssh_log(&cfg(), log),
            TransportError::AuthRefused { user, .. } if user == "deploy"
        ));
    }

    #[test]
    fn refused_and_timeout() {
        let e = classify_ssh_log(
            &cfg(),
            "ssh: connect to host db1.example port 2222: Connection refused",
        );
        assert_eq!(
            e.to_string(),
            "cannot connect to db1.example: connection refused on port 2222"
        );
        let e = classify_ssh_log(
            &cfg(),
            "ssh: connect to host db1.example port 2222: Connection timed out",
        );
        assert_eq!(
            e.to_string(),
            "cannot connect to db1.example: no answer within 10s"
        );
        let e = classify_ssh_log(
            &cfg(),
            "ssh: Could not resolve hostname db1.example: Name or service not known\n",
        );
        assert_eq!(
            e.to_string(),
            "cannot connect to db1.example: ssh: Could not resolve hostname db1.example: Name or service not known"
        );
    }
}
