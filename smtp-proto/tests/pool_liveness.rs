//! The pool never leaves messages waiting without a deadline, nor for longer than it must:
//! each case is one a fault-injecting load test found.

use std::time::Duration;

use smtp_sansio::Instant;
use smtp_sansio::Verdict;
use smtp_sansio::pool::{Attempt, ConnId, Decision, JobId, Loss, OpenFailure, Pool, PoolPolicy};

/// The next decision that is not a message finishing.
fn next(pool: &mut Pool<Attempt>, now: Instant) -> Option<Decision<Attempt>> {
    loop {
        match pool.poll(now) {
            Some(Decision::Finish { .. }) => continue,
            other => return other,
        }
    }
}

fn open(pool: &mut Pool<Attempt>, now: Instant) -> ConnId {
    match next(pool, now) {
        Some(Decision::Open(conn)) => conn,
        other => panic!("expected a connection to open, got {other:?}"),
    }
}

fn send(pool: &mut Pool<Attempt>, now: Instant) -> (ConnId, Vec<JobId>) {
    match next(pool, now) {
        Some(Decision::Send { conn, jobs }) => (conn, jobs),
        other => panic!("expected messages to send, got {other:?}"),
    }
}

fn delivered(pool: &mut Pool<Attempt>, now: Instant, conn: ConnId, jobs: &[JobId]) {
    for &job in jobs {
        let attempt = Attempt::new(Verdict::Delivered);
        pool.reported(now, conn, job, attempt, attempt);
    }
}

/// A connection failed to open while another was busy: the pool keeps to one connection for
/// the cooldown, and its deadline says when the hold ends, so that the messages waiting are
/// not left until some unrelated event.
#[test]
fn the_end_of_a_hold_on_the_connection_count_is_a_deadline() {
    let mut pool: Pool<Attempt> = Pool::new(PoolPolicy::default());
    let now = Instant::ZERO;
    for _ in 0..72 {
        pool.submit(now);
    }
    let first = open(&mut pool, now);
    let mut others = Vec::new();
    while let Some(Decision::Open(conn)) = next(&mut pool, now) {
        others.push(conn);
    }
    pool.opened(now, first, true);
    let (busy, _) = send(&mut pool, now);
    assert_eq!(busy, first);
    for conn in others {
        pool.open_failed(now, conn, OpenFailure::Transient);
    }
    assert!(next(&mut pool, now).is_none(), "held at one connection");
    let hold_end = now.saturating_add(PoolPolicy::default().limit_cooldown);
    assert_eq!(pool.next_deadline(), Some(hold_end));
    assert!(matches!(pool.poll(hold_end), Some(Decision::Open(_))));
}

/// A connection whose greeting never comes must not hold the messages waiting for it for the
/// whole greeting timeout: past twice the time connections took to open (at least a second),
/// another opens.
#[test]
fn a_connection_slow_to_open_gets_another_opened_beside_it() {
    let mut pool: Pool<Attempt> = Pool::new(PoolPolicy::default());
    let mut now = Instant::ZERO;
    pool.submit(now);
    let first = open(&mut pool, now);
    now = Instant::from_duration(Duration::from_millis(100));
    pool.opened(now, first, true);
    let (conn, jobs) = send(&mut pool, now);
    delivered(&mut pool, now, conn, &jobs);
    pool.lost(now, conn, Loss::Failed);
    // Ten messages, fewer than a batch: one connection opens for them, and hangs.
    for _ in 0..10 {
        pool.submit(now);
    }
    let _hung = open(&mut pool, now);
    assert!(
        next(&mut pool, now).is_none(),
        "one opening connection covers them, for now"
    );
    let deadline = pool
        .next_deadline()
        .expect("a deadline for the opening connection");
    assert!(
        deadline <= now.saturating_add(Duration::from_secs(1)),
        "{deadline:?}"
    );
    let second = open(&mut pool, deadline);
    pool.opened(deadline, second, true);
    let (on, jobs) = send(&mut pool, deadline);
    assert_eq!((on, jobs.len()), (second, 10));
}

