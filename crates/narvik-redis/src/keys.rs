//! Key names: every key this store writes lives under `<prefix>:`.

use data_encoding::HEXLOWER;
use narvik_core::{SESSION_ID_LEN, SessionId};
use sha2::{Digest, Sha256};

/// The longest key prefix accepted.
pub const MAX_PREFIX_LEN: usize = 64;

/// Builds the store's key names from its prefix.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    /// Checks the prefix: 1 to [`MAX_PREFIX_LEN`] characters of `A-Z a-z
    /// 0-9 . _ -`.
    ///
    /// No `:`, so that the first `:` of every key ends its prefix and two
    /// prefixes never share keys (`app` and `app:s` would); no `{` or `}`,
    /// so that a prefix never becomes a cluster hash tag that would put
    /// every key in one slot; no glob characters, so that the purge's
    /// `SCAN MATCH <prefix>:s:*` matches exactly this store's keys.
    pub(crate) fn new(prefix: &str) -> Option<Self> {
        let valid = !prefix.is_empty()
            && prefix.len() <= MAX_PREFIX_LEN
            && prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        valid.then(|| Self {
            prefix: prefix.to_owned(),
        })
    }

    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `<prefix>:s:<session id>`: the session itself.
    pub(crate) fn session(&self, id: &SessionId) -> String {
        let mut buf = [0u8; SESSION_ID_LEN];
        let mut key = String::with_capacity(self.prefix.len() + 3 + SESSION_ID_LEN);
        key.push_str(&self.prefix);
        key.push_str(":s:");
        key.push_str(id.encode_hex(&mut buf));
        key
    }

    /// `<prefix>:u:<hex SHA-256 of the user id>`: the user's index.
    ///
    /// Hashed because user ids are arbitrary strings (any length, any
    /// characters): the hash gives a fixed-size key that no user id can
    /// use to reach outside the prefix.
    pub(crate) fn user(&self, user_id: &str) -> String {
        let digest = Sha256::digest(user_id.as_bytes());
        let mut key = String::with_capacity(self.prefix.len() + 3 + SESSION_ID_LEN);
        key.push_str(&self.prefix);
        key.push_str(":u:");
        key.push_str(&HEXLOWER.encode(&digest));
        key
    }

    /// The `SCAN MATCH` pattern of every session key.
    pub(crate) fn session_pattern(&self) -> String {
        format!("{}:s:*", self.prefix)
    }

    /// The `SCAN MATCH` pattern of every index key.
    pub(crate) fn user_pattern(&self) -> String {
        format!("{}:u:*", self.prefix)
    }

    /// The `SCAN MATCH` pattern of every key of this store.
    pub(crate) fn all_pattern(&self) -> String {
        format!("{}:*", self.prefix)
    }

    /// The session id in a session key, if it is one of ours.
    pub(crate) fn id_of_session_key(&self, key: &str) -> Option<SessionId> {
        let hex = key.strip_prefix(&self.prefix)?.strip_prefix(":s:")?;
        SessionId::parse(hex).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_refuses_separators_hash_tags_and_globs() {
        for bad in [
            "", "a:b", "{a}", "a{", "a*", "a?", "a[b]", "a b", "ü", "a\\b",
        ] {
            assert!(Keys::new(bad).is_none(), "{bad:?} was accepted");
        }
        assert!(Keys::new(&"x".repeat(MAX_PREFIX_LEN + 1)).is_none());
        for good in ["narvik", "my-app_1.sessions", &"x".repeat(MAX_PREFIX_LEN)] {
            assert!(Keys::new(good).is_some(), "{good:?} was refused");
        }
    }

    #[test]
    fn keys_are_prefixed_and_user_ids_hashed() {
        let keys = Keys::new("app").expect("valid prefix");
        let id = SessionId::from_token("testSessionToken");
        assert_eq!(
            keys.session(&id),
            "app:s:1626809001a7ba6bfac95ff81333a03ea5e5b95f28fe13fd9216a8e0a78a5e0c"
        );
        // SHA-256 of the empty string.
        assert_eq!(
            keys.user(""),
            "app:u:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(keys.user(&"é".repeat(600)).len(), 3 + 3 + 64);
        assert_eq!(keys.id_of_session_key(&keys.session(&id)), Some(id));
        assert_eq!(keys.id_of_session_key("app:s:nope"), None);
        assert_eq!(keys.id_of_session_key("other:s:00"), None);
    }

    /// The prefix as given is what `RedisStore::key_prefix` reports and
    /// what every key and pattern starts with.
    #[test]
    fn the_prefix_reads_back_as_given_and_starts_every_pattern() {
        let keys = Keys::new("my-app_1.sessions").expect("valid prefix");
        assert_eq!(keys.prefix(), "my-app_1.sessions");
        assert_eq!(keys.session_pattern(), "my-app_1.sessions:s:*");
        assert_eq!(keys.user_pattern(), "my-app_1.sessions:u:*");
        assert_eq!(keys.all_pattern(), "my-app_1.sessions:*");
    }
}
