//! ZooKeeper path syntax, checked before anything is sent, with the same
//! rules as the server's `PathUtils.validatePath`, so that a typo is a usage
//! error (exit 2) naming the problem rather than a server-side failure.

/// Checks `path` and returns it unchanged when valid, or a one-line reason.
pub fn validate(path: &str) -> Result<String, String> {
    if path.is_empty() {
        return Err("path is empty; it must start with '/'".into());
    }
    if !path.starts_with('/') {
        return Err(format!("path '{path}' is relative; it must start with '/'"));
    }
    if path == "/" {
        return Ok(path.into());
    }
    if path.ends_with('/') {
        return Err(format!("path '{path}' ends with '/'"));
    }
    for component in path[1..].split('/') {
        match component {
            "" => return Err(format!("path '{path}' has an empty component ('//')")),
            "." | ".." => {
                return Err(format!(
                    "path '{path}' has a relative component '{component}'"
                ))
            }
            _ => {}
        }
    }
    if let Some(c) = path.chars().find(|&c| is_forbidden(c)) {
        return Err(format!(
            "path {path:?} contains the forbidden character {:?}",
            c
        ));
    }
    Ok(path.into())
}

// Rust chars cannot be surrogates, so of ZooKeeper's \ud800-\uf8ff range only
// the private-use part can occur.
fn is_forbidden(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{e000}'..='\u{f8ff}' | '\u{fff0}'..='\u{ffff}')
}

/// `parent` + `/` + `name`, without doubling the slash under the root.
pub fn join(parent: &str, name: &str) -> String {
    if parent == "/" {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_paths() {
        for p in ["/", "/a", "/a/b-c_d.e", "/services/web/i-1", "/ünïcode"] {
            assert_eq!(validate(p).as_deref(), Ok(p));
        }
    }

    #[test]
    fn rejects_each_kind_of_bad_path_with_its_reason() {
        let cases = [
            ("", "empty"),
            ("a/b", "relative"),
            ("/a/", "ends with '/'"),
            ("/a//b", "empty component"),
            ("/a/./b", "relative component '.'"),
            ("/a/..", "relative component '..'"),
            ("/a\u{1}b", "forbidden character"),
            ("/a\u{fff5}", "forbidden character"),
            ("/a\u{e000}", "forbidden character"),
        ];
        for (path, reason) in cases {
            let err = validate(path).unwrap_err();
            assert!(err.contains(reason), "{path:?}: {err}");
            assert!(!err.contains('\n'));
        }
    }

    #[test]
    fn join_handles_root() {
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("/a", "b"), "/a/b");
    }
}
