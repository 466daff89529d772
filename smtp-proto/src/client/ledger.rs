//! Every message from queueing until its report is taken, and every query until its reply is
//! taken, found by id in constant time.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;

use super::event::{QueryId, TransactionId};
use super::report::TransactionReport;
use super::transaction::Txn;
use crate::wire::reply::Reply;

/// Where one message stands.
#[derive(Debug)]
enum Slot {
    /// Queued or under way.
    Live(alloc::boxed::Box<Txn>),
    /// Settled; the report waits for the application.
    Settled(TransactionReport),
    /// The report was taken.
    Taken,
}

/// The messages of a session by id. Ids are consecutive, so slot `id - base` holds message `id`;
/// taken reports at the front are dropped, so memory follows what is in flight or untaken, not
/// what was ever sent.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    base: u64,
    slots: VecDeque<Slot>,
    /// Every message with a smaller id is settled.
    unsettled_from: u64,
    live: usize,
}

impl Ledger {
    /// Records a new message; its id is the next one.
    pub(crate) fn push(&mut self, make: impl FnOnce(TransactionId) -> Txn) -> TransactionId {
        let id = self.next_id();
        self.slots
            .push_back(Slot::Live(alloc::boxed::Box::new(make(id))));
        self.live += 1;
        id
    }

    /// The id the next message gets.
    pub(crate) fn next_id(&self) -> TransactionId {
        TransactionId(self.base + self.slots.len() as u64)
    }

    fn index(&self, id: TransactionId) -> Option<usize> {
        let offset = id.0.checked_sub(self.base)?;
        usize::try_from(offset)
            .ok()
            .filter(|&i| i < self.slots.len())
    }

    /// The message `id` while it is live.
    pub(crate) fn get(&self, id: TransactionId) -> Option<&Txn> {
        match self.slots.get(self.index(id)?)? {
            Slot::Live(txn) => Some(txn),
            _ => None,
        }
    }

    /// The message `id` while it is live, to change.
    pub(crate) fn get_mut(&mut self, id: TransactionId) -> Option<&mut Txn> {
        let index = self.index(id)?;
        match self.slots.get_mut(index)? {
            Slot::Live(txn) => Some(txn),
            _ => None,
        }
    }

    /// Settles live message `id` with the report `make` builds from it. False if it was not live.
    pub(crate) fn settle(
        &mut self,
        id: TransactionId,
        make: impl FnOnce(Txn) -> TransactionReport,
    ) -> bool {
        let Some(slot) = self.index(id).and_then(|i| self.slots.get_mut(i)) else {
            return false;
        };
        let Slot::Live(txn) = core::mem::replace(slot, Slot::Taken) else {
            return false;
        };
        *slot = Slot::Settled(make(*txn));
        self.live -= 1;
        while self.get(TransactionId(self.unsettled_from)).is_none()
            && self.unsettled_from < self.next_id().0
        {
            self.unsettled_from += 1;
        }
        true
    }

    /// Whether message `id` is settled (its report waiting or taken).
    pub(crate) fn is_settled(&self, id: TransactionId) -> bool {
        id.0 < self.unsettled_from || (id < self.next_id() && self.get(id).is_none())
    }

    /// Whether every message up to and including `id` is settled.
    pub(crate) fn is_settled_through(&self, id: TransactionId) -> bool {
        id.0 < self.unsettled_from
    }

    /// How many messages are queued or under way.
    pub(crate) fn live(&self) -> usize {
        self.live
    }

    /// The live messages' ids, oldest first.
    pub(crate) fn live_ids(&self) -> Vec<TransactionId> {
        let base = self.base;
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, slot)| matches!(slot, Slot::Live(_)))
            .map(|(i, _)| TransactionId(base + i as u64))
            .collect()
    }

    /// Takes the report of settled message `id`, once.
    pub(crate) fn take(&mut self, id: TransactionId) -> Option<TransactionReport> {
        let slot = self.slots.get_mut(self.index(id)?)?;
        if !matches!(slot, Slot::Settled(_)) {
            return None;
        }
        let Slot::Settled(report) = core::mem::replace(slot, Slot::Taken) else {
            return None;
        };
        while matches!(self.slots.front(), Some(Slot::Taken)) {
            self.slots.pop_front();
            self.base += 1;
        }
        Some(report)
    }
}

/// The NOOP, RSET, VRFY, EXPN and HELP the application asked for. They are answered in the
/// order they were queued.
#[derive(Debug, Default)]
pub(crate) struct Queries {
    next: u64,
    /// Every query with a smaller id was answered, or never will be.
    unanswered_from: u64,
    replies: BTreeMap<u64, Reply>,
}

impl Queries {
    /// A new query's id.
    pub(crate) fn open(&mut self) -> QueryId {
        let id = QueryId(self.next);
        self.next += 1;
        id
    }

    /// Query `id` was answered with `reply`.
    pub(crate) fn answer(&mut self, id: QueryId, reply: Reply) {
        self.replies.insert(id.0, reply);
        self.unanswered_from = self.unanswered_from.max(id.0 + 1);
    }

    /// Whether query `id` was answered (its reply waiting or taken).
    pub(crate) fn is_answered(&self, id: QueryId) -> bool {
        id.0 < self.unanswered_from
    }

    /// Whether `id` names a query of this session.
    pub(crate) fn exists(&self, id: QueryId) -> bool {
        id.0 < self.next
    }

    /// Takes the reply to query `id`, once.
    pub(crate) fn take(&mut self, id: QueryId) -> Option<Reply> {
        self.replies.remove(&id.0)
    }
}
