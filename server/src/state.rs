//! The state shared by the handlers of one instance.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use kazashi_protocol::jose::PublicKey;

use crate::config::Config;
use crate::db::Db;
use crate::keys::{KeyError, KeyRing};
use crate::metrics::{Counters, Metrics};

/// Cheap to clone; handed to every handler.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Inner>);

/// What an [`AppState`] holds.
#[derive(Debug)]
pub struct Inner {
    /// The configuration.
    pub config: Config,
    /// The database.
    pub db: Db,
    /// This instance's request metrics.
    pub metrics: Metrics,
    /// Counts on their way to the database counters.
    pub counters: Counters,
    keys: RwLock<Arc<KeyRing>>,
    /// Provider keys by `kid` (a thumbprint names one key forever, and a kid is never given
    /// to another provider): immutable, so safe to cache per instance.
    provider_keys: RwLock<HashMap<String, (String, PublicKey)>>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// The state of one instance.
    pub fn new(config: Config, db: Db, keys: KeyRing) -> Self {
        Self(Arc::new(Inner {
            config,
            db,
            metrics: Metrics::default(),
            counters: Counters::default(),
            keys: RwLock::new(Arc::new(keys)),
            provider_keys: RwLock::new(HashMap::new()),
        }))
    }

    /// The key ring as last loaded.
    pub fn keys(&self) -> Arc<KeyRing> {
        match self.keys.read() {
            Ok(keys) => keys.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Reloads the key files (after `keys rotate` by another process).
    pub fn reload_keys(&self) -> Result<Arc<KeyRing>, KeyError> {
        let ring = Arc::new(KeyRing::load_or_create(&self.config.data_dir)?);
        match self.keys.write() {
            Ok(mut keys) => *keys = ring.clone(),
            Err(poisoned) => *poisoned.into_inner() = ring.clone(),
        }
        Ok(ring)
    }

    /// A cached provider key.
    pub fn cached_provider_key(&self, kid: &str) -> Option<(String, PublicKey)> {
        self.provider_keys.read().ok()?.get(kid).cloned()
    }

    /// Caches a provider key.
    pub fn cache_provider_key(&self, kid: &str, provider: &str, key: PublicKey) {
        if let Ok(mut cache) = self.provider_keys.write() {
            if cache.len() > 10_000 {
                cache.clear();
            }
            cache.insert(kid.to_owned(), (provider.to_owned(), key));
        }
    }
}
