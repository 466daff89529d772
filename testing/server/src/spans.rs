//! What a client logs with `tracing`, recorded with the spans around each event, so a test can
//! assert where each line was logged (feature `tracing`).
//!
//! ```
//! use smtp_test_server::spans::Capture;
//! use tracing_subscriber::layer::SubscriberExt;
//!
//! let capture = Capture::default();
//! let subscriber = tracing_subscriber::registry().with(capture.clone());
//! tracing::subscriber::with_default(subscriber, || {
//!     let span = tracing::info_span!("connection", conn = 1);
//!     let _entered = span.enter();
//!     tracing::debug!("C: EHLO client.example");
//! });
//! let records = capture.records();
//! assert_eq!(records[0].text, "C: EHLO client.example");
//! assert_eq!(records[0].span_names(), ["connection"]);
//! assert_eq!(records[0].spans[0].fields, "conn=1");
//! assert_eq!(capture.open_spans("connection"), 0, "closed when dropped");
//! ```

use std::collections::HashMap;
use std::fmt::{self, Write};
use std::sync::{Arc, Mutex, PoisonError};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// A layer that keeps every event with its scope, and counts the spans of each name still
/// open. Clones share the records.
#[derive(Clone, Debug, Default)]
pub struct Capture {
    records: Arc<Mutex<Vec<Record>>>,
    open: Arc<Mutex<HashMap<&'static str, usize>>>,
}

/// One event: its message, its other fields, and the spans it was logged in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The event's message.
    pub text: String,
    /// Its other fields, as `name=value` separated by spaces.
    pub fields: String,
    /// The spans around it, outermost first.
    pub spans: Vec<SpanRecord>,
}

/// A span around an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpanRecord {
    /// Tells spans with the same name apart while they are open.
    pub id: u64,
    /// The span's name.
    pub name: &'static str,
    /// Its fields, as `name=value` separated by spaces.
    pub fields: String,
}

impl Record {
    /// The names of the spans around the event, outermost first.
    pub fn span_names(&self) -> Vec<&'static str> {
        self.spans.iter().map(|s| s.name).collect()
    }

    /// The innermost span named `name` around the event.
    pub fn span(&self, name: &str) -> Option<&SpanRecord> {
        self.spans.iter().rev().find(|s| s.name == name)
    }
}

impl Capture {
    /// Every event recorded so far, in order.
    pub fn records(&self) -> Vec<Record> {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many spans named `name` are open: created and not yet closed (a span closes when
    /// its last handle and its last child are gone).
    pub fn open_spans(&self, name: &str) -> usize {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.get(name).copied().unwrap_or(0)
    }

    fn count(&self, name: &'static str, change: impl FnOnce(usize) -> usize) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(name).or_default();
        *count = change(*count);
    }
}

/// Fields as text; the `message` field apart.
#[derive(Default)]
struct Fields {
    message: String,
    others: String,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            if !self.others.is_empty() {
                self.others.push(' ');
            }
            let _ = write!(self.others, "{}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.record_debug(field, &format_args!("{value}"));
    }
}

impl<S> Layer<S> for Capture
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields.others);
        }
        self.count(attrs.metadata().name(), |n| n + 1);
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(&id) {
            self.count(span.name(), |n| n.saturating_sub(1));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let spans = ctx
            .event_scope(event)
            .map(|scope| {
                scope
                    .from_root()
                    .map(|span| SpanRecord {
                        id: span.id().into_u64(),
                        name: span.name(),
                        fields: span
                            .extensions()
                            .get::<String>()
                            .cloned()
                            .unwrap_or_default(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let record = Record {
            text: fields.message,
            fields: fields.others,
            spans,
        };
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(record);
    }
}
