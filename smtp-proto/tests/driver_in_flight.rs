//! A pooled connection's messages in flight (`driver::InFlight`): orders queued behind those
//! still under way go out in the same flights (RFC 2920 §3.1), each message is reported as it
//! settles, and the connection says it is idle only once every order it received is reported.

use bytes::{Buf, Bytes};
use smtp_sansio::driver::{ConnEvent, InFlight};
use smtp_sansio::pool::{Attempt, Decision, JobId, OpenFailure, Pool, PoolPolicy};
use smtp_sansio::{Action, Client, ClientId, Config, Envelope, Instant, Mailbox, TlsMode, Verdict};

const NOW: Instant = Instant::ZERO;

/// Everything the client writes until it waits for the server.
fn written(client: &mut Client) -> String {
    let mut out = Vec::new();
    loop {
        match client.next_action(NOW) {
            Ok(Action::Transmit { mut data, .. }) => {
                out.extend_from_slice(&data.copy_to_bytes(data.remaining()));
            }
            Ok(Action::Event(_)) => {}
            _ => break,
        }
    }
    String::from_utf8(out).expect("ascii")
}

fn ready_client() -> Client {
    let id = ClientId::parse("client.example").expect("valid");
    let mut client = Client::new(NOW, Config::new(id, TlsMode::InsecurePlaintext));
    client.handle_input(NOW, b"220 mx.example ESMTP\r\n");
    assert!(written(&mut client).starts_with("EHLO"));
    client.handle_input(NOW, b"250-mx.example\r\n250 PIPELINING\r\n");
    written(&mut client);
    assert!(client.is_ready());
    client
}

/// Job ids as a pool hands them out.
fn jobs(count: usize) -> Vec<JobId> {
    let mut pool: Pool = Pool::new(PoolPolicy::default());
    (0..count).map(|_| pool.submit(NOW)).collect()
}

fn message(to: &str) -> (Envelope, Bytes) {
    let from = Mailbox::parse("a@example.com").expect("valid");
    let to = Mailbox::parse(to).expect("valid");
    (Envelope::new(from, [to]), Bytes::from_static(b"Hi\r\n"))
}

fn order(jobs: &[JobId], to: &[&str]) -> Vec<(JobId, Envelope, Bytes, usize)> {
    jobs.iter()
        .zip(to)
        .enumerate()
        .map(|(i, (&job, to))| {
            let (envelope, body) = message(to);
            (job, envelope, body, i)
        })
        .collect()
}

#[test]
fn rfc2920_an_order_queued_behind_one_in_flight_goes_out_without_waiting_for_its_reports() {
    let mut client = ready_client();
    let ids = jobs(2);
    let mut flight = InFlight::default();
    let (refused, queued) = flight.queue(&mut client, order(&ids[..1], &["b@example.net"]));
    assert!(refused.is_empty());
    assert_eq!(queued.len(), 1);
    assert!(written(&mut client).starts_with("MAIL FROM:<a@example.com>"));
    // The second order comes while the first waits for its replies.
    flight.queue(&mut client, order(&ids[1..], &["c@example.net"]));
    client.handle_input(NOW, b"250 ok\r\n250 ok\r\n354 go\r\n");
    let flight_two = written(&mut client);
    assert!(
        flight_two.starts_with("Hi\r\n.\r\nMAIL FROM:<a@example.com>"),
        "the next message's commands follow the first's data: {flight_two:?}"
    );
    assert!(!flight.any_settled(&client));
    client.handle_input(NOW, b"250 queued\r\n");
    let settled = flight.take_settled(&mut client);
    assert!(
        matches!(settled.as_slice(), [(ConnEvent::Report(job, r), 0)] if *job == ids[0] && r.verdict == Verdict::Delivered),
        "{settled:?}"
    );
    assert!(!flight.is_empty(), "the second is still in flight");
    client.handle_input(NOW, b"250 ok\r\n250 ok\r\n354 go\r\n");
    written(&mut client);
    client.handle_input(NOW, b"250 queued\r\n");
    assert_eq!(flight.take_settled(&mut client).len(), 1);
    assert!(flight.is_empty());
    assert!(matches!(
        flight.idle_event(&client),
        ConnEvent::BatchDone { received: 2 }
    ));
}

#[test]
fn a_message_invalid_for_the_session_is_refused_and_the_rest_of_its_order_counted_received() {
    let mut client = ready_client();
    let ids = jobs(2);
    let from = Mailbox::parse("a@example.com").expect("valid");
    let no_recipients = Envelope::new(from, Vec::<Mailbox>::new());
    let mut messages = order(&ids[..1], &["b@example.net"]);
    messages.push((ids[1], no_recipients, Bytes::from_static(b"Hi\r\n"), 1));
    let mut flight = InFlight::default();
    let (refused, queued) = flight.queue(&mut client, messages);
    assert!(
        matches!(refused.as_slice(), [ConnEvent::Refused(job, _)] if *job == ids[1]),
        "{refused:?}"
    );
    assert!(queued.is_empty(), "an order is queued whole or not at all");
    assert!(flight.is_empty());
    // The pool takes the valid one back, unreported, when told both were received.
    assert!(matches!(
        flight.idle_event(&client),
        ConnEvent::BatchDone { received: 2 }
    ));
}

