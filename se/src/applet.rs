//! The ID-store applet's behaviour on the card's objects (`docs/applet.md`).
//!
//! Parsing and encoding live in `kazashi_protocol::idstore`; this module only keeps state.

use kazashi_protocol::apdu::StatusWord;
use kazashi_protocol::idstore::{Kind, Reply, Request, Slot};
use p256::ecdsa::signature::hazmat::PrehashSigner;
use p256::ecdsa::{Signature, SigningKey};
use rand_core::CryptoRngCore;

use crate::state::{HexBytes, Object, Objects, Secret};

/// Default storage the applet offers, bytes (names and values counted).
pub const DEFAULT_CAPACITY: usize = 64 * 1024;

/// Runs `request` on `objects`. On error nothing has changed.
pub fn execute(
    objects: &mut Objects,
    request: &Request,
    capacity: usize,
    rng: &mut impl CryptoRngCore,
) -> Result<Reply, StatusWord> {
    match request {
        Request::PutRecord { slot, value } => {
            let new = Object::Record {
                value: HexBytes(value.clone()),
            };
            match get(objects, slot) {
                Some(Object::Record { .. }) | None => {}
                Some(_) => return Err(StatusWord::ConditionsNotSatisfied),
            }
            insert_within(objects, slot, new, capacity)?;
            Ok(Reply::Done)
        }
        Request::GetRecord(slot) => match get(objects, slot) {
            Some(Object::Record { value }) => Ok(Reply::Value(value.0.clone())),
            Some(_) => Err(StatusWord::ConditionsNotSatisfied),
            None => Err(StatusWord::ReferencedDataNotFound),
        },
        Request::DeleteRecord(slot) => {
            match get(objects, slot) {
                Some(Object::Record { .. }) => {}
                Some(_) => return Err(StatusWord::ConditionsNotSatisfied),
                None => return Err(StatusWord::ReferencedDataNotFound),
            }
            let names = objects
                .get_mut(&HexBytes(slot.namespace.clone()))
                .ok_or(StatusWord::ReferencedDataNotFound)?;
            names.remove(&HexBytes(slot.name.clone()));
            if names.is_empty() {
                objects.remove(&HexBytes(slot.namespace.clone()));
            }
            Ok(Reply::Done)
        }
        Request::Add { slot, amount } | Request::Sub { slot, amount } => {
            let current = match get(objects, slot) {
                Some(Object::Counter { value }) => *value,
                Some(_) => return Err(StatusWord::ConditionsNotSatisfied),
                None => 0,
            };
            let next = if matches!(request, Request::Add { .. }) {
                current.checked_add(*amount)
            } else {
                // The floor: a counter never goes below zero.
                current.checked_sub(*amount)
            }
            .ok_or(StatusWord::ConditionsNotSatisfied)?;
            insert_within(objects, slot, Object::Counter { value: next }, capacity)?;
            Ok(Reply::Counter(next))
        }
        Request::GenerateKey(slot) => {
            if get(objects, slot).is_some() {
                return Err(StatusWord::FileAlreadyExists);
            }
            let key = SigningKey::random(rng);
            let public = public_point(&key);
            let object = Object::Key {
                private: Secret::new(key.to_bytes().to_vec()),
            };
            insert_within(objects, slot, object, capacity)?;
            Ok(Reply::PublicKey(public))
        }
        Request::Sign { slot, digest } => {
            let key = signing_key(objects, slot)?;
            let signature: Signature = key
                .sign_prehash(digest)
                .map_err(|_| StatusWord::ExecutionError)?;
            let bytes: [u8; 64] = signature.to_bytes().into();
            Ok(Reply::Signature(bytes))
        }
        Request::GetPublicKey(slot) => {
            Ok(Reply::PublicKey(public_point(&signing_key(objects, slot)?)))
        }
        Request::List { namespace } => {
            let names = objects
                .get(&HexBytes(namespace.clone()))
                .map(|names| {
                    names
                        .iter()
                        .map(|(name, object)| {
                            let kind = match object {
                                Object::Record { .. } => Kind::Record,
                                Object::Counter { .. } => Kind::Counter,
                                Object::Key { .. } => Kind::Key,
                            };
                            (name.0.clone(), kind)
                        })
                        .collect()
                })
                .unwrap_or_default();
            Ok(Reply::Names(names))
        }
    }
}

fn get<'a>(objects: &'a Objects, slot: &Slot) -> Option<&'a Object> {
    objects
        .get(&HexBytes(slot.namespace.clone()))?
        .get(&HexBytes(slot.name.clone()))
}

fn signing_key(objects: &Objects, slot: &Slot) -> Result<SigningKey, StatusWord> {
    match get(objects, slot) {
        Some(Object::Key { private }) => {
            SigningKey::from_slice(private.expose()).map_err(|_| StatusWord::MemoryFailure)
        }
        Some(_) => Err(StatusWord::ConditionsNotSatisfied),
        None => Err(StatusWord::ReferencedDataNotFound),
    }
}

