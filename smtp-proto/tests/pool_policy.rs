//! The pool's policy with virtual time, against a simulated Amazon SES
//! (`support::pool_sim`): connections, reuse, retirement, a configured rate, unknown outcomes.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use smtp_sansio::Instant;
use smtp_sansio::Verdict;
use smtp_sansio::pool::{Attempt, Decision, Loss, OpenFailure, Pool, PoolPolicy, Rate};
use support::pool_sim::{Run, Ses, ms, ses};

mod support;

#[test]
fn rfc5321_3_8_every_message_delivered_once_across_421s_and_a_connection_limit() {
    let mut run = Run::new(PoolPolicy::ses(), ses(2, 70));
    let jobs = run.submit(1000);
    run.run();
    assert_eq!(run.finished.len(), 1000, "every message finishes");
    assert_eq!(
        run.verdicts(),
        HashMap::from([(Some(Verdict::Delivered), 1000)])
    );
    for job in &jobs {
        assert_eq!(
            run.ses.delivered.get(job),
            Some(&1),
            "{job:?} delivered exactly once"
        );
    }
    assert!(
        run.peak_connections <= 3,
        "at most one past the server's limit, then it keeps to it"
    );
    assert_eq!(run.pool.unfinished(), 0);
}

#[test]
fn a_rate_limit_holds_within_5_percent_over_10_seconds_across_connections() {
    let mut policy = PoolPolicy::default();
    policy.rate = Some(Rate::per_second(20));
    policy.max_connections = 3;
    let mut run = Run::new(policy, ses(8, usize::MAX));
    run.submit(400);
    run.run();
    assert_eq!(
        run.verdicts(),
        HashMap::from([(Some(Verdict::Delivered), 400)])
    );
    let ten_seconds = Instant::from_duration(Duration::from_secs(10));
    let early = run
        .ses
        .delivery_times
        .iter()
        .filter(|&&t| t < ten_seconds)
        .count();
    assert!(
        (190..=202).contains(&early),
        "{early} messages in the first 10 s at 20/s"
    );
    // No second holds more than the rate: the window of the last second keeps any second to a
    // second's worth, burst included.
    let times = &run.ses.delivery_times;
    for (i, &start) in times.iter().enumerate() {
        let within = times[i..]
            .iter()
            .take_while(|&&t| t.saturating_duration_since(start) < ms(1000))
            .count();
        assert!(
            within <= 20,
            "{within} messages in the second from {start:?}"
        );
    }
}

#[test]
fn rfc5321_6_1_an_unknown_message_is_never_resent_unless_asked() {
    for resend in [false, true] {
        let mut policy = PoolPolicy::default();
        policy.resend_unknown = resend;
        let mut run = Run::new(policy, ses(4, usize::MAX));
        let job = run.submit(3)[0];
        run.ses.lose_reply_of.insert(job);
        run.run();
        let delivered = run.ses.delivered[&job];
        if resend {
            assert_eq!(delivered, 2, "resent by choice: a duplicate");
        } else {
            assert_eq!(delivered, 1);
            assert_eq!(
                run.finished[&job].map(|a| a.verdict),
                Some(Verdict::Unknown)
            );
        }
    }
}

#[test]
fn a_server_that_refuses_every_connection_makes_the_messages_finish_unsent() {
    let mut run = Run::new(PoolPolicy::default(), ses(0, usize::MAX));
    run.submit(5);
    run.run();
    assert_eq!(
        run.verdicts(),
        HashMap::from([(None, 5)]),
        "never reached a server"
    );
    assert!(
        run.now.as_duration() >= Duration::from_secs(1 + 2 + 4 + 8),
        "with backoff"
    );
}

#[test]
fn rfc5321_4_1_1_9_idle_connections_are_checked_before_reuse_and_retired_after_the_idle_timeout() {
    let mut run = Run::new(PoolPolicy::default(), ses(4, usize::MAX));
    run.submit(1);
    run.run();
    assert_eq!(run.pool.connections(), 0, "retired after idling");
    assert!(run.now.as_duration() >= Duration::from_secs(60));
    // A message arriving while a connection idles past the check delay is sent after a NOOP.
    let mut run = Run::new(PoolPolicy::default(), ses(4, usize::MAX));
    run.submit(1);
    run.run_until(Instant::from_duration(Duration::from_secs(20)));
    assert_eq!(run.finished.len(), 1);
    assert_eq!(run.pool.connections(), 1, "still idle, not yet retired");
    run.submit(1);
    assert!(matches!(run.pool.poll(run.now), Some(Decision::Check(_))));
}

#[test]
fn a_cap_learned_from_one_421_holds_only_for_the_cooldown() {
    let mut run = Run::new(PoolPolicy::default(), ses(4, 3));
    run.submit(5);
    run.run();
    assert_eq!(
        run.verdicts(),
        HashMap::from([(Some(Verdict::Delivered), 5)])
    );
    // Two minutes later the server's 421 is forgotten: one connection takes a whole batch.
    run.now = run.now.saturating_add(Duration::from_secs(120));
    run.ses.per_session = usize::MAX;
    let later = run.submit(10);
    run.run();
    let connections: BTreeSet<_> = later.iter().map(|j| run.tries[j].len()).collect();
    assert_eq!(connections, BTreeSet::from([1]), "each sent once");
    assert_eq!(run.ses.open.len(), 0);
}

