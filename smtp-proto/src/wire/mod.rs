//! The wire layer: replies in, command and message bytes out. No state beyond framing.

pub mod base64;
pub mod bdat;
pub mod command;
pub mod decoder;
pub mod dot_stuff;
pub mod ehlo;
pub mod escape;
pub(crate) mod parse;
pub mod reply;
pub mod text;
