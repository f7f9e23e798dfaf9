//! Passwords: argon2id, stored as PHC strings (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`).
//!
//! Hashing is slow and memory-hungry on purpose (by default ~19 MiB and two passes, OWASP's
//! recommendation), so it runs on tokio's blocking pool, at most as many at a time as there are
//! CPUs: a burst of logins waits for a turn instead of taking the memory of hundreds of hashes.
//!
//! Verifying always does the work of one hash: against the stored hash, or, when there is none
//! (an unknown user, a user without a password) or it cannot be read, against a dummy hash made
//! once with the same parameters. An attacker cannot tell from the time taken whether a
//! username exists.

use std::sync::Arc;

use argon2::password_hash::phc::PasswordHash as PhcHash;
use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use async_trait::async_trait;
use tokio::sync::Semaphore;
use wastatus_domain::ports::{PasswordHasher, StorageError};
use wastatus_domain::{Password, PasswordHash};

/// Why argon2 parameters were refused.
#[derive(Debug, thiserror::Error)]
#[error("invalid argon2 parameters: {0}")]
pub struct Argon2ParamsError(String);

/// The domain's [`PasswordHasher`], with argon2id.
///
/// Cheap to clone: clones share the parameters, the dummy hash and the limit on concurrent work.
#[derive(Clone)]
pub struct Argon2Passwords {
    inner: Arc<Inner>,
}

struct Inner {
    argon2: Argon2<'static>,
    /// A hash of a random password, to verify against when there is no hash.
    dummy: PhcHash,
    /// Bounds how many hashes are computed at once.
    permits: Semaphore,
    /// How many argon2 verifications ran, for tests.
    #[cfg(test)]
    verifications: std::sync::atomic::AtomicUsize,
}

impl Argon2Passwords {
    /// Memory per hash, in KiB (19 MiB): OWASP's recommendation for argon2id.
    pub const DEFAULT_M_COST: u32 = 19_456;
    /// Passes over the memory.
    pub const DEFAULT_T_COST: u32 = 2;
    /// Lanes (parallelism within one hash).
    pub const DEFAULT_P_COST: u32 = 1;

    /// A hasher with OWASP's parameters (m = 19456 KiB, t = 2, p = 1). Computes the dummy hash,
    /// so it takes as long as one hash.
    pub fn new() -> Self {
        Self::with_params(Self::DEFAULT_M_COST, Self::DEFAULT_T_COST, Self::DEFAULT_P_COST)
            .expect("the default argon2 parameters are valid")
    }

    /// A hasher with other parameters: `m_cost` KiB of memory, `t_cost` passes, `p_cost` lanes.
    /// Hashes made with other parameters still verify (a PHC string names its own parameters);
    /// new hashes use these.
    pub fn with_params(m_cost: u32, t_cost: u32, p_cost: u32) -> Result<Self, Argon2ParamsError> {
        let params = Params::new(m_cost, t_cost, p_cost, None).map_err(|e| Argon2ParamsError(e.to_string()))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let dummy_password: [u8; 32] = rand::random();
        let dummy = argon2.hash_password(&dummy_password).map_err(|e| Argon2ParamsError(e.to_string()))?;
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(Self {
            inner: Arc::new(Inner {
                argon2,
                dummy,
                permits: Semaphore::new(cpus),
                #[cfg(test)]
                verifications: Default::default(),
            }),
        })
    }

    /// The parameters new hashes are made with: (m_cost KiB, t_cost, p_cost).
    pub fn params(&self) -> (u32, u32, u32) {
        let p = self.inner.argon2.params();
        (p.m_cost(), p.t_cost(), p.p_cost())
    }

    /// Runs `work` on the blocking pool once a permit is free. `None` if the work could not run
    /// or did not finish (the runtime is shutting down, or it panicked).
    async fn run<T: Send + 'static>(&self, work: impl FnOnce(&Inner) -> T + Send + 'static) -> Option<T> {
        let _permit = self.inner.permits.acquire().await.ok()?;
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || work(&inner)).await.ok()
    }
}

impl Default for Argon2Passwords {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Argon2Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Argon2Passwords").field("params", self.inner.argon2.params()).finish_non_exhaustive()
    }
}

#[async_trait]
impl PasswordHasher for Argon2Passwords {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, StorageError> {
        let password = password.clone();
        let hashed = self
            .run(move |inner| inner.argon2.hash_password(password.expose().as_bytes()).map(|h| h.to_string()))
            .await
            .ok_or_else(|| StorageError(anyhow::anyhow!("password hashing did not finish")))?;
        hashed.map(PasswordHash).map_err(|e| StorageError(anyhow::anyhow!("password hashing failed: {e}")))
    }

