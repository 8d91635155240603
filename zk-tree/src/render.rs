//! How stats and ACLs look in zk-tree's JSON, and how a dump's ACL is read
//! back.

use serde_json::{json, Map, Value};
use zookeeper_client::{Acl, AuthId, Permission, Stat};

use zk_common::output::millis_rfc3339;

/// The stat as JSON: zxids and versions as numbers, times as RFC 3339.
pub fn stat(stat: &Stat) -> Value {
    json!({
        "czxid": stat.czxid,
        "mzxid": stat.mzxid,
        "pzxid": stat.pzxid,
        "created": millis_rfc3339(stat.ctime),
        "modified": millis_rfc3339(stat.mtime),
        "version": stat.version,
        "cversion": stat.cversion,
        "aversion": stat.aversion,
        "ephemeral_owner": owner(stat),
        "data_length": stat.data_length,
        "num_children": stat.num_children,
    })
}

/// The ephemeral owner as a hex session id, null for a persistent node.
pub fn owner(stat: &Stat) -> Value {
    match stat.ephemeral_owner {
        0 => Value::Null,
        session => zk_common::node::session_hex(session).into(),
    }
}

/// zkCli's letters, in zkCli's order.
const LETTERS: [(char, Permission); 5] = [
    ('c', Permission::CREATE),
    ('d', Permission::DELETE),
    ('r', Permission::READ),
    ('w', Permission::WRITE),
    ('a', Permission::ADMIN),
];

/// `cdrwa`, as zkCli's getAcl prints it.
pub fn perms(permission: Permission) -> String {
    LETTERS
        .iter()
        .filter(|(_, p)| permission.has(*p))
        .map(|(c, _)| *c)
        .collect()
}

/// An ACL as `[{"scheme", "id", "perms"}]`.
pub fn acl(acl: &[Acl]) -> Value {
    acl.iter()
        .map(|entry| {
            let mut one = Map::new();
            one.insert("scheme".into(), entry.scheme().into());
            one.insert("id".into(), entry.id().into());
            one.insert("perms".into(), perms(entry.permission()).into());
            Value::Object(one)
        })
        .collect()
}

/// Reads back what [`acl`] wrote; the error names what is wrong.
pub fn parse_acl(value: &Value) -> Result<Vec<Acl>, String> {
    let entries = value.as_array().ok_or("acl is not an array")?;
    if entries.is_empty() {
        return Err("acl is empty (ZooKeeper refuses a node nobody may touch)".into());
    }
    entries
        .iter()
        .map(|entry| {
            let field = |name: &str| {
                entry[name]
                    .as_str()
                    .ok_or_else(|| format!("an acl entry has no string {name:?}"))
            };
            let (scheme, id, letters) = (field("scheme")?, field("id")?, field("perms")?);
            let mut permission = Permission::NONE;
            for letter in letters.chars() {
                let (_, p) = LETTERS.iter().find(|(c, _)| *c == letter).ok_or_else(|| {
                    format!("{letter:?} in perms {letters:?} is not one of cdrwa")
                })?;
                permission = permission | *p;
            }
            if scheme.is_empty() {
                return Err("an acl entry has an empty scheme".into());
            }
            Ok(Acl::new(permission, AuthId::new(scheme, id)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acls_round_trip_through_json() {
        let original = vec![
            Acl::new(Permission::ALL, AuthId::new("digest", "u:abc=")),
            Acl::new(Permission::READ | Permission::WRITE, AuthId::anyone()),
            Acl::new(Permission::NONE, AuthId::new("ip", "10.0.0.0/8")),
        ];
        let json = acl(&original);
        assert_eq!(json[0]["perms"], "cdrwa");
        assert_eq!(json[1]["perms"], "rw");
        assert_eq!(json[2]["perms"], "");
        assert_eq!(parse_acl(&json).unwrap(), original);
    }

    #[test]
    fn bad_acls_say_what_is_wrong() {
        assert!(parse_acl(&json!([])).unwrap_err().contains("empty"));
        assert!(parse_acl(&json!({})).unwrap_err().contains("array"));
        let err =
            parse_acl(&json!([{"scheme": "world", "id": "anyone", "perms": "rx"}])).unwrap_err();
        assert!(err.contains("'x'"), "{err}");
        assert!(parse_acl(&json!([{"scheme": "world", "perms": "r"}]))
            .unwrap_err()
            .contains("\"id\""));
    }
}