#[test]
fn a_rate_counts_recipients_as_ses_does() {
    let mut policy = PoolPolicy::default();
    policy.rate = Some(Rate::per_second(30));
    let mut run = Run::new(policy, ses(4, usize::MAX));
    // Messages of three recipients each: ten a second.
    for _ in 0..40 {
        run.pool.submit_weighted(run.now, 3);
    }
    run.run();
    let two_seconds = Instant::from_duration(Duration::from_secs(2));
    let early = run
        .ses
        .delivery_times
        .iter()
        .filter(|&&t| t < two_seconds)
        .count();
    assert!(
        (19..=23).contains(&early),
        "{early} messages of 3 recipients in 2 s at 30/s"
    );
}

#[test]
fn a_connection_that_vanishes_never_has_its_messages_sent_again() {
    let mut pool: Pool<Attempt> = Pool::new(PoolPolicy::default());
    let now = Instant::ZERO;
    let jobs = [pool.submit(now), pool.submit(now)];
    let Some(Decision::Open(conn)) = pool.poll(now) else {
        panic!("a connection");
    };
    pool.opened(now, conn, true);
    assert!(matches!(pool.poll(now), Some(Decision::Send { .. })));
    pool.vanished(now, conn);
    let mut vanished = Vec::new();
    while let Some(decision) = pool.poll(now) {
        match decision {
            Decision::Vanished { job } => vanished.push(job),
            other => panic!("nothing else: {other:?}"),
        }
    }
    assert_eq!(vanished, jobs);
    assert_eq!(pool.unfinished(), 0);
}

#[test]
fn connection_failures_give_up_what_waits_but_not_what_is_delayed() {
    let mut pool: Pool<Attempt> = Pool::new(PoolPolicy::default());
    let mut now = Instant::ZERO;
    let delayed = pool.submit(now);
    let Some(Decision::Open(first)) = pool.poll(now) else {
        panic!("a connection");
    };
    pool.opened(now, first, true);
    assert!(matches!(pool.poll(now), Some(Decision::Send { .. })));
    let deferred = Attempt::new(Verdict::Deferred);
    pool.reported(now, first, delayed, deferred, deferred);
    pool.lost(now, first, Loss::Failed);
    // The server is gone: a new message waits for a connection that never opens.
    let waiting = pool.submit(now);
    let mut given_up = Vec::new();
    while given_up.is_empty() {
        match pool.poll(now) {
            Some(Decision::Open(conn)) => pool.open_failed(now, conn, OpenFailure::Transient),
            Some(Decision::Finish { job, report }) => given_up.push((job, report)),
            Some(other) => panic!("{other:?}"),
            None => now = pool.next_deadline().expect("a retry of the connection"),
        }
    }
    assert_eq!(
        given_up,
        [(waiting, None)],
        "only what waited for a connection"
    );
    assert_eq!(pool.unfinished(), 1, "the delayed message keeps its tries");
    // Its retry finds a server again.
    now = pool.next_deadline().expect("the retry");
    let Some(Decision::Open(conn)) = pool.poll(now) else {
        panic!("a connection for the retry");
    };
    pool.opened(now, conn, true);
    let Some(Decision::Send { jobs, .. }) = pool.poll(now) else {
        panic!("the retry");
    };
    assert_eq!(jobs, [delayed]);
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Whatever the server's limits and the policy, every message finishes exactly once,
        /// none is taken twice, and each final verdict matches what the server did with it.
        #[test]
        fn every_message_finishes_once_and_is_never_taken_twice(
            max_connections in 0usize..4,
            per_session in 1usize..40,
            throttle in prop::option::of(1usize..20),
            lost_replies in prop::collection::btree_set(0u64..60, 0..4),
            rate in prop::option::of(1u32..50),
            batch in 1usize..40,
            pool_connections in 1usize..6,
            messages in 1usize..60,
            close_at_once in any::<bool>(),
        ) {
            let mut policy = PoolPolicy::default();
            policy.rate = rate.map(Rate::per_second);
            policy.batch = batch;
            policy.max_connections = pool_connections;
            let server = Ses { throttle, ..ses(max_connections, per_session) };
            let mut run = Run::new(policy, server);
            let jobs = run.submit(messages);
            if close_at_once {
                // Closing stops nothing already submitted, delayed retries included.
                run.pool.close();
            }
            for (i, job) in jobs.iter().enumerate() {
                if lost_replies.contains(&(i as u64)) {
                    run.ses.lose_reply_of.insert(*job);
                }
            }
            run.run();
            prop_assert_eq!(run.finished.len(), messages);
            prop_assert_eq!(run.pool.unfinished(), 0);
            for job in &jobs {
                let taken = run.ses.delivered.get(job).copied().unwrap_or(0);
                let verdict = run.finished[job].map(|a| a.verdict);
                prop_assert!(taken <= 1, "{job:?} taken {taken} times");
                match verdict {
                    Some(Verdict::Delivered) | Some(Verdict::Unknown) => prop_assert_eq!(taken, 1),
                    _ => prop_assert_eq!(taken, 0, "{:?} ended {:?}", job, verdict),
                }
            }
            if close_at_once {
                prop_assert_eq!(run.pool.connections(), 0, "every connection retired");
            }
        }
    }
}
