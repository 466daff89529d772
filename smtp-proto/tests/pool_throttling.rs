//! The pool against a server that throttles, with virtual time (`support::pool_sim`): AWS's
//! retry delays, a configured rate at the server's limit, and the rate learned from throttling
//! replies when none is configured.

use std::collections::HashMap;
use std::time::Duration;

use smtp_sansio::Instant;
use smtp_sansio::Verdict;
use smtp_sansio::pool::{Attempt, Decision, Loss, Pool, PoolPolicy, Rate};
use support::pool_sim::{Run, Ses, ms, ses};

mod support;

/// The first refusal for the rate goes again as soon as the learned pace admits it (here at
/// once: the server accepted nothing, so nothing fills the window); later ones follow AWS's
/// advice.
#[test]
fn aws_advice_throttled_messages_go_again_after_5_10_and_30_seconds_then_are_given_up() {
    let always_throttled = Ses {
        throttle: Some(0),
        ..ses(4, usize::MAX)
    };
    let mut run = Run::new(PoolPolicy::ses(), always_throttled);
    let job = run.submit(1)[0];
    run.run();
    let tries = &run.tries[&job];
    let gaps: Vec<u64> = tries
        .windows(2)
        .map(|w| w[1].saturating_duration_since(w[0]).as_secs())
        .collect();
    assert_eq!(gaps, [0, 5, 10, 30], "tries at {tries:?}");
    let last = run.finished[&job].expect("the last report is kept");
    assert_eq!(
        last.verdict,
        Verdict::Deferred,
        "given up with its last reply"
    );
}

#[test]
fn a_rate_at_the_servers_throttle_gets_no_throttling_failure() {
    let throttled = Ses {
        throttle: Some(10),
        ..ses(4, usize::MAX)
    };
    let mut policy = PoolPolicy::ses();
    policy.rate = Some(Rate::per_second(10));
    let mut run = Run::new(policy, throttled);
    let jobs = run.submit(60);
    run.run();
    assert_eq!(
        run.verdicts(),
        HashMap::from([(Some(Verdict::Delivered), 60)])
    );
    assert!(jobs.iter().all(|j| run.ses.delivered[j] == 1));
    assert!(
        run.tries.values().all(|t| t.len() == 1),
        "no message was throttled"
    );
}

/// Amazon SES throttles above the account's rate with `454 Throttling failure`; a pool that
/// does not know the rate learns it from the first refusals instead of bursting at every retry
/// (which, at AWS's 5, 10 and 30 s, gave up 260 of these 300 messages).
#[test]
fn without_a_rate_a_throttling_server_teaches_the_pool_its_rate() {
    let throttled = Ses {
        throttle: Some(10),
        ..ses(4, usize::MAX)
    };
    let mut run = Run::new(PoolPolicy::ses(), throttled);
    let jobs = run.submit(300);
    run.run();
    assert_eq!(
        run.verdicts(),
        HashMap::from([(Some(Verdict::Delivered), 300)])
    );
    assert!(jobs.iter().all(|j| run.ses.delivered[j] == 1));
    assert!(
        run.tries.values().all(|t| t.len() <= 2),
        "a message is throttled at most once"
    );
    // Only the first burst, sent before any reply, and what follows within the server's window
    // of one second after it meet the throttle.
    let after = Instant::from_duration(Duration::from_secs(2));
    assert_eq!(run.refused_after(after), 0, "no refusal once paced");
}

/// A learned rate that keeps messages waiting is probed upwards at the end of each hold (a
/// tenth more) rather than dropped, so a long run against a throttling server is not refused in
/// a burst every minute; the probes that reach the server's limit are refused a few at a time.
#[test]
fn a_learned_rate_is_probed_upwards_not_dropped_while_messages_wait() {
    let throttled = Ses {
        throttle: Some(10),
        ..ses(4, usize::MAX)
    };
    let mut run = Run::new(PoolPolicy::ses(), throttled);
    let jobs = run.submit(1000);
    run.run();
    assert_eq!(
        run.verdicts(),
        HashMap::from([(Some(Verdict::Delivered), 1000)])
    );
    assert!(jobs.iter().all(|j| run.ses.delivered[j] == 1));
    let after = Instant::from_duration(Duration::from_secs(2));
    let refused = run.refused_after(after);
    let last = run.ses.delivery_times.iter().max().copied();
    assert!(refused <= 10, "{refused} refusals after the first burst");
    // Near the server's 10 a second: 1,000 messages in well under 120 s.
    assert!(
        last.is_some_and(|t| t.as_duration() < Duration::from_secs(120)),
        "{last:?}"
    );
}

/// With several connections, one connection's refusals can be reported before another's
/// acceptances of the same burst: the lesson waits for them instead of pacing at what the first
/// report showed (nothing accepted, so one message a second).
#[test]
fn a_lesson_counts_the_acceptances_reported_after_the_first_refusal() {
    let throttled = Ses {
        throttle: Some(20),
        ..ses(4, usize::MAX)
    };
    let mut policy = PoolPolicy::default();
    policy.retry_delays = vec![ms(1100); 2];
    let mut run = Run::new(policy, throttled);
    let jobs = run.submit(80);
    run.run();
    assert_eq!(
        run.verdicts(),
        HashMap::from([(Some(Verdict::Delivered), 80)])
    );
    assert!(jobs.iter().all(|j| run.ses.delivered[j] == 1));
    // 20 in the first burst, the other 60 from their retry at 1.1 s at 18 a second.
    let last = run.ses.delivery_times.iter().max().copied();
    assert!(
        last.is_some_and(|t| t.as_duration() < Duration::from_secs(5)),
        "last delivery at {last:?}"
    );
}

/// A `421` that closes the session for the sending rate is throttling, not a session that
/// failed under the message: the message waits for its retry delay instead of going again at
/// once, into the same limit.
#[test]
fn a_421_for_the_sending_rate_waits_for_the_retry_delay() {
    let mut pool: Pool<Attempt> = Pool::new(PoolPolicy::default());
    let now = Instant::ZERO;
    let job = pool.submit(now);
    let Some(Decision::Open(conn)) = pool.poll(now) else {
        panic!("a connection");
    };
    pool.opened(now, conn, true);
    assert!(matches!(pool.poll(now), Some(Decision::Send { .. })));
    let refused = Attempt::new(Verdict::Deferred)
        .with_session_failed()
        .with_throttled();
    pool.reported(now, conn, job, refused, refused);
    pool.lost(now, conn, Loss::Failed);
    while let Some(decision) = pool.poll(now) {
        assert!(!matches!(decision, Decision::Send { .. }), "{decision:?}");
    }
    assert_eq!(
        pool.next_deadline(),
        Some(Instant::from_duration(Duration::from_secs(5)))
    );
}