fn public_point(key: &SigningKey) -> [u8; 65] {
    let point = key.verifying_key().to_encoded_point(false);
    let mut out = [0; 65];
    out.copy_from_slice(point.as_bytes());
    out
}

/// Inserts or replaces, refusing with `6A84` when the card's storage would overflow.
fn insert_within(
    objects: &mut Objects,
    slot: &Slot,
    object: Object,
    capacity: usize,
) -> Result<(), StatusWord> {
    let ns = HexBytes(slot.namespace.clone());
    let name = HexBytes(slot.name.clone());
    let old = get(objects, slot).map(|o| o.size() + name.0.len());
    let used = crate::state::used(objects);
    let namespace_cost = if objects.contains_key(&ns) {
        0
    } else {
        ns.0.len()
    };
    let after = used - old.unwrap_or(0) + namespace_cost + name.0.len() + object.size();
    if after > capacity {
        return Err(StatusWord::NotEnoughMemory);
    }
    objects.entry(ns).or_default().insert(name, object);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::VerifyingKey;
    use p256::ecdsa::signature::hazmat::PrehashVerifier;

    fn slot(name: &str) -> Slot {
        Slot::new("shop", name)
    }

    #[test]
    fn records_counters_keys() {
        let mut objects = Objects::new();
        let rng = &mut rand_core::OsRng;
        let put = Request::PutRecord {
            slot: slot("member"),
            value: b"gold".to_vec(),
        };
        assert_eq!(
            execute(&mut objects, &put, DEFAULT_CAPACITY, rng),
            Ok(Reply::Done)
        );
        assert_eq!(
            execute(
                &mut objects,
                &Request::GetRecord(slot("member")),
                DEFAULT_CAPACITY,
                rng
            ),
            Ok(Reply::Value(b"gold".to_vec()))
        );
        // Another provider's namespace does not see it.
        let other = Request::GetRecord(Slot::new("bank", "member"));
        assert_eq!(
            execute(&mut objects, &other, DEFAULT_CAPACITY, rng),
            Err(StatusWord::ReferencedDataNotFound)
        );
        let add = Request::Add {
            slot: slot("points"),
            amount: 100,
        };
        assert_eq!(
            execute(&mut objects, &add, DEFAULT_CAPACITY, rng),
            Ok(Reply::Counter(100))
        );
        let sub = Request::Sub {
            slot: slot("points"),
            amount: 101,
        };
        let before = objects.clone();
        assert_eq!(
            execute(&mut objects, &sub, DEFAULT_CAPACITY, rng),
            Err(StatusWord::ConditionsNotSatisfied)
        );
        assert_eq!(objects, before, "an underflow changes nothing");
        let overflow = Request::Add {
            slot: slot("points"),
            amount: u64::MAX,
        };
        assert_eq!(
            execute(&mut objects, &overflow, DEFAULT_CAPACITY, rng),
            Err(StatusWord::ConditionsNotSatisfied)
        );
        // A record's name is not a counter.
        let wrong_kind = Request::Add {
            slot: slot("member"),
            amount: 1,
        };
        assert_eq!(
            execute(&mut objects, &wrong_kind, DEFAULT_CAPACITY, rng),
            Err(StatusWord::ConditionsNotSatisfied)
        );

        let Ok(Reply::PublicKey(public)) = execute(
            &mut objects,
            &Request::GenerateKey(slot("cert")),
            DEFAULT_CAPACITY,
            rng,
        ) else {
            panic!("keygen failed")
        };
        assert_eq!(
            execute(
                &mut objects,
                &Request::GenerateKey(slot("cert")),
                DEFAULT_CAPACITY,
                rng
            ),
            Err(StatusWord::FileAlreadyExists)
        );
        let digest = [0x5A; 32];
        let Ok(Reply::Signature(sig)) = execute(
            &mut objects,
            &Request::Sign {
                slot: slot("cert"),
                digest,
            },
            DEFAULT_CAPACITY,
            rng,
        ) else {
            panic!("sign failed")
        };
        let verifying = VerifyingKey::from_sec1_bytes(&public).unwrap();
        let signature = Signature::from_slice(&sig).unwrap();
        verifying.verify_prehash(&digest, &signature).unwrap();
    }

    #[test]
    fn storage_limit_is_enforced_and_changes_nothing() {
        let mut objects = Objects::new();
        let rng = &mut rand_core::OsRng;
        let big = Request::PutRecord {
            slot: slot("a"),
            value: vec![0; 4000],
        };
        execute(&mut objects, &big, 5000, rng).unwrap();
        let before = objects.clone();
        let more = Request::PutRecord {
            slot: slot("b"),
            value: vec![0; 1000],
        };
        assert_eq!(
            execute(&mut objects, &more, 5000, rng),
            Err(StatusWord::NotEnoughMemory)
        );
        assert_eq!(objects, before);
        // Replacing a record counts its old size out.
        let replace = Request::PutRecord {
            slot: slot("a"),
            value: vec![1; 4900],
        };
        assert_eq!(execute(&mut objects, &replace, 5000, rng), Ok(Reply::Done));
    }
}
