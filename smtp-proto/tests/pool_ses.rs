//! The pool against Amazon SES as it answers (`support::pool_sim::real_ses`: no pipelining,
//! four round trips a message, an account rate over a sliding second across every connection,
//! a cap on connections and on messages per session), in virtual time: not told the rate or
//! the round-trip time, it finds both; told the rate, it opens the connections the distance
//! needs.

use std::time::Duration;

use smtp_sansio::pool::{PoolPolicy, Rate};
use smtp_sansio::{Instant, Verdict};
use support::pool_sim::{Run, Ses, ms, real_ses};

mod support;

/// Runs `count` messages against `ses`; checks that each was delivered exactly once.
fn run(policy: PoolPolicy, ses: Ses, count: usize) -> Run {
    let mut run = Run::new(policy, ses);
    let jobs = run.submit(count);
    run.run();
    for job in &jobs {
        let verdict = run.finished[job].map(|a| a.verdict);
        assert_eq!(verdict, Some(Verdict::Delivered), "{job:?}");
        assert_eq!(run.ses.delivered[job], 1, "{job:?} delivered once");
    }
    run
}

/// The rate achieved over what could be achieved: the account's rate, or what the connections
/// allowed carry at four round trips a message, whichever is lower.
fn share_of_achievable(run: &Run) -> f64 {
    let ses = &run.ses;
    let rate = ses.throttle.expect("a rate") as f64;
    let carried = ses.max_connections as f64 / (4.0 * ses.rtt.as_secs_f64());
    run.achieved() / rate.min(carried)
}

/// The share of tries the server refused for its rate.
fn share_throttled(run: &Run) -> f64 {
    let tries: usize = run.tries.values().map(Vec::len).sum();
    run.ses.throttled as f64 / tries as f64
}

#[test]
fn ses_not_told_the_rate_the_pool_reaches_it_at_any_distance() {
    for rtt in [2, 20, 80] {
        for rate in [14, 200] {
            let run = run(PoolPolicy::ses(), real_ses(ms(rtt), rate, 10), 1000);
            let (share, throttled) = (share_of_achievable(&run), share_throttled(&run));
            let case =
                format!("RTT {rtt} ms, {rate}/s: {share:.3} of the rate, {throttled:.3} throttled");
            assert!(share >= 0.9, "{case}");
            assert!(throttled <= 0.05, "{case}");
        }
    }
}

#[test]
fn ses_told_the_rate_the_pool_is_never_throttled_and_keeps_to_it() {
    for rtt in [2, 80] {
        let mut policy = PoolPolicy::ses();
        policy.rate = Some(Rate::per_second(200));
        let run = run(policy, real_ses(ms(rtt), 200, 10), 1000);
        assert_eq!(run.ses.throttled, 0, "RTT {rtt} ms");
        let share = share_of_achievable(&run);
        assert!(share >= 0.9, "RTT {rtt} ms: {share:.3}");
    }
}

/// At 80 ms, a connection carries about three messages a second (four round trips each):
/// 200 a second takes some 64 connections busy at once, which the pool opens because the
/// messages wait, the rate admits them and every connection is busy. From the first delivery
/// to the last it keeps to the rate; over the whole run, the sessions' set-up (five round
/// trips) and the first message's four are 0.7 s of some 5.7.
#[test]
fn ses_told_200_a_second_at_80_ms_opens_the_connections_the_distance_needs() {
    let mut policy = PoolPolicy::ses();
    policy.rate = Some(Rate::per_second(200));
    let run = run(policy, real_ses(ms(80), 200, 1000), 1000);
    let times = &run.ses.delivery_times;
    let (first, last) = (
        times.iter().min().expect("some"),
        times.iter().max().expect("some"),
    );
    let span = last.saturating_duration_since(*first).as_secs_f64();
    let steady = (times.len() - 1) as f64 / span / 200.0;
    assert!(
        steady >= 0.97,
        "{steady:.3} of 200/s from the first delivery to the last"
    );
    let share = run.achieved() / 200.0;
    assert!(share >= 0.85, "{share:.3} of 200/s over the whole run");
    assert_eq!(run.ses.throttled, 0);
    assert!(run.peak_connections >= 64, "{}", run.peak_connections);
    assert!(run.peak_connections <= PoolPolicy::ses().max_connections);
}

/// A rate that binds (14 a second, learned) leaves connections free, and free connections are
/// not added to: the count stays near what the rate needs, and those left idle retire.
#[test]
fn ses_a_rate_that_binds_keeps_the_connection_count_to_what_it_needs() {
    let mut run = Run::new(PoolPolicy::ses(), real_ses(ms(80), 14, 1000));
    run.submit(1000);
    run.run_until(Instant::from_duration(Duration::from_secs(65)));
    // 14 a second at 0.32 s a message keep five connections busy.
    let open = run.pool.connections();
    assert!(open <= 10, "{open} connections open at 65 s");
    run.run();
    let (share, throttled) = (share_of_achievable(&run), share_throttled(&run));
    assert!(share >= 0.9, "{share:.3}");
    assert!(throttled <= 0.05, "{throttled:.3}");
    assert!(run.peak_connections <= 40, "{}", run.peak_connections);
}

/// SES counts every transaction of a session against its cap, throttled ones included: a
/// session of 50 of which most were throttled teaches 50, not the few delivered.
#[test]
fn ses_the_cap_per_session_counts_throttled_transactions() {
    let ses = Ses {
        per_session: 50,
        ..real_ses(ms(2), 14, 4)
    };
    let run = run(PoolPolicy::ses(), ses, 400);
    // 400 messages and some throttled tries, 50 to a session.
    let tries: usize = run.tries.values().map(Vec::len).sum();
    let needed = tries.div_ceil(50);
    assert!(
        run.ses.sessions <= needed + 4,
        "{} sessions for {tries} tries",
        run.ses.sessions
    );
}

/// Told a rate, the pool starts messages evenly once the first second's window has filled:
/// the burst it may send after a pause does not come back each time the window frees room.
#[test]
fn ses_told_the_rate_messages_start_evenly_after_the_first_second() {
    let mut policy = PoolPolicy::ses();
    policy.rate = Some(Rate::per_second(50));
    let run = run(policy, real_ses(ms(80), 50, 100), 400);
    let after = Instant::from_duration(Duration::from_millis(1_500));
    let mut times: Vec<Instant> = run.tries.values().flatten().copied().collect();
    times.retain(|&t| t > after);
    times.sort();
    let together = times.windows(2).filter(|w| w[0] == w[1]).count();
    assert_eq!(
        together, 0,
        "messages started at the same instant after the first second"
    );
}