    async fn verify<'a>(&self, password: &Password, hash: Option<&'a PasswordHash>) -> bool {
        let password = password.clone();
        let stored = hash.map(|h| h.0.clone());
        self.run(move |inner| {
            let parsed = stored.and_then(|s| match PhcHash::new(&s) {
                Ok(parsed) => Some(parsed),
                Err(e) => {
                    // The hash itself stays out of the logs.
                    tracing::warn!(error = %e, "a stored password hash is not a PHC string; refusing the password");
                    None
                }
            });
            #[cfg(test)]
            inner.verifications.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            match parsed {
                Some(parsed) => inner.argon2.verify_password(password.expose().as_bytes(), &parsed).is_ok(),
                None => {
                    // The same work as a real check, for the same time; the answer is no.
                    let _ = inner.argon2.verify_password(password.expose().as_bytes(), &inner.dummy);
                    false
                }
            }
        })
        .await
        .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Small parameters, so the tests do not take seconds; the code paths are the same.
    fn fast() -> Argon2Passwords {
        Argon2Passwords::with_params(1024, 1, 1).unwrap()
    }

    fn pw(s: &str) -> Password {
        Password::new(s).unwrap()
    }

    #[test]
    fn the_defaults_are_owasps() {
        assert_eq!(
            (Argon2Passwords::DEFAULT_M_COST, Argon2Passwords::DEFAULT_T_COST, Argon2Passwords::DEFAULT_P_COST),
            (19_456, 2, 1)
        );
    }

    #[tokio::test]
    async fn the_default_hasher_makes_argon2id_phc_strings_with_owasp_parameters() {
        let hasher = Argon2Passwords::new();
        assert_eq!(hasher.params(), (19_456, 2, 1));
        let hash = hasher.hash(&pw("correct horse battery")).await.unwrap();
        assert!(hash.0.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{}", hash.0);
        assert!(hasher.verify(&pw("correct horse battery"), Some(&hash)).await);
        assert!(!hasher.verify(&pw("wrong horse battery"), Some(&hash)).await);
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_no_other() {
        let hasher = fast();
        let hash = hasher.hash(&pw("correct horse")).await.unwrap();
        assert!(hasher.verify(&pw("correct horse"), Some(&hash)).await);
        assert!(!hasher.verify(&pw("correct horsE"), Some(&hash)).await);
        assert!(!hasher.verify(&Password::presented(""), Some(&hash)).await);
    }

    #[tokio::test]
    async fn hashes_of_the_same_password_differ_by_their_salt() {
        let hasher = fast();
        let a = hasher.hash(&pw("correct horse")).await.unwrap();
        let b = hasher.hash(&pw("correct horse")).await.unwrap();
        assert_ne!(a, b);
        assert!(hasher.verify(&pw("correct horse"), Some(&a)).await);
        assert!(hasher.verify(&pw("correct horse"), Some(&b)).await);
    }

    #[tokio::test]
    async fn no_hash_is_a_no() {
        let hasher = fast();
        assert!(!hasher.verify(&pw("correct horse"), None).await);
        assert!(!hasher.verify(&pw("correct horse"), Some(&PasswordHash("not a PHC string".into()))).await);
        let ran = hasher.inner.verifications.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(ran, 2, "each refusal ran a full argon2 verification");
    }

    #[tokio::test]
    async fn a_garbage_hash_is_a_no() {
        let hasher = fast();
        for garbage in ["", "not a hash", "$argon2id$v=19$", "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$"] {
            assert!(!hasher.verify(&pw("correct horse"), Some(&PasswordHash(garbage.to_owned()))).await, "{garbage}");
        }
        // Another algorithm's PHC string.
        let other = PasswordHash("$scrypt$ln=4,r=8,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".to_owned());
        assert!(!hasher.verify(&pw("correct horse"), Some(&other)).await);
    }

    #[tokio::test]
    async fn hashes_made_with_other_parameters_still_verify() {
        let old = fast();
        let hash = old.hash(&pw("correct horse")).await.unwrap();
        let new = Argon2Passwords::with_params(2048, 1, 1).unwrap();
        assert!(new.verify(&pw("correct horse"), Some(&hash)).await);
        assert!(!new.verify(&pw("wrong horse"), Some(&hash)).await);
    }

    #[tokio::test]
    async fn an_unknown_user_costs_a_full_check_against_the_dummy_hash() {
        // Not timed (timings are for benchmarks): the dummy hash is a real argon2id hash made
        // with the hasher's own parameters, so checking against it is the same work as
        // checking a stored hash, and the answer is no.
        let hasher = Argon2Passwords::with_params(2048, 2, 1).unwrap();
        let dummy = &hasher.inner.dummy;
        assert_eq!(dummy.algorithm.as_str(), "argon2id");
        let dummy_params = Params::try_from(dummy).unwrap();
        assert_eq!((dummy_params.m_cost(), dummy_params.t_cost(), dummy_params.p_cost()), hasher.params());
        assert!(!hasher.verify(&pw("correct horse"), None).await);
    }

    #[test]
    fn bad_parameters_are_refused() {
        assert!(Argon2Passwords::with_params(1, 1, 1).is_err());
        assert!(Argon2Passwords::with_params(1024, 0, 1).is_err());
        assert!(Argon2Passwords::with_params(1024, 1, 0).is_err());
    }

    #[test]
    fn debug_output_shows_parameters_only() {
        let text = format!("{:?}", fast());
        assert!(text.contains("Argon2Passwords"), "{text}");
        assert!(!text.contains("$argon2"), "{text}");
    }

    #[tokio::test]
    async fn works_behind_the_port() {
        let hasher: Arc<dyn PasswordHasher> = Arc::new(fast());
        let hash = hasher.hash(&pw("correct horse")).await.unwrap();
        assert!(hasher.verify(&pw("correct horse"), Some(&hash)).await);
    }
}
