//! Integration tests of the reply audit.

mod properties;
mod table;