#[test]
fn rfc5321_3_8_a_421_settles_every_message_in_flight_and_the_connection_is_lost() {
    let mut client = ready_client();
    let ids = jobs(2);
    let mut flight = InFlight::default();
    flight.queue(
        &mut client,
        order(&ids, &["b@example.net", "c@example.net"]),
    );
    written(&mut client);
    client.handle_input(NOW, b"421 4.3.2 shutting down\r\n");
    written(&mut client);
    assert!(flight.any_settled(&client));
    let settled = flight.take_settled(&mut client);
    assert_eq!(settled.len(), 2, "{settled:?}");
    assert!(flight.is_empty());
    assert!(matches!(flight.idle_event(&client), ConnEvent::Lost(_)));
}

/// The next decision that is not a message finishing.
fn next(pool: &mut Pool<Attempt>) -> Option<Decision<Attempt>> {
    loop {
        match pool.poll(NOW) {
            Some(Decision::Finish { .. }) => continue,
            other => return other,
        }
    }
}

/// A pipelining connection whose batch is half reported is topped up before the rest is in;
/// if it reports itself idle while that order is on its way to it, it stays busy: the order's
/// messages are neither given twice nor taken back as unreported.
#[test]
fn rfc2920_a_connection_is_topped_up_and_an_idle_report_that_crossed_the_order_is_no_idle() {
    let mut policy = PoolPolicy::default();
    policy.batch = 4;
    let mut pool: Pool<Attempt> = Pool::new(policy);
    for _ in 0..8 {
        pool.submit(NOW);
    }
    let Some(Decision::Open(conn)) = next(&mut pool) else {
        panic!("a connection");
    };
    while let Some(Decision::Open(other)) = next(&mut pool) {
        pool.open_failed(NOW, other, OpenFailure::Full);
    }
    pool.opened(NOW, conn, true);
    let Some(Decision::Send { jobs: first, .. }) = next(&mut pool) else {
        panic!("a batch");
    };
    assert_eq!(first.len(), 4);
    let delivered = Attempt::new(Verdict::Delivered);
    for &job in &first[..2] {
        pool.reported(NOW, conn, job, delivered, delivered);
    }
    let Some(Decision::Send {
        conn: again,
        jobs: more,
    }) = next(&mut pool)
    else {
        panic!("topped up");
    };
    assert_eq!(
        (again, more.len()),
        (conn, 2),
        "two more, behind the two in flight"
    );
    // The connection reports the rest of its first order and, not having received the
    // second yet, that it is idle.
    for &job in &first[2..] {
        pool.reported(NOW, conn, job, delivered, delivered);
    }
    pool.batch_done(NOW, conn, 4);
    // Still busy with the order on its way, and with room for the last two.
    let Some(Decision::Send {
        conn: on,
        jobs: last,
    }) = next(&mut pool)
    else {
        panic!("topped up again");
    };
    assert_eq!(on, conn);
    let mut given: Vec<JobId> = first.iter().chain(&more).chain(&last).copied().collect();
    given.sort();
    given.dedup();
    assert_eq!(given.len(), 8, "each message given once, none taken back");
    for &job in more.iter().chain(&last) {
        pool.reported(NOW, conn, job, delivered, delivered);
    }
    pool.batch_done(NOW, conn, 8);
    assert!(
        next(&mut pool).is_none(),
        "everything delivered: nothing to do"
    );
    assert_eq!(pool.unfinished(), 0);
}

/// What a connection reports after driving: each settled message, then, with nothing left in
/// flight, how the session stands (here lost to a `421`), last.
#[test]
fn rfc5321_3_8_events_are_the_reports_then_the_sessions_end() {
    let mut client = ready_client();
    let ids = jobs(2);
    let mut flight = InFlight::default();
    flight.queue(
        &mut client,
        order(&ids, &["b@example.net", "c@example.net"]),
    );
    written(&mut client);
    client.handle_input(NOW, b"421 4.3.2 shutting down\r\n");
    written(&mut client);
    let events = flight.events(&mut client);
    assert!(
        matches!(
            events.as_slice(),
            [
                (ConnEvent::Report(..), Some(_)),
                (ConnEvent::Report(..), Some(_)),
                (ConnEvent::Lost(_), None)
            ]
        ),
        "{events:?}"
    );
}
