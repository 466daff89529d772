//! Amazon SES's limits as a client meets them: the account's sending rate over all
//! connections, the per-session message cap, the concurrent-connection cap, the idle timeout,
//! and the latency of a distant server. Times are asserted as lower bounds only.

mod support;

use std::time::{Duration, Instant};

use smtp_test_server::{Limits, ServerOptions};
use support::{Peer, plain_ses, start, stored};

const THROTTLED: &str = "454 Throttling failure: Maximum sending rate exceeded.\r\n";

#[tokio::test]
async fn ses_throttles_recipients_over_the_account_rate_across_connections() {
    let server = start(plain_ses(Limits::none().recipients_per_second(2))).await;
    let (mut a, mut b, mut c) = (
        Peer::connect(&server).await,
        Peer::connect(&server).await,
        Peer::connect(&server).await,
    );
    // Everything up to the final dots first, so that the ends of data come close together.
    for (peer, recipients) in [(&mut a, 1), (&mut b, 2), (&mut c, 1)] {
        peer.hello().await;
        peer.open_data(recipients).await;
    }
    assert!(a.finish_data("a1").await.starts_with("250 Ok "));
    // One recipient taken, two more would make three within the second.
    assert_eq!(b.finish_data("b1").await, THROTTLED);
    assert!(c.finish_data("c1").await.starts_with("250 Ok "));
    // Two taken within the second: the next message, whatever its connection, is throttled.
    a.open_data(1).await;
    assert_eq!(a.finish_data("a2").await, THROTTLED);
    assert!(stored(&server, "a1") && stored(&server, "c1"));
    assert!(!stored(&server, "b1") && !stored(&server, "a2"));
    assert_eq!(server.received().len(), 2);

    // Once the window has slid past the accepted messages, they count no more.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(b.message(2, "b2").await.starts_with("250 Ok "));
    assert!(stored(&server, "b2"));
    let stats = server.stats();
    assert_eq!((stats.accepted, stats.throttled), (3, 2));
}

#[tokio::test]
async fn ses_ends_a_session_after_its_message_cap_counting_throttled_messages() {
    let limits = Limits::none()
        .recipients_per_second(1)
        .messages_per_session(2);
    let server = start(plain_ses(limits)).await;
    let mut peer = Peer::connect(&server).await;
    peer.hello().await;
    assert!(peer.message(1, "first").await.starts_with("250 Ok "));
    assert_eq!(peer.message(1, "second").await, THROTTLED);
    // The throttled message counted: the session is over.
    peer.send("MAIL FROM:<sender@example.com>\r\n").await;
    assert_eq!(
        peer.rest().await.expect("a clean close"),
        b"421 4.4.2 Maximum message count per session reached\r\n"
    );
    let stats = server.stats();
    assert_eq!((stats.accepted, stats.throttled), (1, 1));
    assert_eq!(stats.session_caps, 1);
}

#[tokio::test]
async fn ses_refuses_connections_beyond_its_concurrent_limit() {
    let server = start(plain_ses(Limits::none().connections(2))).await;
    let mut a = Peer::connect(&server).await;
    let mut b = Peer::connect(&server).await;
    a.hello().await;
    b.hello().await;
    let mut c = Peer::connect(&server).await;
    assert_eq!(
        c.rest().await.expect("a clean close"),
        b"421 Too many concurrent SMTP connections\r\n"
    );
    assert_eq!(a.ask("QUIT\r\n").await, "221 Bye\r\n");
    assert_eq!(a.rest().await.expect("a clean close"), b"");
    // The place a closed connection held is free again once the server has let go of it.
    let mut greeted = false;
    for _ in 0..200 {
        let mut d = Peer::connect(&server).await;
        if d.reply().await.starts_with("220 ") {
            greeted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(greeted, "a connection within the limit is greeted");
    let stats = server.stats();
    assert!(stats.refused_connections >= 1);
    assert_eq!(stats.peak_connections, 2);
}

#[tokio::test]
async fn ses_closes_a_silent_session_with_451() {
    let idle = Duration::from_millis(300);
    let server = start(plain_ses(Limits::none().idle_timeout(idle))).await;
    let mut peer = Peer::connect(&server).await;
    peer.hello().await;
    let quiet_since = Instant::now();
    assert_eq!(
        peer.rest().await.expect("a clean close"),
        b"451 4.4.2 Timeout waiting for data from client.\r\n"
    );
    assert!(quiet_since.elapsed() >= idle);
    assert_eq!(server.stats().idle_timeouts, 1);
    assert_eq!(server.connections().len(), 1);
}

#[tokio::test]
async fn a_distant_ses_answers_every_step_one_latency_after_it() {
    let latency = Duration::from_millis(150);
    let server = start(ServerOptions::ses().with_limits(Limits::ses().latency(latency))).await;
    let mut peer = Peer::connect(&server).await;
    let (greeting, at) = peer.timed_reply().await;
    assert!(greeting.starts_with("220 "));
    assert!(at - peer.opened >= latency, "the greeting");
    for (command, expected) in [
        ("EHLO client.example\r\n", "250-"),
        ("STARTTLS\r\n", "220 Ready to start TLS"),
    ] {
        let sent = Instant::now();
        peer.send(command).await;
        let (reply, at) = peer.timed_reply().await;
        assert!(reply.starts_with(expected), "{reply}");
        assert!(at - sent >= latency, "{command}");
    }
    peer.upgrade(&server).await;
    peer.ask("EHLO client.example\r\n").await;
    // Each step of AUTH LOGIN: the two prompts and the final reply.
    for (response, expected) in [
        ("AUTH LOGIN\r\n", "334 "),
        ("ZGVtbw==\r\n", "334 "),
        ("ZGVtby1wYXNzd29yZA==\r\n", "235 Authentication successful."),
    ] {
        let sent = Instant::now();
        peer.send(response).await;
        let (reply, at) = peer.timed_reply().await;
        assert!(reply.starts_with(expected), "{reply}");
        assert!(at - sent >= latency, "{response}");
    }
}

#[tokio::test]
async fn pipelined_commands_are_answered_after_one_latency_not_one_each() {
    let latency = Duration::from_millis(300);
    let server = start(plain_ses(Limits::none().latency(latency))).await;
    let mut peer = Peer::connect(&server).await;
    peer.hello().await;
    let sent = Instant::now();
    peer.send("MAIL FROM:<sender@example.com>\r\nRCPT TO:<r@example.net>\r\n")
        .await;
    let (mail, first) = peer.timed_reply().await;
    let (rcpt, second) = peer.timed_reply().await;
    assert_eq!((mail.as_str(), rcpt.as_str()), ("250 Ok\r\n", "250 Ok\r\n"));
    assert!(first - sent >= latency);
    // The second reply was due with the first, not one latency later.
    assert!(second - first < latency);
}