/// RFC 5321 §3.8: a `421` may end a session for any reason. One in the middle of a session
/// teaches no cap per session; the same count seen again does, and SES's wording at once.
#[test]
fn rfc5321_3_8_one_421_mid_session_teaches_no_cap_but_the_same_count_twice_does() {
    let mut policy = PoolPolicy::default();
    policy.batch = 5;
    let mut pool: Pool<Attempt> = Pool::new(policy);
    let now = Instant::ZERO;
    for _ in 0..40 {
        pool.submit(now);
    }
    // A session closed by a 421 after five messages.
    let run_session = |pool: &mut Pool<Attempt>, loss: Loss| {
        let conn = open(pool, now);
        while let Some(Decision::Open(other)) = next(pool, now) {
            pool.open_failed(now, other, OpenFailure::Full);
        }
        pool.opened(now, conn, true);
        let (_, jobs) = send(pool, now);
        delivered(pool, now, conn, &jobs);
        pool.batch_done(now, conn, usize::MAX);
        (conn, loss)
    };
    let (conn, loss) = run_session(&mut pool, Loss::Closed);
    pool.lost(now, conn, loss);
    // The next connection is not capped at five: it takes a second batch after its first.
    let (conn, _) = run_session(&mut pool, Loss::Closed);
    let (again, jobs) = send(&mut pool, now);
    assert_eq!((again, jobs.len()), (conn, 5), "no cap from one 421");
    delivered(&mut pool, now, conn, &jobs);
    // Closed after ten this time: still no cap (ten is not five).
    pool.lost(now, conn, Loss::Closed);
    let (conn, _) = run_session(&mut pool, Loss::Closed);
    let (_, jobs) = send(&mut pool, now);
    delivered(&mut pool, now, conn, &jobs);
    // Ten again: a cap of ten, so the next connection retires after ten.
    pool.lost(now, conn, Loss::Closed);
    let (conn, _) = run_session(&mut pool, Loss::Closed);
    let (_, jobs) = send(&mut pool, now);
    delivered(&mut pool, now, conn, &jobs);
    pool.batch_done(now, conn, usize::MAX);
    assert!(
        matches!(next(&mut pool, now), Some(Decision::Retire(c)) if c == conn),
        "retired at the learned cap of ten"
    );
}

/// SES's `421 Maximum message count per session reached` teaches its count at once.
#[test]
fn ses_a_421_that_names_the_cap_per_session_teaches_it_at_once() {
    let mut policy = PoolPolicy::default();
    policy.batch = 5;
    let mut pool: Pool<Attempt> = Pool::new(policy);
    let now = Instant::ZERO;
    for _ in 0..20 {
        pool.submit(now);
    }
    let conn = open(&mut pool, now);
    while let Some(Decision::Open(other)) = next(&mut pool, now) {
        pool.open_failed(now, other, OpenFailure::Full);
    }
    pool.opened(now, conn, true);
    let (_, jobs) = send(&mut pool, now);
    delivered(&mut pool, now, conn, &jobs);
    pool.lost(now, conn, Loss::SessionCap);
    let second = open(&mut pool, now);
    pool.opened(now, second, true);
    let (_, jobs) = send(&mut pool, now);
    delivered(&mut pool, now, second, &jobs);
    pool.batch_done(now, second, usize::MAX);
    assert!(matches!(next(&mut pool, now), Some(Decision::Retire(c)) if c == second));
}

/// Credentials refused while other connections are still opening: the pool backs off instead
/// of opening a replacement for each failure, and the messages are given up with the error.
#[test]
fn refused_credentials_during_a_slow_start_give_the_messages_up_without_a_storm() {
    let mut pool: Pool<Attempt> = Pool::new(PoolPolicy::ses());
    let mut now = Instant::ZERO;
    for _ in 0..100 {
        pool.submit(now);
    }
    let mut opened = 0;
    let mut opening = Vec::new();
    let mut finished = 0;
    while finished < 100 && now.as_duration() < Duration::from_secs(60) {
        while let Some(decision) = pool.poll(now) {
            match decision {
                Decision::Open(conn) => {
                    opened += 1;
                    opening.push(conn);
                }
                Decision::Finish { report: None, .. } => finished += 1,
                other => panic!("{other:?}"),
            }
        }
        // Each open fails 100 ms after it starts: the server refuses the credentials.
        now = now.saturating_add(Duration::from_millis(100));
        for conn in opening.drain(..) {
            pool.open_failed(now, conn, OpenFailure::Permanent);
        }
    }
    assert_eq!(
        finished, 100,
        "every message given up, after {opened} opens"
    );
    assert!(opened <= 8, "{opened} connections opened");
}

/// A pipelining connection at its cap of messages takes no more: the messages go to another
/// connection, and a busy one at its cap does not keep a new one from opening.
#[test]
fn a_connection_at_its_cap_is_not_topped_up_and_does_not_block_the_others() {
    let mut policy = PoolPolicy::default();
    policy.max_messages_per_connection = Some(40);
    policy.max_connections = 2;
    let mut pool: Pool<Attempt> = Pool::new(policy);
    let now = Instant::ZERO;
    for _ in 0..200 {
        pool.submit(now);
    }
    let a = open(&mut pool, now);
    let b = open(&mut pool, now);
    pool.opened(now, a, true);
    pool.opened(now, b, true);
    let (x, x_jobs) = send(&mut pool, now);
    let (y, y_jobs) = send(&mut pool, now);
    assert_ne!(x, y);
    let (first, second) = if x == a {
        (x_jobs, y_jobs)
    } else {
        (y_jobs, x_jobs)
    };
    // A is half reported: topped up to its cap of 40 (8 more), then half reported again.
    delivered(&mut pool, now, a, &first[..16]);
    let (again, more) = send(&mut pool, now);
    assert_eq!((again, more.len()), (a, 8));
    delivered(&mut pool, now, a, &first[16..24]);
    // B is half reported: it is topped up, though A (at its cap) comes first in the list.
    delivered(&mut pool, now, b, &second[..16]);
    let (topped, _) = send(&mut pool, now);
    assert_eq!(topped, b);
}
