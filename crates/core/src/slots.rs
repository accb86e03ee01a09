//! Connection slots: at most `per_key` held by one key (a source address)
//! and `total` by everyone, so one client cannot take every connection a
//! listener has. A slot is given back when its [`Slot`] is dropped. No IO:
//! the listeners take a slot for each connection they accept and close
//! the connection when they get none.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

/// Why no slot was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Full {
    #[error("{0} connections from this address are open, the most one address may hold")]
    Key(usize),
    #[error("{0} connections are open, the most this listener holds")]
    Total(usize),
}

#[derive(Debug)]
struct Held<K> {
    per_key: HashMap<K, usize>,
    total: usize,
}

/// The slots of one listener (or one pool), shared by its connections.
#[derive(Debug)]
pub struct Slots<K> {
    per_key: usize,
    total: usize,
    held: Mutex<Held<K>>,
}

/// One held slot; dropping it gives it back.
#[derive(Debug)]
pub struct Slot<K: Eq + Hash> {
    slots: Arc<Slots<K>>,
    key: K,
}

impl<K: Eq + Hash + Clone> Slots<K> {
    pub fn new(per_key: usize, total: usize) -> Arc<Self> {
        Arc::new(Slots {
            per_key: per_key.max(1),
            total: total.max(1),
            held: Mutex::new(Held {
                per_key: HashMap::new(),
                total: 0,
            }),
        })
    }

    /// A slot for `key`, unless it or everyone holds the most already.
    pub fn take(self: &Arc<Self>, key: K) -> Result<Slot<K>, Full> {
        let mut h = self.held.lock().unwrap_or_else(|p| p.into_inner());
        // A key at its share hears so first: it is its own doing.
        if h.per_key.get(&key).is_some_and(|n| *n >= self.per_key) {
            return Err(Full::Key(self.per_key));
        }
        if h.total >= self.total {
            return Err(Full::Total(self.total));
        }
        *h.per_key.entry(key.clone()).or_insert(0) += 1;
        h.total += 1;
        Ok(Slot {
            slots: self.clone(),
            key,
        })
    }

    /// Slots held now: by `key`, and by everyone.
    pub fn held(&self, key: &K) -> (usize, usize) {
        let h = self.held.lock().unwrap_or_else(|p| p.into_inner());
        (h.per_key.get(key).copied().unwrap_or(0), h.total)
    }

    /// Keys holding a slot now (the table holds no others).
    pub fn keys(&self) -> usize {
        self.held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .per_key
            .len()
    }
}

impl<K: Eq + Hash> Drop for Slot<K> {
    fn drop(&mut self) {
        let mut h = self.slots.held.lock().unwrap_or_else(|p| p.into_inner());
        h.total = h.total.saturating_sub(1);
        if let Some(n) = h.per_key.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                h.per_key.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn one_key_cannot_take_them_all() {
        let s = Slots::new(2, 3);
        let a1 = s.take("a").unwrap();
        let _a2 = s.take("a").unwrap();
        assert_eq!(s.take("a").unwrap_err(), Full::Key(2));
        let _b1 = s.take("b").unwrap();
        assert_eq!(s.take("c").unwrap_err(), Full::Total(3));
        drop(a1);
        assert!(s.take("a").is_ok());
    }

    proptest! {
        /// Whatever the order of takes and drops, no key holds more than
        /// its share, the total never passes its bound, and everything
        /// dropped is given back (the table empties).
        #[test]
        fn bounds_hold_and_slots_come_back(
            ops in proptest::collection::vec((0u8..6, any::<bool>()), 0..300),
        ) {
            let s = Slots::new(3, 8);
            let mut held: Vec<Slot<u8>> = Vec::new();
            for (key, take) in ops {
                if take {
                    if let Ok(slot) = s.take(key) {
                        held.push(slot);
                    }
                } else if let Some(i) = held.iter().position(|h| h.key == key) {
                    held.remove(i);
                }
                for k in 0..6u8 {
                    let (mine, total) = s.held(&k);
                    prop_assert!(mine <= 3);
                    prop_assert!(total <= 8);
                    prop_assert_eq!(mine, held.iter().filter(|h| h.key == k).count());
                }
            }
            held.clear();
            prop_assert_eq!(s.held(&0).1, 0);
            prop_assert_eq!(s.keys(), 0);
        }
    }
}
