//! The pooled mailer against the test server's Amazon SES mode (`testing/ses_load.rs`): not
//! told the rate, it learns it from SES's `454 Throttling failure` and delivers every message
//! once; told a rate under the account's, it is refused nothing.

#[path = "../../testing/ses_load.rs"]
mod ses_load;

use smtp_blocking::{Mailer, Options};
use smtp_test_server::TestServer;

fn options(server: &TestServer) -> Options {
    let mut options = Options::new(ses_load::endpoint(server), ses_load::client_id());
    options
        .tls
        .add_ca_pem(server.ca_pem().as_bytes())
        .expect("the server's CA");
    ses_load::configure(&mut options);
    options
}

fn run(rate: Option<u32>, max_throttled: usize) {
    // The server runs on its own runtime; the client under test is plain blocking code.
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let server = runtime
        .block_on(TestServer::start(ses_load::server_options()))
        .expect("server");
    let mailer = Mailer::with_policy(options(&server), ses_load::policy(rate));
    let messages = (0..ses_load::MESSAGES).map(ses_load::message);
    let results = mailer.send_all(messages);
    mailer.close();
    ses_load::check(&results, &server, max_throttled);
}

/// A few of the first burst are refused (one for each connection in flight when SES's window
/// filled), then none: a tenth of the messages is a generous bound.
#[test]
fn ses_not_told_the_rate_the_mailer_learns_it_from_454_and_delivers_each_message_once() {
    run(None, ses_load::MESSAGES / 10);
}

#[test]
fn ses_told_a_rate_under_the_accounts_the_mailer_is_refused_nothing() {
    let rate = u32::try_from(ses_load::ACCOUNT_RATE).expect("small") - 2;
    run(Some(rate), 0);
}
