//! The wire layer: replies in, command and message bytes out. No state beyond framing.

pub(crate) mod base64;
pub(crate) mod bdat;
pub(crate) mod command;
pub(crate) mod decoder;
pub(crate) mod dot_stuff;
pub(crate) mod ehlo;
pub(crate) mod escape;
pub(crate) mod parse;
pub(crate) mod reply;
pub(crate) mod text;
